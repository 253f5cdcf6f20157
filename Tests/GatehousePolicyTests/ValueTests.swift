import Testing

@testable import GatehousePolicy

@Suite struct ValueTests {
    @Test func wildcardShapes() {
        #expect(Wildcard("*").matches(""))
        #expect(Wildcard("abc").matches("abc") && !Wildcard("abc").matches("abcd"))
        #expect(Wildcard("ab*").matches("ab") && Wildcard("ab*").matches("abzz") && !Wildcard("ab*").matches("a"))
        #expect(Wildcard("*yz").matches("xyz") && !Wildcard("*yz").matches("yzx"))
        #expect(Wildcard("a?c*").matches("abcdef") && !Wildcard("a?c*").matches("ac"))
        #expect(Wildcard("**").matches("anything"))
        #expect(Wildcard("").matches("") && !Wildcard("").matches("a"))
        #expect(Wildcard("Organizations:*", caseInsensitive: true).pattern == "organizations:*")
    }

    @Test func wildcardCoverage() {
        #expect(Wildcard("organizations:*").covers(Wildcard("organizations:accounts:update")))
        #expect(Wildcard("organizations:*").covers(Wildcard("organizations:accounts:*")))
        #expect(!Wildcard("organizations:accounts:*").covers(Wildcard("organizations:*")))
        #expect(Wildcard("a*").covers(Wildcard("a?c")))
        #expect(!Wildcard("a?c").covers(Wildcard("a*c")))
        #expect(Wildcard("a?c").covers(Wildcard("a?c")))
    }

