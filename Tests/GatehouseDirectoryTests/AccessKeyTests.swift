import Foundation
import Testing

@testable import GatehouseDirectory

extension StoreSuites {
    @Suite struct AccessKeyTests {
        static func newKey() throws -> KeyEncryptionKey { try KeyEncryptionKey(base64: KeyEncryptionKey.generate(), source: "test") }

        @Test(arguments: Backend.all) func secretKeysAreNeverStoredInPlaintext(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend, keyEncryptionKey: try Self.newKey())
            let permanent = try directory.store.createAccessKey(user: "dev_only")
            let temporary = try directory.store.issueTemporaryCredentials(user: "dev_only", validFor: 900)
            // Reopened, so everything is written out; the view still opens both secrets.
            let view = try DirectoryStore(path: directory.path, keyEncryptionKey: directory.store.keyEncryptionKey).view()
            #expect(try view.accessKey(permanent.accessKey).get().secretKey == permanent.secretKey)
            #expect(try view.accessKey(temporary.accessKey).get().secretKey == temporary.secretKey)
            let disk = try directory.bytesAtRest()
            #expect(disk.range(of: Data(permanent.accessKey.utf8)) != nil)  // the search itself works
            for secret in [permanent.secretKey, temporary.secretKey, temporary.securityToken] {
                #expect(disk.range(of: Data(secret.utf8)) == nil)
            }
        }

