import Crypto
import Foundation

/// An access key as `list-access-keys` shows it: never its secret.
public struct AccessKeyInfo: Sendable, Equatable {
    public var accessKey: String
    public var userName: String
    public var active: Bool
    public var createdAt: Date
    /// When the gateway last accepted a call signed with it (recorded within a minute or so), or nil.
    public var lastUsedAt: Date?
    public var description: String?
    /// Temporary credentials only: when they stop working.
    public var expiresAt: Date?
    /// Temporary credentials only: their user's sessions were ended since they were issued
    /// (`end-sessions`, a completed ownership transfer), so calls with them are refused.
    public var sessionEnded = false
}

/// A permanent access key just created: the secret key is shown once.
public struct IssuedAccessKey: Sendable {
    public var accessKey: String
    public var secretKey: String
    public var userName: String
    public var createdAt: Date
}

/// Temporary credentials just issued, in the shape of IAM's security-token API: the secret
/// key and the security token are shown once.
public struct IssuedTemporaryCredentials: Sendable {
    public var accessKey: String
    public var secretKey: String
    public var securityToken: String
    public var userName: String
    public var expiresAt: Date
}

/// Why an access key does not authenticate a call. `expired`, `sessionEnded` and
/// `userDisabled` are credentials that worked and ended, which the gateway answers with
/// "login expired", as for tokens.
public enum AccessKeyRejection: String, Error, Sendable, Equatable {
    case unknown = "access_key_unknown"
    case inactive = "access_key_inactive"
    /// The directory holds the key but the gateway cannot open its secret (no or another
    /// key-encryption key): a configuration fault, refused rather than guessed around.
    case unreadable = "access_key_unreadable"
    case securityTokenMissing = "security_token_missing"
    case securityTokenMismatch = "security_token_mismatch"
    /// A permanent key sent with an `X-Security-Token`, which only temporary keys carry.
    case securityTokenUnexpected = "security_token_unexpected"
    case expired = "access_key_expired"
    case sessionEnded = "access_key_session_ended"
    case userDisabled = "access_key_user_disabled"

    /// Whether this is a credential that existed and is over ("login expired").
    public var isEnded: Bool { self == .expired || self == .sessionEnded || self == .userDisabled }
}

/// What the gateway's view keeps about one access key: the secret opened in memory only.
struct AccessKeyRecord: Sendable {
    var userName: String
    /// Nil when the key-encryption key at hand cannot open it.
    var secretKey: String?
    var active: Bool
    var createdAt: Double
    var temporary: Temporary?

    struct Temporary: Sendable {
        var securityTokenHash: String
        var expiresAt: Double
        var generation: Int
        var mfa: Bool
    }
}

extension DirectoryStore {
    /// At most this many permanent access keys per user, as in IAM.
    public static let maxAccessKeysPerUser = 2
    /// Temporary credentials live between 15 minutes and 24 hours, as IAM's security tokens do.
    public static let temporaryCredentialLifetimes: ClosedRange<TimeInterval> = 900...86_400

    func requireKeyEncryptionKey() throws -> KeyEncryptionKey {
        guard let keyEncryptionKey else {
            throw DirectoryError.invalid(
                "access keys are sealed under a key-encryption key, and none is given: --key-file or \(KeyEncryptionKey.environmentVariable) (for gatehouse serve, directory.key_file); make one with gatehouse directory generate-key"
            )
        }
        return keyEncryptionKey
    }

    /// The key new secrets are sealed under: the store's, and only when it is the one every
    /// secret already there is sealed under. Secrets under two keys would leave the gateway
    /// unable to open some of them and every later `rekey` refused.
    func sealingKey(_ db: any SQLTransaction) throws -> KeyEncryptionKey {
        let kek = try requireKeyEncryptionKey()
        if let other = try db.value(as: String.self, "SELECT kek_id FROM access_keys WHERE kek_id != ? LIMIT 1", [kek.id]) {
            throw DirectoryError.invalid(
                "the directory's secrets are sealed under key \(other), not under the given key \(kek.id); give that key (or rekey to this one first)"
            )
        }
        return kek
    }

