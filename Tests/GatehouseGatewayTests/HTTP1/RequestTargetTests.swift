import Foundation
import Testing

@testable import GatehouseGateway

@Suite struct RequestTargetTests {
    @Test func plainTargetsKeepTheirRawFormAndDecodeOnce() throws {
        let target = try RequestTarget.parse("/v1/organizations/accounts/a%2Db?limit=2&marker=x%2Fy").get()
        #expect(target.rawPath == "/v1/organizations/accounts/a%2Db")
        #expect(target.rawQuery == "limit=2&marker=x%2Fy")
        #expect(target.segments == ["v1", "organizations", "accounts", "a-b"])
        #expect(try RequestTarget.parse("/").get().segments == [])
        #expect(try RequestTarget.parse("/v1/organizations/organizations:accounts/x/tags").get().segments[2] == "organizations:accounts")
        #expect(try RequestTarget.parse("/v1/caf%C3%A9").get().segments == ["v1", "café"])
        // The first ? ends the path; the query is kept whole, even when empty.
        let asked = try RequestTarget.parse("/v1/a?b?c").get()
        #expect(asked.rawPath == "/v1/a" && asked.rawQuery == "b?c" && asked.segments == ["v1", "a"])
        #expect(try RequestTarget.parse("/v1?").get().rawQuery == "")
        #expect(try RequestTarget.parse("/?x").get().segments == [])
    }

    @Test(
        "ambiguous targets are refused, never normalised",
        arguments: [
            ("v1/accounts", RequestTarget.Rejection.notAbsolute),
            ("/v1/accounts/a#frag", .fragment),
            ("/v1//accounts", .emptySegment),
            ("/v1/accounts/", .emptySegment),
            ("/v1/./accounts", .dotSegment),
            ("/v1/accounts/../admin", .dotSegment),
            ("/v1/accounts/%2e%2e/admin", .dotSegment),
            ("/v1/accounts/.%2E/admin", .dotSegment),
            ("/v1/accounts/a%2Fb", .encodedSeparator),
            ("/v1/accounts/a%2fb", .encodedSeparator),
            ("/v1/accounts/a%5Cb", .encodedSeparator),
            ("/v1/accounts/a\\b", .backslash),
            ("/v1/accounts/a%252Fb", .doubleEncoding),
            ("/v1/accounts/a%2", .badEscape),
            ("/v1/accounts/a%zz", .badEscape),
            ("/v1/accounts/a%FF", .badEscape),
            ("/v1/accounts/a%00", .controlCharacter),
            ("/v1/accounts/a\u{01}", .controlCharacter),
        ])
    func refused(_ target: String, _ reason: RequestTarget.Rejection) {
        #expect(RequestTarget.parse(target) == .failure(reason))
    }

    @Test func overlongTargetsAreRefused() {
        #expect(RequestTarget.parse("/" + String(repeating: "a", count: RequestTarget.maxLength)) == .failure(.tooLong))
    }

    @Test func routeMatchingSeesOnlyCheckedPaths() throws {
        let catalog = try RouteCatalog.load(sampleCatalog)
        #expect(catalog.match(method: "PATCH", path: "/v1/organizations/accounts/a%2Db")?.parameters == ["account_id": "a-b"])
        // An encoded slash could otherwise turn one parameter into two segments upstream.
        #expect(catalog.match(method: "PATCH", path: "/v1/organizations/accounts/a%2Fb") == nil)
        #expect(catalog.match(method: "PATCH", path: "/v1/organizations/accounts/x/../a") == nil)
        #expect(catalog.match(method: "GET", path: "/v1/organizations/accounts?limit=5")?.route.action == "organizations:accounts:list")
    }

    /// Every value put into a URL the gateway builds: each UTF-8 byte but RFC 3986's
    /// unreserved characters as `%XX`, uppercase, held to the rule written out byte by byte.
    @Test func componentsArePercentEncodedByteByByte() {
        func rule(_ value: String) -> String {
            value.utf8.map { byte in
                let unreserved =
                    (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || "-._~".utf8.contains(byte)
                return unreserved ? String(UnicodeScalar(byte)) : String(format: "%%%02X", byte)
            }.joined()
        }
        let pool: [Character] = [
            "a", "Z", "0", "-", ".", "_", "~", "?", "#", "/", "%", " ", "+", "&", "=", "\0", "\r", "\n", "ü", "€", "😀", "\u{7F}",
        ]
        var generator = SystemRandomNumberGenerator()
        let values =
            ["a?b", "a%3Fb", "/../", "", "-._~"]
            + (0..<500).map { _ in String((0..<Int.random(in: 0...12, using: &generator)).map { _ in pool.randomElement(using: &generator)! }) }
        for value in values { #expect(RequestTarget.percentEncoded(value) == rule(value), "\(value.debugDescription)") }
    }
}
