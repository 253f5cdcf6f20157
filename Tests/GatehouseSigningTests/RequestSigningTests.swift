import Crypto
import Foundation
import Testing

@testable import GatehouseSigning

/// Known answers from the official signer: each `Authorization` below was computed by
/// `huaweicloudsdkcore` 3.1.219 (`Signer` and `DerivationAKSKSigner`, Python) for the same
/// request, access key and secret key. The end-to-end tests with the SDK itself come with
/// the gateway's AK/SK authentication.
@Suite struct RequestSigningTests {
    static let accessKey = "HPUAEXAMPLEAK0000001"
    static let secretKey = "ExampleSecretKey0000000000000000000000000"
    /// 2026-11-29T23:14:16Z, the requests' X-Sdk-Date.
    static let signedAt = Date(timeIntervalSince1970: 1_795_994_056)

    struct KnownAnswer {
        var request: RequestSigning.Request
        var authorization: String
    }

    static let answers: [KnownAnswer] = [
        KnownAnswer(
            request: .init(
                method: "PATCH", rawPath: "/v1/organizations/accounts/05261f923e80d3890f33c0056e9b3f80", rawQuery: nil,
                fields: [
                    ("Content-Type", "application/json"), ("X-Sdk-Date", "20261129T231416Z"), ("Host", "127.0.0.1:34413"),
                    ("User-Agent", "huaweicloud-usdk-python/3.0"), ("X-Security-Token", "tok123"),
                ],
                body: Array(#"{"description": "hello"}"#.utf8)),
            authorization:
                "SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK0000001, SignedHeaders=content-type;host;user-agent;x-sdk-date;x-security-token, Signature=646a27e696e7c86be081ccb4730ff128431183ff998a9c22f34e24c46536a515"
        ),
        // The SDK sends the query it signed: sorted by name, then value, and encoded.
        KnownAnswer(
            request: .init(
                method: "GET", rawPath: "/v1/organizations/accounts", rawQuery: "limit=2&marker=a%20b%2Fc~d&tag=a&tag=z",
                fields: [("X-Sdk-Date", "20261129T231416Z"), ("Host", "gw.example.com")], body: []),
            authorization:
                "SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK0000001, SignedHeaders=host;x-sdk-date, Signature=7e278fc0f291700a8afcde0696e19ff19578716917680abc520953e73142ab67"
        ),
        KnownAnswer(
            request: .init(
                method: "GET", rawPath: "/v1/organizations/accounts/%E2%82%AC x", rawQuery: nil,
                fields: [("X-Sdk-Date", "20261129T231416Z"), ("Host", "gw")], body: []),
            authorization:
                "SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK0000001, SignedHeaders=host;x-sdk-date, Signature=24d861561b40f5dddc0aefd8ff8875a2bf225812e1483e0a5ba3d47477791fd9"
        ),
        KnownAnswer(
            request: .init(
                method: "PATCH", rawPath: "/v1/organizations/accounts/x", rawQuery: nil,
                fields: [("Content-Type", "application/json"), ("X-Sdk-Date", "20261129T231416Z"), ("Host", "gw")], body: Array(#"{"a":1}"#.utf8)),
            authorization:
                "V11-HMAC-SHA256 Credential=HPUAEXAMPLEAK0000001/20261129/cn-north-4/organizations, SignedHeaders=content-type;host;x-sdk-date, Signature=3a4d76306a524a19249a05d6a4f84020f7814646b24d3d67789e7b7337388168"
        ),
    ]

    static func verify(
        _ request: RequestSigning.Request, _ header: String, secretKey: String = secretKey, now: Date = signedAt
    ) -> RequestSigning
        .Rejection?
    {
        switch RequestSigning.Authorization.parse(header) {
        case .failure(let rejection): return rejection
        case .success(let authorization): return RequestSigning.verify(request, authorization: authorization, secretKey: secretKey, now: now)
        }
    }

    @Test func theOfficialSignersAnswersVerify() {
        for answer in Self.answers {
            #expect(Self.verify(answer.request, answer.authorization) == nil, "\(answer.authorization)")
        }
    }

    @Test func signingAgainGivesTheOfficialSignature() throws {
        for answer in Self.answers {
            let authorization = try RequestSigning.Authorization.parse(answer.authorization).get()
            let signature = try RequestSigning.signature(
                of: answer.request, signedHeaders: authorization.signedHeaders, date: "20261129T231416Z", algorithm: authorization.algorithm,
                accessKey: authorization.accessKey, scope: authorization.scope, secretKey: Self.secretKey
            ).get()
            #expect(signature == authorization.signature)
        }
    }

    /// Every change an attacker could make after signing is a mismatch or its own refusal.
    @Test func anyChangeAfterSigningIsRefused() {
        let base = Self.answers[0]
        func changed(_ change: (inout RequestSigning.Request) -> Void) -> RequestSigning.Rejection? {
            var request = base.request
            change(&request)
            return Self.verify(request, base.authorization)
        }
        #expect(changed { $0.body = Array(#"{"description": "hellO"}"#.utf8) } == .signatureMismatch)
        #expect(changed { $0.method = "PUT" } == .signatureMismatch)
        #expect(changed { $0.rawPath += "0" } == .signatureMismatch)
        #expect(changed { $0.rawQuery = "limit=1" } == .signatureMismatch)
        #expect(changed { $0.fields[4].value = "other-token" } == .signatureMismatch)
        #expect(changed { $0.fields[2].value = "evil.example.com" } == .signatureMismatch)
        // A signed header given twice, or dropped.
        #expect(changed { $0.fields.append(("content-type", "text/plain")) } == .signedFieldNotOnce("content-type"))
        #expect(changed { $0.fields.remove(at: 3) } == .signedFieldNotOnce("user-agent"))
        // A body the signature does not cover.
        #expect(changed { $0.fields.append(("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD")) } == .payloadNotSigned)
        #expect(Self.verify(base.request, base.authorization, secretKey: "wrong") == .signatureMismatch)
        // Without a body too: a claimed hash that is not the empty body's is refused, the
        // empty body's own is not.
        let bodyless = Self.answers[1]
        var unsigned = bodyless.request
        unsigned.fields.append(("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD"))
        #expect(Self.verify(unsigned, bodyless.authorization) == .payloadNotSigned)
        var claimed = bodyless.request
        claimed.fields.append(("X-Sdk-Content-Sha256", String(decoding: RequestSigning.emptyBodyHash, as: UTF8.self)))
        #expect(Self.verify(claimed, bodyless.authorization) == nil)
    }

    @Test func theDateMustBeSignedAndWithinFifteenMinutes() {
        let base = Self.answers[0]
        #expect(Self.verify(base.request, base.authorization, now: Self.signedAt.addingTimeInterval(15 * 60)) == nil)
        #expect(Self.verify(base.request, base.authorization, now: Self.signedAt.addingTimeInterval(15 * 60 + 1)) == .dateOutOfWindow)
        #expect(Self.verify(base.request, base.authorization, now: Self.signedAt.addingTimeInterval(-15 * 60 - 1)) == .dateOutOfWindow)
        var badDate = base.request
        badDate.fields[1].value = "2026-11-29T23:14:16Z"
        #expect(Self.verify(badDate, base.authorization) == .badDate("2026-11-29T23:14:16Z"))
        #expect(RequestSigning.parseDate("20260230T000000Z") == nil)
        #expect(RequestSigning.formatDate(Self.signedAt) == "20261129T231416Z")
    }

    /// The calendar arithmetic that replaced Foundation's calendar, against Foundation's
    /// formatter, a day at a time across leap years and the turn of centuries.
    @Test func datesReadAndWriteAsFoundationDoes() throws {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        var date = try #require(formatter.date(from: "18991225T235959Z"))
        while date < formatter.date(from: "21010110T000000Z")! {
            let text = formatter.string(from: date)
            #expect(RequestSigning.formatDate(date) == text)
            #expect(RequestSigning.parseDate(text) == date, "\(text)")
            date = date.addingTimeInterval(86_400 * 3 + 3_599)
        }
        for bad in [
            "20240230T000000Z", "21000229T000000Z", "20231301T000000Z", "20230100T000000Z", "20230101T240000Z", "2023010AT000000Z",
            "2023/101T000000Z", "20230101T00:000Z", "-0230101T000000Z",
        ] {
            #expect(RequestSigning.parseDate(bad) == nil, "\(bad)")
        }
        #expect(RequestSigning.parseDate("20000229T120000Z") != nil)
    }

    /// Header values and Authorization parts are trimmed as Python's `str.strip()` trims.
    @Test func trimmingIsPythons() {
        #expect(RequestSigning.trimmed(" \t a b \r\n") == "a b")
        #expect(RequestSigning.trimmed("\u{00A0}x\u{2003}") == "x")
        #expect(RequestSigning.trimmed("   ") == "")
        #expect(RequestSigning.trimmed("é") == "é")
    }

    @Test func hostDateAndSecurityTokenMustBeSigned() {
        let base = Self.answers[0]
        let withoutToken = base.authorization.replacingOccurrences(of: ";x-security-token", with: "")
        #expect(Self.verify(base.request, withoutToken) == .unsignedField("x-security-token"))
        let withoutHost = base.authorization.replacingOccurrences(of: "host;", with: "")
        #expect(Self.verify(base.request, withoutHost) == .unsignedField("host"))
        let withoutDate = base.authorization.replacingOccurrences(of: "x-sdk-date;", with: "")
        #expect(Self.verify(base.request, withoutDate) == .unsignedField("x-sdk-date"))
    }

    /// The memory of the last Authorization reads every value exactly as a full parse does.
    @Test func rememberedAuthorizationsReadAsParsed() {
        var memory = RequestSigning.AuthorizationMemory()
        let prefix = "SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK0000001, SignedHeaders=host;x-sdk-date, Signature="
        let values = [
            prefix + String(repeating: "a", count: 64), prefix + String(repeating: "b", count: 64),
            prefix + String(repeating: "B", count: 64), prefix + String(repeating: "c", count: 63),
            prefix.replacingOccurrences(of: "host;", with: "") + String(repeating: "d", count: 64),
            "V11-HMAC-SHA256 Credential=A/20261129/r/s, SignedHeaders=host, Signature=" + String(repeating: "e", count: 64),
            prefix + String(repeating: "f", count: 64) + " ", prefix + String(repeating: "0", count: 64),
        ]
        for value in values + values.reversed() {
            #expect(memory.parse(value) == RequestSigning.Authorization.parse(value), "\(value)")
        }
    }

    @Test func malformedAuthorizationValuesAreRefused() {
        let signature = String(repeating: "a", count: 64)
        for (value, expected) in [
            ("SDK-HMAC-SHA1 Access=A, SignedHeaders=host, Signature=\(signature)", RequestSigning.Rejection.unknownAlgorithm("SDK-HMAC-SHA1")),
            ("Bearer gh_x", .unknownAlgorithm("Bearer")),
        ] {
            #expect(Self.verify(Self.answers[0].request, value) == expected, "\(value)")
        }
        for value in [
            "SDK-HMAC-SHA256", "SDK-HMAC-SHA256 Access=A, SignedHeaders=host",
            "SDK-HMAC-SHA256 Access=A, Access=B, SignedHeaders=host, Signature=\(signature)",
            "SDK-HMAC-SHA256 Access=A, SignedHeaders=Host, Signature=\(signature)",
            "SDK-HMAC-SHA256 Access=A, SignedHeaders=host;host, Signature=\(signature)",
            "SDK-HMAC-SHA256 Access=A, SignedHeaders=host, Signature=\(signature.uppercased())",
            "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=\(signature)",
            "SDK-HMAC-SHA256 Access=A, SignedHeaders=host, Signature=\(signature), Extra=1",
            "V11-HMAC-SHA256 Credential=A/2026/r/s, SignedHeaders=host, Signature=\(signature)",
        ] {
            guard case .failure(.malformedAuthorization) = RequestSigning.Authorization.parse(value) else {
                Issue.record("accepted \(value)")
                continue
            }
        }
    }

    /// `SigningKey`'s HMAC (RFC 2104 over OpenSSL's SHA-256) against swift-crypto's own
    /// `HMAC<SHA256>`, and `SHA256State`'s SHA-256 against swift-crypto's, for keys shorter, as long as
    /// and longer than the 64-byte block and messages across the block and padding
    /// boundaries; one key used from several threads at once gives the same answers.
    @Test func theDigestsAreSwiftCryptos() async {
        var generator = SystemRandomNumberGenerator()
        for keyLength in [0, 1, 32, 63, 64, 65, 100, 200] {
            let key = (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let signingKey = RequestSigning.SigningKey(secretKey: "", keyBytes: key)
            for messageLength in [0, 1, 55, 56, 63, 64, 65, 119, 120, 200, 1000] {
                let message = (0..<messageLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let expected = Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
                var code = [UInt8](repeating: 0, count: 32)
                let made = code.withUnsafeMutableBufferPointer { code in
                    message.withUnsafeBytes { signingKey.authenticationCode($0, into: code.baseAddress!) }
                }
                #expect(made && code == expected, "key \(keyLength) bytes, message \(messageLength) bytes")
                var digest = [UInt8](repeating: 0, count: 32)
                let hashed = digest.withUnsafeMutableBufferPointer { digest in
                    message.withUnsafeBytes { SHA256State.hash($0, into: digest.baseAddress!) }
                }
                #expect(hashed && digest == Array(SHA256.hash(data: message)), "message \(messageLength) bytes")
            }
        }
        let key = RequestSigning.SigningKey(secretKey: "shared")
        let message = Array("the same message".utf8)
        let expected = Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array("shared".utf8))))
        let answers = await withTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var last: [UInt8] = []
                    for _ in 0..<2_000 {
                        var code = [UInt8](repeating: 0, count: 32)
                        let made = code.withUnsafeMutableBufferPointer { code in
                            message.withUnsafeBytes { key.authenticationCode($0, into: code.baseAddress!) }
                        }
                        if !made || (!last.isEmpty && code != last) { return [] }
                        last = code
                    }
                    return last
                }
            }
            return await group.reduce(into: [[UInt8]]()) { $0.append($1) }
        }
        #expect(answers.count == 8 && answers.allSatisfy { $0 == expected })
    }