    /// Random characters from `alphabet` (rejection sampling, so each is equally likely).
    static func randomCharacters(_ count: Int, from alphabet: String) -> String {
        let characters = Array(alphabet)
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in characters[Int.random(in: 0..<characters.count, using: &generator)] })
    }

    static let upperAlphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    static let alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

    /// A new access key ID in IAM's shape (20 upper-case letters and digits); temporary ones
    /// start with `GT`, permanent ones with `GH`. The secret key has 40 letters and digits
    /// (about 238 bits). Also what the demo makes its management account's signing keys with.
    public static func newKeyPair(temporary: Bool = false) -> (accessKey: String, secretKey: String) {
        ((temporary ? "GT" : "GH") + randomCharacters(18, from: upperAlphanumerics), randomCharacters(40, from: alphanumerics))
    }

    /// Creates a permanent access key for a user (at most two each); the secret key is
    /// returned once and stored sealed.
    public func createAccessKey(user name: String, description: String? = nil, now: Date = Date()) throws -> IssuedAccessKey {
        let (accessKey, secretKey) = Self.newKeyPair(temporary: false)
        try database.write { db in
            let kek = try sealingKey(db)
            let sealed = try kek.seal(secretKey, for: accessKey)
            let (_, userId) = try Self.principal(db, .user(name))
            let count = try db.value(as: Int.self, "SELECT COUNT(*) FROM access_keys WHERE user_id = ? AND temporary = 0", [userId])!
            guard count < Self.maxAccessKeysPerUser else {
                throw DirectoryError.invalid(
                    "\(name) already has \(count) access keys, the most a user may have; delete one first (gatehouse directory delete-access-key)")
            }
            try db.execute(
                "INSERT INTO access_keys (access_key, user_id, sealed_secret, kek_id, description, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [accessKey, userId, sealed, kek.id, description, now.timeIntervalSince1970])
        }
        return IssuedAccessKey(accessKey: accessKey, secretKey: secretKey, userName: name, createdAt: now)
    }

    /// Issues temporary credentials (AK, SK and security token) for a user. They end when
    /// they expire, when the user's sessions are ended, or when the user is disabled; the
    /// security token is stored as a hash, the SK sealed.
    public func issueTemporaryCredentials(
        user name: String, validFor lifetime: TimeInterval, mfa: Bool = false, now: Date = Date()
    ) throws
        -> IssuedTemporaryCredentials
    {
        guard Self.temporaryCredentialLifetimes.contains(lifetime) else {
            throw DirectoryError.invalid(
                "temporary credentials last from 15 minutes to 24 hours (900 to 86400 seconds), not \(Int(lifetime)) seconds")
        }
        let (accessKey, secretKey) = Self.newKeyPair(temporary: true)
        let securityToken = Self.randomSecret(prefix: "ghst_")
        let expires = now.addingTimeInterval(lifetime)
        try database.write { db in
            let kek = try sealingKey(db)
            let sealed = try kek.seal(secretKey, for: accessKey)
            guard let row = try db.fetchOne("SELECT id, session_generation FROM users WHERE name = ?", [name]) else {
                throw DirectoryError.unknownUser(name)
            }
            try db.execute(
                """
                INSERT INTO access_keys (access_key, user_id, sealed_secret, kek_id, created_at, temporary, security_token_hash, expires_at,
                                         session_generation, mfa)
                VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)
                """,
                [
                    accessKey, row["id"] as String, sealed, kek.id, now.timeIntervalSince1970, Self.hash(securityToken),
                    expires.timeIntervalSince1970,
                    row["session_generation"] as Int, mfa,
                ])
            // Expired temporary keys are of no further use; they go as new ones come.
            try db.execute(
                "DELETE FROM access_keys WHERE temporary = 1 AND expires_at < ?",
                [now.timeIntervalSince1970 - Self.expiredTokenMemory])
        }
        return IssuedTemporaryCredentials(
            accessKey: accessKey, secretKey: secretKey, securityToken: securityToken, userName: name, expiresAt: expires)
    }

    /// The access keys of one user (or of everyone), oldest first; temporary ones only
    /// while they have not expired.
    public func listAccessKeys(user name: String? = nil, now: Date = Date()) throws -> [AccessKeyInfo] {
        try database.read { db in
            var sql = """
                SELECT access_keys.*, users.name, users.session_generation AS user_generation
                FROM access_keys JOIN users ON users.id = access_keys.user_id
                WHERE (access_keys.temporary = 0 OR access_keys.expires_at > ?)
                """
            var arguments: [any SQLBindable] = [now.timeIntervalSince1970]
            if let name {
                _ = try Self.principal(db, .user(name))
                sql += " AND users.name = ?"
                arguments += [name]
            }
            return try db.fetchAll(sql + " ORDER BY access_keys.created_at, access_keys.access_key", arguments).map { row in
                AccessKeyInfo(
                    accessKey: try row["access_key"], userName: try row["name"], active: try row["active"],
                    createdAt: Date(timeIntervalSince1970: try row["created_at"]),
                    lastUsedAt: (try row["last_used_at"] as Double?).map(Date.init(timeIntervalSince1970:)), description: try row["description"],
                    expiresAt: (try row["expires_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    sessionEnded: try row["temporary"] as Bool && (try row["session_generation"] as Int?) != (try row["user_generation"] as Int))
            }
        }
    }

    /// Activates or deactivates a key; returns false when it already was so.
    @discardableResult
    public func setAccessKeyActive(_ accessKey: String, _ active: Bool) throws -> Bool {
        try database.write { db in
            guard let current = try db.value(as: Bool.self, "SELECT active FROM access_keys WHERE access_key = ?", [accessKey]) else {
                throw DirectoryError.invalid("no access key \(accessKey)")
            }
            guard current != active else { return false }
            try db.execute("UPDATE access_keys SET active = ? WHERE access_key = ?", [active, accessKey])
            return true
        }
    }

    public func deleteAccessKey(_ accessKey: String) throws {
        try database.write { db in
            let changed = try db.execute("DELETE FROM access_keys WHERE access_key = ?", [accessKey])
            if changed == 0 { throw DirectoryError.invalid("no access key \(accessKey)") }
        }
    }

    /// Records when the gateway last accepted each key (a batch, one transaction); an
    /// earlier time than the one stored is ignored.
    public func recordAccessKeyUse(_ uses: [String: Date]) throws {
        guard !uses.isEmpty else { return }
        // Not announced: no gateway's view holds the last use, and each replica records its
        // own every 15 s, which would otherwise make every other one read the whole directory.
        try database.write(announce: false) { db in
            for (accessKey, time) in uses {
                try db.execute(
                    "UPDATE access_keys SET last_used_at = ? WHERE access_key = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                    [time.timeIntervalSince1970, accessKey, time.timeIntervalSince1970])
            }
        }
    }

    /// Seals every secret key again under `newKey`, in one transaction: all or nothing.
    /// The store's own key must open every one of them. Returns how many were resealed.
    public func rekey(to newKey: KeyEncryptionKey) throws -> Int {
        let kek = try requireKeyEncryptionKey()
        return try database.write { db in
            let rows = try db.fetchAll("SELECT access_key, sealed_secret, kek_id FROM access_keys")
            for row in rows {
                let accessKey: String = try row["access_key"]
                let sealedBy: String = try row["kek_id"]
                guard sealedBy == kek.id else {
                    throw DirectoryError.invalid(
                        "the secret of \(accessKey) is sealed under key \(sealedBy), not under the given current key \(kek.id); nothing was changed")
                }
                let secret: String
                do {
                    secret = try kek.open(row["sealed_secret"], for: accessKey)
                } catch {
                    throw DirectoryError.invalid("the secret of \(accessKey) does not open (altered record?); nothing was changed")
                }
                try db.execute(
                    "UPDATE access_keys SET sealed_secret = ?, kek_id = ? WHERE access_key = ?",
                    [try newKey.seal(secret, for: accessKey), newKey.id, accessKey])
            }
            return rows.count
        }
    }

    /// Every access key the gateway may be shown, with its secret opened under the store's
    /// key (nil where it cannot be), by access key ID; and how many could not be opened.
    static func accessKeyRecords(_ db: any SQLTransaction, now: Date, keyEncryptionKey: KeyEncryptionKey?) throws -> ([String: AccessKeyRecord], Int)
    {
        var records: [String: AccessKeyRecord] = [:]
        var unreadable = 0
        let rows = try db.fetchAll(
            """
            SELECT access_keys.*, users.name FROM access_keys JOIN users ON users.id = access_keys.user_id
            WHERE access_keys.temporary = 0 OR access_keys.expires_at > ?
            """, [now.timeIntervalSince1970 - expiredTokenMemory])
        for row in rows {
            let accessKey: String = try row["access_key"]
            var secret: String?
            let sealedBy: String = try row["kek_id"]
            let sealed: Data = try row["sealed_secret"]
            if let keyEncryptionKey, keyEncryptionKey.id == sealedBy {
                secret = try? keyEncryptionKey.open(sealed, for: accessKey)
            }
            if secret == nil { unreadable += 1 }
            var temporary: AccessKeyRecord.Temporary?
            if try row["temporary"] as Bool {
                temporary = AccessKeyRecord.Temporary(
                    securityTokenHash: try row["security_token_hash"], expiresAt: try row["expires_at"], generation: try row["session_generation"],
                    mfa: try row["mfa"])
            }
            records[accessKey] = AccessKeyRecord(
                userName: try row["name"], secretKey: secret, active: try row["active"], createdAt: try row["created_at"], temporary: temporary)
        }
        return (records, unreadable)
    }
}
