import CLibCrypto
import Glibc

/// SHA-256 through OpenSSL's EVP digest interface (libcrypto), for the hashing every signed
/// call needs: the body, the canonical request and HMAC's two passes. The digest is fetched
/// once and contexts are made once and reused; swift-crypto's `SHA256` makes a Swift object
/// per hash and per copy, and its wrappers measured as half of the hashing's time in
/// verifying a signature (`gatehouse bench --signing`, docs/PERFORMANCE.md). Each call
/// reports OpenSSL's refusal as false, never a wrong digest, so a caller can refuse the
/// request (fail closed).
final class DigestContext {
    /// OpenSSL's SHA-256, fetched once for the process (`EVP_MD_fetch`; an unfetched
    /// `EVP_sha256()` would be looked up again on every initialisation).
    nonisolated(unsafe) static let sha256: OpaquePointer? = EVP_MD_fetch(nil, "SHA256", nil)

    /// SHA-256's output, in bytes.
    static let digestCount = 32

    private let context: OpaquePointer?

    init() { context = EVP_MD_CTX_new() }

    deinit { EVP_MD_CTX_free(context) }

    /// Starts a new SHA-256 digest.
    func start() -> Bool { context != nil && Self.sha256 != nil && EVP_DigestInit_ex2(context, Self.sha256, nil) == 1 }

    /// Continues from another context's state (a key's padded block already absorbed).
    func start(from other: DigestContext) -> Bool { context != nil && other.context != nil && EVP_MD_CTX_copy_ex(context, other.context) == 1 }

    func update(_ bytes: UnsafeRawBufferPointer) -> Bool { bytes.isEmpty || EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) == 1 }

    /// Writes the digest (`digestCount` bytes) to `out`.
    func finish(into out: UnsafeMutablePointer<UInt8>) -> Bool {
        var length: UInt32 = 0
        return EVP_DigestFinal_ex(context, out, &length) == 1 && length == UInt32(Self.digestCount)
    }

    /// SHA-256 of `bytes` into `out`, in this context.
    func hash(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<UInt8>) -> Bool {
        start() && update(bytes) && finish(into: out)
    }
}

/// Each thread's own working digest context, made on its first use and freed with the
/// thread: signing keys are shared by every connection and thread that uses them, so the
/// context a hash runs in cannot be theirs, and taking a lock (or making a context) per hash
/// would cost more than the hash.
enum ThreadDigestContext {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let made = pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<DigestContext>.fromOpaque(pointer).release() }
        }
        precondition(made == 0, "pthread_key_create failed: \(made)")
        return key
    }()

    /// This thread's context.
    static var current: DigestContext {
        if let pointer = pthread_getspecific(key) { return Unmanaged<DigestContext>.fromOpaque(pointer).takeUnretainedValue() }
        let context = DigestContext()
        pthread_setspecific(key, Unmanaged.passRetained(context).toOpaque())
        return context
    }
}
