import Testing

@testable import GatehousePolicy

@Suite struct EvaluationTests {
    let account = "organizations::0a6d:account:o-1/05261f"

    @Test func explicitDenyBeatsAllowBeatsImplicitDeny() throws {
        let allow = try policy(
            statementPolicy(#""Sid": "A", "Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "*""#), name: "allow")
        let deny = try policy(statementPolicy(#""Sid": "D", "Effect": "Deny", "Action": "organizations:accounts:*""#), name: "deny")
        let request = request(resource: account)
        #expect(decide([], request) == Decision(reason: .implicitDeny, statements: []))
        #expect(
            decide([allow], request)
                == Decision(reason: .explicitAllow, statements: [StatementRef(policy: "allow", sid: "A", index: 0, effect: .allow)]))
        #expect(
            decide([allow, deny], request)
                == Decision(reason: .explicitDeny, statements: [StatementRef(policy: "deny", sid: "D", index: 0, effect: .deny)]))
        #expect(decide([deny, allow], request).reason == .explicitDeny)
    }

    @Test func decidingStatementsListEveryApplyingOneOfTheWinningEffect() throws {
        let document = try policy(
            #"""
            {"Version": "5.0", "Statement": [
              {"Sid": "A1", "Effect": "Allow", "Action": "organizations:accounts:update"},
              {"Effect": "Allow", "Action": "organizations:*:*"},
              {"Sid": "NotThis", "Effect": "Allow", "Action": "organizations:accounts:get"}
            ]}
            """#)
        let decision = decide([document], request(resource: account))
        #expect(decision.statements.map(\.displayName) == ["A1", "Statement[1]"])
    }

    /// Keys that differ only in case (`protected`/`Protected` on one account, `ENV`/`env` in
    /// one tagging body, `status`/`Status` principal tags) are readings of one key: a Deny
    /// applies when its condition holds for any of them, an Allow only when it holds for all.
    @Test func keysThatDifferOnlyInCaseCountForDenyIfAnyAndForAllowIfAll() throws {
        let denyProtected = try policy(
            statementPolicy(
                #""Sid": "D", "Effect": "Deny", "Action": "*", "Condition": {"StringEqualsIgnoreCase": {"g:ResourceTag/protected": "true"}}"#),
            name: "deny")
        let allowAll = try policy(statementPolicy(#""Sid": "A", "Effect": "Allow", "Action": "*""#), name: "allow")
        let allowDev = try policy(
            statementPolicy(#""Sid": "Dev", "Effect": "Allow", "Action": "*", "Condition": {"StringEquals": {"g:ResourceTag/env": "dev"}}"#),
            name: "dev")
        let denyNotDev = try policy(
            statementPolicy(#""Sid": "ND", "Effect": "Deny", "Action": "*", "Condition": {"StringNotEquals": {"g:RequestTag/env": "dev"}}"#),
            name: "notdev")
        // However the spellings are ordered, the answer is the same.
        for order in [["g:ResourceTag/protected", "g:ResourceTag/Protected"], ["g:ResourceTag/Protected", "g:ResourceTag/protected"]] {
            var tagged = request(resource: account)
            tagged.addContext(order[0], [.string(order[0].hasSuffix("/protected") ? "true" : "no")])
            tagged.addContext(order[1], [.string(order[1].hasSuffix("/protected") ? "true" : "no")])
            #expect(decide([allowAll, denyProtected], tagged).reason == .explicitDeny)
        }
        var mixed = request(resource: account, context: ["g:ResourceTag/env": [.string("dev")], "g:ResourceTag/ENV": [.string("prod")]])
        #expect(decide([allowDev], mixed) == Decision(reason: .implicitDeny, statements: []))
        mixed.setContext("g:resourcetag/env", [.string("dev")])
        #expect(decide([allowDev], mixed).isAllowed)
        // The same key twice in one spelling is two readings as well (a tagging body).
        var twice = request(resource: account)
        twice.addContext("g:RequestTag/env", [.string("dev")])
        twice.addContext("g:RequestTag/env", [.string("prod")])
        #expect(decide([allowAll, denyNotDev], twice).reason == .explicitDeny)
        // Principal tags, read from the principal: the same rule.
        let allowActive = try policy(
            statementPolicy(#""Sid": "Act", "Effect": "Allow", "Action": "*", "Condition": {"StringEquals": {"g:PrincipalTag/status": "active"}}"#))
        let principal = Principal(urn: "iam::1:user:alice", accountId: "1", tags: ["status": "active", "Status": "suspended"])
        #expect(!decide([allowActive], request(resource: account, principal: principal)).isAllowed)
        #expect(decide([allowActive], request(resource: account, principal: Principal(tags: ["Status": "active"]))).isAllowed)
        // explain shows each spelling and how it fared.
        let trace = CompiledPolicySet([allowActive]).explain(request(resource: account, principal: principal)).statements[0].conditions[0]
        #expect(trace.spellings?.map(\.key) == ["g:PrincipalTag/Status", "g:PrincipalTag/status"])
        #expect(trace.spellings?.map(\.outcome) == [.notSatisfied, .satisfied])
        #expect(trace.outcome == .notSatisfied)
    }

    @Test func actionsMatchCaseInsensitivelyWithWildcards() throws {
        let document = try policy(statementPolicy(#""Effect": "Allow", "Action": ["Organizations:Accounts:Upd?te", "cts:*:*"]"#))
        #expect(decide([document], request("organizations:accounts:update")).isAllowed)
        #expect(decide([document], request("ORGANIZATIONS:ACCOUNTS:UPDATE")).isAllowed)
        #expect(decide([document], request("cts:tracker:list")).isAllowed)
        #expect(!decide([document], request("organizations:accounts:updates")).isAllowed)
        #expect(!decide([document], request("organizations:accounts:get")).isAllowed)
    }

    @Test func resourcesMatchCaseSensitivelyWithWildcards() throws {
        let document = try policy(
            statementPolicy(#""Effect": "Allow", "Action": "*", "Resource": ["organizations::*:account:o-1/0526*", "organizations::1:ou:o-1/ou-??"]"#)
        )
        #expect(decide([document], request(resource: account)).isAllowed)
        #expect(!decide([document], request(resource: "organizations::0a6d:account:O-1/05261f")).isAllowed)
        #expect(decide([document], request(resource: "organizations::1:ou:o-1/ou-ab")).isAllowed)
        #expect(!decide([document], request(resource: "organizations::1:ou:o-1/ou-abc")).isAllowed)
        #expect(!decide([document], request(resource: "*")).isAllowed)
    }

    @Test func resourceStarCoversEverything() throws {
        let document = try policy(statementPolicy(#""Effect": "Allow", "Action": "*", "Resource": "*""#))
        #expect(decide([document], request(resource: "*")).isAllowed)
        #expect(decide([document], request(resource: account)).isAllowed)
    }

    @Test func notActionAndNotResource() throws {
        let notAction = try policy(statementPolicy(#""Effect": "Allow", "NotAction": "organizations:accounts:close""#))
        #expect(decide([notAction], request("organizations:accounts:update")).isAllowed)
        #expect(!decide([notAction], request("organizations:accounts:close")).isAllowed)
        #expect(!decide([notAction], request("Organizations:Accounts:Close")).isAllowed)
        let notResource = try policy(statementPolicy(#""Effect": "Deny", "Action": "*", "NotResource": "organizations::*:account:o-1/*""#))
        let allowAll = try policy(statementPolicy(#""Effect": "Allow", "Action": "*""#), name: "all")
        #expect(decide([notResource, allowAll], request(resource: account)).isAllowed)
        #expect(decide([notResource, allowAll], request(resource: "organizations::0a6d:account:o-2/x")).reason == .explicitDeny)
    }

    @Test func duplicateActionPatternsCountOnce() throws {
        let document = try policy(
            statementPolicy(
                #""Sid": "S", "Effect": "Allow", "Action": ["organizations:accounts:update", "ORGANIZATIONS:accounts:update", "organizations:accounts:*"]"#
            ))
        #expect(decide([document], request()).statements.count == 1)
    }

    @Test func explainAgreesWithEvaluateAndShowsValues() throws {
        let document = try policy(
            #"""
            {"Version": "5.0", "Statement": [
              {"Sid": "Dev", "Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "organizations::*:account:*",
               "Condition": {"StringEquals": {"g:ResourceTag/env": ["dev", "test"]}}},
              {"Sid": "Protected", "Effect": "Deny", "Action": "organizations:accounts:update",
               "Condition": {"Bool": {"g:ResourceTag/protected": "true"}}}
            ]}
            """#)
        let set = CompiledPolicySet([document])
        let prod = request(resource: account, context: ["g:ResourceTag/env": [.string("prod")]])
        let explanation = set.explain(prod)
        #expect(explanation.decision == set.evaluate(prod))
        let dev = try #require(explanation.statements.first)
        #expect(dev.actionMatched && dev.resourceMatched && !dev.applies)
        #expect(dev.actionPattern == "organizations:accounts:update")
        #expect(dev.resourcePattern == "organizations::*:account:*")
        #expect(dev.conditions.first?.requestValues == ["prod"])
        #expect(dev.conditions.first?.policyValues == ["dev", "test"])
        #expect(dev.conditions.first?.outcome == .notSatisfied)
        #expect(explanation.statements[1].conditions.first?.requestValues == nil)
    }

    @Test func indeterminateDenyAppliesAndIsExplained() throws {
        let document = try policy(
            #"""
            {"Version": "5.0", "Statement": [
              {"Effect": "Allow", "Action": "*"},
              {"Sid": "Net", "Effect": "Deny", "Action": "*", "Condition": {"NotIpAddress": {"g:SourceIp": "10.0.0.0/8"}}}
            ]}
            """#)
        let set = CompiledPolicySet([document])
        let spoofed = request(context: ["g:SourceIp": [.string("not-an-ip")]])
        #expect(set.evaluate(spoofed).reason == .explicitDeny)
        #expect(set.explain(spoofed).statements[1].conditions.first?.outcome == .indeterminate)
        #expect(set.evaluate(request(context: ["g:SourceIp": [.string("10.1.1.1")]])).isAllowed)
    }

    @Test func conditionKeysNeededForARequest() throws {
        let document = try policy(
            #"""
            {"Version": "5.0", "Statement": [
              {"Effect": "Allow", "Action": "organizations:accounts:update", "Condition": {"StringEquals": {"g:ResourceTag/Env": "dev"}}},
              {"Effect": "Allow", "Action": "organizations:accounts:list", "Condition": {"Bool": {"g:MFAPresent": "true"}}}
            ]}
            """#)
        let set = CompiledPolicySet([document])
        #expect(set.conditionKeys(for: request("organizations:accounts:update")) == ["g:resourcetag/env"])
        #expect(set.conditionKeys(for: request("organizations:accounts:list", resource: "*")) == ["g:mfapresent"])
        #expect(set.conditionKeys(for: request("organizations:ous:get")).isEmpty)
        #expect(set.testsConditionKey(for: request("organizations:accounts:update")) { $0.hasPrefix("g:resourcetag/") })
        #expect(set.tests("g:mfapresent") && set.tests("g:resourcetag/env") && !set.tests("g:sourceip"))
        #expect(!set.testsConditionKey(for: request("organizations:accounts:list", resource: "*")) { $0.hasPrefix("g:resourcetag/") })
    }

    @Test func denialMessagesFollowHuaweiWording() {
        let request = request(resource: account)
        #expect(
            Decision(reason: .implicitDeny, statements: []).message(for: request).hasSuffix(
                "because no identity policy allows the organizations:accounts:update action."))
        #expect(Decision(reason: .explicitDeny, statements: []).message(for: request).hasSuffix("with an explicit deny in the identity policy."))
    }

    @Test func compiledSetIsSendableAcrossTasks() async throws {
        let document = try policy(statementPolicy(#""Effect": "Allow", "Action": "organizations:accounts:update""#))
        let set = CompiledPolicySet([document])
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 { group.addTask { set.evaluate(request()).isAllowed } }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results == Array(repeating: true, count: 8))
    }
}
