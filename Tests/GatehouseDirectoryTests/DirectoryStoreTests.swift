import Foundation
import Testing

@testable import GatehouseDirectory

let sampleSeed = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("samples/directory.json").path

/// A directory in a fresh SQLite file under a temporary folder, or in a fresh PostgreSQL
/// database (`PostgresTestServer`); removed afterwards. The folder exists for both (key
/// files and the like go there).
final class TemporaryDirectory {
    let backend: Backend
    let folder: URL
    /// The SQLite file, or the PostgreSQL database's URL: what `--db` would be given.
    let path: String
    let store: DirectoryStore

    init(backend: Backend = .sqlite, seeded: Bool = true, keyEncryptionKey: KeyEncryptionKey? = nil) throws {
        self.backend = backend
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-dir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        switch backend {
        case .sqlite: path = folder.appendingPathComponent("directory.sqlite").path
        case .postgres: path = try PostgresTestServer.createDatabase()
        }
        store = try DirectoryStore(path: path, keyEncryptionKey: keyEncryptionKey)
        if seeded { try store.importSeed(try DirectorySeed.load(sampleSeed)) }
    }

    /// Every byte the directory keeps at rest: the SQLite file and its write-ahead log, or
    /// the whole PostgreSQL database as `pg_dump` writes it.
    func bytesAtRest() throws -> Data {
        switch backend {
        case .sqlite:
            var bytes = Data()
            for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.hasPrefix("directory.sqlite") {
                bytes.append(try Data(contentsOf: folder.appendingPathComponent(name)))
            }
            return bytes
        case .postgres:
            return try PostgresTestServer.dump(path)
        }
    }

    deinit {
        if backend == .postgres { PostgresTestServer.dropDatabase(path) }
        try? FileManager.default.removeItem(at: folder)
    }
}

extension StoreSuites {
    @Suite struct DirectoryStoreTests {
        @Test(arguments: Backend.all) func seedRoundTripsThroughTheStore(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend)
            let seed = try DirectorySeed.load(sampleSeed)
            // Reopening runs the migrations again (a no-op) and reads what was written.
            let snapshot = try DirectoryStore(path: directory.path).snapshot()
            #expect(snapshot.organization.id == seed.organization.id)
            #expect(snapshot.organization.owner == "owner")
            #expect(snapshot.accounts.map(\.id) == seed.accounts.map(\.id))
            #expect(snapshot.accounts.map(\.tags) == seed.accounts.map(\.tags))
            #expect(snapshot.accounts.map(\.parentId) == seed.accounts.map(\.parentId))
            #expect(snapshot.organization.rootId == seed.organization.rootId)
            #expect(snapshot.organizationalUnits == seed.organizationalUnits && !seed.organizationalUnits.isEmpty)
            #expect(snapshot.delegatedAdministrators == seed.delegatedAdministrators)
            #expect(snapshot.users.map(\.name) == seed.users.map(\.name))
            for user in seed.users {
                #expect(snapshot.policies(for: try #require(snapshot.user(urn: user.urn))) == seed.policies(for: user))
            }
        }

