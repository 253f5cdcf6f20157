import Testing

@testable import GatehousePolicy

/// The table in Cases/conditions.json: every operator, qualifier, IfExists, Null, absent and
/// empty keys, multi-valued keys and unreadable values. Each case is checked three ways: the
/// condition's outcome, an Allow statement (applies only when satisfied) and a Deny
/// statement beside an allow-all (applies unless not satisfied: fail closed).
struct ConditionCase: CustomTestStringConvertible, Sendable {
    var name: String
    var condition: JSONValue
    var context: [String: [ContextValue]]
    var principal: Principal
    var expect: ConditionOutcome

    var testDescription: String { name }

    static func all() throws -> [ConditionCase] {
        guard case .array(let items) = try loadCase("conditions") else { return [] }
        return items.map { item in
            var context: [String: [ContextValue]] = [:]
            if case .object(let members) = item["context"] ?? .null {
                for (key, value) in members {
                    // A JSON list is a multi-valued key, even when it has 0 or 1 elements.
                    context[key] = contextValues(value)
                }
            }
            var principal = Principal()
            if let p = item["principal"] {
                if case .string(let urn) = p["urn"] ?? .null { principal.urn = urn }
                if case .string(let account) = p["account_id"] ?? .null { principal.accountId = account }
                if case .object(let tags) = p["tags"] ?? .null {
                    for (key, value) in tags { if case .string(let text) = value { principal.tags[key] = text } }
                }
            }
            guard case .string(let name) = item["name"], case .string(let expect) = item["expect"] else { fatalError("bad case") }
            return ConditionCase(
                name: name, condition: item["condition"]!, context: context, principal: principal, expect: ConditionOutcome(rawValue: expect)!)
        }
    }

    func statement(_ effect: String) -> String {
        #"{"Effect": "\#(effect)", "Action": "organizations:accounts:update", "Resource": "*", "Condition": \#(JSONWriter.compact(condition))}"#
    }
}

@Test("condition case", arguments: try ConditionCase.all())
func conditionCase(_ testCase: ConditionCase) throws {
    let request = AuthorizationRequest(
        principal: testCase.principal, action: "organizations:accounts:update", resource: "organizations::1:account:o/1", context: testCase.context)

    let allow = try policy(#"{"Version": "5.0", "Statement": [\#(testCase.statement("Allow"))]}"#)
    var outcome = ConditionOutcome.satisfied
    for condition in allow.statements[0].conditions { outcome = outcome && condition.evaluate(request.values(for: condition.key)) }
    #expect(outcome == testCase.expect)

    let allowDecision = decide([allow], request)
    #expect(allowDecision.isAllowed == (testCase.expect == .satisfied))

    let deny = try policy(#"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": "*"}, \#(testCase.statement("Deny"))]}"#)
    let denyDecision = decide([deny], request)
    #expect(denyDecision.reason == (testCase.expect == .notSatisfied ? .explicitAllow : .explicitDeny))
}

@Test func conditionCaseTableIsLarge() throws {
    // Guards against the resource silently failing to load and the table running no cases.
    #expect(try ConditionCase.all().count >= 100)
}