    @Test func numbers() {
        #expect(NumberValue(text: "42") == .integer(42))
        #expect(NumberValue(text: "-2.5") == .decimal(-2.5))
        #expect(NumberValue(text: "1e3") == .integer(1000))
        for bad in ["", " 1", "0x10", "nan", "inf", "1,5", "--1"] { #expect(NumberValue(text: bad) == nil, "\(bad)") }
        #expect(NumberValue.integer(9_007_199_254_740_993) > .decimal(9_007_199_254_740_992))
        #expect(NumberValue.integer(3) < .decimal(3.5))
        #expect(NumberValue.decimal(-0.5) < .integer(0))
        #expect(NumberValue.integer(Int64.max) < .decimal(1e19))
    }

    @Test func timestamps() {
        #expect(Timestamp(text: "1970-01-01T00:00:00Z")?.secondsSinceEpoch == 0)
        #expect(Timestamp(text: "2026-01-01")?.secondsSinceEpoch == 1_767_225_600)
        #expect(Timestamp(text: "2026-01-01T08:00:00+08:00")?.secondsSinceEpoch == 1_767_225_600)
        #expect(Timestamp(text: "2026-01-01T00:00:00.25Z")?.secondsSinceEpoch == 1_767_225_600.25)
        #expect(Timestamp(text: "1767225600")?.secondsSinceEpoch == 1_767_225_600)
        #expect(Timestamp(text: "1900-03-01T00:00:00Z")?.secondsSinceEpoch == -2_203_891_200)
        for bad in [
            "2026-13-01", "2026-02-29", "2026-01-01T00:00", "2026-01-01T00:00:00", "2026-01-01Z", "2026-1-1", "yesterday",
            "2026-01-01T00:00:00+0800x",
        ] {
            #expect(Timestamp(text: bad) == nil, "\(bad)")
        }
    }

    @Test func addresses() throws {
        let v4 = try #require(CIDR("203.0.113.0/24"))
        #expect(v4.contains(try #require(IPAddress("203.0.113.255"))))
        #expect(!v4.contains(try #require(IPAddress("203.0.112.255"))))
        let v6 = try #require(CIDR("2001:db8::/32"))
        #expect(v6.contains(try #require(IPAddress("2001:0db8:ffff::1"))))
        #expect(try #require(CIDR("::/0")).contains(try #require(IPAddress("::1"))))
        #expect(try #require(CIDR("::ffff:0:0/96")).contains(try #require(IPAddress("1.2.3.4"))))
        #expect(IPAddress("::1.2.3.4") != nil)
        #expect(IPAddress("1:2:3:4:5:6:7:8") != nil)
        for bad in ["1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-1", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "g::1", "", "01.2.3.4"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
        for bad in ["1.2.3.4/", "1.2.3.4/33", "1.2.3.4/-1", "::/129", "1.2.3.4/1/2", "1.2.3.4/ 8"] { #expect(CIDR(bad) == nil, "\(bad)") }
    }

    @Test func sourceLocatorFindsValuesAndKeys() {
        let text = """
            {"a": {"b~/c": [1, {"d": "x\\"y"}, "z"]},
             "e\\u00e9": true}
            """
        let locator = SourceLocator(bytes: Array(text.utf8))
        #expect(locator.position(of: JSONPath([.key("a"), .key("b~/c"), .index(2)])).map { [$0.line, $0.column] } == [1, 35])
        #expect(locator.position(of: JSONPath([.key("a"), .key("b~/c"), .index(1), .key("d")])).map { [$0.line, $0.column] } == [1, 26])
        #expect(locator.keyPosition(of: JSONPath([.key("eé")])).map { [$0.line, $0.column] } == [2, 2])
        #expect(locator.position(of: JSONPath([.key("missing")])) == nil)
        #expect(locator.position(of: JSONPath([.key("a"), .key("b~/c"), .index(9)])) == nil)
        #expect(JSONPath([.key("a/b"), .index(0)]).description == "/a~1b/0")
    }

    @Test func jsonRoundTrip() throws {
        let text = #"{"s":"a\"b\n\u0001é","i":-3,"r":2.5,"t":true,"n":null,"a":[],"o":{}}"#
        let value = try JSONLoader.parse(Array(text.utf8))
        #expect(try JSONLoader.parse(Array(JSONWriter.compact(value).utf8)) == value)
        #expect(try JSONLoader.parse(Array(JSONWriter.pretty(value).utf8)) == value)
    }

    @Test func coversSeesThatStarQuestionIsQuestionStar() {
        #expect(Wildcard("*?:*").covers(Wildcard("?*:?*:?*")))
        #expect(Wildcard("a*?b").covers(Wildcard("a?*b")))
        #expect(Wildcard("a?*b").covers(Wildcard("a*?*?b")))
        #expect(!Wildcard("a??*b").covers(Wildcard("a*?b")))
    }

    /// The recursive definition `Wildcard.covers` once had, as the spec of its table
    /// (over the canonical form of both patterns).
    static func coversRecursively(_ mine: [Unicode.Scalar], _ theirs: [Unicode.Scalar], _ i: Int = 0, _ j: Int = 0) -> Bool {
        if i == mine.count { return j == theirs.count }
        if mine[i] == "*" { return coversRecursively(mine, theirs, i + 1, j) || (j < theirs.count && coversRecursively(mine, theirs, i, j + 1)) }
        if j == theirs.count { return false }
        if mine[i] == "?" { return theirs[j] != "*" && coversRecursively(mine, theirs, i + 1, j + 1) }
        return theirs[j] == mine[i] && coversRecursively(mine, theirs, i + 1, j + 1)
    }

    @Test func coversAgreesWithItsRecursiveDefinition() {
        var random = SeededRandom(seed: 11)
        func pattern() -> String { String((0..<Int(random.next() % 7)).map { _ in Array("ab*?é")[Int(random.next() % 5)] }) }
        for _ in 0..<3_000 {
            let (a, b) = (pattern(), pattern())
            #expect(
                Wildcard(a).covers(Wildcard(b)) == Self.coversRecursively(Wildcard.canonical(a), Wildcard.canonical(b)), "\(a) covers \(b)")
        }
    }

    /// `covers` never claims a covering that is not one: over every string of up to six
    /// letters from {a, b}, whatever the narrow pattern matches, the wide one matches too.
    @Test func coversIsSound() {
        var strings = [""]
        for length in 1...6 { strings += (0..<(1 << length)).map { bits in String((0..<length).map { bits >> $0 & 1 == 0 ? "a" : "b" }) } }
        var random = SeededRandom(seed: 23)
        func pattern() -> String { String((0..<Int(random.next() % 6)).map { _ in Array("ab*?")[Int(random.next() % 4)] }) }
        var covered = 0
        for _ in 0..<2_000 {
            let (wide, narrow) = (Wildcard(pattern()), Wildcard(pattern()))
            guard wide.covers(narrow) else { continue }
            covered += 1
            for text in strings where narrow.matches(text) { #expect(wide.matches(text), "\(wide) covers \(narrow) but not \(text)") }
        }
        #expect(covered > 100)
    }

    /// The banded edit distance behind "did you mean" hints agrees with the plain one wherever
    /// the plain one is within the limit.
    @Test func bandedEditDistanceAgreesWithThePlainOne() {
        func plain(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
            var previous = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var current = [i] + Array(repeating: 0, count: b.count)
                for j in stride(from: 1, through: b.count, by: 1) {
                    current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                previous = current
            }
            return previous[b.count]
        }
        var random = SeededRandom(seed: 5)
        func word() -> [Unicode.Scalar] { (0..<Int(random.next() % 9)).map { _ in Array("abcé".unicodeScalars)[Int(random.next() % 4)] } }
        for _ in 0..<3_000 {
            let (a, b) = (word(), word())
            let limit = Int(random.next() % 5)
            let expected = plain(a, b)
            #expect(editDistance(a, b, atMost: limit) == (expected <= limit ? expected : nil), "\(a) \(b) limit \(limit)")
        }
    }

    /// Matching agrees with a naive recursive glob on every pair of small patterns and
    /// subjects. (A pattern whose first token was a literal followed later by a wildcard,
    /// such as `b?*` or `Mozilla/*Chrome*`, once matched a subject holding that literal
    /// anywhere, not only at its start.)
    @Test func matchingAgreesWithANaiveGlob() {
        func glob(_ pattern: Substring.UnicodeScalarView, _ text: Substring.UnicodeScalarView) -> Bool {
            guard let first = pattern.first else { return text.isEmpty }
            if first == "*" { return glob(pattern.dropFirst(), text) || (!text.isEmpty && glob(pattern, text.dropFirst())) }
            guard let head = text.first else { return false }
            return (first == "?" || first == head) && glob(pattern.dropFirst(), text.dropFirst())
        }
        var random = SeededRandom(seed: 41)
        func word(_ alphabet: String, _ maxLength: Int) -> String {
            String((0..<Int(random.next() % UInt64(maxLength + 1))).map { _ in Array(alphabet)[Int(random.next() % UInt64(alphabet.count))] })
        }
        for _ in 0..<20_000 {
            let pattern = word("ab*?é", 6)
            let text = word("abé", 7)
            #expect(
                Wildcard(pattern).matches(text) == glob(Substring(pattern).unicodeScalars, Substring(text).unicodeScalars), "\(pattern) on \(text)")
        }
        #expect(!Wildcard("b?*").matches("aba"))
        #expect(!Wildcard("Mozilla/*Chrome*").matches("evil Mozilla/5.0 Chrome"))
        #expect(!Wildcard("organizations::*:account:*").matches("x:organizations::1:account:o/a"))
    }
}
