import Foundation
import Testing

@testable import GatehousePolicy

/// Parses a policy given as text, failing the test with the diagnostics if it is invalid.
func policy(_ text: String, name: String = "p", sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> PolicyDocument {
    do {
        return try PolicyParser.parse(bytes: Array(text.utf8), name: name, file: "\(name).json")
    } catch {
        Issue.record("policy did not parse: \(error)", sourceLocation: sourceLocation)
        throw error
    }
}

/// The diagnostics of a policy that must be rejected (empty if it was accepted).
func rejection(_ text: String, limits: PolicyLimits = PolicyLimits()) -> [Diagnostic] {
    rejection(Array(text.utf8), limits: limits)
}

func rejection(_ bytes: [UInt8], limits: PolicyLimits = PolicyLimits()) -> [Diagnostic] {
    do {
        _ = try PolicyParser.parse(bytes: bytes, name: "p", file: "p.json", limits: limits)
        return []
    } catch {
        return error.diagnostics
    }
}

/// A one-statement policy around the given statement members.
func statementPolicy(_ members: String) -> String {
    #"{"Version": "5.0", "Statement": [{\#(members)}]}"#
}

func request(
    _ action: String = "organizations:accounts:update", resource: String = "organizations::1:account:o-1/a-1",
    context: [String: [ContextValue]] = [:], principal: Principal = Principal(urn: "iam::1:user:alice", accountId: "1")
) -> AuthorizationRequest {
    AuthorizationRequest(principal: principal, action: action, resource: resource, context: context)
}

func decide(_ documents: [PolicyDocument], _ request: AuthorizationRequest) -> Decision {
    CompiledPolicySet(documents).evaluate(request)
}

/// Converts a JSON value (as the case files hold it) into context values.
func contextValues(_ json: JSONValue) -> [ContextValue] {
    switch json {
    case .array(let items): return items.flatMap(contextValues)
    case .string(let text): return [.string(text)]
    case .integer(let integer): return [.number(.integer(integer))]
    case .real(let real): return [.number(.decimal(real))]
    case .bool(let bool): return [.bool(bool)]
    default: return []
    }
}

func loadCase(_ name: String) throws -> JSONValue {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Cases"))
    return try JSONLoader.parse([UInt8](try Data(contentsOf: url)))
}
