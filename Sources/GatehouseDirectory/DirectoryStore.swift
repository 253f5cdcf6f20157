import Crypto
import Foundation

/// Why a directory operation was refused.
public enum DirectoryError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownUser(String)
    case unknownGroup(String)
    case notEmpty(String)
    case invalid(String)
    /// The directory's database cannot be reached (PostgreSQL down or unreachable): the
    /// gateway answers 503 and keeps its last view only while it is fresh.
    case unavailable(String)

    public var description: String {
        switch self {
        case .unknownUser(let name): "no user named \(name)"
        case .unknownGroup(let name): "no group named \(name)"
        case .notEmpty(let path): "the directory at \(path) already holds an organization; use --replace to overwrite it"
        case .invalid(let message): message
        case .unavailable(let message): message
        }
    }
}

/// Why a token does not authenticate. Every case but `unknown` is a session that existed and
/// ended, which the gateway answers with "login expired".
public enum TokenRejection: String, Error, Sendable, Equatable {
    case unknown, expired, revoked, sessionEnded = "session_ended", userDisabled = "user_disabled"
}

/// A token just issued: the secret is shown once and stored only as a hash.
public struct IssuedToken: Sendable {
    public var token: String
    public var userName: String
    public var expiresAt: Date
}

/// The directory in SQLite (GRDB): organization, accounts and tags, users and tags,
/// groups, policy attachments, API tokens and sessions. Schema changes go through
/// migrations; every change is one transaction.
public final class DirectoryStore: Sendable {
    let database: any DirectoryDatabase
    /// Seals and opens access keys' secret keys; nil when none was given (creating keys then
    /// fails, and the gateway cannot open existing ones: see `DirectoryView.unreadableAccessKeys`).
    public let keyEncryptionKey: KeyEncryptionKey?

    /// Opens (creating if needed) the directory at `path` and brings its schema up to date:
    /// a SQLite file, or a PostgreSQL database when `path` is a `postgres://` URL
    /// (`PostgresLocation`).
    public init(path: String, keyEncryptionKey: KeyEncryptionKey? = nil) throws {
        if PostgresLocation.isURL(path) {
            database = try PostgresDirectoryDatabase(location: try PostgresLocation(url: path), migrations: Self.postgresMigrations)
        } else {
            database = try SQLiteDirectoryDatabase(path: path, migrations: Self.migrations)
        }
        self.keyEncryptionKey = keyEncryptionKey
    }

    /// Where the directory is, as shown to people: the file, or the URL without its password.
    public var location: String { database.location }

    /// The schema steps applied, oldest first.
    public func schemaSteps() throws -> [String] { try database.schemaSteps() }

    /// Whether other gateways share this directory (PostgreSQL): see `DirectoryDatabase.isShared`.
    public var isShared: Bool { database.isShared }

    /// Listens for changes made by any process (`DirectoryWatchEvent`); nil for SQLite.
    public func watch(_ events: @escaping @Sendable (DirectoryWatchEvent) -> Void) -> (any DirectoryWatch)? { database.watch(events) }

    deinit { database.close() }

    // MARK: seed

    /// Loads a seed into the directory in one transaction. An existing organization is
    /// refused unless `replace` is set, in which case everything is replaced, the old
    /// organization's ownership transfers and unsent mail included.
    public func importSeed(_ seed: DirectorySeed, replace: Bool = false, path: String = "") throws {
        try database.write { db in
            if try db.value(as: Int.self, "SELECT COUNT(*) FROM organization")! > 0 {
                guard replace else { throw DirectoryError.notEmpty(path) }
                for table in [
                    "outbox", "owner_transfers", "access_keys", "tokens", "attachments", "group_members", "groups", "user_tags", "users",
                    "account_tags", "accounts", "organizational_units",
                    "organization",
                ] {
                    try db.execute("DELETE FROM \(table)")
                }
            }
            for unit in seed.organizationalUnits {
                try db.execute("INSERT INTO organizational_units (id, name, parent_id) VALUES (?, ?, ?)", [unit.id, unit.name, unit.parentId])
            }
            for account in seed.accounts {
                try db.execute(
                    "INSERT INTO accounts (id, name, email, delegated_administrator, parent_id) VALUES (?, ?, ?, ?, ?)",
                    [account.id, account.name, account.email, seed.delegatedAdministrators.contains(account.id), account.parentId])
                for (key, value) in account.tags {
                    try db.execute("INSERT INTO account_tags (account_id, key, value) VALUES (?, ?, ?)", [account.id, key, value])
                }
            }
            for user in seed.users { try Self.insert(db, user) }
            for group in seed.groups {
                try db.execute("INSERT INTO groups (name) VALUES (?)", [group.name])
                for member in group.members {
                    guard let user = seed.users.first(where: { $0.name == member }) else { throw DirectoryError.unknownUser(member) }
                    try db.execute("INSERT INTO group_members (group_name, user_id) VALUES (?, ?)", [group.name, user.id])
                }
                for (position, policy) in group.policies.enumerated() {
                    try db.execute(
                        "INSERT INTO attachments (principal_kind, principal, policy, position) VALUES ('group', ?, ?, ?)",
                        [group.name, policy, position])
                }
            }
            guard let owner = seed.users.first(where: { $0.name == seed.organization.owner }) else {
                throw DirectoryError.unknownUser(seed.organization.owner)
            }
            try db.execute(
                "INSERT INTO organization (id, name, management_account_id, owner_user_id, root_id) VALUES (?, ?, ?, ?, ?)",
                [seed.organization.id, seed.organization.name, seed.organization.managementAccountId, owner.id, seed.organization.rootId])
        }
    }

