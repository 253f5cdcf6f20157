import Testing

@testable import GatehousePolicy

/// A seeded SplitMix64, so a failing case can be replayed from its seed.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random policy sets and requests over small alphabets, so that matches are frequent.
struct Generator {
    var random: SeededRandom

    static let actionPatterns = [
        "organizations:accounts:update", "organizations:accounts:get", "organizations:accounts:*", "organizations:*",
        "*", "ORGANIZATIONS:Accounts:Upd?te", "cts:*:*", "organizations:ous:list", "*:accounts:*", "organizations:?ccounts:get",
    ]
    static let actions = [
        "organizations:accounts:update", "organizations:accounts:get", "organizations:ous:list", "cts:tracker:list", "Organizations:Accounts:Update",
    ]
    static let resourcePatterns = [
        "*", "organizations::1:account:o-1/a-1", "organizations::1:account:*", "organizations::*:account:o-1/a-?", "organizations::1:ou:*",
        "organizations::*:*:*a-2?",
        // Policy variables: substituted per request, or matching nothing.
        "organizations::1:account:o-1/${g:UserName}", "organizations::*:account:o-1/${g:UserName, 'a-1'}?",
    ]
    static let resources = ["organizations::1:account:o-1/a-1", "organizations::1:account:o-1/a-22", "organizations::1:ou:o-1/ou-1", "*"]
    static let conditions = [
        #""StringEquals": {"g:ResourceTag/env": ["dev", "test"]}"#,
        #""StringNotEquals": {"g:ResourceTag/env": "prod"}"#,
        #""StringLike": {"g:ResourceTag/env": "d*"}"#,
        #""StringEqualsIgnoreCase": {"g:ResourceTag/env": "DEV"}"#,
        #""StringNotLikeIfExists": {"g:ResourceTag/env": "p?od"}"#,
        #""StringStartWith": {"g:PrincipalUrn": "iam::1:user:a"}"#,
        #""StringNotEndWith": {"g:ResourceTag/env": "od"}"#,
        #""ForAnyValue:StringEquals": {"g:TagKeys": ["env", "owner"]}"#,
        #""ForAllValues:StringEquals": {"g:TagKeys": ["env", "owner"]}"#,
        #""ForAnyValue:StringNotEquals": {"g:TagKeys": "env"}"#,
        #""ForAllValues:StringNotLike": {"g:TagKeys": "prot*"}"#,
        #""NumberLessThan": {"g:ResourceTag/size": 10}"#,
        #""NumberGreaterThanEqualsIfExists": {"g:ResourceTag/size": "10"}"#,
        #""NumberNotEquals": {"g:ResourceTag/size": [5, 7.5]}"#,
        #""Bool": {"g:MFAPresent": "true"}"#,
        #""BoolIfExists": {"g:MFAPresent": false}"#,
        #""IpAddress": {"g:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}"#,
        #""NotIpAddress": {"g:SourceIp": "10.0.0.0/8"}"#,
        #""Null": {"g:ResourceTag/env": "true"}"#,
        #""Null": {"g:TagKeys": false}"#,
        #""DateLessThan": {"g:CurrentTime": "2026-06-01T00:00:00Z"}"#,
        #""DateGreaterThanEqualsIfExists": {"g:CurrentTime": 1767225600}"#,
        #""DateGreaterThan": {"g:CurrentTime": ["2026-06-01T08:00:00+08:00", "2026-01-15"]}"#,
        #""IpAddress": {"g:SourceIp": ["10.1.2.3", "2001:db8::5/128", "::ffff:192.168.0.0/120"]}"#,
        #""StringEquals": {"g:PrincipalTag/team": "core"}"#,
        #""StringNotEqualsIfExists": {"g:PrincipalTag/Team": ["ops", "core"]}"#,
        // Policy variables in string values: substituted, defaulted, or missing.
        #""StringEquals": {"g:ResourceTag/env": "${g:UserName}"}"#,
        #""StringNotEqualsIgnoreCase": {"g:ResourceTag/env": ["${g:UserName}", "prod"]}"#,
        #""StringLike": {"g:ResourceTag/env": "${g:UserName, 'd'}*"}"#,
        #""StringNotLike": {"g:PrincipalUrn": "iam::1:user:${g:UserName}${*}"}"#,
        #""StringStartWith": {"g:ResourceTag/env": "${G:USERNAME, 'de'}"}"#,
    ]
    static let contextChoices: [(String, [[ContextValue]?])] = [
        ("g:ResourceTag/env", [nil, [.string("dev")], [.string("prod")], [.string("DEV")], [.string("dev"), .string("prod")], []]),
        ("g:ResourceTag/size", [nil, [.number(.integer(5))], [.number(.decimal(7.5))], [.number(.integer(15))], [.string("x")], [.string("10")]]),
        ("g:MFAPresent", [nil, [.bool(true)], [.bool(false)], [.string("maybe")]]),
        (
            "g:SourceIp",
            [nil, [.string("10.1.2.3")], [.string("192.168.0.1")], [.string("2001:db8::5")], [.string("::ffff:10.9.9.9")], [.string("bad")]]
        ),
        ("g:TagKeys", [nil, [], [.string("env")], [.string("env"), .string("owner")], [.string("protected"), .string("env")]]),
        (
            "g:UserName",
            [nil, [.string("a-1")], [.string("a-2")], [.string("dev")], [.string("dev"), .string("a-1")], [.string("*")], [.string("DEV")]]
        ),
        (
            "g:CurrentTime",
            [
                nil, [.string("2026-01-15T00:00:00Z")], [.string("2026-07-01T00:00:00Z")], [.string("2026-06-01T00:00:00.500Z")],
                [.string("2026-05-31T23:00:00-01:00")], [.number(.integer(1_767_225_599))], [.string("soon")],
            ]
        ),
    ]

