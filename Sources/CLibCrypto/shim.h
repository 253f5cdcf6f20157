// OpenSSL's libcrypto (Debian: libssl-dev), for SHA-256 only: request signing hashes on
// every signed call. The low-level SHA256_* interface is deprecated in OpenSSL 3 but kept
// and supported through 3.x; its state is a plain struct, so an HMAC key's keyed state is
// copied by value (no allocation, no provider dispatch), which measured 20-30% cheaper per
// hash than EVP on this path (docs/PERFORMANCE.md). TLS stays with swift-nio-ssl
// (BoringSSL, symbols prefixed, so the two never clash).
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
