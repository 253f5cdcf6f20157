import Testing

@testable import GatehousePolicy

@Suite struct LintTests {
    func findings(_ text: String) -> [Diagnostic] {
        Linter().lint(bytes: Array(text.utf8), name: "p", file: "p.json")
    }

    func codes(_ text: String) -> [DiagnosticCode] { findings(text).map(\.code) }

    func statements(_ items: String...) -> String {
        #"{"Version": "5.0", "Statement": [\#(items.joined(separator: ", "))]}"#
    }

    @Test func cleanPolicyHasNoFindings() {
        #expect(
            codes(
                statements(
                    #"{"Sid": "Dev", "Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "organizations::*:account:*", "Condition": {"StringEquals": {"g:ResourceTag/env": "dev"}}}"#
                )
            ).isEmpty)
    }

    @Test func invalidDocumentsReportTheirErrors() {
        let result = findings(#"{"Version": "5.0", "Statement": [{"Effect": "Alow", "Action": "a:b:c"}]}"#)
        #expect(result.map(\.code) == [.badEffect])
        #expect(result.first?.severity == .error)
    }

    @Test func allowEverythingOnEverything() {
        let result = findings(statements(#"{"Effect": "Allow", "Action": "*", "Resource": "*"}"#))
        #expect(result.map(\.code) == [.allowAllOnAll])
        #expect(result.first?.severity == .securityWarning)
        #expect(result.first?.location.line == 1)
        #expect(codes(statements(#"{"Effect": "Allow", "Action": "*:*:*"}"#)) == [.allowAllOnAll])
        #expect(codes(statements(#"{"Effect": "Deny", "Action": "*", "Resource": "*"}"#)).isEmpty)
    }

    @Test func permissiveNegations() {
        #expect(codes(statements(#"{"Effect": "Allow", "NotAction": "organizations:accounts:close"}"#)) == [.permissiveNegation])
        #expect(
            codes(statements(#"{"Effect": "Allow", "Action": "organizations:accounts:get", "NotResource": "organizations::*:account:o/secret"}"#))
                == [.permissiveNegation])
        #expect(codes(statements(#"{"Effect": "Deny", "NotAction": "organizations:accounts:get"}"#)).isEmpty)
    }

    @Test func unknownActionsWithSuggestion() {
        let result = findings(
            statements(
                #"{"Effect": "Allow", "Action": ["organizations:accounts:updat", "organizations:accounts:*", "ecs:cloudServers:list"], "Resource": "*"}"#
            ))
        #expect(result.map(\.code) == [.unknownAction])
        #expect(result.first?.hint?.contains("organizations:accounts:update") == true)
        #expect(result.first?.location.path?.description == "/Statement/0/Action/0")
    }

    @Test func keysThatNeverOccurForTheActions() {
        #expect(
            codes(
                statements(
                    #"{"Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"g:TagKeys": "env"}}}"#
                )) == [.keyNeverPresent])
        #expect(
            codes(
                statements(
                    #"{"Effect": "Allow", "Action": "organizations:accounts:list", "Resource": "*", "Condition": {"StringEquals": {"g:ResourceTag/env": "dev"}}}"#
                )) == [.keyNeverPresent])
        #expect(
            codes(
                statements(
                    #"{"Effect": "Allow", "Action": "organizations:resources:tag", "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"g:TagKeys": "env"}, "Null": {"g:TagKeys": "false"}}}"#
                )) == [.forAllValuesWithAllow])
        #expect(
            codes(
                statements(
                    #"{"Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "*", "Condition": {"StringEquals": {"organizations:PolicyType": "x"}}}"#
                )) == [.keyNeverPresent])
    }

    @Test func duplicateSidsAndUnusualSids() {
        let result = findings(
            statements(
                #"{"Sid": "A", "Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "*"}"#,
                #"{"Sid": "A", "Effect": "Allow", "Action": "organizations:ous:get", "Resource": "*"}"#))
        #expect(result.map(\.code) == [.duplicateSid])
        #expect(result.first?.location.path?.description == "/Statement/1/Sid")
        #expect(codes(statements(#"{"Sid": "allow dev", "Effect": "Allow", "Action": "organizations:ous:get", "Resource": "*"}"#)) == [.unusualSid])
    }

    @Test func shadowedStatements() {
        let result = findings(
            statements(
                #"{"Sid": "Wide", "Effect": "Allow", "Action": "organizations:accounts:*", "Resource": "*"}"#,
                #"{"Sid": "Narrow", "Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "organizations::*:account:*", "Condition": {"StringEquals": {"g:ResourceTag/env": "dev"}}}"#
            ))
        #expect(result.map(\.code) == [.shadowedStatement])
        #expect(result.first?.message.contains("Narrow is shadowed by Wide") == true)
        // A conditional wide statement does not shadow; nor does one of the other effect.
        #expect(
            codes(
                statements(
                    #"{"Effect": "Allow", "Action": "organizations:accounts:*", "Resource": "*", "Condition": {"Bool": {"g:MFAPresent": "true"}}}"#,
                    #"{"Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "*"}"#)
            ).isEmpty)
        #expect(
            codes(
                statements(
                    #"{"Effect": "Deny", "Action": "organizations:accounts:*", "Resource": "*"}"#,
                    #"{"Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "*"}"#)
            ).isEmpty)
        // Two identical statements: only the later one is reported.
        let twins = findings(
            statements(
                #"{"Sid": "One", "Effect": "Deny", "Action": "organizations:accounts:close"}"#,
                #"{"Sid": "Two", "Effect": "Deny", "Action": "organizations:accounts:close"}"#))
        #expect(twins.map(\.code) == [.shadowedStatement])
        #expect(twins.first?.location.path?.description == "/Statement/1")
    }

    @Test func emptyConditionsAndDuplicateValues() {
        #expect(codes(statements(#"{"Effect": "Deny", "Action": "organizations:accounts:close", "Condition": {}}"#)) == [.emptyCondition])
        #expect(
            codes(statements(#"{"Effect": "Deny", "Action": "organizations:accounts:close", "Condition": {"StringEquals": {}}}"#)) == [
                .emptyCondition
            ])
        #expect(
            codes(
                statements(
                    #"{"Effect": "Deny", "Action": ["organizations:accounts:close", "Organizations:Accounts:Close"], "Condition": {"StringEquals": {"g:ResourceTag/env": ["a", "a"]}}}"#
                )) == [.duplicateValue, .duplicateValue])
    }

    @Test func qualifiersAndTypes() {
        #expect(
            codes(
                statements(#"{"Effect": "Deny", "Action": "organizations:resources:tag", "Condition": {"StringEquals": {"g:TagKeys": "protected"}}}"#)
            ) == [.qualifierMismatch])
        #expect(
            codes(
                statements(
                    #"{"Effect": "Deny", "Action": "organizations:accounts:get", "Condition": {"ForAnyValue:StringEquals": {"g:UserName": "bob"}}}"#))
                == [.qualifierMismatch])
        #expect(
            codes(
                statements(#"{"Effect": "Deny", "Action": "organizations:accounts:get", "Condition": {"StringEquals": {"g:SourceIp": "10.0.0.1"}}}"#))
                == [.typeMismatch])
        #expect(
            codes(
                statements(
                    #"{"Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "*", "Condition": {"StringLike": {"g:PrincipalUrn": "iam::*:user:*"}}}"#
                )) == [.wildcardOnSensitiveKey])
        #expect(
            codes(
                statements(
                    #"{"Effect": "Deny", "Action": "organizations:accounts:get", "Condition": {"StringEquals": {"g:UserName": "${g:UserName}"}}}"#))
                == [.policyVariable])
    }

    @Test func resourceForActionsWithoutResourceType() {
        #expect(
            codes(statements(#"{"Effect": "Allow", "Action": "organizations:accounts:list", "Resource": "organizations::*:account:*"}"#)) == [
                .resourceForUntypedAction
            ])
        #expect(codes(statements(#"{"Effect": "Allow", "Action": "organizations:accounts:list", "Resource": "*"}"#)).isEmpty)
    }

    @Test func quota() {
        let actions = (0..<700).map { #""organizations:accounts:update\#($0 % 1)""# }
        let result = codes(statements(#"{"Effect": "Deny", "Action": [\#(actions.joined(separator: ","))]}"#))
        #expect(result.contains(.overQuota))
    }

    @Test func everyCodeHasATitleAndTheRightSeverityBand() {
        for code in DiagnosticCode.allCases {
            #expect(!code.title.isEmpty)
            if !code.rawValue.hasPrefix("GH2") {
                #expect(code.severity == .error, "\(code)")
            } else {
                #expect(code.severity != .error, "\(code)")
            }
        }
    }
}