    /// A request handed over as the bytes of a received head, with the offsets of each name
    /// and value, verifies exactly as the same request given as strings.
    @Test func fieldsAsBytesAndSpansReadAsStrings() throws {
        let base = Self.answers[0]
        var head = Array("PATCH /v1/organizations/accounts/05261f923e80d3890f33c0056e9b3f80 HTTP/1.1\r\n".utf8)
        var spans: [RequestSigning.Request.FieldSpan] = []
        for (name, value) in base.request.fields {
            let nameStart = Int32(head.count)
            head += Array(name.utf8)
            let nameEnd = Int32(head.count)
            head += Array(": ".utf8)
            let valueStart = Int32(head.count)
            head += Array(value.utf8)
            spans.append(.init(nameStart: nameStart, nameEnd: nameEnd, valueStart: valueStart, valueEnd: Int32(head.count)))
            head += Array("  \r\n".utf8)
        }
        let request = RequestSigning.Request(
            method: "PATCH", target: "/v1/organizations/accounts/05261f923e80d3890f33c0056e9b3f80", fieldBytes: head, fieldSpans: spans,
            body: base.request.body)
        #expect(request.fields.map(\.name) == base.request.fields.map(\.name))
        #expect(request.fields.map(\.value) == base.request.fields.map(\.value))
        #expect(Self.verify(request, base.authorization) == nil)
        // A value with trailing white space inside its span is trimmed as the SDK trims.
        var padded = spans
        padded[2].valueEnd += 2
        let paddedRequest = RequestSigning.Request(
            method: "PATCH", target: "/v1/organizations/accounts/05261f923e80d3890f33c0056e9b3f80", fieldBytes: head, fieldSpans: padded,
            body: base.request.body)
        #expect(Self.verify(paddedRequest, base.authorization) == nil)
        let queried = RequestSigning.Request(method: "GET", target: "/a?b=1&a=2", fields: [], body: [])
        #expect(queried.rawPath == "/a" && queried.rawQuery == "b=1&a=2")

        // The gateway's case: a view over the same bytes, read in place, verifies alike, and
        // a change to what it shows is refused alike.
        let authorization = try RequestSigning.Authorization.parse(base.authorization).get()
        let key = RequestSigning.SigningKey(secretKey: Self.secretKey)
        func viewed(method: String = "PATCH", target: String, body: [UInt8] = base.request.body) -> RequestSigning.Rejection? {
            head.withUnsafeBytes { fieldBytes in
                spans.withUnsafeBufferPointer { spans in
                    Array(method.utf8).withUnsafeBytes { method in
                        Array(target.utf8).withUnsafeBytes { target in
                            body.withUnsafeBytes { body in
                                RequestSigning.Request.View.with(
                                    method: method, target: target, fieldBytes: fieldBytes, fieldSpans: spans, body: body
                                ) {
                                    #expect(RequestSigning.Request(copying: $0).fields.map(\.value) == base.request.fields.map(\.value))
                                    return RequestSigning.verify($0, authorization: authorization, key: key, now: Self.signedAt)
                                }
                            }
                        }
                    }
                }
            }
        }
        let path = "/v1/organizations/accounts/05261f923e80d3890f33c0056e9b3f80"
        #expect(viewed(target: path) == nil)
        #expect(viewed(method: "PUT", target: path) == .signatureMismatch)
        #expect(viewed(target: path + "?a=1") == .signatureMismatch)
        #expect(viewed(target: path, body: Array(#"{"description": "hellO"}"#.utf8)) == .signatureMismatch)
        // The second answer signed a query: its view splits the target at the first `?`.
        let second = Self.answers[1]
        let target = second.request.rawPath + "?" + second.request.rawQuery!
        let copied = RequestSigning.Request(method: "GET", target: target, fields: second.request.fields, body: [])
        #expect(Self.verify(copied, second.authorization) == nil)
        copied.withView { view in
            #expect(String(decoding: view.path, as: UTF8.self) == second.request.rawPath)
            #expect(view.query.map { String(decoding: $0, as: UTF8.self) } == second.request.rawQuery)
        }
    }

