import Foundation
import GatehouseDirectory
import Testing

@testable import GatehouseGateway

@Suite struct GatewayErrorTests {
    /// The rows of the error table in docs/OPERATIONS.md: status, code, reason, stage.
    static func documentedRows() throws -> [[String]] {
        let text = try String(contentsOf: root.appendingPathComponent("docs/OPERATIONS.md"), encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## Errors the gateway answers itself").dropFirst().first)
        return section.split(separator: "\n").filter { $0.hasPrefix("| 4") || $0.hasPrefix("| 5") }.map { line in
            line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "`", with: "") }
        }
    }

    /// Every condition the gateway answers is a row of the documented table, with the same
    /// status, code and stage, and the table has no row the code does not.
    @Test func theTableInTheCodeIsTheTableInTheDocs() throws {
        let rows = try Self.documentedRows()
        #expect(rows.count == GatewayError.Kind.allCases.count)
        for kind in GatewayError.Kind.allCases {
            // A policy denial's reason is the engine's (explicit_deny, implicit_deny).
            let reason = kind == .policyDenied ? "explicit_deny" : kind.rawValue
            let row = rows.first { row in
                row.count >= 4 && row[2].split(separator: ",").contains { $0.split(separator: ":")[0].trimmingCharacters(in: .whitespaces) == reason }
            }
            #expect(row?[0] == String(kind.answer.status), "\(kind)")
            #expect(row?[1] == kind.answer.code, "\(kind)")
            #expect(row?[3] == kind.answer.stage.rawValue, "\(kind)")
        }
    }

    @Test func everyErrorIsAnsweredInTheServiceShape() throws {
        let errors: [GatewayError] = [
            .malformedRequest("Host is repeated"), .credentialRefused(nil), .credentialRefused(.revoked), .notManagementAccount,
            .policyDenied(action: "organizations:accounts:update", reason: "implicit_deny"), .transfer(.notOwner), .link(.linkExpired),
            .upstreamUnavailable("refused"),
        ]
        for error in errors {
            let body = try #require(try JSONSerialization.jsonObject(with: Data(error.responseBody(requestId: "r-1").utf8)) as? [String: String])
            #expect(body == ["error_code": error.code, "error_msg": error.message, "request_id": "r-1"])
        }
        #expect(GatewayError.credentialRefused(.revoked).reason == "token_revoked")
        #expect(GatewayError.link(.linkExpired).status == 410)
        #expect(GatewayError.upstreamUnavailable("refused").reason == "upstream_unavailable: refused")
    }
}
