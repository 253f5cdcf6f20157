import Crypto
import Foundation

/// The key-encryption key (KEK) that seals access keys' secret keys at rest.
///
/// HMAC verification needs each secret key itself, so a hash will not do: the directory
/// keeps every SK sealed with AES-256-GCM under this key, bound to its access key ID (the
/// additional authenticated data), so a sealed SK copied to another row does not open.
/// The key is 32 random bytes, written as base64 (`gatehouse directory generate-key`), and
/// comes from a file (`directory.key_file`, `--key-file`) or the environment
/// (`GATEHOUSE_DIRECTORY_KEY`). Each sealed SK records the `id` of the key that sealed it, so
/// a wrong key is named as such instead of failing as a corrupt record.
public struct KeyEncryptionKey: Sendable {
    /// The raw key (`SymmetricKey` is not `Sendable`; one is made per use).
    private let bytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: bytes) }
    /// A fingerprint of the key (16 hex digits of a SHA-256 over a label and the key):
    /// identifies it without revealing it.
    public let id: String

    /// The environment variable that may hold the key itself (base64).
    public static let environmentVariable = "GATEHOUSE_DIRECTORY_KEY"

    /// From base64 text (surrounding white space ignored) of exactly 32 bytes.
    public init(base64 text: String, source: String) throws {
        guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32 else {
            throw DirectoryError.invalid(
                "\(source) is not a key-encryption key: it must be 32 bytes in base64 (make one with gatehouse directory generate-key)")
        }
        self.bytes = Array(bytes)
        var material = Data("gatehouse key-encryption key id\n".utf8)
        material.append(bytes)
        id = String(SHA256.hash(data: material).map { String(format: "%02x", $0) }.joined().prefix(16))
    }

    /// Reads the key from a file, which must not be readable by others (as ssh refuses a
    /// private key that is).
    public static func load(file path: String) throws -> KeyEncryptionKey {
        var status = stat()
        guard stat(path, &status) == 0 else { throw DirectoryError.invalid("cannot read the key-encryption key file \(path)") }
        if status.st_mode & 0o077 != 0 {
            throw DirectoryError.invalid(
                "the key-encryption key file \(path) is readable by others (mode \(String(status.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DirectoryError.invalid("cannot read the key-encryption key file \(path)")
        }
        return try KeyEncryptionKey(base64: text, source: path)
    }

    /// The key from a file when one is named, else from `GATEHOUSE_DIRECTORY_KEY`, else nil
    /// (a directory without access keys needs none).
    public static func resolve(
        file: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws
        -> KeyEncryptionKey?
    {
        if let file, !file.isEmpty { return try load(file: file) }
        if let text = environment[environmentVariable], !text.isEmpty { return try KeyEncryptionKey(base64: text, source: environmentVariable) }
        return nil
    }

    /// 32 random bytes in base64: a new key.
    public static func generate() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// Nonce, ciphertext and tag, bound to `accessKey`.
    func seal(_ secret: String, for accessKey: String) throws -> Data {
        try AES.GCM.seal(Data(secret.utf8), using: key, authenticating: Data(accessKey.utf8)).combined!
    }

    /// The secret sealed for `accessKey`; throws when the record was altered or moved.
    func open(_ sealed: Data, for accessKey: String) throws -> String {
        let box = try AES.GCM.SealedBox(combined: sealed)
        let plain = try AES.GCM.open(box, using: key, authenticating: Data(accessKey.utf8))
        guard let secret = String(data: plain, encoding: .utf8) else { throw DirectoryError.invalid("the secret key of \(accessKey) is not text") }
        return secret
    }
}