    /// The canonical URI's byte test and its copy of a plain leading run read every path as
    /// the plain definition does: decode `%XX`, keep unreserved bytes and `/`, encode the
    /// rest, end in `/`. Random paths from an alphabet heavy in escapes and edges.
    @Test func canonicalURIsReadAsTheDefinition() {
        for byte in UInt8.min...UInt8.max {
            #expect(RequestSigning.isPlainPathByte(byte) == (RequestSigning.isUnreserved(byte) || byte == UInt8(ascii: "/")), "\(byte)")
        }
        func reference(_ path: [UInt8]) -> [UInt8] {
            var out: [UInt8] = []
            for byte in path.withUnsafeBufferPointer({ RequestSigning.percentDecoded($0) }) {
                if RequestSigning.isUnreserved(byte) || byte == UInt8(ascii: "/") {
                    out.append(byte)
                } else {
                    out += Array(String(format: "%%%02X", byte).utf8)
                }
            }
            if out.last != UInt8(ascii: "/") { out.append(UInt8(ascii: "/")) }
            return out
        }
        let alphabet = Array("/%aZ09-._~ +?#".utf8) + [0x00, 0x7F, 0x80, 0xC3, 0xA9, 0xFF] + Array("%2F%41%e9%zz%4".utf8)
        var generator = SystemRandomNumberGenerator()
        for round in 0..<20_000 {
            let path = (0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            let written = path.withUnsafeBytes { path in
                ByteWriter.with(capacity: 3 * path.count + 1) { out -> [UInt8] in
                    _ = RequestSigning.appendCanonicalURI(path, to: &out)
                    return out.withBytes { Array($0) }
                }
            }
            #expect(written == reference(path), "round \(round): \(path)")
        }
    }

    /// The remembered `Authorization`'s signature is checked and decoded in one pass, and
    /// reads as the digit-by-digit check and decoding would.
    @Test func signaturesDecodeAsCheckedDigitByDigit() {
        let digits = Array("0123456789abcdefABCDEFgz/:`@ ".utf8) + [0x00, 0xFF]
        var generator = SystemRandomNumberGenerator()
        for round in 0..<20_000 {
            // Mostly valid, so the decoding itself is compared too.
            let pool = round % 2 == 0 ? Array(digits[0..<16]) : digits
            var hex = (0..<64).map { _ in pool.randomElement(using: &generator)! }
            if round % 4 == 1 { hex[Int.random(in: 0..<64, using: &generator)] = digits.randomElement(using: &generator)! }
            let expected =
                hex.allSatisfy(RequestSigning.AuthorizationMemory.isLowerHex)
                ? hex.withUnsafeBytes { RequestSigning.Authorization.decodedSignature($0) } : nil
            #expect(hex.withUnsafeBytes { RequestSigning.Authorization.decodedSignature(checking: $0) } == expected, "\(hex)")
        }
    }

    /// The canonical request is written into memory sized beforehand for its longest form:
    /// values and paths that grow the most once encoded or decoded fit, and read as the
    /// string-based reading would.
    @Test func theLongestCanonicalFormsFit() throws {
        // Invalid UTF-8 between non-ASCII ends: each byte becomes U+FFFD (three bytes).
        let value = [0xC2, 0xA0] + [UInt8](repeating: 0xFF, count: 300) + [0xC2, 0xA0]
        let name = Array("x-odd".utf8)
        let request = RequestSigning.Request(
            method: "GET",
            target: "/" + String(repeating: "%20", count: 100) + String(repeating: " ", count: 100) + "?" + String(repeating: "a&", count: 100)
                + "b=%3D=",
            fieldBytes: name + value + Array("hostgw".utf8),
            fieldSpans: [
                .init(nameStart: 0, nameEnd: 5, valueStart: 5, valueEnd: Int32(5 + value.count)),
                .init(
                    nameStart: Int32(5 + value.count), nameEnd: Int32(9 + value.count), valueStart: Int32(9 + value.count),
                    valueEnd: Int32(11 + value.count)),
            ],
            body: [])
        let canonical = try RequestSigning.canonicalRequest(request, signedHeaders: ["host", "x-odd"]).get()
        let lines = canonical.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[1] == "/" + String(repeating: "%20", count: 200) + "/")
        #expect(lines[2] == String(repeating: "a=&", count: 100) + "b=%3D%3D")
        #expect(lines[4] == "x-odd:" + String(repeating: "\u{FFFD}", count: 300))
        // A path that decodes to bytes that are not UTF-8 is refused, not signed over.
        let unreadable = RequestSigning.Request(method: "GET", target: "/%FF", fields: [("Host", "gw")], body: [])
        #expect(RequestSigning.canonicalRequest(unreadable, signedHeaders: ["host"]) == .failure(.unreadablePath))
    }
}
