import Foundation
import GatehouseDirectory
import GatehouseGateway
import GatehousePolicy

/// The files `gatehouse demo` starts from, built into the binary (`Package.swift` embeds
/// `Sources/gatehouse/Resources`, symlinks to `samples/` and `policies/`), and the files it
/// writes into its data directory.
enum DemoFiles {
    static var seed: [UInt8] { PackageResources.directory_json }
    static var catalog: [UInt8] { PackageResources.catalog_json }
    /// The example policies by file name; `policies/*.json` without the tests.
    static var policies: [(name: String, bytes: [UInt8])] {
        [
            ("deny-protected-accounts.json", PackageResources.deny_protected_accounts_json),
            ("dev-accounts-update.json", PackageResources.dev_accounts_update_json),
            ("office-network-only.json", PackageResources.office_network_only_json),
            ("organizations-admin.json", PackageResources.organizations_admin_json),
            ("require-mfa.json", PackageResources.require_mfa_json),
        ]
    }

    /// A file named on the command line, whole (the demo's inputs are small).
    static func contents(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw GatewayStartError("\(path): cannot read the file") }
        return Array(data)
    }

    /// Writes whole, then renames: a reader never sees half a file.
    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Writes a file only its owner may read (it holds the demo's tokens), whole, then renames.
    static func writePrivate(_ text: String, to path: String) throws {
        let temporary = path + ".tmp"
        _ = unlink(temporary)
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw GatewayStartError("\(temporary): cannot create the file")
        }
        guard rename(temporary, path) == 0 else { throw GatewayStartError("\(path): cannot rename \(temporary) to it") }
    }

    /// Deletes an earlier run's data directory for `--fresh`: only one that is empty or that
    /// the demo made (it has the directory's database or `demo.json`), so a mistyped path
    /// cannot delete someone's files.
    static func remove(dataDirectory path: String) throws {
        let manager = FileManager.default
        guard manager.fileExists(atPath: path) else { return }
        let entries = try manager.contentsOfDirectory(atPath: path)
        guard entries.isEmpty || entries.contains("directory.sqlite") || entries.contains("demo.json") else {
            throw GatewayStartError("\(path) does not look like a demo data directory (no directory.sqlite or demo.json); not deleting it")
        }
        try manager.removeItem(atPath: path)
    }
}

/// What a running demo tells scripts: `demo.json`, and the same as shell variables in `env`.
struct DemoContract {
    var gateway, admin, accountService: String
    /// The same accounts' service for nginx and Envoy to forward to (no signature required).
    var proxiedAccountService = ""
    var organizationId, managementAccountId, devAccount, prodAccount: String
    /// The decision listener for nginx `auth_request` and Envoy `ext_authz`.
    var authz = ""
    /// Demo user name -> user ID and token, in the banner's order.
    var users, tokens: [(String, String)]
    /// Demo user name -> a permanent access key, in the banner's order.
    var accessKeys: [(String, IssuedAccessKey)] = []
    /// dev_only's temporary credentials.
    var temporaryCredentials: [(String, IssuedTemporaryCredentials)] = []
    var dataDirectory, policiesDirectory, auditLog, maildir: String
    /// The console's sign-in page, and each demo user's console password.
    var console = ""
    var passwords: [(String, String)] = []

    var json: JSONValue {
        .object([
            ("gateway", .string(gateway)),
            ("admin", .string(admin)),
            ("authz", .string(authz)),
            ("account_service", .string(accountService)),
            ("proxied_account_service", .string(proxiedAccountService)),
            ("organization_id", .string(organizationId)),
            ("management_account_id", .string(managementAccountId)),
            ("accounts", .object([("dev", .string(devAccount)), ("prod", .string(prodAccount))])),
            ("users", .object(users.map { ($0.0, .string($0.1)) })),
            ("tokens", .object(tokens.map { ($0.0, .string($0.1)) })),
            (
                "access_keys",
                .object(accessKeys.map { ($0.0, .object([("access_key", .string($0.1.accessKey)), ("secret_key", .string($0.1.secretKey))])) })
            ),
            (
                "temporary_credentials",
                .object(
                    temporaryCredentials.map {
                        (
                            $0.0,
                            .object([
                                ("access_key", .string($0.1.accessKey)), ("secret_key", .string($0.1.secretKey)),
                                ("security_token", .string($0.1.securityToken)),
                                ("expires_at", .string(ISO8601DateFormatter().string(from: $0.1.expiresAt))),
                            ])
                        )
                    })
            ),
            ("console", .string(console)),
            ("passwords", .object(passwords.map { ($0.0, .string($0.1)) })),
            ("data_dir", .string(dataDirectory)),
            ("policies_dir", .string(policiesDirectory)),
            ("audit_log", .string(auditLog)),
            ("maildir", .string(maildir)),
        ])
    }

    /// `export NAME='value'` lines for `source`; a token's variable is its user's name in
    /// capitals (`DEV_ONLY` for `dev_only`).
    var shellVariables: String {
        var variables: [(String, String)] = [
            ("GATEWAY", gateway), ("ADMIN_API", admin), ("AUTHZ", authz), ("ACCOUNT_SERVICE", accountService), ("ORGANIZATION_ID", organizationId),
            ("MANAGEMENT_ACCOUNT", managementAccountId), ("DEV_ACCOUNT", devAccount), ("PROD_ACCOUNT", prodAccount), ("CONSOLE", console),
        ]
        variables += tokens.map { ($0.0.uppercased(), $0.1) }
        variables += [("DEMO_DIR", dataDirectory), ("AUDIT_LOG", auditLog), ("DEMO_MAILDIR", maildir)]
        let lines = variables.map { "export \($0.0)=\(Self.shellQuoted($0.1))" }
        return "# The running demo's addresses, IDs and tokens, written by gatehouse demo: source this file.\n"
            + lines.joined(separator: "\n") + "\n"
    }

    /// Single-quoted for a POSIX shell: `'` becomes `'\''`.
    static func shellQuoted(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}
