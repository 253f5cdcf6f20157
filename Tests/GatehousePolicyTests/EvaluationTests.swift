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
