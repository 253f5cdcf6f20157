import ArgumentParser
import Foundation
import GatehouseDirectory
import GatehousePolicy

struct DirectoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "directory",
        abstract: "Manage the directory: users, groups, policy attachments, tokens, access keys and sessions.",
        discussion: """
            The directory is a SQLite file, or a PostgreSQL database that several gateways \
            share (--db postgres://USER@HOST:PORT/DATABASE?password_file=FILE). Tokens are random, shown once when issued, and \
            stored only as a SHA-256 hash; a token stops working when it expires, is revoked, \
            its user is disabled, or the user's sessions are ended. Access keys' secret keys \
            are stored sealed (AES-256-GCM) under a key-encryption key given with --key-file \
            or GATEHOUSE_DIRECTORY_KEY.

            Examples:
              gatehouse directory init --db data/directory.sqlite \\
                  --seed samples/directory.json
              gatehouse directory issue-token --db data/directory.sqlite --user dev_only \\
                  --ttl 8h
              gatehouse directory attach --db data/directory.sqlite --policy require-mfa \\
                  --group org-admins
              gatehouse directory end-sessions --db data/directory.sqlite --user admin
            """,
        subcommands: [
            Init.self, Show.self, AddUser.self, AddGroup.self, AddMember.self, RemoveMember.self, IssueToken.self, RevokeToken.self,
            EndSessions.self, SetPassword.self, Attach.self, Detach.self, Disable.self, Enable.self, GenerateKey.self, CreateAccessKey.self,
            ListAccessKeys.self,
            DeactivateAccessKey.self, ActivateAccessKey.self, DeleteAccessKey.self, IssueTemporaryCredentials.self, Rekey.self, Migrate.self,
        ]
    )

    struct Database: ParsableArguments {
        @Option(
            help: ArgumentHelp(
                "The directory: a SQLite file, or a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE?password_file=FILE).",
                valueName: "path-or-url"))
        var db: String
        @Option(
            help: ArgumentHelp(
                "The key-encryption key for access keys' secrets (default: $GATEHOUSE_DIRECTORY_KEY).", valueName: "file"))
        var keyFile: String?

        /// Opens the store; any database failure becomes a directory error (exit 2). Only
        /// `init` creates a directory (and the folders it goes in): every other command on a
        /// path with no directory says how to make one, rather than creating an empty file
        /// at a mistyped path.
        func store(creating: Bool = false) throws -> DirectoryStore {
            if PostgresLocation.isURL(db) {
                // A server's database exists before gatehouse runs; the schema is made (or
                // brought up to date) on opening, and `init` fills it.
                let keyEncryptionKey = try KeyEncryptionKey.resolve(file: keyFile)
                do {
                    return try DirectoryStore(path: db, keyEncryptionKey: keyEncryptionKey)
                } catch let error as DirectoryError {
                    throw error
                } catch {
                    throw DirectoryError.invalid("cannot open the directory \(shown): \(error)")
                }
            }
            if creating {
                let folder = URL(fileURLWithPath: db).deletingLastPathComponent().path
                do {
                    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                } catch {
                    throw DirectoryError.invalid("cannot create the folder \(folder) for the directory: \(error.localizedDescription)")
                }
            } else if !FileManager.default.fileExists(atPath: db) {
                throw DirectoryError.invalid(
                    "no directory at \(db); create one with gatehouse directory init --db \(db) --seed samples/directory.json")
            }
            let keyEncryptionKey = try KeyEncryptionKey.resolve(file: keyFile)
            do {
                return try DirectoryStore(path: db, keyEncryptionKey: keyEncryptionKey)
            } catch {
                throw DirectoryError.invalid("cannot open the directory \(db): \(error)")
            }
        }

        /// `db` as shown to people: a URL's password is never printed.
        var shown: String {
            PostgresLocation.isURL(db) ? ((try? PostgresLocation(url: db))?.description ?? PostgresLocation.redacted(db)) : db
        }
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the directory (and its folder, if needed) and load a seed file into it, all or nothing.",
            discussion: "Example:\n  gatehouse directory init --db data/directory.sqlite \\\n      --seed samples/directory.json")

        @OptionGroup var database: Database
        @Option(help: ArgumentHelp("The seed: organization, accounts, users, groups, attachments.", valueName: "directory.json"))
        var seed: String
        @Flag(help: "Replace what the directory holds.")
        var replace = false

        func run() throws {
            let seed = try DirectorySeed.load(seed)
            try database.store(creating: true).importSeed(seed, replace: replace, path: database.shown)
            Output.line(
                "loaded \(Output.count(seed.accounts.count, "account")), \(Output.count(seed.users.count, "user")), \(Output.count(seed.groups.count, "group")) into \(database.shown)"
            )
        }
    }

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring the directory's schema up to date and list its steps.",
            discussion: """
                Every command and `gatehouse serve` do this when they open the directory; run it on \
                its own before starting a new version of several gateways. On PostgreSQL the steps \
                run under an advisory lock, so gateways starting together apply each once; a \
                database migrated by a newer version is refused.

                Example:
                  gatehouse directory migrate \\
                      --db 'postgres://gatehouse@db.internal/gatehouse?password_file=pw'
                """)

        @OptionGroup var database: Database

        func run() throws {
            let store = try database.store(creating: PostgresLocation.isURL(database.db))
            for step in try store.schemaSteps() { Output.line("schema step: \(step)") }
            Output.line("the directory \(store.location) is up to date")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the organization, its OUs, accounts, users, groups and their policies.",
            discussion: "Example:\n  gatehouse directory show --db data/directory.sqlite")

        @OptionGroup var database: Database

        func run() throws {
            let snapshot = try database.store().snapshot()
            var lines = [
                "organization \(snapshot.organization.name) (\(snapshot.organization.id)), owner \(snapshot.organization.owner)"
                    + (snapshot.organization.rootId.map { ", root \($0)" } ?? "")
            ]
            for unit in snapshot.organizationalUnits { lines.append("organizational unit \(unit.id) \(unit.name) in \(unit.parentId)") }
            for account in snapshot.accounts {
                let tags = account.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
                var marks = account.parentId.map { ["in \($0)"] } ?? []
                if account.id == snapshot.organization.managementAccountId { marks.append("management") }
                if snapshot.delegatedAdministrators.contains(account.id) { marks.append("delegated administrator") }
                lines.append(
                    "account \(account.id) \(account.name)\(marks.isEmpty ? "" : " [\(marks.joined(separator: ", "))]")\(tags.isEmpty ? "" : " tags: \(tags)")"
                )
            }
            for user in snapshot.users {
                let policies = snapshot.policies(for: user)
                lines.append(
                    "user \(user.name) (\(user.role.rawValue)\(user.disabled ? ", disabled" : "")) \(user.urn) policies: \(policies.isEmpty ? "none" : policies.joined(separator: ", "))"
                )
            }
            for group in snapshot.groups {
                lines.append(
                    "group \(group.name) members: \(group.members.joined(separator: ", ")) policies: \(group.policies.joined(separator: ", "))")
            }
            Output.line(lines.joined(separator: "\n"))
        }
    }

    struct IssueToken: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue an API token for a user; it is printed once and stored only as a hash.",
            discussion: "Example:\n  gatehouse directory issue-token --db data/directory.sqlite --user dev_only \\\n      --ttl 8h")

        @OptionGroup var database: Database
        @Option(help: "The user's name.") var user: String
        @Option(help: "How long the token is valid: seconds, or a number with s, m, h or d.") var ttl: String = "8h"
        @Option(help: "A note stored with the token (not secret).") var label: String?
        @Flag(help: "Record that the login used a second factor (g:MFAPresent is true for calls with this token).") var mfa = false

        func validate() throws {
            guard Self.duration(ttl) != nil else { throw ValidationError("--ttl takes a positive number of seconds, or 30m, 8h, 7d") }
        }

        func run() throws {
            let seconds = Self.duration(ttl)!
            let issued = try database.store().issueToken(user: user, validFor: seconds, label: label, mfa: mfa)
            Output.line(issued.token)
            Output.error("token for \(issued.userName), valid until \(ISO8601DateFormatter().string(from: issued.expiresAt))")
        }

        static func duration(_ text: String) -> TimeInterval? {
            let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
            let (number, unit) = units[text.last ?? " "].map { (text.dropLast(), $0) } ?? (Substring(text), 1)
            guard let value = Double(number), value > 0, value.isFinite else { return nil }
            return value * unit
        }
    }

    struct RevokeToken: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token (given, or - to read it from standard input).",
            discussion: "Example:\n  echo \"$TOKEN\" | gatehouse directory revoke-token --db data/directory.sqlite \\\n      --token -")

        @OptionGroup var database: Database
        @Option(help: "The token, or - for standard input (keeps it out of the process list).") var token: String

        func run() throws {
            let value = token == "-" ? (readLine(strippingNewline: true) ?? "") : token
            guard try database.store().revokeToken(value.trimmingCharacters(in: .whitespaces)) else {
                throw DirectoryError.invalid("the directory has no such token")
            }
            Output.line("revoked")
        }
    }

    struct EndSessions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End every session of a user: all their tokens and temporary credentials stop working at once.",
            discussion: "Example:\n  gatehouse directory end-sessions --db data/directory.sqlite --user admin")

        @OptionGroup var database: Database
        @Option(help: "The user's name.") var user: String

        func run() throws {
            try database.store().endSessions(user: user)
            Output.line("ended every session of \(user)")
        }
    }

    struct SetPassword: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password",
            abstract: "Set a user's password for the organization console (read from standard input).",
            discussion: """
                Reads the password from the first line of standard input, so it is in no command line \
                or shell history: 8 characters or more, at most 256 bytes, no control characters. Only \
                its scrypt hash is stored.

                Example:
                  gatehouse directory set-password --db data/directory.sqlite --user owner \\
                      < owner-password.txt
                """)

        @OptionGroup var database: Database
        @Option(help: "The user's name.") var user: String

        func run() throws {
            guard let password = readLine(strippingNewline: true) else {
                throw DirectoryError.invalid("no password on standard input (give it as the first line)")
            }
            try database.store().setPassword(user: user, password)
            Output.line("set the password of \(user)")
        }
    }

    struct AddUser: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a user to an account of the organization.",
            discussion: """
                The user's URN is iam::<account>:user:<name>. Whether they may call management-only \
                APIs follows from the account; what they may do follows from the policies attached to \
                them and their groups.

                Example:
                  gatehouse directory add-user --db data/directory.sqlite --name carol \\
                      --account 0a6d25d23900d45c0faac010e0fb4de0 --tag team=core
                """)

        @OptionGroup var database: Database
        @Option(help: "The user's name (letters, digits, _, - and .).") var name: String
        @Option(help: "The account the user belongs to.") var account: String
        @Option(help: "The user's email address.") var email: String?
        @Option(help: "admin or user.") var role: String = "user"
        @Option(help: ArgumentHelp("A principal tag (g:PrincipalTag/<key>); repeat for more.", valueName: "key=value")) var tag: [String] = []

        func run() throws {
            guard let role = DirectorySeed.Role(rawValue: role), role != .owner else { throw ValidationError("--role takes admin or user") }
            var tags: [String: String] = [:]
            for pair in tag {
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                    throw ValidationError("--tag takes key=value, not \(pair)")
                }
                tags[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            let user = try database.store().addUser(name: name, accountId: account, email: email, role: role, tags: tags)
            Output.line("added user \(user.name) (\(user.id)) \(user.urn)")
        }
    }

    struct AddGroup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a group (attach policies to it, then add members).",
            discussion: "Example:\n  gatehouse directory add-group --db data/directory.sqlite --name auditors")

        @OptionGroup var database: Database
        @Option(help: "The group's name.") var name: String

        func run() throws {
            try database.store().addGroup(name)
            Output.line("added group \(name)")
        }
    }

    struct Membership: ParsableArguments {
        @OptionGroup var database: Database
        @Option(help: "The group's name.") var group: String
        @Option(help: "The user's name.") var user: String
    }

    struct AddMember: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put a user in a group: the group's policies apply to them from their next call.",
            discussion: "Example:\n  gatehouse directory add-member --db data/directory.sqlite \\\n      --group org-admins --user carol")

        @OptionGroup var membership: Membership

        func run() throws {
            let changed = try membership.database.store().setMember(group: membership.group, user: membership.user, true)
            Output.line(changed ? "\(membership.user) joined \(membership.group)" : "\(membership.user) was already in \(membership.group)")
        }
    }

    struct RemoveMember: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a user out of a group.",
            discussion: "Example:\n  gatehouse directory remove-member --db data/directory.sqlite \\\n      --group org-admins --user carol")

        @OptionGroup var membership: Membership

        func run() throws {
            guard try membership.database.store().setMember(group: membership.group, user: membership.user, false) else {
                throw DirectoryError.invalid("\(membership.user) is not in \(membership.group)")
            }
            Output.line("\(membership.user) left \(membership.group)")
        }
    }

    struct Target: ParsableArguments {
        @Option(help: "The policy name (its file name without .json).") var policy: String
        @Option(help: "A user's name.") var user: String?
        @Option(help: "A group's name.") var group: String?

        func validate() throws {
            guard (user == nil) != (group == nil) else { throw ValidationError("name exactly one of --user and --group") }
        }

        var target: DirectoryStore.AttachmentTarget { user.map { .user($0) } ?? .group(group!) }
        var name: String { user ?? group! }
    }

    struct Attach: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Attach a policy to a user or a group.",
            discussion: "Example:\n  gatehouse directory attach --db data/directory.sqlite --policy require-mfa \\\n      --user dev_only")

        @OptionGroup var database: Database
        @OptionGroup var target: Target

        func run() throws {
            if try database.store().attach(policy: target.policy, to: target.target) {
                Output.line("attached \(target.policy) to \(target.name)")
            } else {
                Output.line("\(target.policy) was already attached to \(target.name)")
            }
        }
    }

    struct Detach: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Detach a policy from a user or a group.",
            discussion: "Example:\n  gatehouse directory detach --db data/directory.sqlite \\\n      --policy organizations-admin --group org-admins")

        @OptionGroup var database: Database
        @OptionGroup var target: Target

        func run() throws {
            guard try database.store().detach(policy: target.policy, from: target.target) else {
                throw DirectoryError.invalid("\(target.policy) is not attached to \(target.name)")
            }
            Output.line("detached \(target.policy) from \(target.name)")
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable a user: their tokens and access keys stop working until the user is enabled again.",
            discussion: "Example:\n  gatehouse directory disable --db data/directory.sqlite --user member")

        @OptionGroup var database: Database
        @Option(help: "The user's name.") var user: String

        func run() throws {
            try database.store().setDisabled(user: user, true)
            Output.line("disabled \(user)")
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enable a disabled user.",
            discussion: "Example:\n  gatehouse directory enable --db data/directory.sqlite --user member")

        @OptionGroup var database: Database
        @Option(help: "The user's name.") var user: String

        func run() throws {
            try database.store().setDisabled(user: user, false)
            Output.line("enabled \(user)")
        }
    }
}
