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

    /// The recursive definition `Wildcard.covers` once had, as the spec of its table.
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
                Wildcard(a).covers(Wildcard(b)) == Self.coversRecursively(Array(a.unicodeScalars), Array(b.unicodeScalars)), "\(a) covers \(b)")
        }
    }
}
