import Testing

@testable import GatehousePolicy

@Suite struct ParserTests {
    func expectRejected(
        _ text: String, code: DiagnosticCode, path: String? = nil, line: Int? = nil, column: Int? = nil, messageContains: String? = nil,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        let diagnostics = rejection(text)
        guard let diagnostic = diagnostics.first(where: { $0.code == code }) else {
            Issue.record("expected \(code.rawValue), got \(diagnostics.map(\.description))", sourceLocation: sourceLocation)
            return
        }
        #expect(diagnostic.severity == .error, sourceLocation: sourceLocation)
        #expect(diagnostic.location.file == "p.json", sourceLocation: sourceLocation)
        if let path { #expect(diagnostic.location.path?.description == path, sourceLocation: sourceLocation) }
        if let line { #expect(diagnostic.location.line == line, sourceLocation: sourceLocation) }
        if let column { #expect(diagnostic.location.column == column, sourceLocation: sourceLocation) }
        if let messageContains { #expect(diagnostic.message.contains(messageContains), "\(diagnostic.message)", sourceLocation: sourceLocation) }
    }

    @Test func acceptsAFullStatement() throws {
        let document = try policy(
            statementPolicy(
                #""Sid": "S1", "Effect": "Deny", "NotAction": "a:b:c", "NotResource": ["x::1:t:p"], "Condition": {"Null": {"g:SourceIp": "true"}}"#))
        let statement = try #require(document.statements.first)
        #expect(statement.sid == "S1")
        #expect(statement.effect == .deny)
        #expect(statement.actions == .notAction(["a:b:c"]))
        #expect(statement.resources == .notResource(["x::1:t:p"]))
        #expect(statement.conditions.count == 1)
    }

    @Test func statementWithoutResourceAppliesToAll() throws {
        let document = try policy(statementPolicy(#""Effect": "Allow", "Action": "a:b:c""#))
        #expect(document.statements[0].resources == .all)
    }

    @Test func syntaxErrorsCarryJanssonPositions() {
        expectRejected("{\n  \"Version\": \"5.0\",\n  \"Statement\": [\n}", code: .syntax, line: 4, column: 1)
        expectRejected(#"{"a": 1, "a": 2}"#, code: .syntax, messageContains: "duplicate")
        expectRejected(#"{"Version": "5.0"} trailing"#, code: .syntax)
        expectRejected("", code: .syntax)
    }

    @Test func topLevel() {
        expectRejected("[]", code: .notAnObject)
        expectRejected(#""text""#, code: .syntax)  // jansson refuses non-container roots
        expectRejected(#"{"Statement": [{"Effect": "Allow", "Action": "a:b:c"}]}"#, code: .badVersion, messageContains: "missing")
        expectRejected(
            #"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "a:b:c"}]}"#, code: .badVersion, path: "/Version", line: 1,
            column: 13)
        expectRejected(#"{"Version": 5, "Statement": [{"Effect": "Allow", "Action": "a:b:c"}]}"#, code: .wrongType, path: "/Version")
        expectRejected(#"{"Version": "5.0", "Statment": []}"#, code: .unknownElement, path: "/Statment", line: 1, column: 20)
        expectRejected(#"{"Version": "5.0", "Principal": "*", "Statement": [{"Effect": "Allow", "Action": "a:b:c"}]}"#, code: .principalNotAllowed)
    }

    @Test func statementList() {
        expectRejected(#"{"Version": "5.0"}"#, code: .badStatementList, messageContains: "missing")
        expectRejected(#"{"Version": "5.0", "Statement": []}"#, code: .badStatementList, messageContains: "empty")
        expectRejected(#"{"Version": "5.0", "Statement": {"Effect": "Allow", "Action": "a:b:c"}}"#, code: .badStatementList, path: "/Statement")
        expectRejected(#"{"Version": "5.0", "Statement": ["Allow"]}"#, code: .badStatementList, path: "/Statement/0")
    }

    @Test func effect() {
        expectRejected(statementPolicy(#""Effect": "allow", "Action": "a:b:c""#), code: .badEffect, path: "/Statement/0/Effect")
        expectRejected(statementPolicy(#""Action": "a:b:c""#), code: .badEffect, messageContains: "missing")
        expectRejected(statementPolicy(#""Effect": true, "Action": "a:b:c""#), code: .wrongType)
        let hint = rejection(statementPolicy(#""Effect": "allow", "Action": "a:b:c""#)).first?.hint
        #expect(hint?.contains("\"Allow\"") == true)
    }

    @Test func actionAndResourceClauses() throws {
        expectRejected(statementPolicy(#""Effect": "Allow", "Action": "a:b:c", "NotAction": "a:b:d""#), code: .actionClause)
        expectRejected(statementPolicy(#""Effect": "Allow""#), code: .actionClause, messageContains: "missing")
        expectRejected(statementPolicy(#""Effect": "Allow", "Action": "a:b:c", "Resource": "*", "NotResource": "x::1:t:p""#), code: .resourceClause)
        expectRejected(statementPolicy(#""Effect": "Allow", "Action": []"#), code: .wrongType, messageContains: "empty list")
        expectRejected(statementPolicy(#""Effect": "Allow", "Action": ["a:b:c", 7]"#), code: .wrongType, path: "/Statement/0/Action/1")
        expectRejected(statementPolicy(#""Effect": "Allow", "Action": """#), code: .emptyString)
        expectRejected(statementPolicy(#""Effect": "Allow", "Action": "a:b:c", "Resource": {"x": 1}"#), code: .wrongType)
        // An empty Sid is valid (lint: GH2020); the statement is named by its index.
        let emptySid = try policy(statementPolicy(#""Effect": "Allow", "Action": "a:b:c", "Resource": "*", "Sid": """#))
        #expect(emptySid.statements[0].sid == "" && emptySid.statements[0].displayName == "Statement[0]")
        #expect(decide([emptySid], request("a:b:c", resource: "*")).statements.map(\.displayName) == ["Statement[0]"])
        expectRejected(statementPolicy(#""Effect": "Allow", "Action": "a:b:c", "Sid": 3"#), code: .wrongType)
        expectRejected(
            statementPolicy(#""Effect": "Allow", "Action": "a:b:c", "Principal": "*""#), code: .principalNotAllowed, path: "/Statement/0/Principal")
        expectRejected(statementPolicy(#""Effect": "Allow", "Action": "a:b:c", "Resourse": "*""#), code: .unknownElement)
    }

    @Test func malformedActionsAndResources() {
        for bad in ["accounts", "organizations:", ":accounts:update", "organizations::update", "organizations:accounts:up date"] {
            expectRejected(statementPolicy(#""Effect": "Allow", "Action": "\#(bad)""#), code: .malformedAction)
        }
        for bad in ["account", "organizations:account", "organizations:::", "organizations::1:account: x", "::1:account:x"] {
            expectRejected(statementPolicy(#""Effect": "Allow", "Action": "a:b:c", "Resource": "\#(bad)""#), code: .malformedResource)
        }
    }

    @Test func conditions() {
        func condition(_ text: String) -> String { statementPolicy(#""Effect": "Allow", "Action": "a:b:c", "Condition": \#(text)"#) }
        expectRejected(condition("[]"), code: .badConditionBlock)
        expectRejected(condition(#"{"StringEquals": "dev"}"#), code: .badConditionBlock, path: "/Statement/0/Condition/StringEquals")
        expectRejected(
            condition(#"{"StringEqual": {"g:ResourceTag/env": "dev"}}"#), code: .unknownOperator, path: "/Statement/0/Condition/StringEqual")
        let hint = rejection(condition(#"{"stringequals": {"g:ResourceTag/env": "dev"}}"#)).first?.hint
        #expect(hint?.contains("StringEquals") == true)
        expectRejected(condition(#"{"ForSomeValues:StringEquals": {"g:TagKeys": "a"}}"#), code: .unknownQualifier)
        expectRejected(condition(#"{"NullIfExists": {"g:SourceIp": "true"}}"#), code: .unknownOperator)
        expectRejected(condition(#"{"ForAnyValue:Null": {"g:SourceIp": "true"}}"#), code: .unknownQualifier)
        expectRejected(condition(#"{"StringEquals": {"g:ResourceTag/env": []}}"#), code: .badConditionValue)
        expectRejected(condition(#"{"StringEquals": {"g:ResourceTag/env": null}}"#), code: .wrongType)
        expectRejected(
            condition(#"{"StringEquals": {"g:ResourceTag/env": [{"a": 1}]}}"#), code: .wrongType,
            path: "/Statement/0/Condition/StringEquals/g:ResourceTag~1env/0")
        expectRejected(condition(#"{"StringEquals": {"g:ResourceTag/env": "a", "G:RESOURCETAG/ENV": "b"}}"#), code: .duplicateConditionKey)
        // A g: key on no documented list loads (lint warns: GH2018, GH2019).
        #expect(rejection(condition(#"{"StringEquals": {"g:SourceIP4": "a"}}"#)).isEmpty)
        expectRejected(condition(#"{"StringEquals": {"g:PrincipalTag/": "a"}}"#), code: .badConditionKey)
        expectRejected(condition(#"{"StringEquals": {"g:ResourceTag/": "a"}}"#), code: .badConditionKey)
        expectRejected(condition(#"{"StringEquals": {"nocolon": "a"}}"#), code: .badConditionKey)
        expectRejected(condition(#"{"StringEquals": {"": "a"}}"#), code: .badConditionKey)
    }

    @Test func valuesOperatorsCannotTake() {
        func condition(_ op: String, _ key: String, _ value: String) -> String {
            statementPolicy(#""Effect": "Allow", "Action": "a:b:c", "Condition": {"\#(op)": {"\#(key)": \#(value)}}"#)
        }
        expectRejected(condition("IpAddress", "g:SourceIp", #""10.0.0.0/33""#), code: .badConditionValue, messageContains: "CIDR")
        expectRejected(condition("IpAddress", "g:SourceIp", #""10.0.0/8""#), code: .badConditionValue)
        expectRejected(condition("IpAddress", "g:SourceIp", #""2001:db8::/129""#), code: .badConditionValue)
        expectRejected(condition("IpAddress", "g:SourceIp", #""2001:db8:::1""#), code: .badConditionValue)
        expectRejected(condition("IpAddress", "g:SourceIp", "10"), code: .badConditionValue)
        expectRejected(condition("DateLessThan", "g:CurrentTime", #""2026-02-30T00:00:00Z""#), code: .badConditionValue)
        expectRejected(condition("DateLessThan", "g:CurrentTime", #""next week""#), code: .badConditionValue)
        expectRejected(condition("DateLessThan", "g:CurrentTime", #""2026-01-01T25:00:00Z""#), code: .badConditionValue)
        expectRejected(condition("NumberEquals", "g:ResourceTag/n", #""ten""#), code: .badConditionValue)
        expectRejected(condition("NumberEquals", "g:ResourceTag/n", #""0x10""#), code: .badConditionValue)
        expectRejected(condition("NumberEquals", "g:ResourceTag/n", "true"), code: .badConditionValue)
        expectRejected(
            condition("NumberEquals", "g:ResourceTag/n", #"[1, "x"]"#), code: .badConditionValue,
            path: "/Statement/0/Condition/NumberEquals/g:ResourceTag~1n/1")
        expectRejected(condition("Bool", "g:MFAPresent", #""yes""#), code: .badConditionValue)
        expectRejected(condition("Null", "g:MFAPresent", "1"), code: .badConditionValue)
    }

    @Test func semanticErrorsHaveLineAndColumn() {
        let text = """
            {
              "Version": "5.0",
              "Statement": [
                {"Effect": "Allow", "Action": "a:b:c"},
                {
                  "Effect": "Permit",
                  "Action": "a:b:c"
                }
              ]
            }
            """
        expectRejected(text, code: .badEffect, path: "/Statement/1/Effect", line: 6, column: 17)
    }

    @Test func reportsEveryErrorNotJustTheFirst() {
        let diagnostics = rejection(#"{"Version": "4.0", "Statement": [{"Effect": "Maybe", "Action": "x"}, {"Effect": "Allow"}]}"#)
        let codes = Set(diagnostics.map(\.code))
        #expect(codes.isSuperset(of: [.badVersion, .badEffect, .malformedAction, .actionClause]))
    }

    @Test func columnsCountCharactersNotBytes() {
        let diagnostics = rejection(#"{"Version": "5.0", "Statement": [{"Sid": "été", "Effect": "No", "Action": "a:b:c"}]}"#)
        let effect = diagnostics.first { $0.code == .badEffect }
        #expect(effect?.location.column == 59)
    }
}
