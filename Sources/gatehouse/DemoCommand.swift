import ArgumentParser
import Foundation
import GatehouseDirectory
import GatehouseGateway
import GatehousePolicy
import GatehouseSampleService
import Hummingbird
import Synchronization

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the gateway with a sample account service and a seeded directory, ready to try.",
        discussion: """
            Everything runs in this process and lives under the data directory (a new temporary one \
            unless --data-dir is given): the directory (directory.sqlite, seeded from \
            samples/directory.json), the sample account service's state (accounts.sqlite), a copy of \
            policies/ to edit (it reloads on save), the audit log (audit.log), and a maildir (maildir/) \
            where ownership-transfer emails land. Prints tokens and curl lines for an allowed update, \
            a policy denial and a management-account-only denial, and writes DIR/demo.json with every \
            address, ID, token and the maildir once all of it answers.

            Run from the repository (it reads policies/, samples/directory.json and \
            samples/catalog.json), or name those with the options below.

            Example:
              gatehouse demo --data-dir /tmp/gatehouse-demo --port 8080
            """
    )

    @Option(help: ArgumentHelp("Where the demo keeps its files (reused when it exists).", valueName: "dir"))
    var dataDir: String?

    @Option(help: "The gateway's port; 0 picks a free one. The admin API and account service always take free ports.")
    var port: Int = 8080

    @Option(help: ArgumentHelp("Policies to copy into the data directory on first start.", valueName: "dir"))
    var policies: String = "policies"

    @Option(help: ArgumentHelp("Directory seed for the directory and the account service.", valueName: "directory.json"))
    var seed: String = "samples/directory.json"

    @Option(help: ArgumentHelp("Route catalog.", valueName: "catalog.json"))
    var catalog: String = "samples/catalog.json"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port takes 0 to 65535") }
    }

    func run() async throws {
        let seedValue = try DirectorySeed.load(seed)
        _ = try RouteCatalog.load(catalog)
        let dir =
            try dataDir.map { path in
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                return path
            } ?? Self.temporaryDirectory()
        let root = URL(fileURLWithPath: dir).standardizedFileURL.path
        let policyDir = root + "/policies"
        if !FileManager.default.fileExists(atPath: policyDir) {
            try FileManager.default.createDirectory(atPath: policyDir, withIntermediateDirectories: true)
            for file in try PolicyFiles.expand([policies]) {
                try FileManager.default.copyItem(atPath: file, toPath: policyDir + "/" + URL(fileURLWithPath: file).lastPathComponent)
            }
        }
        let directoryPath = root + "/directory.sqlite"
        let store = try DirectoryStore(path: directoryPath)
        if (try? store.snapshot()) == nil { try store.importSeed(seedValue, path: directoryPath) }
        let organization = try store.snapshot().organization
        let demoUsers = ["owner", "admin", "dev_only", "member"]
        var tokens: [String: String] = [:]
        for name in demoUsers {
            // dev_only's policies deny writes without MFA: its demo login used a second factor.
            tokens[name] = try store.issueToken(user: name, validFor: 86_400, label: "gatehouse demo", mfa: name == "dev_only").token
        }
        let snapshot = try store.snapshot()
        let accounts = try Self.demoAccounts(snapshot)

        let accountStore = try SampleAccountStore(path: root + "/accounts.sqlite")
        try accountStore.seedIfEmpty(from: seedValue)
        let servicePort = Mutex<Int?>(nil)
        let service = Application(
            router: SampleAccountService(store: accountStore).router(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "gatehouse-sample-account-service"),
            onServerRunning: { channel in servicePort.withLock { $0 = channel.localAddress?.port } })
        let serviceTask = Task { try await service.runService() }
        defer { serviceTask.cancel() }
        var upstreamPort: Int?
        for _ in 0..<500 {
            upstreamPort = servicePort.withLock { $0 }
            if upstreamPort != nil { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        guard let upstreamPort else { throw GatewayStartError("the sample account service did not start") }

        var config = GatewayConfig()
        config.listenPort = port
        config.adminPort = 0
        config.upstreamURL = "http://127.0.0.1:\(upstreamPort)"
        config.catalog = catalog
        config.policiesDir = policyDir
        config.directoryPath = directoryPath
        config.auditPath = root + "/audit.log"
        config.mailMaildir = root + "/maildir"
        let users = Dictionary(uniqueKeysWithValues: snapshot.users.map { ($0.name, $0.id) })
        let (finalConfig, finalTokens) = (config, tokens)
        try await ServeCommand.serve(config) { endpoints in
            let (config, tokens) = (finalConfig, finalTokens)
            let demo: JSONValue = .object([
                ("gateway", .string(endpoints.gateway)),
                ("admin", .string(endpoints.admin)),
                ("account_service", .string(config.upstreamURL)),
                ("organization_id", .string(organization.id)),
                ("management_account_id", .string(organization.managementAccountId)),
                ("accounts", .object([("dev", .string(accounts.dev)), ("prod", .string(accounts.prod))])),
                ("users", .object(demoUsers.map { ($0, .string(users[$0] ?? "")) })),
                ("tokens", .object(demoUsers.map { ($0, .string(tokens[$0]!)) })),
                ("data_dir", .string(root)),
                ("policies_dir", .string(policyDir)),
                ("audit_log", .string(config.auditPath)),
                ("maildir", .string(config.mailMaildir)),
            ])
            do {
                // Written whole, then renamed: a script polling for the file never reads half of it.
                try Data((JSONWriter.pretty(demo) + "\n").utf8).write(to: URL(fileURLWithPath: root + "/demo.json"), options: .atomic)
            } catch {
                Output.error("error: cannot write \(root)/demo.json: \(error)")
            }
            Output.line(Self.banner(endpoints: endpoints, root: root, accounts: accounts, tokens: tokens))
        }
    }

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

    static func banner(endpoints: GatewayEndpoints, root: String, accounts: (dev: String, prod: String), tokens: [String: String]) -> String {
        let url = endpoints.gateway + "/v1/organizations/accounts/"
        func patch(_ user: String, _ account: String, _ text: String) -> String {
            "curl -s -X PATCH -H 'X-Auth-Token: \(tokens[user]!)' -H 'Content-Type: application/json' \\\n       -d '{\"description\": \"\(text)\"}' \(url)\(account)"
        }
        return """

            Gatehouse demo is running (Ctrl-C stops it).
              gateway          \(endpoints.gateway)
              admin            \(endpoints.admin)/readyz  /metrics
              data directory   \(root)   (demo.json, audit.log, policies/, maildir/)

            Allowed: dev_only updates an account tagged env=dev
              \(patch("dev_only", accounts.dev, "updated through gatehouse"))
            Denied by policy (403 Organizations.1007): dev_only updates an account tagged env=prod
              \(patch("dev_only", accounts.prod, "not allowed"))
            Denied before any policy (401 Organizations.1001): member is not in the management account
              \(patch("member", accounts.dev, "not from the management account"))
            """
    }
}