    /// The whole directory in the seed's shape (what the gateway and `diff` read).
    public func snapshot() throws -> DirectorySeed {
        try database.read { db in try Self.snapshot(db) }
    }

    static func snapshot(_ db: any SQLTransaction) throws -> DirectorySeed {
        guard let org = try db.fetchOne("SELECT * FROM organization") else {
            throw DirectoryError.invalid("the directory holds no organization yet; run gatehouse directory init")
        }
        let accountRows = try db.fetchAll("SELECT * FROM accounts ORDER BY rowid")
        let accounts = try accountRows.map { row in
            DirectorySeed.Account(
                id: try row["id"], name: try row["name"], email: try row["email"], tags: try Self.tags(db, "account_tags", "account_id", row["id"]),
                parentId: try row["parent_id"])
        }
        let users = try db.fetchAll("SELECT * FROM users ORDER BY rowid").map { try Self.user(db, row: $0) }
        let names = Dictionary(uniqueKeysWithValues: users.map { ($0.id, $0.name) })
        let groups = try db.column(as: String.self, "SELECT name FROM groups ORDER BY rowid").map { name in
            DirectorySeed.Group(
                name: name,
                members: try db.column(as: String.self, "SELECT user_id FROM group_members WHERE group_name = ? ORDER BY rowid", [name])
                    .compactMap { names[$0] },
                policies: try Self.attachedPolicies(db, "group", name))
        }
        let ownerId: String = try org["owner_user_id"]
        return DirectorySeed(
            organization: .init(
                id: try org["id"], name: try org["name"], managementAccountId: try org["management_account_id"], owner: names[ownerId] ?? ownerId,
                rootId: try org["root_id"]),
            accounts: accounts,
            delegatedAdministrators: try accountRows.filter { try $0["delegated_administrator"] as Bool }.map { try $0["id"] },
            users: users, groups: groups,
            organizationalUnits: try db.fetchAll("SELECT * FROM organizational_units ORDER BY rowid").map { row in
                DirectorySeed.OrganizationalUnit(id: try row["id"], name: try row["name"], parentId: try row["parent_id"])
            })
    }

    /// One user row with its tags and directly attached policies.
    static func insert(_ db: any SQLTransaction, _ user: DirectorySeed.User) throws {
        try db.execute(
            "INSERT INTO users (id, name, account_id, email, role, disabled) VALUES (?, ?, ?, ?, ?, ?)",
            [user.id, user.name, user.accountId, user.email, user.role.rawValue, user.disabled])
        for (key, value) in user.tags {
            try db.execute("INSERT INTO user_tags (user_id, key, value) VALUES (?, ?, ?)", [user.id, key, value])
        }
        for (position, policy) in user.policies.enumerated() {
            try db.execute(
                "INSERT INTO attachments (principal_kind, principal, policy, position) VALUES ('user', ?, ?, ?)",
                [user.id, policy, position])
        }
    }

    // MARK: organization profile

    /// The organization's profile.
    public func profile() throws -> OrganizationProfile {
        try database.read { db in try Self.profile(db) }
    }

    static func profile(_ db: any SQLTransaction) throws -> OrganizationProfile {
        guard let row = try db.fetchOne("SELECT * FROM organization") else {
            throw DirectoryError.invalid("the directory holds no organization yet; run gatehouse directory init")
        }
        var profile = OrganizationProfile(id: try row["id"], name: try row["name"])
        for field in OrganizationProfile.Field.allCases where field != .name {
            profile[field] = try row[field.rawValue]
        }
        return profile
    }

