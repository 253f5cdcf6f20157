import CLibCrypto

/// A SHA-256 computation in progress: OpenSSL's low-level `SHA256_CTX`, a plain value. A
/// copy is a copy of the state, so HMAC's keyed states are made once per key and each
/// signature starts from copies of them, with no allocation and no object per hash; EVP's
/// contexts allocated on each copy and swift-crypto's `SHA256` made a Swift object per hash,
/// and both measured slower on the hashing every signed call does (docs/PERFORMANCE.md).
/// Each step reports OpenSSL's refusal as false, never a wrong digest, so a caller can
/// refuse the request (fail closed).
struct SHA256State: @unchecked Sendable {
    // @unchecked: SHA256_CTX is integers and bytes only; Swift does not infer Sendable for it.
    private var context = SHA256_CTX()
    /// False once OpenSSL refused a step; a failed state never finishes.
    private(set) var valid: Bool

    /// SHA-256's output, in bytes.
    static let digestCount = 32

    /// A new digest.
    init() { valid = SHA256_Init(&context) == 1 }

    /// A state that never finishes (for a key that could not be made).
    static var failed: SHA256State {
        var state = SHA256State()
        state.valid = false
        return state
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        if valid && !bytes.isEmpty { valid = SHA256_Update(&context, bytes.baseAddress, bytes.count) == 1 }
    }

    /// Writes the digest (`digestCount` bytes) to `out`; false when any step failed.
    consuming func finish(into out: UnsafeMutablePointer<UInt8>) -> Bool {
        valid && SHA256_Final(out, &context) == 1
    }

    /// SHA-256 of `bytes` into `out` (`digestCount` bytes).
    static func hash(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<UInt8>) -> Bool {
        var state = SHA256State()
        state.update(bytes)
        return state.finish(into: out)
    }
}