        @Test(arguments: Backend.all) func atMostTwoPermanentKeysPerUserAndTheirLifecycle(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend, keyEncryptionKey: try Self.newKey())
            let store = directory.store
            let first = try store.createAccessKey(user: "dev_only", description: "ci")
            _ = try store.createAccessKey(user: "dev_only")
            #expect(throws: DirectoryError.self) { try store.createAccessKey(user: "dev_only") }
            // Temporary credentials do not count against the two.
            _ = try store.issueTemporaryCredentials(user: "dev_only", validFor: 3600)
            #expect(try store.listAccessKeys(user: "dev_only").count == 3)
            #expect(try store.setAccessKeyActive(first.accessKey, false))
            #expect(try !store.setAccessKeyActive(first.accessKey, false))
            #expect(try store.listAccessKeys(user: "dev_only").first { $0.accessKey == first.accessKey }?.active == false)
            try store.deleteAccessKey(first.accessKey)
            _ = try store.createAccessKey(user: "dev_only")
            #expect(throws: DirectoryError.self) { try store.deleteAccessKey(first.accessKey) }
            #expect(throws: DirectoryError.unknownUser("nobody")) { try store.createAccessKey(user: "nobody") }
        }

        @Test(arguments: Backend.all) func lastUseIsRecordedAndNeverMovesBack(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend, keyEncryptionKey: try Self.newKey())
            let key = try directory.store.createAccessKey(user: "admin")
            #expect(try directory.store.listAccessKeys(user: "admin")[0].lastUsedAt == nil)
            let later = Date(timeIntervalSince1970: 1_800_000_000)
            try directory.store.recordAccessKeyUse([key.accessKey: later])
            try directory.store.recordAccessKeyUse([key.accessKey: later.addingTimeInterval(-60)])
            #expect(try directory.store.listAccessKeys(user: "admin")[0].lastUsedAt == later)
        }

        @Test(arguments: Backend.all) func withoutTheRightKeySecretsStaySealed(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend, keyEncryptionKey: try Self.newKey())
            let key = try directory.store.createAccessKey(user: "admin")
            #expect(throws: DirectoryError.self) { try DirectoryStore(path: directory.path).createAccessKey(user: "owner") }
            for other in [nil, try Self.newKey()] {
                let view = try DirectoryStore(path: directory.path, keyEncryptionKey: other).view()
                #expect(view.unreadableAccessKeys == 1)
                #expect(view.accessKey(key.accessKey).failure == .unreadable)
            }
        }

        @Test(arguments: Backend.all) func rekeyResealsEverythingOrNothing(_ backend: Backend) throws {
            let old = try Self.newKey()
            let directory = try TemporaryDirectory(backend: backend, keyEncryptionKey: old)
            let permanent = try directory.store.createAccessKey(user: "admin")
            let temporary = try directory.store.issueTemporaryCredentials(user: "admin", validFor: 900)
            let new = try Self.newKey()
            #expect(try directory.store.rekey(to: new) == 2)
            let view = try DirectoryStore(path: directory.path, keyEncryptionKey: new).view()
            #expect(view.unreadableAccessKeys == 0)
            #expect(try view.accessKey(permanent.accessKey).get().secretKey == permanent.secretKey)
            #expect(try view.accessKey(temporary.accessKey).get().secretKey == temporary.secretKey)
            // The old key no longer opens them, and a rekey from it is refused whole.
            #expect(try DirectoryStore(path: directory.path, keyEncryptionKey: old).view().unreadableAccessKeys == 2)
            #expect(throws: DirectoryError.self) { try DirectoryStore(path: directory.path, keyEncryptionKey: old).rekey(to: try Self.newKey()) }
            #expect(try DirectoryStore(path: directory.path, keyEncryptionKey: new).view().unreadableAccessKeys == 0)
            // Nothing new is sealed under the old key once the secrets are under the new one:
            // secrets under two keys would block every later rekey.
            #expect(throws: DirectoryError.self) { try DirectoryStore(path: directory.path, keyEncryptionKey: old).createAccessKey(user: "owner") }
            #expect(throws: DirectoryError.self) {
                try DirectoryStore(path: directory.path, keyEncryptionKey: old).issueTemporaryCredentials(user: "owner", validFor: 900)
            }
            #expect(try DirectoryStore(path: directory.path, keyEncryptionKey: new).rekey(to: try Self.newKey()) == 2)
        }

        @Test(arguments: Backend.all) func aSealedSecretMovedToAnotherKeyDoesNotOpen(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend, keyEncryptionKey: try Self.newKey())
            let victim = try directory.store.createAccessKey(user: "owner")
            let attacker = try directory.store.createAccessKey(user: "member")
            try directory.store.database.write { db in
                try db.execute(
                    "UPDATE access_keys SET sealed_secret = (SELECT sealed_secret FROM access_keys WHERE access_key = ?) WHERE access_key = ?",
                    [victim.accessKey, attacker.accessKey])
            }
            #expect(try directory.store.view().accessKey(attacker.accessKey).failure == .unreadable)
        }

        @Test(arguments: Backend.all) func temporaryCredentialsNeedTheirTokenAndEndWithTheSession(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend, keyEncryptionKey: try Self.newKey())
            let store = directory.store
            #expect(throws: DirectoryError.self) { try store.issueTemporaryCredentials(user: "dev_only", validFor: 60) }
            #expect(throws: DirectoryError.self) { try store.issueTemporaryCredentials(user: "dev_only", validFor: 86_401) }
            let now = Date()
            let issued = try store.issueTemporaryCredentials(user: "dev_only", validFor: 900, mfa: true, now: now)
            var view = try store.view()
            let credential = try view.accessKey(issued.accessKey).get()
            #expect(view.session(for: credential, securityToken: nil, now: now).failure == .securityTokenMissing)
            #expect(view.session(for: credential, securityToken: issued.securityToken + "x", now: now).failure == .securityTokenMismatch)
            let session = try view.session(for: credential, securityToken: issued.securityToken, now: now).get()
            #expect(session.user.name == "dev_only" && session.mfa && session.credential == .temporaryAccessKey)
            #expect(view.session(for: credential, securityToken: issued.securityToken, now: now.addingTimeInterval(900)).failure == .expired)
            #expect(try store.listAccessKeys(user: "dev_only").first { $0.accessKey == issued.accessKey }?.sessionEnded == false)
            try store.endSessions(user: "dev_only")
            view = try store.view()
            #expect(
                view.session(for: try view.accessKey(issued.accessKey).get(), securityToken: issued.securityToken, now: now).failure == .sessionEnded)
            // Listed as ended, so an operator does not take them for working credentials.
            #expect(try store.listAccessKeys(user: "dev_only").first { $0.accessKey == issued.accessKey }?.sessionEnded == true)
            // A permanent key takes no security token, and stops when its user is disabled.
            let permanent = try store.createAccessKey(user: "member")
            try store.setDisabled(user: "member", true)
            view = try store.view()
            let permanentCredential = try view.accessKey(permanent.accessKey).get()
            #expect(view.session(for: permanentCredential, securityToken: "ghst_x", now: now).failure == .securityTokenUnexpected)
            #expect(view.session(for: permanentCredential, securityToken: nil, now: now).failure == .userDisabled)
        }

        @Test func keyFilesAreCheckedBeforeUse() throws {
            let directory = try TemporaryDirectory()
            let file = directory.folder.appendingPathComponent("kek").path
            try Data(KeyEncryptionKey.generate().utf8).write(to: URL(fileURLWithPath: file))
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
            #expect(throws: DirectoryError.self) { try KeyEncryptionKey.load(file: file) }
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
            let key = try KeyEncryptionKey.load(file: file)
            #expect(key.id.count == 16)
            #expect(throws: DirectoryError.self) { try KeyEncryptionKey(base64: "c2hvcnQ=", source: "test") }
            #expect(try KeyEncryptionKey.resolve(file: nil, environment: [:]) == nil)
            #expect(
                try KeyEncryptionKey.resolve(
                    file: nil, environment: [KeyEncryptionKey.environmentVariable: try String(contentsOfFile: file, encoding: .utf8)])?.id == key.id)
        }
    }

}

extension Result {
    /// The error, or nil on success (for `#expect`).
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