    /// Applies a change to the profile in one transaction; returns the profile before and
    /// after. Values are validated by the caller (the gateway's profile API).
    public func updateProfile(_ change: [OrganizationProfile.Field: String?]) throws -> (old: OrganizationProfile, new: OrganizationProfile) {
        try database.write { db in
            let old = try Self.profile(db)
            for (field, value) in change.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                try db.execute("UPDATE organization SET \(field.rawValue) = ?", [value])
            }
            return (old, try Self.profile(db))
        }
    }

    // MARK: users and groups

    /// Adds a user to an account of the organization. Names and IDs are unique; the owner
    /// role is not given here (it changes hands only by ownership transfer).
    public func addUser(
        name: String, accountId: String, email: String? = nil, role: DirectorySeed.Role = .user, tags: [String: String] = [:], id: String? = nil
    ) throws -> DirectorySeed.User {
        guard !name.isEmpty, name.utf8.count <= 64, name.utf8.allSatisfy({ Self.isNameByte($0) }) else {
            throw DirectoryError.invalid("a user name is 1 to 64 letters, digits, '_', '-' or '.'")
        }
        guard role != .owner else { throw DirectoryError.invalid("the owner role is given only by an ownership transfer") }
        let user = DirectorySeed.User(
            id: id ?? "u-" + String(UInt64.random(in: .min ... .max), radix: 16), name: name, accountId: accountId, email: email, role: role,
            tags: tags, policies: [], disabled: false)
        try database.write { db in
            guard try db.exists("SELECT 1 FROM accounts WHERE id = ?", [accountId]) else {
                throw DirectoryError.invalid("no account \(accountId) in the organization")
            }
            if try db.exists("SELECT 1 FROM users WHERE name = ? OR id = ?", [name, user.id]) {
                throw DirectoryError.invalid("a user named \(name) (or with ID \(user.id)) already exists")
            }
            try Self.insert(db, user)
        }
        return user
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
            true
        default: false
        }
    }

    public func addGroup(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 64, name.utf8.allSatisfy({ Self.isNameByte($0) }) else {
            throw DirectoryError.invalid("a group name is 1 to 64 letters, digits, '_', '-' or '.'")
        }
        try database.write { db in
            if try db.exists("SELECT 1 FROM groups WHERE name = ?", [name]) {
                throw DirectoryError.invalid("a group named \(name) already exists")
            }
            try db.execute("INSERT INTO groups (name) VALUES (?)", [name])
        }
    }

    /// Puts a user in a group (or takes them out); returns false when nothing changed.
    @discardableResult
    public func setMember(group: String, user: String, _ member: Bool) throws -> Bool {
        try database.write { db in
            _ = try Self.principal(db, .group(group))
            let (_, userId) = try Self.principal(db, .user(user))
            let changed = try db.execute(
                member
                    ? "INSERT INTO group_members (group_name, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
                    : "DELETE FROM group_members WHERE group_name = ? AND user_id = ?",
                [group, userId])
            return changed > 0
        }
    }

    // MARK: tokens and sessions

    /// SHA-256 of the token, hex: what the directory keeps instead of the token.
    /// 256 random bits from the system generator, URL-safe base64, after a prefix that says
    /// what the secret is for.
    static func randomSecret(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return prefix
            + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func hash(_ token: String) -> String {
        // Runs on every gateway call: hex by table, not String(format:).
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: Array(token.utf8)) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// The prefix of a console session's token (`gh_` for the API's): part of the secret,
    /// so hashed with it and not to be changed by its holder. The gateway takes `gc_` tokens
    /// only as the console's cookie and `gh_` tokens never there.
    public static let consoleSessionPrefix = "gc_"

    /// Whether a token is a console session's (by its prefix; whether it is live is the
    /// directory view's question).
    public static func isConsoleSession(_ token: String) -> Bool { token.utf8.starts(with: consoleSessionPrefix.utf8) }

    /// Issues an opaque random token (256 bits) for a user; only its hash is stored.
    /// `mfa` records that the login behind the token used a second factor (`g:MFAPresent`);
    /// `consoleSession` makes it a console session's (`consoleSessionPrefix`).
    public func issueToken(
        user name: String, validFor lifetime: TimeInterval, now: Date = Date(), label: String? = nil, mfa: Bool = false,
        consoleSession: Bool = false
    ) throws
        -> IssuedToken
    {
        guard lifetime > 0 else { throw DirectoryError.invalid("a token's lifetime must be positive") }
        let token = Self.randomSecret(prefix: consoleSession ? Self.consoleSessionPrefix : "gh_")
        let expires = now.addingTimeInterval(lifetime)
        try database.write { db in
            guard let row = try db.fetchOne("SELECT id, session_generation FROM users WHERE name = ?", [name]) else {
                throw DirectoryError.unknownUser(name)
            }
            try db.execute(
                "INSERT INTO tokens (hash, user_id, label, created_at, expires_at, session_generation, mfa) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    Self.hash(token), row["id"] as String, label, now.timeIntervalSince1970, expires.timeIntervalSince1970,
                    row["session_generation"] as Int, mfa,
                ])
        }
        return IssuedToken(token: token, userName: name, expiresAt: expires)
    }

    /// The user a token belongs to, or why it is refused. A token dies when it expires, is
    /// revoked, its user is disabled, or the user's sessions were ended after it was issued.
    public func authenticate(_ token: String, now: Date = Date()) throws -> Result<DirectorySeed.User, TokenRejection> {
        try database.read { db in
            guard
                let row = try db.fetchOne(
                    """
                    SELECT tokens.expires_at, tokens.revoked_at, tokens.session_generation AS token_generation,
                           users.session_generation AS user_generation, users.disabled, users.name
                    FROM tokens JOIN users ON users.id = tokens.user_id WHERE tokens.hash = ?
                    """, [Self.hash(token)])
            else { return .failure(.unknown) }
            let record = TokenRecord(
                userName: try row["name"], issuedAt: 0, expiresAt: try row["expires_at"], revoked: (try row["revoked_at"] as Double?) != nil,
                generation: try row["token_generation"], mfa: false)
            if let rejection = record.rejection(now: now, userGeneration: try row["user_generation"], userDisabled: try row["disabled"]) {
                return .failure(rejection)
            }
            let name: String = try row["name"]
            guard let user = try Self.user(db, name: name) else { return .failure(.unknown) }
            return .success(user)
        }
    }

    static func user(_ db: any SQLTransaction, name: String) throws -> DirectorySeed.User? {
        try db.fetchOne("SELECT * FROM users WHERE name = ?", [name]).map { try user(db, row: $0) }
    }

    /// A user row with its tags and directly attached policies.
    static func user(_ db: any SQLTransaction, row: SQLRow) throws -> DirectorySeed.User {
        let id: String = try row["id"]
        return DirectorySeed.User(
            id: id, name: try row["name"], accountId: try row["account_id"], email: try row["email"],
            role: DirectorySeed.Role(rawValue: try row["role"]) ?? .user,
            tags: try tags(db, "user_tags", "user_id", id), policies: try attachedPolicies(db, "user", id), disabled: try row["disabled"])
    }

    static func tags(_ db: any SQLTransaction, _ table: String, _ column: String, _ id: String) throws -> [String: String] {
        var tags: [String: String] = [:]
        for row in try db.fetchAll("SELECT key, value FROM \(table) WHERE \(column) = ?", [id]) {
            tags[try row["key"]] = try row["value"]
        }
        return tags
    }

    static func attachedPolicies(_ db: any SQLTransaction, _ kind: String, _ principal: String) throws -> [String] {
        try db.column(
            as: String.self, "SELECT policy FROM attachments WHERE principal_kind = ? AND principal = ? ORDER BY position, policy",
            [kind, principal])
    }

    /// Revokes one token; returns false when the directory has no such token.
    @discardableResult
    public func revokeToken(_ token: String, now: Date = Date()) throws -> Bool {
        try database.write { db in
            let changed = try db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE hash = ? AND revoked_at IS NULL",
                [now.timeIntervalSince1970, Self.hash(token)])
            if changed > 0 { return true }
            // Already revoked counts as revoked; a token never issued does not.
            return try db.exists("SELECT 1 FROM tokens WHERE hash = ?", [Self.hash(token)])
        }
    }

    /// How long after its expiry a token still reads as `expired` (rather than `unknown`) in
    /// the gateway's view. Older ones are left out, so the view grows with the tokens in use,
    /// not with every token ever issued; the caller's answer is the same either way.
    public static let expiredTokenMemory: TimeInterval = 86_400

    /// Everything the gateway needs per call, read in one transaction (see `DirectoryView`).
    public func view(now: Date = Date()) throws -> DirectoryView {
        try database.read { db in
            let seed = try Self.snapshot(db)
            var tokens: [String: TokenRecord] = [:]
            let rows = try db.fetchAll(
                """
                SELECT tokens.hash, tokens.created_at, tokens.expires_at, tokens.revoked_at, tokens.session_generation, tokens.mfa, users.name
                FROM tokens JOIN users ON users.id = tokens.user_id WHERE tokens.expires_at > ?
                """, [now.timeIntervalSince1970 - Self.expiredTokenMemory])
            for row in rows {
                tokens[try row["hash"]] = TokenRecord(
                    userName: try row["name"], issuedAt: try row["created_at"], expiresAt: try row["expires_at"],
                    revoked: (try row["revoked_at"] as Double?) != nil,
                    generation: try row["session_generation"], mfa: try row["mfa"])
            }
            var generations: [String: Int] = [:]
            for row in try db.fetchAll("SELECT name, session_generation FROM users") {
                generations[try row["name"]] = try row["session_generation"]
            }
            let (accessKeys, unreadable) = try Self.accessKeyRecords(db, now: now, keyEncryptionKey: keyEncryptionKey)
            return DirectoryView(
                seed: seed, tokens: tokens, sessionGenerations: generations, accessKeys: accessKeys, unreadableAccessKeys: unreadable)
        }
    }

    /// Changes whenever another connection (another process, such as the `gatehouse
    /// directory` CLI, or another gateway) commits, so a cached view knows it is stale
    /// (`DirectoryDatabase.dataVersion`).
    public func dataVersion() throws -> Int { try database.dataVersion() }

    /// Ends every session of a user at once: tokens issued before this no longer work.
    public func endSessions(user name: String) throws {
        try database.write { db in
            let changed = try db.execute("UPDATE users SET session_generation = session_generation + 1 WHERE name = ?", [name])
            if changed == 0 { throw DirectoryError.unknownUser(name) }
        }
    }

    public func setDisabled(user name: String, _ disabled: Bool) throws {
        try database.write { db in
            let changed = try db.execute("UPDATE users SET disabled = ? WHERE name = ?", [disabled, name])
            if changed == 0 { throw DirectoryError.unknownUser(name) }
        }
    }

    // MARK: attachments

    public enum AttachmentTarget: Sendable {
        case user(String)
        case group(String)
    }

    /// Attaches a policy (by name) to a user or group; attaching twice changes nothing.
    /// Attaches a policy (after those already attached); returns false when it already was.
    @discardableResult
    public func attach(policy: String, to target: AttachmentTarget) throws -> Bool {
        guard !policy.isEmpty else { throw DirectoryError.invalid("a policy name cannot be empty") }
        return try database.write { db in
            let (kind, principal) = try Self.principal(db, target)
            let position = try db.value(
                as: Int.self, "SELECT COALESCE(MAX(position), -1) + 1 FROM attachments WHERE principal_kind = ? AND principal = ?",
                [kind, principal])!
            let changed = try db.execute(
                "INSERT INTO attachments (principal_kind, principal, policy, position) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [kind, principal, policy, position])
            return changed > 0
        }
    }

    /// Detaches a policy; returns false when it was not attached.
    @discardableResult
    public func detach(policy: String, from target: AttachmentTarget) throws -> Bool {
        try database.write { db in
            let (kind, principal) = try Self.principal(db, target)
            let changed = try db.execute(
                "DELETE FROM attachments WHERE principal_kind = ? AND principal = ? AND policy = ?", [kind, principal, policy])
            return changed > 0
        }
    }

    static func principal(_ db: any SQLTransaction, _ target: AttachmentTarget) throws -> (String, String) {
        switch target {
        case .user(let name):
            guard let id = try db.value(as: String.self, "SELECT id FROM users WHERE name = ?", [name]) else {
                throw DirectoryError.unknownUser(name)
            }
            return ("user", id)
        case .group(let name):
            guard try db.exists("SELECT 1 FROM groups WHERE name = ?", [name]) else {
                throw DirectoryError.unknownGroup(name)
            }
            return ("group", name)
        }
    }
}

extension DirectorySeed {
    /// The directory at `path`: a PostgreSQL URL, a SQLite directory (recognised by its file
    /// header) or a seed file, so tools such as `gatehouse diff` read any of them.
    public static func read(_ path: String) throws -> DirectorySeed {
        if PostgresLocation.isURL(path) { return try DirectoryStore(path: path).snapshot() }
        let header = FileHandle(forReadingAtPath: path).flatMap { handle in
            defer { try? handle.close() }
            return try? handle.read(upToCount: 16)
        }
        if header == Data("SQLite format 3\0".utf8) {
            do {
                return try DirectoryStore(path: path).snapshot()
            } catch let error as DirectoryError {
                throw error
            } catch {
                throw DirectoryError.invalid("cannot read the directory \(path): \(error)")
            }
        }
        return try load(path)
    }
}
