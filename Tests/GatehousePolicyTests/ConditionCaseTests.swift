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
    for condition in allow.statements[0].conditions {
        // Policy variables substituted first; nil (a negated operator missing a value) is indeterminate.
        outcome = outcome && (condition.substituted(in: request).map { $0.evaluate(request.values(for: $0.key)) } ?? .indeterminate)
    }
    #expect(outcome == testCase.expect)

    let allowDecision = decide([allow], request)
    #expect(allowDecision.isAllowed == (testCase.expect == .satisfied))
    // The reference evaluator is held to the string operators, policy variables included;
    // its numbers are doubles and its dates simpler, as the property tests generate them.
    let strings = allow.statements[0].conditions.allSatisfy { if case .string = $0.op.test { true } else { false } }
    if strings { #expect(ReferenceEvaluator.evaluate([allow], request).isAllowed == allowDecision.isAllowed, "the reference evaluator disagrees") }

    let deny = try policy(#"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": "*"}, \#(testCase.statement("Deny"))]}"#)
    let denyDecision = decide([deny], request)
    #expect(denyDecision.reason == (testCase.expect == .notSatisfied ? .explicitAllow : .explicitDeny))
    if strings { #expect(ReferenceEvaluator.evaluate([deny], request).reason == denyDecision.reason, "the reference evaluator disagrees") }
}

/// The table in Cases/resources.json: `Resource` and `NotResource` with policy variables,
/// for an Allow and for a Deny (beside an allow-all), against the engine and the reference
/// evaluator.
struct ResourceCase: CustomTestStringConvertible, Sendable {
    var name: String
    var clause: JSONValue
    var effect: String
    var resource: String
    var context: [String: [ContextValue]]
    var principal: Principal
    var applies: Bool

    var testDescription: String { name }

    static func all() throws -> [ResourceCase] {
        guard case .array(let items) = try loadCase("resources") else { return [] }
        return items.map { item in
            var context: [String: [ContextValue]] = [:]
            if case .object(let members) = item["context"] ?? .null { for (key, value) in members { context[key] = contextValues(value) } }
            var principal = Principal()
            if case .string(let account) = item["principal"]?["account_id"] ?? .null { principal.accountId = account }
            guard case .string(let name) = item["name"], case .string(let effect) = item["effect"], case .string(let resource) = item["resource"],
                case .bool(let applies) = item["applies"], let clause = item["clause"]
            else { fatalError("bad case") }
            return ResourceCase(
                name: name, clause: clause, effect: effect, resource: resource, context: context, principal: principal, applies: applies)
        }
    }
}

@Test("resource case", arguments: try ResourceCase.all())
func resourceCase(_ testCase: ResourceCase) throws {
    let request = AuthorizationRequest(
        principal: testCase.principal, action: "organizations:accounts:update", resource: testCase.resource, context: testCase.context)
    guard case .object(let members) = testCase.clause, let (name, value) = members.first else { throw CancellationError() }
    let statement = #"{"Effect": "\#(testCase.effect)", "Action": "organizations:accounts:update", "\#(name)": \#(JSONWriter.compact(value))}"#
    let document =
        testCase.effect == "Deny"
        ? try policy(#"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": "*"}, \#(statement)]}"#)
        : try policy(#"{"Version": "5.0", "Statement": [\#(statement)]}"#)
    let decision = decide([document], request)
    let expected: DecisionReason =
        testCase.applies ? (testCase.effect == "Deny" ? .explicitDeny : .explicitAllow) : (testCase.effect == "Deny" ? .explicitAllow : .implicitDeny)
    #expect(decision.reason == expected)
    #expect(ReferenceEvaluator.evaluate([document], request).reason == decision.reason, "the reference evaluator disagrees")
    // explain decides as evaluate does, and names the substituted pattern when one matched.
    let explanation = CompiledPolicySet([document]).explain(request)
    #expect(explanation.decision.reason == decision.reason)
}

@Test func conditionCaseTableIsLarge() throws {
    // Guards against the resource silently failing to load and the table running no cases.
    #expect(try ConditionCase.all().count >= 100)
}

/// `explain` shows the resource pattern as substituted and each condition's values after
/// substitution, in the order written (a value that cannot be substituted left out).
@Test func explainShowsSubstitutedValuesInOrder() throws {
    let document = try policy(
        #"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "organizations::*:account:o-1/${g:UserName}", "Condition": {"StringEquals": {"g:ResourceTag/owner": ["${g:UserName}", "ops", "${g:UserId}"]}}}]}"#
    )
    let request = AuthorizationRequest(
        principal: Principal(), action: "organizations:accounts:update", resource: "organizations::1:account:o-1/alice",
        context: ["g:UserName": [.string("alice")], "g:ResourceTag/owner": [.string("alice")]])
    let explanation = CompiledPolicySet([document]).explain(request)
    let trace = try #require(explanation.statements.first)
    #expect(trace.resourcePattern == "organizations::*:account:o-1/alice")
    #expect(trace.conditions.first?.policyValues == ["${g:UserName}", "ops", "${g:UserId}"])
    #expect(trace.conditions.first?.substitutedValues == ["alice", "ops"])
    #expect(explanation.decision.reason == .explicitAllow)
}
