import Foundation
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

    /// `?` is a wildcard in actions too: patterns that match every action count as `*`.
    @Test func everyActionSpelledWithQuestionMarksIsStillEveryAction() {
        for pattern in ["*:?*", "*:*:?*", "?*:*", "*?:*", "*:*", "*"] {
            #expect(
                codes(statements(#"{"Effect": "Allow", "Action": ["\#(pattern)"], "Resource": ["*"]}"#)).contains(.allowAllOnAll), "\(pattern)")
        }
        for pattern in ["organizations:*", "*:accounts:*", "?:*:*", "*:?:*"] {
            #expect(
                !codes(statements(#"{"Effect": "Allow", "Action": ["\#(pattern)"], "Resource": ["*"]}"#)).contains(.allowAllOnAll), "\(pattern)")
        }
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
        // A handshake has no tags: its actions have a resource, but no g:ResourceTag.
        #expect(
            codes(
                statements(
                    #"{"Effect": "Allow", "Action": "organizations:handshakes:accept", "Resource": "*", "Condition": {"StringEquals": {"g:ResourceTag/env": "dev"}}}"#
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
        // Documented types: a date operator on a string key, a string operator on a boolean one.
        #expect(
            codes(
                statements(
                    #"{"Effect": "Deny", "Action": "organizations:accounts:get", "Condition": {"DateGreaterThan": {"g:PrincipalType": "2026-01-01T00:00:00Z"}}}"#
                )) == [.typeMismatch])
        #expect(
            codes(
                statements(
                    #"{"Effect": "Deny", "Action": "organizations:accounts:get", "Condition": {"StringEquals": {"g:PrincipalIsRootUser": "true"}}}"#))
                == [.typeMismatch])
        #expect(codes(statements(#"{"Sid": "", "Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "*"}"#)) == [.emptySid])
        // Documented keys load and lint clean; undocumented ones warn, in a Deny as a security matter.
        for key in ["g:UserId", "g:DomainId", "g:PrincipalOrgId", "g:SourceVpce", "g:EnterpriseProjectId", "g:ProjectName", "g:SourceAccount"] {
            #expect(
                codes(statements(#"{"Effect": "Deny", "Action": "organizations:accounts:get", "Condition": {"StringEquals": {"\#(key)": "x"}}}"#))
                    .isEmpty, "\(key)")
        }
        let undocumented = findings(
            statements(#"{"Effect": "Deny", "Action": "organizations:accounts:get", "Condition": {"StringEquals": {"g:SourceVpcId": "vpc-1"}}}"#))
        #expect(undocumented.map(\.code) == [.undocumentedKeyInDeny])
        #expect(undocumented.first?.hint?.contains("g:SourceVpc") == true)
        #expect(
            codes(
                statements(
                    #"{"Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "*", "Condition": {"StringEquals": {"g:SourceVpcId": "vpc-1"}}}"#
                )) == [.undocumentedGlobalKey])
        #expect(
            codes(
                statements(
                    #"{"Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "*", "Condition": {"StringLike": {"g:PrincipalUrn": "iam::*:user:*"}}}"#
                )) == [.wildcardOnSensitiveKey])
        // `?` is a wildcard too: seven of them admit every seven-letter user name.
        for value in ["iam::0a6d25d23900d45c0faac010e0fb4de0:user:???????", "iam::1:user:a?", "?"] {
            #expect(
                codes(
                    statements(
                        #"{"Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "*", "Condition": {"StringLike": {"g:PrincipalUrn": "\#(value)"}}}"#
                    )) == [.wildcardOnSensitiveKey], "\(value)")
        }
        #expect(
            codes(
                statements(
                    #"{"Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "*", "Condition": {"StringLike": {"g:PrincipalUrn": "iam::1:user:alice"}}}"#
                )
            ).isEmpty)
        // Policy variables are substituted: a known key is no finding, an unknown one is.
        #expect(
            codes(
                statements(
                    #"{"Effect": "Deny", "Action": "organizations:accounts:get", "Condition": {"StringEquals": {"g:ResourceTag/owner": "${g:UserName}"}}}"#
                )
            ).isEmpty)
        #expect(
            codes(
                statements(
                    #"{"Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "organizations::*:account:o-1/${g:UserNam}"}"#
                )) == [.unknownVariableKey])
        #expect(
            codes(
                statements(
                    #"{"Effect": "Deny", "Action": "organizations:accounts:get", "Condition": {"StringEquals": {"g:ResourceTag/owner": ["x", "${owner, 'a'}"]}}}"#
                )) == [.unknownVariableKey])
        // A multi-valued key is never substituted.
        #expect(
            codes(
                statements(
                    #"{"Effect": "Deny", "Action": "organizations:accounts:get", "Condition": {"StringNotEquals": {"g:ResourceTag/o": "${g:CalledVia}"}}}"#
                )) == [.multiValuedVariableKey])
    }

    /// A `${` that does not start a well-formed variable is a load error with its place, and
    /// a variable stands only in a resource's path.
    @Test func malformedPolicyVariablesAreLoadErrors() {
        func problems(_ statement: String) -> [Diagnostic] {
            do {
                _ = try PolicyParser.parse(bytes: Array(#"{"Version": "5.0", "Statement": [\#(statement)]}"#.utf8), name: "p", file: "p.json")
                return []
            } catch {
                return error.diagnostics
            }
        }
        for (value, expected) in [
            ("organizations::*:account:${g:UserName", "without its closing }"),
            ("organizations::*:account:${}", "without a key"),
            ("organizations::*:account:${g:UserName, anonymous}", "in single quotes"),
            ("organizations::*:account:${g:UserName, 'anonymous}", "closing quote"),
            ("organizations::*:${g:UserName}:x", "only in the URN's path"),
            ("organizations::*:${*}:${g:UserName}", "only in the URN's path"),
        ] {
            let found = problems(#"{"Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "\#(value)"}"#)
            #expect(found.count == 1 && found[0].message.contains(expected), "\(value): \(found)")
            #expect(found.first?.location.path?.description.contains("Resource") == true, "\(value): \(found)")
        }
        // A literal `$` before the path is not a variable.
        #expect(problems(#"{"Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "organizations::*:acc$:${g:UserName}"}"#).isEmpty)
        let found = problems(
            #"{"Effect": "Allow", "Action": "organizations:accounts:get", "Condition": {"StringEquals": {"g:ResourceTag/a": ["ok", "${g:UserName"]}}}"#
        )
        #expect(found.map(\.code) == [.malformedPolicyVariable])
        #expect(
            found.first?.location.path
                == JSONPath([.key("Statement"), .index(0), .key("Condition"), .key("StringEquals"), .key("g:ResourceTag/a"), .index(1)]), "\(found)")
    }

    @Test func resourceForActionsWithoutResourceType() {
        #expect(
            codes(statements(#"{"Effect": "Allow", "Action": "organizations:accounts:list", "Resource": "organizations::*:account:*"}"#)) == [
                .resourceForUntypedAction
            ])
        #expect(codes(statements(#"{"Effect": "Allow", "Action": "organizations:accounts:list", "Resource": "*"}"#)).isEmpty)
    }

    /// A resource URN whose type none of the statement's actions acts on matches none of
    /// their requests; a type one of them has, a wildcard type or a variable is no finding.
    @Test func resourcesOfAnotherTypeThanTheActionsActOn() {
        #expect(
            codes(statements(#"{"Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "organizations::*:ou:*"}"#)) == [
                .resourceOfWrongType
            ])
        #expect(
            codes(
                statements(
                    #"{"Effect": "Allow", "Action": ["organizations:accounts:update", "organizations:ous:update"], "Resource": ["organizations::*:ou:*", "organizations::*:account:*"]}"#
                )
            ).isEmpty)
        #expect(
            codes(statements(#"{"Effect": "Allow", "Action": "organizations:handshakes:accept", "Resource": "organizations::*:handshake:*"}"#))
                .isEmpty)
        #expect(codes(statements(#"{"Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "organizations::*:*:*"}"#)).isEmpty)
    }

    /// Lint's catalog is the documented service: every action of the SDK's operations, with
    /// the resource types and keys the API reference gives; an action it lacks is an error.
    @Test func theCatalogIsTheDocumentedService() {
        let catalog = ServiceCatalog.organizations
        #expect(catalog.actions.count == 64 + 3)
        #expect(Set(catalog.actions.map(\.name)).count == catalog.actions.count)
        let tag = catalog.actions(matching: "organizations:resources:tag")
        #expect(tag.count == 1 && tag[0].resourceTypes.sorted() == ["account", "ou", "policy", "root"] && tag[0].takesRequestTags)
        let register = catalog.actions(matching: "organizations:delegatedAdministrators:register")
        #expect(register.first?.canCarry("organizations:serviceprincipal") == true)
        #expect(DiagnosticCode.unknownAction.severity == .error)
        #expect(codes(statements(#"{"Effect": "Allow", "Action": "organizations:resources:listTags", "Resource": "*"}"#)) == [.unknownAction])
    }

    @Test func quota() {
        let actions = (0..<700).map { #""organizations:accounts:update\#($0 % 1)""# }
        let result = codes(statements(#"{"Effect": "Deny", "Action": [\#(actions.joined(separator: ","))]}"#))
        #expect(result.contains(.overQuota))
    }

    /// A hostile file's thousands of long findings stay short where the gateway shows them.
    @Test func aSummaryOfManyProblemsIsBounded() {
        let long = String(repeating: "x", count: 5_000)
        let error = PolicyLoadError(
            (0..<50).map { (index: Int) in
                Diagnostic(.unknownOperator, "unknown condition operator \(long)\(index)", at: SourceLocation(file: "p.json", line: index, column: 1))
            })
        let summary = error.summary()
        #expect(summary.split(separator: "\n").count == 21)
        #expect(summary.hasSuffix("... and 30 more"))
        #expect(summary.utf8.count < 20 * 410 + 40)
        #expect(error.description.utf8.count > 250_000)
    }

    /// docs/POLICY-LANGUAGE.md lists every code with its severity (GH3003 was missing once).
    @Test func everyCodeIsInTheLanguageDocument() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/POLICY-LANGUAGE.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        for code in DiagnosticCode.engineCodes {
            #expect(text.contains("| \(code.rawValue) | \(code.severity.rawValue) |"), "\(code.rawValue) \(code.severity.rawValue)")
        }
    }

    @Test func everyCodeHasATitleAndTheRightSeverityBand() {
        #expect(Set(DiagnosticCode.engineCodes.map(\.rawValue)).count == DiagnosticCode.engineCodes.count)
        #expect(DiagnosticCode.engineCodes.allSatisfy { !$0.rawValue.hasPrefix("GH4") })
        for code in DiagnosticCode.engineCodes {
            #expect(!code.title.isEmpty)
            if !code.rawValue.hasPrefix("GH2") {
                #expect(code.severity == .error, "\(code)")
            } else if code != .unknownAction {
                // Lint findings, except an action the service does not have: a lint error
                // (the document still loads, since a catalog can lag behind the service).
                #expect(code.severity != .error, "\(code)")
            }
        }
    }

    /// Every pair compared, as lint once did: the executable spec `ShadowFinder` is held to.
    static func shadowedPairwise(_ statements: [Statement]) -> [Int?] {
        func covers(_ wide: [String], _ narrow: [String], _ caseInsensitive: Bool) -> Bool {
            narrow.allSatisfy { n in
                wide.contains { Wildcard($0, caseInsensitive: caseInsensitive).covers(Wildcard(n, caseInsensitive: caseInsensitive)) }
            }
        }
        func coversResources(_ wide: ResourceClause, _ narrow: ResourceClause) -> Bool {
            switch (wide, narrow) {
            case (.all, _): return true
            case (.resource(let w), _) where w.contains("*"): return true
            case (.resource(let w), .resource(let n)): return covers(w, n, false)
            case (.notResource(let w), .notResource(let n)): return covers(n, w, false)
            default: return false
            }
        }
        // Statements with policy variables in their resources take no part: what they cover
        // depends on each request.
        func hasVariables(_ statement: Statement) -> Bool {
            switch statement.resources {
            case .all: false
            case .resource(let list), .notResource(let list): list.contains { $0.contains("${") }
            }
        }
        return statements.enumerated().map { i, statement -> Int? in
            guard case .action(let actions) = statement.actions, !hasVariables(statement) else { return nil }
            for (j, other) in statements.enumerated() where i != j && other.effect == statement.effect && !hasVariables(other) {
                guard case .action(let otherActions) = other.actions else { continue }
                let sameConditions = ShadowFinder.conditionSignature(other) == ShadowFinder.conditionSignature(statement)
                guard other.conditions.isEmpty || sameConditions, covers(otherActions, actions, true),
                    coversResources(other.resources, statement.resources)
                else { continue }
                if covers(actions, otherActions, true), coversResources(statement.resources, other.resources), sameConditions, i < j { continue }
                return j
            }
            return nil
        }
    }

    @Test("the shadowing index finds what comparing every pair finds", arguments: Array(UInt64(1)...30))
    func shadowingAgreesWithPairwise(seed: UInt64) throws {
        var generator = Generator(random: SeededRandom(seed: seed &* 31))
        for _ in 0..<10 {
            let count = 2 + Int(generator.random.next() % 30)
            let statements = (0..<count).map { _ in generator.chance(40) ? generator.statement() : generator.plainStatement() }
            let document = try PolicyParser.parse(
                bytes: Array(#"{"Version": "5.0", "Statement": [\#(statements.joined(separator: ", "))]}"#.utf8), name: "p", file: "p")
            let (found, checked, _) = ShadowFinder(document.statements).find()
            #expect(checked == document.statements.count)
            #expect(found == Self.shadowedPairwise(document.statements), "seed \(seed)")
        }
    }

    @Test func aShadowingSearchOverItsBudgetSaysWhereItStopped() throws {
        let items = (0..<50).map { #"{"Effect": "Allow", "Action": "organizations:accounts:g?t", "Resource": "organizations::*:account:*/a\#($0)"}"# }
        let document = try PolicyParser.parse(
            bytes: Array(#"{"Version": "5.0", "Statement": [\#(items.joined(separator: ", "))]}"#.utf8), name: "p", file: "p")
        let (_, checked, _) = ShadowFinder(document.statements, budget: 100).find()
        #expect(checked > 0 && checked < 50)
        #expect(ShadowFinder(document.statements).find().checked == 50)
    }
}
