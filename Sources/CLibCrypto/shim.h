// OpenSSL's libcrypto (Debian: libssl-dev), for SHA-256 through the EVP digest interface
// only: request signing hashes on every signed call, and EVP with a fetched digest and
// reused contexts allocates nothing per hash. TLS stays with swift-nio-ssl (BoringSSL,
// symbols prefixed, so the two never clash).
#include <openssl/evp.h>
