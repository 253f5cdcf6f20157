import ArgumentParser
import Foundation
import GatehouseDirectory
import GatehouseGateway
import GatehousePolicy

@main
struct Gatehouse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse",
        abstract: "A policy-based authorization gateway and the tools to check its policies.",
        discussion: """
            Exit status: 0 allowed (or valid), 1 denied (or findings under --strict), \
            2 invalid input or usage.

            Examples:
              gatehouse lint policies/
              gatehouse eval --policies policies/ \\
                  --request samples/requests/dev-update-allowed.json
              gatehouse explain --policies policies/ --directory samples/directory.json \\
                  --user dev_only --request samples/requests/prod-update-denied.json
            """,
        version: "0.1.0",
        subcommands: [
            EvalCommand.self, ExplainCommand.self, LintCommand.self, FmtCommand.self, TestCommand.self, DiffCommand.self, DirectoryCommand.self,
            ServeCommand.self, DemoCommand.self, SampleServiceCommand.self, BenchCommand.self, AuditCommand.self,
        ]
    )

    /// Runs a command, mapping every usage and input error to exit status 2 (the contract
    /// scripts rely on) rather than ArgumentParser's 64.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as PolicyLoadError {
            Output.error(error.description)
            Foundation.exit(2)
        } catch let error as DirectoryError {
            Output.error("error: \(error)")
            Foundation.exit(2)
        } catch let error as GatewayStartError {
            Output.error("error: \(error)")
            Foundation.exit(2)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                Output.error(fullMessage(for: error))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
