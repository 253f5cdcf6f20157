import Crypto
import Foundation
import _CryptoExtras

/// Directory users' passwords, for signing in to the console: stored only as scrypt hashes
/// (swift-crypto's `KDF.Scrypt`, over BoringSSL), in the PHC string format
/// `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>` (unpadded base64), so the cost can rise
/// later without invalidating the hashes already stored.
public enum PasswordHash {
    /// N = 2^15, r = 8, p = 1: 32 MiB and some 0.1 s a hash here, the interactive-login
    /// parameters of the scrypt paper and RFC 7914's own example.
    public static let logRounds = 15
    public static let blockSize = 8
    public static let parallelism = 1
    static let saltBytes = 16
    static let hashBytes = 32

    /// Why a password cannot be set.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case tooShort(minimum: Int)
        case tooLong(maximum: Int)
        case controlCharacters

        public var description: String {
            switch self {
            case .tooShort(let minimum): "a password has at least \(minimum) characters"
            case .tooLong(let maximum): "a password has at most \(maximum) bytes"
            case .controlCharacters: "a password cannot contain control characters (a newline included)"
            }
        }
    }

    /// The rules a new password must follow (NIST SP 800-63B: a minimum length, a generous
    /// maximum, no composition rules).
    public static func problem(with password: String) -> Problem? {
        if password.count < 8 { return .tooShort(minimum: 8) }
        if password.utf8.count > 256 { return .tooLong(maximum: 256) }
        if password.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { return .controlCharacters }
        return nil
    }

    /// A new hash of `password` with a fresh random salt.
    public static func make(_ password: String) throws -> String {
        var salt = [UInt8](repeating: 0, count: saltBytes)
        var generator = SystemRandomNumberGenerator()
        for index in salt.indices { salt[index] = UInt8.random(in: .min ... .max, using: &generator) }
        let hash = try derive(password, salt: salt, logRounds: logRounds, blockSize: blockSize, parallelism: parallelism)
        return "$scrypt$ln=\(logRounds),r=\(blockSize),p=\(parallelism)$\(base64(salt))$\(base64(hash))"
    }

    /// Whether `password` matches `stored` (compared in constant time). A stored value this
    /// build cannot read, or with parameters out of bounds, never matches.
    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "scrypt" else { return false }
        var parameters: [Substring: Int] = [:]
        for pair in parts[2].split(separator: ",") {
            let halves = pair.split(separator: "=", maxSplits: 1)
            guard halves.count == 2, let value = Int(halves[1]) else { return false }
            parameters[halves[0]] = value
        }
        guard let log = parameters["ln"], (10...20).contains(log), let r = parameters["r"], (1...32).contains(r), let p = parameters["p"],
            (1...16).contains(p), let salt = unbase64(parts[3]), let expected = unbase64(parts[4]), !expected.isEmpty,
            let actual = try? derive(password, salt: salt, logRounds: log, blockSize: r, parallelism: p, outputBytes: expected.count)
        else { return false }
        return zip(actual, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Spends what checking a password costs, for a user who has none or does not exist, so
    /// the time taken does not tell which users exist.
    public static func spendVerificationTime(_ password: String) {
        _ = try? derive(password, salt: [UInt8](repeating: 0, count: saltBytes), logRounds: logRounds, blockSize: blockSize, parallelism: parallelism)
    }

    static func derive(
        _ password: String, salt: [UInt8], logRounds: Int, blockSize: Int, parallelism: Int, outputBytes: Int = hashBytes
    ) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8), salt: salt, outputByteCount: outputBytes, rounds: 1 << logRounds, blockSize: blockSize,
            parallelism: parallelism)
        return key.withUnsafeBytes { Array($0) }
    }

    static func base64(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    static func unbase64(_ text: Substring) -> [UInt8]? {
        var padded = String(text)
        while padded.utf8.count % 4 != 0 { padded += "=" }
        return Data(base64Encoded: padded).map { Array($0) }
    }
}

extension DirectoryStore {
    /// Sets a user's console password (only its scrypt hash is stored).
    public func setPassword(user name: String, _ password: String) throws {
        if let problem = PasswordHash.problem(with: password) { throw DirectoryError.invalid(problem.description) }
        let hash = try PasswordHash.make(password)
        try database.write { db in
            let changed = try db.execute("UPDATE users SET password_hash = ? WHERE name = ?", [hash, name])
            if changed == 0 { throw DirectoryError.unknownUser(name) }
        }
    }

    /// Whether `password` is the user's: false for an unknown user, a user without a
    /// password or a disabled one, after the same work as a real check.
    public func checkPassword(user name: String, _ password: String) throws -> Bool {
        let stored = try database.read { db -> (String?, Bool)? in
            guard let row = try db.fetchOne("SELECT password_hash, disabled FROM users WHERE name = ?", [name]) else { return nil }
            return (try row["password_hash"], try row["disabled"])
        }
        guard let (hash, disabled) = stored, let hash else {
            PasswordHash.spendVerificationTime(password)
            return false
        }
        return PasswordHash.verify(password, against: hash) && !disabled
    }
}