        @Test(arguments: Backend.all) func aSecondImportIsRefusedUnlessReplacing(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend)
            let seed = try DirectorySeed.load(sampleSeed)
            #expect(throws: DirectoryError.notEmpty("")) { try directory.store.importSeed(seed) }
            // A transfer in progress (rows that point at users) does not stand in the way.
            _ = try directory.store.startTransfer(by: "owner", to: "u-0002", validFor: 60)
            try directory.store.importSeed(seed, replace: true)
            #expect(try directory.store.snapshot().users.count == seed.users.count)
            #expect(try directory.store.dueMail().isEmpty)
        }

        @Test(arguments: Backend.all) func tokensAuthenticateUntilTheyExpire(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend)
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            let issued = try directory.store.issueToken(user: "dev_only", validFor: 3600, now: now)
            #expect(issued.token.hasPrefix("gh_") && issued.token.count > 40)
            let user = try directory.store.authenticate(issued.token, now: now.addingTimeInterval(10)).get()
            #expect(user.name == "dev_only")
            #expect(user.policies == ["dev-accounts-update", "deny-protected-accounts", "require-mfa"])
            #expect(try directory.store.authenticate(issued.token, now: now.addingTimeInterval(3600)) == .failure(.expired))
            #expect(try directory.store.authenticate("gh_nonsense", now: now) == .failure(.unknown))
            // The gateway's in-memory view agrees, and forgets tokens a day after they expired.
            let later = now.addingTimeInterval(7200)
            #expect(rejection(try directory.store.view(now: later).authenticate(issued.token, now: later)) == .expired)
            let muchLater = now.addingTimeInterval(3600 + DirectoryStore.expiredTokenMemory + 1)
            #expect(rejection(try directory.store.view(now: muchLater).authenticate(issued.token, now: muchLater)) == .unknown)
            #expect(throws: DirectoryError.unknownUser("nobody")) { try directory.store.issueToken(user: "nobody", validFor: 60) }
        }

        @Test(arguments: Backend.all) func revocationEndOfSessionsAndDisabling(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend)
            let store = directory.store
            let first = try store.issueToken(user: "admin", validFor: 3600)
            let second = try store.issueToken(user: "admin", validFor: 3600)
            #expect(try store.revokeToken(first.token))
            #expect(try store.authenticate(first.token) == .failure(.revoked))
            #expect(try store.authenticate(second.token).get().name == "admin")
            #expect(try !store.revokeToken("gh_never_issued"))
            // Ending sessions kills every earlier token; a new one works.
            try store.endSessions(user: "admin")
            #expect(try store.authenticate(second.token) == .failure(.sessionEnded))
            let third = try store.issueToken(user: "admin", validFor: 3600)
            #expect(try store.authenticate(third.token).get().name == "admin")
            try store.setDisabled(user: "admin", true)
            #expect(try store.authenticate(third.token) == .failure(.userDisabled))
            #expect(throws: DirectoryError.unknownUser("ghost")) { try store.endSessions(user: "ghost") }
        }

        @Test(arguments: Backend.all) func aRememberedSessionServesOnlyItsTokenInItsView(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend)
            let store = directory.store
            let now = Date()
            let admin = try store.issueToken(user: "admin", validFor: 3600, now: now)
            let other = try store.issueToken(user: "dev_only", validFor: 3600, now: now)
            let view = try store.view(now: now)
            var remembered: RememberedSession?
            #expect(try view.authenticate(admin.token, now: now, remembering: &remembered).get().user.name == "admin")
            #expect(try view.authenticate(admin.token, now: now, remembering: &remembered).get().user.name == "admin")
            // Another token of the same length is looked up, not taken for the remembered one.
            #expect(admin.token.utf8.count == other.token.utf8.count)
            #expect(try view.authenticate(other.token, now: now, remembering: &remembered).get().user.name == "dev_only")
            #expect(rejection(view.authenticate("gh_" + String(repeating: "x", count: 40), now: now, remembering: &remembered)) == .unknown)
            // Expiry is checked on every call, remembered or not.
            _ = view.authenticate(other.token, now: now, remembering: &remembered)
            #expect(rejection(view.authenticate(other.token, now: now.addingTimeInterval(3600), remembering: &remembered)) == .expired)
            // A revocation makes a new view, which does not trust what the old one said.
            #expect(try store.revokeToken(other.token))
            #expect(rejection(try store.view(now: now).authenticate(other.token, now: now, remembering: &remembered)) == .revoked)
        }

        @Test(arguments: Backend.all) func tokensAreStoredOnlyAsHashes(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend)
            let issued = try directory.store.issueToken(user: "owner", validFor: 60)
            let rows = try directory.store.database.read { db in try db.fetchAll("SELECT * FROM tokens") }
            #expect(rows.count == 1)
            #expect(try rows[0]["hash"] as String == DirectoryStore.hash(issued.token))
            // Nothing the directory keeps holds the token itself.
            #expect(try directory.bytesAtRest().range(of: Data(issued.token.utf8)) == nil)
        }

        @Test(arguments: Backend.all) func addUsersGroupsAndMembers(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend)
            let store = directory.store
            let carol = try store.addUser(name: "carol", accountId: "05261f923e80d3890f33c0056e9b3f80", tags: ["team": "core"])
            #expect(carol.urn == "iam::05261f923e80d3890f33c0056e9b3f80:user:carol")
            try store.addGroup("auditors")
            try store.attach(policy: "read-only", to: .group("auditors"))
            #expect(try store.setMember(group: "auditors", user: "carol", true))
            #expect(try !store.setMember(group: "auditors", user: "carol", true))
            let snapshot = try store.snapshot()
            let stored = try #require(snapshot.users.first { $0.name == "carol" })
            #expect(stored.tags == ["team": "core"])
            #expect(snapshot.policies(for: stored) == ["read-only"])
            #expect(try store.setMember(group: "auditors", user: "carol", false))
            #expect(try store.snapshot().policies(for: stored).isEmpty)

            #expect(throws: DirectoryError.invalid("a user named carol (or with ID \(carol.id)) already exists")) {
                try store.addUser(name: "carol", accountId: "05261f923e80d3890f33c0056e9b3f80", id: carol.id)
            }
            #expect(throws: DirectoryError.invalid("no account nope in the organization")) { try store.addUser(name: "dave", accountId: "nope") }
            #expect(throws: DirectoryError.self) { try store.addUser(name: "bad name", accountId: "05261f923e80d3890f33c0056e9b3f80") }
            #expect(throws: DirectoryError.self) { try store.addUser(name: "eve", accountId: "05261f923e80d3890f33c0056e9b3f80", role: .owner) }
            #expect(throws: DirectoryError.invalid("a group named auditors already exists")) { try store.addGroup("auditors") }
            #expect(throws: DirectoryError.unknownUser("nobody")) { try store.setMember(group: "auditors", user: "nobody", true) }
            #expect(throws: DirectoryError.unknownGroup("nope")) { try store.setMember(group: "nope", user: "carol", true) }
        }

        @Test(arguments: Backend.all) func attachAndDetachPolicies(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend)
            let store = directory.store
            try store.attach(policy: "office-network-only", to: .user("dev_only"))
            try store.attach(policy: "office-network-only", to: .user("dev_only"))
            var snapshot = try store.snapshot()
            #expect(snapshot.users.first { $0.name == "dev_only" }?.policies.last == "office-network-only")
            #expect(snapshot.users.first { $0.name == "dev_only" }?.policies.filter { $0 == "office-network-only" }.count == 1)
            #expect(try store.detach(policy: "organizations-admin", from: .group("org-admins")))
            #expect(try !store.detach(policy: "organizations-admin", from: .group("org-admins")))
            snapshot = try store.snapshot()
            #expect(snapshot.groups.first?.policies == ["deny-protected-accounts"])
            #expect(throws: DirectoryError.unknownGroup("nope")) { try store.attach(policy: "p", to: .group("nope")) }
        }

        @Test(arguments: Backend.all) func anEmptyDirectoryHasNoSnapshot(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend, seeded: false)
            #expect(throws: DirectoryError.self) { try directory.store.snapshot() }
        }

        /// Why a view refused a token (nil when it was accepted).
        func rejection(_ result: Result<Session, TokenRejection>) -> TokenRejection? {
            if case .failure(let why) = result { return why }
            return nil
        }
    }
}
