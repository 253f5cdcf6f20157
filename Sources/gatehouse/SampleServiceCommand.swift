import ArgumentParser
import Foundation
import GatehouseDirectory
import GatehouseGateway
import GatehouseSampleService
import GatehouseSigning
import Hummingbird

struct SampleServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-account-service",
        abstract: "Run the sample organizations account service on its own.",
        discussion: """
            A stand-in for the account service Gatehouse fronts: show, list and update accounts \
            (PATCH /v1/organizations/accounts/{account_id} with {"description": ...}) and the \
            tag APIs, with state in a SQLite file seeded from a directory seed on first start. \
            Prints "listening on http://HOST:PORT" once it accepts calls (--port 0 picks a free \
            port). SIGTERM or SIGINT stops it gracefully.

            Example:
              gatehouse sample-account-service --db data/accounts.sqlite \\
                  --seed samples/directory.json --port 8081
            """
    )

    @Option(help: ArgumentHelp("The service's SQLite file (created, with its folder, if missing).", valueName: "path"))
    var db: String

    @Option(help: ArgumentHelp("Directory seed whose accounts and tags fill an empty store.", valueName: "directory.json"))
    var seed: String = "samples/directory.json"

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one.")
    var port: Int = 8081

    @Option(
        help: ArgumentHelp(
            "Require every call to be AK/SK-signed with the credentials in this file (the gateway's upstream.signing file).",
            valueName: "file"))
    var requireSignature: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port takes 0 to 65535") }
    }

    func run() async throws {
        let seed = try DirectorySeed.load(seed)
        let store: SampleAccountStore
        do {
            try FileManager.default.createDirectory(
                atPath: URL(fileURLWithPath: db).deletingLastPathComponent().path, withIntermediateDirectories: true)
            store = try SampleAccountStore(path: db)
            try store.seedIfEmpty(from: seed)
        } catch {
            throw GatewayStartError("cannot open the account service's store \(db): \(error)")
        }
        var credentials: SigningCredentials?
        if let requireSignature {
            do {
                credentials = try SigningCredentials.load(file: requireSignature)
            } catch {
                throw GatewayStartError("--require-signature \(error)")
            }
        }
        let host = self.host
        let app = Application(
            router: SampleAccountService(store: store, requiredSignature: credentials).router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "gatehouse-sample-account-service"),
            onServerRunning: { channel in
                Output.line("listening on http://\(host):\(channel.localAddress?.port ?? 0)")
            })
        try await app.runService()
    }
}
