import Foundation
import Testing

@testable import GatehouseDirectory

@Suite struct PostgresLocationTests {
    @Test func urlsAreReadWithTheirDefaultsAndNeverShownWithTheirPassword() throws {
        let local = try PostgresLocation(url: "postgres://gh:s%40cret@127.0.0.1:6543/directory")
        #expect(local.host == "127.0.0.1" && local.port == 6543 && local.username == "gh" && local.password == "s@cret")
        #expect(local.database == "directory" && !local.tls && local.caFile == nil)
        #expect(local.description == "postgres://gh@127.0.0.1:6543/directory")
        // The database defaults to the user's name; a host off loopback gets verified TLS.
        let remote = try PostgresLocation(url: "postgresql://gh@db.example.com")
        #expect(remote.port == 5432 && remote.database == "gh" && remote.tls && remote.password == nil)
        #expect(try PostgresLocation(url: "postgres://gh@[::1]:5/d").host == "::1")
        #expect(try !PostgresLocation(url: "postgres://gh@db.example.com/d?sslmode=disable").tls)
        #expect(PostgresLocation.redacted("postgres://gh:hunter2@h/d?x") == "postgres://gh:***@h/d?x")
    }

    @Test func thePasswordMayComeFromAFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pg-password-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try "from-a-file\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(try PostgresLocation(url: "postgres://gh@127.0.0.1/d?password_file=\(file.path)").password == "from-a-file")
        #expect(throws: DirectoryError.self) { try PostgresLocation(url: "postgres://gh:inline@127.0.0.1/d?password_file=\(file.path)") }
        #expect(throws: DirectoryError.self) { try PostgresLocation(url: "postgres://gh@127.0.0.1/d?password_file=/no/such/file") }
    }

    @Test(
        arguments: [
            "postgres://127.0.0.1/d",  // no user
            "postgres://gh@/d",  // no host
            "postgres://gh@127.0.0.1:0/d",  // port out of range
            "postgres://gh@127.0.0.1/d/e",  // more than a database
            "postgres://gh@127.0.0.1/d?sslmode=require",  // certificate not checked: refused
            "postgres://gh@127.0.0.1/d?sslmode=disable&sslmode=verify-full",  // repeated
            "postgres://gh@127.0.0.1/d?sslmode=disable&sslrootcert=/ca.pem",  // a CA with TLS off
            "postgres://gh@127.0.0.1/d?application_name=x",  // unknown parameter
        ])
    func malformedURLsAreRefusedWithTheirReason(_ url: String) {
        #expect(throws: DirectoryError.self) { try PostgresLocation(url: url) }
    }

    @Test func parametersAreNumberedOutsideQuotedText() {
        #expect(
            PostgresDirectoryDatabase.Transaction.numberedParameters("SELECT '?' , x FROM t WHERE a = ? AND b = ?")
                == "SELECT '?' , x FROM t WHERE a = $1 AND b = $2")
    }
}

extension StoreSuites {
    @Suite(.enabled(if: !PostgresTestServer.skipped, "GATEHOUSE_SKIP_POSTGRES=1")) struct PostgresStoreTests {
        /// Replicas that start together on a new database: the schema is made once (the
        /// advisory lock), and every one of them opens it.
        @Test func replicasStartingAtOnceMigrateOnce() async throws {
            let url = try PostgresTestServer.createDatabase()
            defer { PostgresTestServer.dropDatabase(url) }
            let opened = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<4 { group.addTask { (try? DirectoryStore(path: url)) != nil } }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(opened == [true, true, true, true])
            let store = try DirectoryStore(path: url)
            let steps = try store.database.read { try $0.column(as: String.self, "SELECT name FROM gatehouse_migrations") }
            #expect(steps == DirectoryStore.postgresMigrations.map(\.name))
        }

        /// A database a newer gatehouse migrated is refused, not used with a schema this build
        /// does not know.
        @Test func aSchemaFromANewerVersionIsRefused() throws {
            let directory = try TemporaryDirectory(backend: .postgres)
            try directory.store.database.write { db in
                try db.execute("INSERT INTO gatehouse_migrations (name, applied_at) VALUES ('v99: from the future', 0)")
            }
            #expect {
                try DirectoryStore(path: directory.path)
            } throws: { error in
                "\(error)".contains("v99: from the future") && "\(error)".contains("newer version")
            }
        }

        /// Every change bumps the version another replica compares, and a read-only call does not.
        @Test func eachChangeMovesTheDataVersion() throws {
            let directory = try TemporaryDirectory(
                backend: .postgres, keyEncryptionKey: try KeyEncryptionKey(base64: KeyEncryptionKey.generate(), source: "test"))
            let other = try DirectoryStore(path: directory.path)
            let before = try other.dataVersion()
            _ = try directory.store.snapshot()
            #expect(try other.dataVersion() == before)
            try directory.store.endSessions(user: "admin")
            #expect(try other.dataVersion() == before + 1)
            // A write that changes nothing (already a member) is no change.
            try directory.store.setMember(group: "org-admins", user: "member", true)
            try directory.store.setMember(group: "org-admins", user: "member", true)
            #expect(try other.dataVersion() == before + 2)
            // What no view holds (the outbox, access keys' last use) is not announced.
            try directory.store.database.write { db in
                try db.execute(
                    "INSERT INTO outbox (kind, subject_id, recipient, created_at, next_attempt_at) VALUES ('test', 's', 'x@example.com', 0, 0)")
            }
            #expect(try other.dataVersion() == before + 3)
            #expect(try directory.store.claimDueMail().count == 1)
            #expect(try other.dataVersion() == before + 3)
            let key = try directory.store.createAccessKey(user: "admin")
            #expect(try other.dataVersion() == before + 4)
            try directory.store.recordAccessKeyUse([key.accessKey: Date()])
            #expect(try directory.store.listAccessKeys(user: "admin").first?.lastUsedAt != nil)
            #expect(try other.dataVersion() == before + 4)
        }

        /// `eval --directory`, `diff --directory` and the like read a PostgreSQL directory too.
        @Test func toolsReadTheDirectoryFromItsURL() throws {
            let directory = try TemporaryDirectory(backend: .postgres)
            let read = try DirectorySeed.read(directory.path)
            #expect(read.organization.id == (try DirectorySeed.load(sampleSeed)).organization.id)
            #expect(read.users.map(\.name) == ["owner", "admin", "dev_only", "member", "new_hire"])
        }

        /// A server that is not there: a clear error naming the URL without its password.
        @Test func anUnreachableServerIsReportedWithoutThePassword() throws {
            let port = try freePort()
            #expect {
                try DirectoryStore(path: "postgres://gh:hunter2@127.0.0.1:\(port)/d")
            } throws: { error in
                guard case DirectoryError.unavailable(let message) = error else { return false }
                return message.contains("postgres://gh@127.0.0.1:\(port)/d") && !message.contains("hunter2")
            }
        }

        func freePort() throws -> Int {
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { Glibc.close(socket) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            try withUnsafeMutablePointer(to: &address) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                    guard bind(socket, raw, length) == 0, getsockname(socket, raw, &length) == 0 else { throw POSIXError(.EADDRINUSE) }
                }
            }
            return Int(UInt16(bigEndian: address.sin_port))
        }
    }
}
