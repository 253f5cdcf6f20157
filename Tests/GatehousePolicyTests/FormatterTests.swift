import Foundation
import Testing

@testable import GatehousePolicy

@Suite struct FormatterTests {
    func format(_ text: String) throws -> String {
        try PolicyFormatter.format(bytes: Array(text.utf8), file: "p.json")
    }

    @Test func canonicalLayout() throws {
        let ugly = #"""
            {"Statement": [{"Condition": {"StringEquals": {"g:SourceIp": "x", "G:ResourceTag/env": "dev"}, "Bool": {"g:MFAPresent": true}},
              "Resource": "*", "Action": "organizations:accounts:update", "Effect": "Allow", "Sid": "S"},
              {"NotAction": ["a:b:c"], "Effect": "Deny", "Condition": {"NumberLessThan": {"g:ResourceTag/n": 2.5}}}],
             "Version": "5.0"}
            """#
        let expected = """
            {
              "Version": "5.0",
              "Statement": [
                {
                  "Sid": "S",
                  "Effect": "Allow",
                  "Action": ["organizations:accounts:update"],
                  "Resource": ["*"],
                  "Condition": {
                    "Bool": {
                      "g:MFAPresent": [true]
                    },
                    "StringEquals": {
                      "G:ResourceTag/env": ["dev"],
                      "g:SourceIp": ["x"]
                    }
                  }
                },
                {
                  "Effect": "Deny",
                  "NotAction": ["a:b:c"],
                  "Condition": {
                    "NumberLessThan": {
                      "g:ResourceTag/n": [2.5]
                    }
                  }
                }
              ]
            }

            """
        #expect(try format(ugly) == expected)
        #expect(try format(expected) == expected)
    }

    @Test func longListsGoOneValuePerLine() throws {
        let actions = (0..<6).map { #""organizations:accounts:action\#($0)""# }.joined(separator: ", ")
        let formatted = try format(#"{"Version": "5.0", "Statement": [{"Effect": "Deny", "Action": [\#(actions)]}]}"#)
        #expect(formatted.contains("\"Action\": [\n        \"organizations:accounts:action0\",\n"))
        #expect(formatted.split(separator: "\n").allSatisfy { $0.count <= PolicyFormatter.width })
    }

    @Test func invalidDocumentsAreRefused() {
        #expect(throws: PolicyLoadError.self) { try format(#"{"Version": "5.0", "Statement": [{"Effect": "Maybe", "Action": "a:b:c"}]}"#) }
    }

    @Test func examplePoliciesAreFormattedAndFormattingIsIdempotent() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("policies").path
        let files = try PolicyFiles.expand([directory])
        #expect(files.count >= 4)
        for file in files {
            let bytes = try PolicyFiles.read(file, maxBytes: 1 << 20)
            let once = try PolicyFormatter.format(bytes: bytes, file: file)
            #expect(Array(once.utf8) == bytes, "\(file) is not in canonical form")
            #expect(try PolicyFormatter.format(bytes: Array(once.utf8), file: file) == once)
        }
    }

    @Test("formatting keeps every value: the same decisions before and after", arguments: [UInt64](1...10))
    func formattingPreservesMeaning(seed: UInt64) throws {
        var generator = Generator(random: SeededRandom(seed: seed &* 31))
        for _ in 0..<20 {
            let statements = (0..<(1 + Int(generator.random.next() % 4))).map { _ in generator.statement() }
            let text = #"{"Version": "5.0", "Statement": [\#(statements.joined(separator: ", "))]}"#
            let formatted = try format(text)
            #expect(try format(formatted) == formatted, "seed \(seed)")
            let before = CompiledPolicySet([try PolicyParser.parse(bytes: Array(text.utf8), name: "p", file: "p")])
            let after = CompiledPolicySet([try PolicyParser.parse(bytes: Array(formatted.utf8), name: "p", file: "p")])
            for _ in 0..<10 {
                let request = generator.request()
                #expect(before.evaluate(request) == after.evaluate(request), "seed \(seed)")
            }
        }
    }
}
