import ArgumentParser
import Foundation
import GatehouseDirectory

extension DirectoryCommand {
    struct GenerateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new key-encryption key (32 random bytes, base64) to a file only its owner can read.",
            discussion: "Example:\n  gatehouse directory generate-key --out data/directory.key")

        @Option(help: ArgumentHelp("Where to write the key; an existing file is not overwritten.", valueName: "file")) var out: String

        func run() throws {
            guard !FileManager.default.fileExists(atPath: out) else { throw DirectoryError.invalid("\(out) exists; a key is never overwritten") }
            let folder = URL(fileURLWithPath: out).deletingLastPathComponent().path
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            guard
                FileManager.default.createFile(
                    atPath: out, contents: Data((KeyEncryptionKey.generate() + "\n").utf8), attributes: [.posixPermissions: 0o600])
            else { throw DirectoryError.invalid("cannot write \(out)") }
            Output.line("wrote a new key-encryption key to \(out) (key id \(try KeyEncryptionKey.load(file: out).id))")
        }
    }

    struct CreateAccessKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a permanent access key (at most two per user); the AK and SK are printed once.",
            discussion: """
                The first line is the access key ID (AK), the second the secret key (SK). The SK is \
                stored sealed under the key-encryption key and is never shown again.

                Example:
                  gatehouse directory create-access-key --db data/directory.sqlite \\
                      --key-file data/directory.key --user dev_only
                """)

        @OptionGroup var database: Database
        @Option(help: "The user's name.") var user: String
        @Option(help: "A note stored with the key (not secret).") var description: String?

        func run() throws {
            let issued = try database.store().createAccessKey(user: user, description: description)
            Output.line("\(issued.accessKey)\n\(issued.secretKey)")
            Output.error("access key for \(issued.userName); the secret key is not shown again")
        }
    }

    struct ListAccessKeys: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List access keys (never their secrets): status, creation, last use.",
            discussion: "Example:\n  gatehouse directory list-access-keys --db data/directory.sqlite \\\n      --user dev_only")

        @OptionGroup var database: Database
        @Option(help: "Only this user's keys.") var user: String?

        func run() throws {
            let keys = try database.store().listAccessKeys(user: user)
            if keys.isEmpty { return Output.line("no access keys") }
            let time = ISO8601DateFormatter()
            Output.line(
                keys.map { key in
                    let status = !key.active ? "inactive" : key.sessionEnded ? "ended" : "active"
                    var line = "\(key.accessKey) \(key.userName) \(status)"
                    line += key.expiresAt.map { " temporary until \(time.string(from: $0))" } ?? ""
                    line += " created \(time.string(from: key.createdAt)) last used \(key.lastUsedAt.map(time.string) ?? "never")"
                    return line + (key.description.map { " (\($0))" } ?? "")
                }.joined(separator: "\n"))
        }
    }

    struct AccessKeyArgument: ParsableArguments {
        @OptionGroup var database: Database
        @Option(name: .customLong("access-key"), help: ArgumentHelp("The access key ID.", valueName: "AK")) var accessKey: String

        /// Activates or deactivates the key, saying whether anything changed.
        func setActive(_ active: Bool) throws {
            let word = active ? "active" : "inactive"
            let changed = try database.store().setAccessKeyActive(accessKey, active)
            Output.line(changed ? "\(active ? "activated" : "deactivated") \(accessKey)" : "\(accessKey) was already \(word)")
        }
    }

    struct DeactivateAccessKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deactivate an access key: calls signed with it are refused until it is activated again.",
            discussion: "Example:\n  gatehouse directory deactivate-access-key --db data/directory.sqlite \\\n      --access-key GH2Y6QX9D0LJ4T7B1M3K"
        )

        @OptionGroup var key: AccessKeyArgument

        func run() throws { try key.setActive(false) }
    }

    struct ActivateAccessKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Activate a deactivated access key.",
            discussion: "Example:\n  gatehouse directory activate-access-key --db data/directory.sqlite \\\n      --access-key GH2Y6QX9D0LJ4T7B1M3K")

        @OptionGroup var key: AccessKeyArgument

        func run() throws { try key.setActive(true) }
    }

    struct DeleteAccessKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete an access key for good.",
            discussion: "Example:\n  gatehouse directory delete-access-key --db data/directory.sqlite \\\n      --access-key GH2Y6QX9D0LJ4T7B1M3K")

        @OptionGroup var key: AccessKeyArgument

        func run() throws {
            try key.database.store().deleteAccessKey(key.accessKey)
            Output.line("deleted \(key.accessKey)")
        }
    }

    struct IssueTemporaryCredentials: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue temporary credentials (AK, SK, security token) for a user, like IAM's security-token API.",
            discussion: """
                Prints the AK, the SK and the security token, one per line. A call signed with the \
                temporary AK must carry the token in X-Security-Token, signed. The credentials end \
                when they expire, when the user's sessions are ended, or when the user is disabled.

                Example:
                  gatehouse directory issue-temporary-credentials --db data/directory.sqlite \\
                      --key-file data/directory.key --user dev_only --ttl 1h
                """)

        @OptionGroup var database: Database
        @Option(help: "The user's name.") var user: String
        @Option(help: "How long they are valid, 15m to 24h: seconds, or a number with s, m, h or d.") var ttl: String = "1h"
        @Flag(help: "Record that the login used a second factor (g:MFAPresent).") var mfa = false

        func validate() throws {
            guard IssueToken.duration(ttl) != nil else { throw ValidationError("--ttl takes 15m to 24h: seconds, or 30m, 8h") }
        }

        func run() throws {
            let seconds = IssueToken.duration(ttl)!
            let issued = try database.store().issueTemporaryCredentials(user: user, validFor: seconds, mfa: mfa)
            Output.line("\(issued.accessKey)\n\(issued.secretKey)\n\(issued.securityToken)")
            Output.error("temporary credentials for \(issued.userName), valid until \(ISO8601DateFormatter().string(from: issued.expiresAt))")
        }
    }

    struct Rekey: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seal every access key's secret under a new key-encryption key, all or nothing.",
            discussion: """
                --key-file (or GATEHOUSE_DIRECTORY_KEY) names the current key, --new-key-file the \
                new one. Then point directory.key_file at the new key and restart the gateways (the \
                key is read at start); until they run with it, calls signed with access keys are \
                refused.

                Example:
                  gatehouse directory generate-key --out data/directory.key.new
                  gatehouse directory rekey --db data/directory.sqlite \\
                      --key-file data/directory.key --new-key-file data/directory.key.new
                """)

        @OptionGroup var database: Database
        @Option(help: ArgumentHelp("The new key-encryption key.", valueName: "file")) var newKeyFile: String

        func run() throws {
            let newKey = try KeyEncryptionKey.load(file: newKeyFile)
            let count = try database.store().rekey(to: newKey)
            Output.line("resealed \(count) secret keys under key \(newKey.id)")
        }
    }
}