    mutating func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
    mutating func chance(_ percent: UInt64) -> Bool { random.next() % 100 < percent }

    mutating func statement(effect: String? = nil) -> String {
        var members: [String] = []
        if chance(60) { members.append(#""Sid": "S\#(random.next() % 1000)""#) }
        members.append(#""Effect": "\#(effect ?? (chance(35) ? "Deny" : "Allow"))""#)
        let actions = (0..<(1 + Int(random.next() % 2))).map { _ in JSONWriter.quoted(pick(Self.actionPatterns)) }
        members.append(#""\#(chance(15) ? "NotAction" : "Action")": [\#(actions.joined(separator: ", "))]"#)
        if chance(75) {
            let resources = (0..<(1 + Int(random.next() % 2))).map { _ in JSONWriter.quoted(pick(Self.resourcePatterns)) }
            members.append(#""\#(chance(15) ? "NotResource" : "Resource")": [\#(resources.joined(separator: ", "))]"#)
        }
        if chance(70) {
            // Distinct operators: JSON object keys must be unique.
            var chosen: [String: String] = [:]
            for _ in 0..<(1 + Int(random.next() % 2)) {
                let condition = pick(Self.conditions)
                let name = String(condition.split(separator: ":", maxSplits: 1)[0])
                if name.contains("ForA") {
                    chosen[String(condition.prefix { $0 != "{" })] = condition
                } else {
                    chosen[name] = condition
                }
            }
            members.append(#""Condition": {\#(chosen.values.sorted().joined(separator: ", "))}"#)
        }
        return "{" + members.joined(separator: ", ") + "}"
    }

    /// A statement without conditions, over the same patterns: the kind that shadows others.
    mutating func plainStatement() -> String {
        let actions = (0..<(1 + Int(random.next() % 2))).map { _ in JSONWriter.quoted(pick(Self.actionPatterns)) }
        let resources = (0..<(1 + Int(random.next() % 2))).map { _ in JSONWriter.quoted(pick(Self.resourcePatterns)) }
        let effect = chance(30) ? "Deny" : "Allow"
        return
            #"{"Effect": "\#(effect)", "Action": [\#(actions.joined(separator: ", "))], "\#(chance(10) ? "NotResource" : "Resource")": [\#(resources.joined(separator: ", "))]}"#
    }

    mutating func document(name: String, statements count: Int) throws -> PolicyDocument {
        let text = #"{"Version": "5.0", "Statement": ["# + (0..<count).map { _ in statement() }.joined(separator: ", ") + "]}"
        return try PolicyParser.parse(bytes: Array(text.utf8), name: name, file: name)
    }

    mutating func policySet() throws -> [PolicyDocument] {
        try (0..<(1 + Int(random.next() % 3))).map { try document(name: "p\($0)", statements: 1 + Int(random.next() % 4)) }
    }

    /// Spellings a key may also be given in (keys that differ only in case are readings of
    /// one key), and principal tags with such keys.
    static let otherSpellings = ["g:ResourceTag/env": "g:RESOURCETAG/Env", "g:ResourceTag/size": "g:resourcetag/SIZE", "g:SourceIp": "g:sourceip"]
    static let principalTags: [[String: String]] = [
        [:], ["team": "core"], ["team": "ops"], ["team": "core", "Team": "ops"], ["Team": "core", "TEAM": "core"],
        ["team": "core", "TEAM": "x", "Team": "ops"],
    ]

    /// The context of the last request as generated, every spelling apart, for the reference.
    var lastContext: [(key: String, values: [ContextValue])] = []

    mutating func request() -> AuthorizationRequest {
        var context: [String: [ContextValue]] = [:]
        for (key, choices) in Self.contextChoices {
            if let values = pick(choices) { context[key] = values }
            if let other = Self.otherSpellings[key], chance(20), let values = pick(choices) { context[other] = values }
        }
        lastContext = context.map { ($0.key, $0.value) }
        return AuthorizationRequest(
            principal: Principal(urn: pick(["iam::1:user:alice", "iam::1:user:bob"]), accountId: "1", tags: pick(Self.principalTags)),
            action: pick(Self.actions), resource: pick(Self.resources), context: context)
    }
}

@Suite struct PropertyTests {
    static let seeds: [UInt64] = Array(1...40)

    @Test("compiled evaluator agrees with the reference evaluator", arguments: seeds)
    func agreesWithReference(seed: UInt64) throws {
        var generator = Generator(random: SeededRandom(seed: seed))
        for _ in 0..<25 {
            let documents = try generator.policySet()
            let set = CompiledPolicySet(documents)
            for _ in 0..<12 {
                let request = generator.request()
                let expected = ReferenceEvaluator.evaluate(documents, request, context: generator.lastContext)
                let actual = set.evaluate(request)
                #expect(actual.reason == expected.reason, "seed \(seed): \(request.action) on \(request.resource)")
                // For an allow the compiled evaluator may list fewer deciding allows only
                // when a deny won; otherwise the lists must be identical.
                #expect(actual.statements == expected.statements, "seed \(seed)")
                #expect(set.explain(request).decision == actual, "seed \(seed)")
            }
        }
    }

    @Test("adding a Deny never turns a deny into an allow; adding an Allow never turns an allow into a deny", arguments: seeds)
    func monotonicity(seed: UInt64) throws {
        var generator = Generator(random: SeededRandom(seed: seed &* 7919))
        for _ in 0..<25 {
            let documents = try generator.policySet()
            let denyText = #"{"Version": "5.0", "Statement": [\#(generator.statement(effect: "Deny"))]}"#
            let allowText = #"{"Version": "5.0", "Statement": [\#(generator.statement(effect: "Allow"))]}"#
            let extraDeny = try PolicyParser.parse(bytes: Array(denyText.utf8), name: "extra-deny", file: "x")
            let extraAllow = try PolicyParser.parse(bytes: Array(allowText.utf8), name: "extra-allow", file: "x")
            let base = CompiledPolicySet(documents)
            let withDeny = CompiledPolicySet(documents + [extraDeny])
            let withAllow = CompiledPolicySet(documents + [extraAllow])
            for _ in 0..<12 {
                let request = generator.request()
                let before = base.evaluate(request)
                if !before.isAllowed { #expect(!withDeny.evaluate(request).isAllowed, "seed \(seed)") }
                if before.isAllowed { #expect(withAllow.evaluate(request).isAllowed, "seed \(seed)") }
                if before.reason == .explicitDeny { #expect(withAllow.evaluate(request).reason == .explicitDeny, "seed \(seed)") }
            }
        }
    }

    @Test("order of statements and policies never changes a decision", arguments: seeds)
    func orderIndependence(seed: UInt64) throws {
        var generator = Generator(random: SeededRandom(seed: seed &* 104_729))
        for _ in 0..<25 {
            let documents = try generator.policySet()
            var shuffled = documents.shuffled(using: &generator.random)
            for index in shuffled.indices { shuffled[index].statements.shuffle(using: &generator.random) }
            let original = CompiledPolicySet(documents)
            let reordered = CompiledPolicySet(shuffled)
            for _ in 0..<12 {
                let request = generator.request()
                let a = original.evaluate(request)
                let b = reordered.evaluate(request)
                #expect(a.reason == b.reason, "seed \(seed)")
                #expect(Set(a.statements) == Set(b.statements), "seed \(seed)")
            }
        }
    }

    @Test func generatedSetsReachEveryOutcome() throws {
        // Guards the generator: a property over sets that never allow would prove little.
        var generator = Generator(random: SeededRandom(seed: 99))
        var reasons = Set<DecisionReason>()
        var outcomes = Set<ConditionOutcome>()
        var spelledConditions = 0
        for _ in 0..<200 {
            let documents = try generator.policySet()
            let request = generator.request()
            reasons.insert(CompiledPolicySet(documents).evaluate(request).reason)
            for trace in CompiledPolicySet(documents).explain(request).statements {
                outcomes.formUnion(trace.conditions.map(\.outcome))
                spelledConditions += trace.conditions.filter { $0.spellings != nil }.count
            }
        }
        #expect(reasons == [.explicitAllow, .explicitDeny, .implicitDeny])
        #expect(outcomes == [.satisfied, .notSatisfied, .indeterminate])
        // Keys in several spellings are among the requests, and conditions read them.
        #expect(spelledConditions > 20)
    }
}
