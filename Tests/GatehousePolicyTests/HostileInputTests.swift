import Testing

@testable import GatehousePolicy

/// Hostile documents are refused (or read) with a clear error and never crash or hang.
@Suite struct HostileInputTests {
    func codes(_ bytes: [UInt8], limits: PolicyLimits = PolicyLimits()) -> [DiagnosticCode] {
        rejection(bytes, limits: limits).map(\.code)
    }

    @Test func deepNesting() {
        let deep = Array(String(repeating: "[", count: 10_000).utf8) + Array(String(repeating: "]", count: 10_000).utf8)
        #expect(codes(deep) == [.nestingTooDeep])
        // Within jansson's 2048 but over our limit: refused with the place of the first over-deep value.
        let condition = String(repeating: "[", count: 40) + "\"x\"" + String(repeating: "]", count: 40)
        let text = statementPolicy(#""Effect": "Allow", "Action": "a:b:c", "Condition": {"StringEquals": {"g:ResourceTag/a": \#(condition)}}"#)
        let diagnostics = rejection(text)
        #expect(diagnostics.map(\.code) == [.nestingTooDeep])
        #expect(diagnostics.first?.message.contains("/Statement/0/Condition/StringEquals") == true)
    }

    @Test func hugeString() {
        let big = String(repeating: "a", count: 10 << 20)
        let text = Array(statementPolicy(#""Sid": "\#(big)", "Effect": "Allow", "Action": "a:b:c""#).utf8)
        #expect(codes(text) == [.documentTooLarge])
        // With the limit raised, the document is read whole.
        let limits = PolicyLimits(json: JSONLimits(maxBytes: 16 << 20))
        let document = try? PolicyParser.parse(bytes: text, name: "p", file: "p.json", limits: limits)
        #expect(document?.statements.first?.sid?.utf8.count == 10 << 20)
    }

    @Test func invalidUTF8NulAndControlCharacters() {
        var invalid = Array(statementPolicy(#""Sid": "X", "Effect": "Allow", "Action": "a:b:c""#).utf8)
        let index = invalid.firstIndex(of: UInt8(ascii: "X"))!
        invalid[index] = 0xFF
        #expect(codes(invalid) == [.syntax])
        #expect(codes(Array(statementPolicy(#""Sid": "a\u0000b", "Effect": "Allow", "Action": "a:b:c""#).utf8)) == [.syntax])
        var rawNul = Array(statementPolicy(#""Sid": "X", "Effect": "Allow", "Action": "a:b:c""#).utf8)
        rawNul[index] = 0
        #expect(codes(rawNul) == [.syntax])
        #expect(codes(Array(statementPolicy("\"Sid\": \"a\tb\", \"Effect\": \"Allow\", \"Action\": \"a:b:c\"").utf8)) == [.syntax])
    }

    @Test func byteOrderMarkIsSkippedAndPositionsStayRight() throws {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let good = bom + Array(statementPolicy(#""Effect": "Allow", "Action": "a:b:c""#).utf8)
        #expect(codes(good).isEmpty)
        let bad = bom + Array(#"{"Version": "6.0", "Statement": [{"Effect": "Allow", "Action": "a:b:c"}]}"#.utf8)
        let diagnostic = try #require(rejection(bad).first)
        #expect(diagnostic.code == .badVersion)
        #expect(diagnostic.location.column == 13)
    }

    @Test func trailingGarbage() {
        #expect(codes(Array((statementPolicy(#""Effect": "Allow", "Action": "a:b:c""#) + " }").utf8)) == [.syntax])
        #expect(codes(Array((statementPolicy(#""Effect": "Allow", "Action": "a:b:c""#) + "\n{}").utf8)) == [.syntax])
    }

    @Test func manyStatements() throws {
        let statement = #"{"Effect": "Allow", "Action": "a:b:c"}"#
        let text = Array((#"{"Version": "5.0", "Statement": ["# + Array(repeating: statement, count: 100_000).joined(separator: ",") + "]}").utf8)
        let diagnostics = rejection(text)
        #expect(diagnostics.map(\.code) == [.tooManyStatements])
        #expect(diagnostics.first?.message.contains("100000 statements") == true)
        let raised = PolicyLimits(maxStatements: 100_000)
        let document = try PolicyParser.parse(bytes: text, name: "p", file: "p.json", limits: raised)
        #expect(document.statements.count == 100_000)
        #expect(CompiledPolicySet([document]).evaluate(request("a:b:c")).isAllowed)
    }

    @Test func hugeNumbersAndOddValues() {
        #expect(
            codes(Array(#"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": "a:b:c", "Sid": 99999999999999999999999}]}"#.utf8)) == [
                .syntax
            ])
        #expect(
            !codes(Array(statementPolicy(#""Effect": "Allow", "Action": "a:b:c", "Condition": {"NumberLessThan": {"g:ResourceTag/n": 1e308}}"#).utf8))
                .contains(.syntax))
    }

    @Test func pathologicalWildcardsStayLinear() {
        // A pattern that makes naive backtracking exponential; the matcher is linear per star.
        let pattern = Wildcard(String(repeating: "*a", count: 30) + "b")
        let subject = String(repeating: "a", count: 5_000)
        #expect(!pattern.matches(subject))
    }
}
