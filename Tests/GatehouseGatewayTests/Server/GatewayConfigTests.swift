import Foundation
import GatehouseDirectory
import GatehousePolicy
import NIOCore
import Testing

@testable import GatehouseGateway

@Suite struct GatewayConfigTests {
    @Test func fileThenEnvironment() throws {
        let config = try withFile(
            #"{"listen": {"port": 7000}, "audit": {"required": false}, "network": {"trusted_proxies": ["10.0.0.0/8", "192.0.2.7"]}}"#
        ) {
            try GatewayConfig.load(file: $0, environment: ["GATEHOUSE_LISTEN_PORT": "7100", "GATEHOUSE_TAGS_CACHE_TTL_MS": "0", "PATH": "/bin"])
        }
        #expect(config.listenPort == 7100)
        #expect(config.auditRequired == false)
        #expect(config.tagsCacheTTLMs == 0)
        #expect(config.adminPort == 9090)
        #expect(config.trustedNetworks.count == 2)
        #expect(config.trustedNetworks[1].contains(IPAddress("192.0.2.7")!))
        #expect(!config.trustedNetworks[1].contains(IPAddress("192.0.2.8")!))
    }

    /// The sample configuration the docs point to loads as it is.
    @Test func theSampleConfigurationLoads() throws {
        let config = try GatewayConfig.load(file: root.appendingPathComponent("samples/gateway.json").path, environment: [:])
        #expect(config.listenPort == 8080)
        #expect(config.auditPath == "data/audit.log")
        #expect(config.auditRequired)
    }

    @Test func mistakesAreNamedWithTheirPlace() throws {
        let errors = try loadErrors(
            """
            {"listen": {"port": "8080"},
             "upstream": {"url": "ftp://example.com"},
             "audit": {"requried": true}}
            """
        ) { _ = try GatewayConfig.load(file: $0, environment: [:]) }
        #expect(errors.count == 3)
        #expect(errors.allSatisfy { $0.code == .badConfig })
        #expect(errors[0].message == "listen.port must be a whole number, not a string")
        #expect(errors[0].location.line == 1)
        #expect(errors[1].message.contains("upstream.url must look like http://host:port"))
        #expect(errors[1].location.line == 2)
        #expect(errors[2].message == "unknown option audit.requried")
        #expect(errors[2].hint?.contains("audit.required") == true)
        #expect(errors[2].location.line == 3)
    }

    @Test func environmentMistakes() {
        func problems(_ environment: [String: String]) -> [String] {
            do {
                _ = try GatewayConfig.load(file: nil, environment: environment)
                return []
            } catch {
                return error.diagnostics.map { "\($0.location.file): \($0.message)" }
            }
        }
        #expect(
            problems(["GATEHOUSE_LISTEN_PORT": "70000"]) == [
                "environment variable GATEHOUSE_LISTEN_PORT: listen.port must be a whole number between 0 and 65535, not \"70000\""
            ])
        #expect(problems(["GATEHOUSE_AUDIT_REQUIRED": "maybe"]).first?.contains("true or false") == true)
        #expect(problems(["GATEHOUSE_LISTEN_PROT": "1"]) == ["environment variable GATEHOUSE_LISTEN_PROT: no option is named GATEHOUSE_LISTEN_PROT"])
        #expect(problems(["GATEHOUSE_NETWORK_TRUSTED_PROXIES": "10.0.0.0/8, nonsense"]).first?.contains("nonsense") == true)
        #expect(problems(["GATEHOUSE_ADMIN_PORT": "8080"]).first?.contains("must differ") == true)
        #expect(problems([:]).isEmpty)
    }

    /// docs/OPERATIONS.md documents every option with its default.
    @Test func everyOptionIsDocumented() throws {
        let doc = try String(contentsOf: root.appendingPathComponent("docs/OPERATIONS.md"), encoding: .utf8)
        let defaults = GatewayConfig()
        for option in GatewayConfig.options {
            let row = try #require(doc.split(separator: "\n").first { $0.hasPrefix("| `\(option.name)` |") }, "\(option.name)")
            switch option.binding {
            case .string(let path):
                let value = defaults[keyPath: path]
                #expect(value.isEmpty ? row.contains("| empty |") : row.contains("`\(value)`"), "\(option.name)")
            case .int(let path, _): #expect(row.contains("`\(defaults[keyPath: path])`"), "\(option.name)")
            case .bool(let path): #expect(row.contains("`\(defaults[keyPath: path])`"), "\(option.name)")
            case .list(let path): #expect(defaults[keyPath: path].isEmpty && row.contains("none"), "\(option.name)")
            }
        }
    }
}
