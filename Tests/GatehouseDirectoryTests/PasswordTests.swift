import Foundation
import Testing

@testable import GatehouseDirectory

extension StoreSuites {
    /// Console passwords: only scrypt hashes at rest, checked in constant time, refused for
    /// unknown and disabled users alike.
    @Suite struct PasswordTests {
        @Test(arguments: Backend.all) func onlyAHashIsKeptAndOnlyTheRightPasswordMatches(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend)
            let store = directory.store
            let password = "correct horse battery staple"
            #expect(try !store.checkPassword(user: "owner", password), "no password set yet")
            try store.setPassword(user: "owner", password)
            #expect(try store.checkPassword(user: "owner", password))
            #expect(try !store.checkPassword(user: "owner", "correct horse battery stapler"))
            #expect(try !store.checkPassword(user: "admin", password), "another user's password")
            #expect(try !store.checkPassword(user: "nobody", password))
            #expect(try directory.bytesAtRest().range(of: Data(password.utf8)) == nil, "the password itself is never stored")
            // A disabled user cannot sign in, whatever they type.
            try store.setDisabled(user: "owner", true)
            #expect(try !store.checkPassword(user: "owner", password))
            #expect(throws: DirectoryError.unknownUser("nobody")) { try store.setPassword(user: "nobody", password) }
            for weak in ["short", "1234567", "line\nbreak password"] {
                #expect(throws: DirectoryError.self, "\(weak.debugDescription)") { try store.setPassword(user: "admin", weak) }
            }
        }

        @Test func hashesAreSaltedAndUnreadableOnesNeverMatch() throws {
            let first = try PasswordHash.make("same password")
            let second = try PasswordHash.make("same password")
            #expect(first != second, "a fresh salt each time")
            #expect(first.hasPrefix("$scrypt$ln=15,r=8,p=1$"))
            #expect(PasswordHash.verify("same password", against: first) && PasswordHash.verify("same password", against: second))
            // Tampered, truncated, or with parameters out of bounds: no match, no crash.
            var tampered = Array(first)
            tampered[tampered.count - 2] = tampered[tampered.count - 2] == "A" ? "B" : "A"
            for stored in [
                String(tampered), String(first.dropLast(10)), "", "$scrypt$", first.replacingOccurrences(of: "ln=15", with: "ln=40"),
                first.replacingOccurrences(of: "$scrypt$", with: "$argon2id$"), "plain text",
            ] {
                #expect(!PasswordHash.verify("same password", against: stored), "\(stored)")
            }
        }
    }
}
