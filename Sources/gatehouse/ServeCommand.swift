import ArgumentParser
import Foundation
import GatehouseGateway
import GatehousePolicy
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the gateway in front of the account service.",
        discussion: """
            Authenticates every call, maps it to an action and resource through the route catalog, \
            applies the management-account-only rule and the caller's attached policies, and forwards \
            allowed calls unchanged. /healthz, /readyz and /metrics answer on the admin port.

            Options come from the --config file (JSON sections, see docs/OPERATIONS.md), then from \
            GATEHOUSE_* environment variables (listen.port -> GATEHOUSE_LISTEN_PORT). Prints \
            "gateway listening on URL" and "admin listening on URL" (and "authz listening on URL" with authz.listen.port) once all accept calls. \
            Policy files reload when they change and on SIGHUP (which also reopens the audit log); \
            SIGTERM or SIGINT stop accepting, finish the calls in flight, then exit.

            Example:
              gatehouse serve --config samples/gateway.json
            """
    )

    @Option(help: ArgumentHelp("Configuration file (JSON).", valueName: "file"))
    var config: String?

    func run() async throws {
        let config = try GatewayConfig.load(file: config, environment: ProcessInfo.processInfo.environment)
        try await Self.serve(config) { endpoints in
            Output.line("gateway listening on \(endpoints.gateway)")
            Output.line("admin listening on \(endpoints.admin)")
            if let authz = endpoints.authz { Output.line("authz listening on \(authz)") }
        }
    }

    /// Starts a gateway and runs it until SIGTERM or SIGINT.
    static func serve(_ config: GatewayConfig, onReady: @escaping @Sendable (GatewayEndpoints) -> Void) async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "gatehouse")
        logger.logLevel = .info
        let runtime: GatewayRuntime
        do {
            runtime = try GatewayRuntime(config: config, logger: logger)
        } catch let error as GatewayStartError {
            throw error
        } catch let error as PolicyLoadError {
            throw error
        } catch {
            throw GatewayStartError("\(error)")
        }
        try await GatewayServer(runtime: runtime, logger: logger).run(onReady: onReady)
    }
}
