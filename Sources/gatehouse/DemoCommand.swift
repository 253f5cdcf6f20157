import ArgumentParser
import Foundation
import GatehouseDirectory
import GatehouseGateway
import GatehousePolicy
import GatehouseSampleService
import GatehouseSigning
import Hummingbird
import Synchronization

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the gateway with a sample account service and a seeded directory, ready to try.",
        discussion: """
            Everything runs in this process and lives under the data directory (a new temporary one \
            unless --data-dir is given): the directory (directory.sqlite), the sample account \
            service's state (accounts.sqlite), a copy of the example policies to edit (policies/; \
            it reloads on save), the route catalog (catalog.json), the audit log (audit.log), and a \
            maildir (maildir/) where ownership-transfer emails land. The seed, catalog and example \
            policies are built into the binary, so the demo runs from any directory; --seed, \
            --catalog and --policies use files instead.

            A data directory from an earlier run is reused: edited policies, account changes and a \
            completed ownership transfer carry over (the demo says so when it starts). --fresh \
            deletes it first.

            Prints tokens and curl lines for an allowed update, a policy denial and a \
            management-account-only denial, and the organization console's address (/console) \
            with a console password for each demo user, new on every start. Once all of it \
            answers, writes DIR/demo.json (every address, ID, token, password and the maildir, \
            for scripts) and DIR/env (shell variables: GATEWAY, ADMIN_API, CONSOLE, DEV_ACCOUNT, \
            PROD_ACCOUNT, OWNER, ADMIN, DEV_ONLY, MEMBER, ...). Both hold the demo's secrets and \
            are readable by their owner only.

            Example:
              gatehouse demo --data-dir /tmp/gatehouse-demo --port 8080
              source /tmp/gatehouse-demo/env
              curl -s -H "X-Auth-Token: $ADMIN" "$GATEWAY/v1/organizations/accounts"
            """
    )

    @Option(help: ArgumentHelp("Where the demo keeps its files (reused when it exists).", valueName: "dir"))
    var dataDir: String?

    @Flag(help: "Delete the data directory of an earlier run first (only one the demo made).")
    var fresh = false

    @Option(help: "The gateway's port; 0 picks a free one. The admin API and account service always take free ports.")
    var port: Int = 8080

    @Option(
        help:
            "The decision listener's port, for nginx auth_request and Envoy ext_authz (the samples ask 8181, the default; with --port 0, a free one)."
    )
    var authzPort: Int?

    @Option(
        help:
            "The port of the account service behind nginx and Envoy (the same accounts, trusting the proxy in front; the samples forward to 8081, the default; with --port 0, a free one)."
    )
    var proxiedServicePort: Int?

    /// The ports the samples in samples/ expect, unless --port 0 asks for free ones throughout.
    var effectiveAuthzPort: Int { authzPort ?? (port == 0 ? 0 : 8181) }
    var effectiveProxiedServicePort: Int { proxiedServicePort ?? (port == 0 ? 0 : 8081) }

    @Option(help: ArgumentHelp("Policies to copy into a new data directory (default: the built-in examples).", valueName: "dir"))
    var policies: String?

    @Option(help: ArgumentHelp("Directory seed for the directory and the account service (default: built in).", valueName: "directory.json"))
    var seed: String?

    @Option(help: ArgumentHelp("Route catalog (default: built in).", valueName: "catalog.json"))
    var catalog: String?

    @Option(
        help: ArgumentHelp(
            "Keep the directory in this PostgreSQL database instead of DIR/directory.sqlite (postgres://USER@HOST:PORT/DATABASE); seeded when empty. Its access keys are sealed under DIR/directory.key: reuse a database only with the --data-dir that seeded it.",
            valueName: "url"))
    var postgres: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port takes 0 to 65535") }
        for (name, value) in [("--authz-port", authzPort), ("--proxied-service-port", proxiedServicePort)] {
            if let value, !(0...65535).contains(value) { throw ValidationError("\(name) takes 0 to 65535") }
        }
        let fixed = [port, effectiveAuthzPort, effectiveProxiedServicePort].filter { $0 != 0 }
        if Set(fixed).count != fixed.count { throw ValidationError("--port, --authz-port and --proxied-service-port must differ") }
        if fresh, dataDir == nil { throw ValidationError("--fresh needs --data-dir: without it every run starts in a new directory") }
        if let postgres {
            do {
                _ = try PostgresLocation(url: postgres)
            } catch {
                throw ValidationError("--postgres: \(error)")
            }
        }
    }

    func run() async throws {
        let dir =
            try dataDir.map { path in
                if fresh { try DemoFiles.remove(dataDirectory: path) }
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                return path
            } ?? Self.temporaryDirectory()
        let root = URL(fileURLWithPath: dir).standardizedFileURL.path
        let reused = FileManager.default.fileExists(atPath: root + "/directory.sqlite")
        // An earlier run's addresses and tokens are no longer true: gone until this run,
        // once it answers, writes its own, so a script waiting for the files never reads them.
        for stale in ["demo.json", "env", "sdk_update_account.py"] { _ = unlink(root + "/" + stale) }
        // The catalog and seed are written on every start (the binary's own are the truth);
        // the policies only into a new directory, since they are there to be edited.
        let catalogPath = root + "/catalog.json"
        let seedPath = root + "/seed.json"
        try DemoFiles.write(catalog.map(DemoFiles.contents) ?? DemoFiles.catalog, to: catalogPath)
        try DemoFiles.write(seed.map(DemoFiles.contents) ?? DemoFiles.seed, to: seedPath)
        let seedValue = try DirectorySeed.load(seedPath)
        _ = try RouteCatalog.load(catalogPath)
        let policyDir = root + "/policies"
        if !FileManager.default.fileExists(atPath: policyDir) {
            try FileManager.default.createDirectory(atPath: policyDir, withIntermediateDirectories: true)
            if let policies {
                for file in try PolicyFiles.expand([policies]) {
                    try FileManager.default.copyItem(atPath: file, toPath: policyDir + "/" + URL(fileURLWithPath: file).lastPathComponent)
                }
            } else {
                for (name, bytes) in DemoFiles.policies { try DemoFiles.write(bytes, to: policyDir + "/" + name) }
            }
        }
        if reused {
            Output.line(
                "Reusing \(root) from an earlier run: edited policies, account changes and a completed ownership transfer carry over. "
                    + "Start over with --fresh.")
        }
        let directoryPath = postgres ?? root + "/directory.sqlite"
        // The key-encryption key for access keys' secrets, made once per data directory. (A
        // production directory keeps its key apart from the database: docs/OPERATIONS.md.)
        let keyPath = root + "/directory.key"
        if !FileManager.default.fileExists(atPath: keyPath) {
            try DemoFiles.writePrivate(KeyEncryptionKey.generate() + "\n", to: keyPath)
        }
        let store = try DirectoryStore(path: directoryPath, keyEncryptionKey: try KeyEncryptionKey.load(file: keyPath))
        if (try? store.snapshot()) == nil { try store.importSeed(seedValue, path: store.location) }
        let organization = try store.snapshot().organization
        let demoUsers = ["owner", "admin", "dev_only", "member"]
        var tokens: [String: String] = [:]
        for name in demoUsers {
            // dev_only's policies deny writes without MFA: its demo login used a second factor.
            tokens[name] = try store.issueToken(user: name, validFor: 86_400, label: "gatehouse demo", mfa: name == "dev_only").token
        }
        // One access key per demo user, replacing the last run's (a user may hold two), and
        // temporary credentials for dev_only, whose policies want MFA for writes.
        var accessKeys: [(String, IssuedAccessKey)] = []
        for name in demoUsers {
            for old in try store.listAccessKeys(user: name) where old.description == "gatehouse demo" { try store.deleteAccessKey(old.accessKey) }
            accessKeys.append((name, try store.createAccessKey(user: name, description: "gatehouse demo")))
        }
        let temporary = [("dev_only", try store.issueTemporaryCredentials(user: "dev_only", validFor: 86_400, mfa: true))]
        let snapshot = try store.snapshot()
        // Console passwords, new on every start like the tokens (only their hashes are kept);
        // new_hire has no email address, for the guide's transfer to such a user.
        var passwords: [(String, String)] = []
        for name in demoUsers + ["new_hire"] where snapshot.users.contains(where: { $0.name == name }) {
            let password = Self.newPassword()
            try store.setPassword(user: name, password)
            passwords.append((name, password))
        }
        let accounts = try Self.demoAccounts(snapshot)

        // The management account's AK/SK: the gateway re-signs every forwarded call with
        // them and the sample account service accepts nothing else, as the real endpoint.
        let signingPath = root + "/management-signing.json"
        if !FileManager.default.fileExists(atPath: signingPath) {
            let (accessKey, secretKey) = DirectoryStore.newKeyPair()
            try DemoFiles.writePrivate(SigningCredentials(accessKey: accessKey, secretKey: secretKey).fileText, to: signingPath)
        }
        let managementSigning = try SigningCredentials.load(file: signingPath)
        let accountStore = try SampleAccountStore(path: root + "/accounts.sqlite")
        try accountStore.seedIfEmpty(from: seedValue)
        let (serviceTask, upstreamPort) = try await Self.startService(
            SampleAccountService(store: accountStore, requiredSignature: managementSigning), port: 0, what: "the sample account service")
        defer { serviceTask.cancel() }
        // The same accounts for nginx and Envoy to forward to: a service behind a proxy trusts
        // the proxy, not a signature (the real endpoint's rule is the inline gateway's case).
        let (proxiedTask, proxiedPort) = try await Self.startService(
            SampleAccountService(store: accountStore), port: effectiveProxiedServicePort, what: "the account service behind nginx and Envoy")
        defer { proxiedTask.cancel() }

        var config = GatewayConfig()
        config.listenPort = port
        config.adminPort = 0
        config.authzPort = effectiveAuthzPort
        config.upstreamURL = "http://127.0.0.1:\(upstreamPort)"
        config.catalog = catalogPath
        config.policiesDir = policyDir
        if let postgres { config.directoryURL = postgres } else { config.directoryPath = directoryPath }
        config.directoryKeyFile = keyPath
        config.upstreamSigning = signingPath
        config.auditPath = root + "/audit.log"
        config.mailMaildir = root + "/maildir"
        let users = Dictionary(uniqueKeysWithValues: snapshot.users.map { ($0.name, $0.id) })
        let (finalConfig, finalTokens, finalKeys, finalPasswords) = (config, tokens, accessKeys, passwords)
        try await ServeCommand.serve(config) { endpoints in
            let (config, tokens, accessKeys, passwords) = (finalConfig, finalTokens, finalKeys, finalPasswords)
            let demo = DemoContract(
                gateway: endpoints.gateway, admin: endpoints.admin, accountService: config.upstreamURL,
                proxiedAccountService: "http://127.0.0.1:\(proxiedPort)", organizationId: organization.id,
                managementAccountId: organization.managementAccountId, devAccount: accounts.dev, prodAccount: accounts.prod,
                authz: endpoints.authz ?? "",
                users: (demoUsers + ["new_hire"]).compactMap { name in users[name].map { (name, $0) } }, tokens: demoUsers.map { ($0, tokens[$0]!) },
                accessKeys: accessKeys,
                temporaryCredentials: temporary, dataDirectory: root,
                policiesDirectory: policyDir, auditLog: config.auditPath, maildir: config.mailMaildir,
                console: endpoints.gateway + "/console", passwords: passwords)
            do {
                try DemoFiles.writePrivate(Self.pythonExample, to: root + "/sdk_update_account.py")
                try DemoFiles.writePrivate(JSONWriter.pretty(demo.json) + "\n", to: root + "/demo.json")
                try DemoFiles.writePrivate(demo.shellVariables, to: root + "/env")
            } catch {
                Output.error("error: cannot write the demo's files in \(root): \(error)")
            }
            Output.line(
                Self.banner(endpoints: endpoints, root: root, accounts: accounts, tokens: tokens, proxiedPort: proxiedPort, passwords: passwords))
            if let shown = finalConfig.directoryURL.isEmpty ? nil : (try? PostgresLocation(url: finalConfig.directoryURL))?.description {
                Output.line("The directory is in PostgreSQL: \(shown) (gatehouse directory ... --db takes that URL, with its password).")
            }
        }
    }

    /// Runs a sample account service on `port` (0: a free one) until the returned task is
    /// cancelled; returns once it listens, with its port, or throws why it could not start.
    static func startService(_ service: SampleAccountService, port: Int, what: String) async throws -> (Task<Void, any Error>, Int) {
        let bound = Mutex<Int?>(nil)
        let failed = Mutex<String?>(nil)
        let application = Application(
            router: service.router(),
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "gatehouse-sample-account-service"),
            onServerRunning: { channel in bound.withLock { $0 = channel.localAddress?.port } })
        let task = Task {
            do {
                try await application.runService()
            } catch {
                failed.withLock { $0 = "\(error)" }
                throw error
            }
        }
        for _ in 0..<500 {
            if let port = bound.withLock({ $0 }) { return (task, port) }
            if let why = failed.withLock({ $0 }) { throw GatewayStartError("\(what) cannot listen on 127.0.0.1:\(port): \(why)") }
            try await Task.sleep(for: .milliseconds(10))
        }
        task.cancel()
        throw GatewayStartError("\(what) did not start on 127.0.0.1:\(port) within 5 s")
    }

    /// A few lines of Python that update an account through the gateway with the official
    /// SDK (`huaweicloudsdkorganizations`), signed with dev_only's temporary credentials
    /// from demo.json: written to DIR/sdk_update_account.py and shown in the banner.
    static let pythonExample = """
        # Updates the demo's env=dev account through Gatehouse with the official Huawei Cloud SDK,
        # AK/SK-signed with dev_only's temporary credentials (pip install huaweicloudsdkorganizations).
        import json, os, sys
        from huaweicloudsdkcore.auth.credentials import GlobalCredentials
        from huaweicloudsdkorganizations.v1 import OrganizationsClient, UpdateAccountRequest, UpdateAccountReqBody

        demo = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.json")))
        key = demo["temporary_credentials"]["dev_only"]
        credentials = GlobalCredentials(key["access_key"], key["secret_key"], demo["management_account_id"]).with_security_token(
            key["security_token"])
        client = OrganizationsClient.new_builder().with_credentials(credentials).with_endpoints([demo["gateway"]]).build()
        description = sys.argv[1] if len(sys.argv) > 1 else "updated with the SDK"
        request = UpdateAccountRequest(account_id=demo["accounts"]["dev"], body=UpdateAccountReqBody(description=description))
        print(client.update_account(request))

        """

    static func temporaryDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/gatehouse-demo-XXXXXX").utf8CString)
        guard let path = mkdtemp(&template) else { throw GatewayStartError("cannot create a temporary directory") }
        return String(cString: path)
    }

    /// The first accounts tagged env=dev and env=prod (and not protected), for the examples.
    static func demoAccounts(_ seed: DirectorySeed) throws -> (dev: String, prod: String) {
        func first(_ env: String) -> String? {
            seed.accounts.first { $0.tags["env"] == env && $0.tags["protected"] == nil && $0.id != seed.organization.managementAccountId }?.id
        }
        guard let dev = first("dev"), let prod = first("prod") else {
            throw GatewayStartError("the seed needs an account tagged env=dev and one tagged env=prod for the demo")
        }
        return (dev, prod)
    }

    /// A console password for a demo user: 16 letters and digits (about 95 bits).
    static func newPassword() -> String {
        let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<16).map { _ in alphabet.randomElement(using: &generator)! })
    }

    static func banner(
        endpoints: GatewayEndpoints, root: String, accounts: (dev: String, prod: String), tokens: [String: String], proxiedPort: Int,
        passwords: [(String, String)]
    ) -> String {
        let url = endpoints.gateway + "/v1/organizations/accounts/"
        func patch(_ user: String, _ account: String, _ text: String) -> String {
            "curl -s -X PATCH -H 'X-Auth-Token: \(tokens[user]!)' -H 'Content-Type: application/json' \\\n       -d '{\"description\": \"\(text)\"}' \(url)\(account)"
        }
        return """

            Gatehouse demo is running (Ctrl-C stops it).
              gateway          \(endpoints.gateway)
              admin            \(endpoints.admin)/readyz  /metrics
              authz            \(endpoints.authz ?? "off")   (decisions for nginx auth_request and Envoy ext_authz)
              behind a proxy   http://127.0.0.1:\(proxiedPort)   (the same accounts, for samples/nginx-auth-request.conf and envoy-ext-authz.yaml)
              data directory   \(root)   (demo.json, env, audit.log, policies/, maildir/)

            In another shell, `source \(root)/env` sets GATEWAY, ADMIN_API, AUTHZ, CONSOLE, DEV_ACCOUNT, PROD_ACCOUNT,
            DEMO_DIR and the tokens OWNER, ADMIN, DEV_ONLY and MEMBER for your own curl lines.

            Allowed: dev_only updates an account tagged env=dev
              \(patch("dev_only", accounts.dev, "updated through gatehouse"))
            Denied by policy (403 Organizations.1007): dev_only updates an account tagged env=prod
              \(patch("dev_only", accounts.prod, "not allowed"))
            Denied before any policy (401 Organizations.1001): member is not in the management account
              \(patch("member", accounts.dev, "not from the management account"))

            The same update with the official Python SDK, AK/SK-signed with dev_only's temporary
            credentials from demo.json (pip install huaweicloudsdkorganizations):
              python3 \(root)/sdk_update_account.py

            The organization console (IAM > Organization Profile), in a browser:
              \(endpoints.gateway)/console
            \(passwords.map { "  \($0.0.padding(toLength: 10, withPad: " ", startingAt: 0)) password \($0.1)" }.joined(separator: "\n"))
            """
    }
}
