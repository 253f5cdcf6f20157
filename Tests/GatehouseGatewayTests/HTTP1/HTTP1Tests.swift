import NIOCore
import Testing

@testable import GatehouseGateway

/// What the decoder makes of some bytes: heads, the body bytes joined, ends, or the failure.
private struct Reading: Equatable {
    var heads: [String] = []
    var bodies: [String] = []
    var ends = 0
    var failure: HTTP1.Failure?
}

private func read(
    _ text: String, kind: HTTP1.Kind = .request, noBody: Bool = false, maxHead: Int = 4096, byteByByte: Bool = false, closeAtEnd: Bool = false
) -> (Reading, [HTTP1.Head]) {
    var decoder = HTTP1.Decoder(kind: kind, maxHeadBytes: maxHead)
    decoder.noBody = noBody
    var reading = Reading()
    var heads: [HTTP1.Head] = []
    var body = ""
    let bytes = Array(text.utf8)
    let pieces = byteByByte ? bytes.map { [$0] } : [bytes]
    func drain() -> Bool {
        do {
            while let event = try decoder.next() {
                switch event {
                case .head(let head):
                    heads.append(head)
                    reading.heads.append(kind == .request ? "\(head.method) \(head.target)" : "\(head.status)")
                case .body(let part): body += String(buffer: part)
                case .end:
                    reading.bodies.append(body)
                    body = ""
                    reading.ends += 1
                }
            }
            return true
        } catch {
            reading.failure = error
            return false
        }
    }
    for piece in pieces {
        decoder.feed(ByteBuffer(bytes: piece))
        guard drain() else { return (reading, heads) }
    }
    if closeAtEnd && decoder.closed() {
        reading.bodies.append(body)
        reading.ends += 1
    }
    return (reading, heads)
}

@Suite struct HTTP1Tests {
    @Test func aRequestHeadIsReadWithItsFieldsAsReceived() throws {
        let (reading, heads) = read(
            "PATCH /v1/organizations/accounts/a?x=1 HTTP/1.1\r\nHost: gw\r\nX-Auth-Token:  secret \r\ncontent-LENGTH: 5\r\nX-Other:\r\n\r\nhello")
        #expect(reading == Reading(heads: ["PATCH /v1/organizations/accounts/a?x=1"], bodies: ["hello"], ends: 1))
        let head = try #require(heads.first)
        #expect(head.minorVersion == 1)
        #expect(head.first(.xAuthToken) == "secret")
        #expect(head.first(.host) == "gw")
        #expect(head.contentLength == 5)
        #expect(head.fields.map(\.known) == [.host, .xAuthToken, .contentLength, .other])
        #expect(head.value(head.fields[3]) == "")
        #expect(head.keepAlive)
    }

    @Test func keepAliveFollowsTheVersionAndConnectionHeader() throws {
        func keepAlive(_ version: String, _ connection: String?) -> Bool? {
            let text = "GET / HTTP/\(version)\r\nHost: x\r\n" + (connection.map { "Connection: \($0)\r\n" } ?? "") + "\r\n"
            return read(text).1.first?.keepAlive
        }
        #expect(keepAlive("1.1", nil) == true)
        #expect(keepAlive("1.1", "Close") == false)
        #expect(keepAlive("1.0", nil) == false)
        #expect(keepAlive("1.0", "keep-alive") == true)
        let head = try #require(
            read("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nX-End: 2\r\nTE: trailers\r\n\r\n").1.first)
        #expect(head.fields.map { head.isEndToEnd($0) } == [true, false, false, true, false])
        // Case folds only letters: `X^` is not the `x~` that Connection names (in an answer:
        // a request may not use such names at all).
        let punctuation = try #require(
            read("HTTP/1.1 200 OK\r\nConnection: X~\r\nX^: 1\r\nx~: 2\r\nContent-Length: 0\r\n\r\n", kind: .response).1.first)
        #expect(punctuation.fields.map { punctuation.isEndToEnd($0) } == [false, true, false, true])
        // List elements are trimmed and empty ones skipped, wherever the commas fall.
        let spaced = try #require(
            read("GET / HTTP/1.1\r\nHost: x\r\nConnection: ,\t x-a ,, CLOSE,x-b,\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n").1.first)
        #expect(!spaced.keepAlive)
        #expect(spaced.fields.map { spaced.isEndToEnd($0) } == [true, false, false, false, true])
    }

    @Test func knownFieldNamesAreRecognisedInAnyCase() {
        func classify(_ name: String) -> HTTP1.Known { Array(name.utf8).withUnsafeBytes { HTTP1.Known.classify($0) } }
        for (name, known) in HTTP1.Known.names {
            let text = String(decoding: name, as: UTF8.self)
            #expect(classify(text) == known)
            #expect(classify(text.uppercased()) == known)
            // As long as the name, but not it.
            #expect(classify(String(text.dropLast()) + "_") == .other)
        }
        #expect(classify("x") == .other)
        #expect(classify(String(repeating: "x-gatehouse-principal", count: 3)) == .other)
    }

    @Test func listValuesSplitIntoTrimmedElements() {
        func elements(_ value: String) -> [String] {
            var found: [String] = []
            Array(value.utf8).withUnsafeBytes { raw in
                HTTP1.Decoder.forEachElement(of: raw) { found.append(String(decoding: $0, as: UTF8.self)) }
            }
            return found
        }
        #expect(elements("") == [])
        #expect(elements(",") == [])
        #expect(elements(" \t ") == [])
        #expect(elements("a") == ["a"])
        #expect(elements(" a , ,b,\tc d ,") == ["a", "b", "c d"])
    }

    /// The word-at-a-time value check and the memchr line scans against the plain byte loops
    /// they replace, on random bytes drawn mostly from the boundaries (tab, CR, LF, 0x1F/0x20,
    /// 0x7E/0x7F/0x80), at every alignment.
    @Test func theHeadScansGiveTheByteLoopsAnswers() {
        let pool: [UInt8] = [0x00, 0x08, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x21, 0x41, 0x7E, 0x7F, 0x80, 0xA0, 0xFF]
        var generator = SystemRandomNumberGenerator()
        for round in 0..<20_000 {
            let count = Int.random(in: 0...40, using: &generator)
            // Mostly printable runs, so that whole clean words occur, with a boundary byte now and then.
            let bytes: [UInt8] = (0..<count).map { _ in
                Int.random(in: 0..<4, using: &generator) == 0
                    ? pool.randomElement(using: &generator)! : UInt8.random(in: 0x20...0x7E, using: &generator)
            }
            let start = count == 0 ? 0 : Int.random(in: 0...count, using: &generator)
            let end = Int.random(in: start...count, using: &generator)
            bytes.withUnsafeBytes { raw in
                let expected = raw[start..<end].allSatisfy(HTTP1.Decoder.isFieldValueByte)
                #expect(HTTP1.Decoder.allFieldValueBytes(raw, from: start, to: end) == expected, "round \(round): \(bytes[start..<end])")
                for byte: UInt8 in [0x0A, 0x0D] {
                    let expectedOffset = raw[start..<end].firstIndex(of: byte) ?? end
                    #expect(HTTP1.firstOffset(of: byte, in: raw, from: start, to: end) == expectedOffset, "round \(round)")
                }
            }
        }
    }

    @Test func bodiesReadTheSameWhateverTheReadsLookLike() {
        let chunked =
            "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=\"v\"\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
        let pipelined = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.0\r\n\r\n"
        for byteByByte in [false, true] {
            #expect(read(chunked, byteByByte: byteByByte).0 == Reading(heads: ["POST /a"], bodies: ["hello, world"], ends: 1))
            #expect(read(pipelined, byteByByte: byteByByte).0 == Reading(heads: ["GET /1", "POST /2", "GET /3"], bodies: ["", "abc", ""], ends: 3))
        }
    }

    @Test(
        "framing that could be read two ways, and broken syntax, are refused",
        arguments: [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n: 1\r\n\r\n",
            "GET / HTTP/1.1\nHost: x\n\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n\rX-A: 1\r\n\r\n",
            "GET /\r HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "GET /  HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /caf\u{e9} HTTP/1.1\r\nHost: x\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n",
            // Found by the differential fuzzer: llhttp reads no body after CONNECT, this reader read one.
            "CONNECT y=1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
            "CONNECT gw:443 HTTP/1.1\r\nHost: gw:443\r\n\r\n",
        ])
    func refused(_ text: String) {
        expectRefused(text)
    }

    /// Fed whole and byte by byte, the text is refused as malformed with no message complete
    /// (and, when given, after these heads were read).
    func expectRefused(_ text: String, headsRead: [String]? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        for byteByByte in [false, true] {
            let (reading, _) = read(text, byteByByte: byteByByte)
            guard case .malformed? = reading.failure else {
                Issue.record("not refused: \(text.debugDescription) \(reading)", sourceLocation: sourceLocation)
                return
            }
            #expect(reading.ends == 0, sourceLocation: sourceLocation)
            if let headsRead { #expect(reading.heads == headsRead, sourceLocation: sourceLocation) }
        }
    }

    @Test func aHeadOverTheLimitIsRefusedBeforeItEnds() {
        let long = "GET / HTTP/1.1\r\nHost: x\r\nX-Long: \(String(repeating: "a", count: 5000))"
        #expect(read(long, maxHead: 4096).0.failure == .headTooLarge(limit: 4096))
        #expect(read(long, maxHead: 4096, byteByByte: true).0.failure == .headTooLarge(limit: 4096))
        // Trailers count against the same limit.
        let trailers = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: \(String(repeating: "a", count: 5000))"
        #expect(read(trailers, maxHead: 4096).0.failure == .headTooLarge(limit: 4096))
    }

    @Test func answersAreFramedByStatusMethodLengthOrClose() throws {
        let (interim, heads) = read("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", kind: .response)
        #expect(interim == Reading(heads: ["200"], bodies: ["ok"], ends: 1))
        #expect(heads.first.map { String(buffer: $0.bytes.getSlice(at: $0.reasonStart, length: $0.reasonEnd - $0.reasonStart)!) } == "OK")
        #expect(read("HTTP/1.1 204 No Content\r\n\r\n", kind: .response).0 == Reading(heads: ["204"], bodies: [""], ends: 1))
        #expect(read("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", kind: .response, noBody: true).0.ends == 1)
        #expect(read("HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", kind: .response).0.bodies == ["ok"])
        // No length: the body runs until the connection closes.
        #expect(read("HTTP/1.0 200 OK\r\n\r\nuntil close", kind: .response).0.ends == 0)
        #expect(read("HTTP/1.0 200 OK\r\n\r\nuntil close", kind: .response, closeAtEnd: true).0.bodies == ["until close"])
        #expect(read("HTTP/1.1 101 Switching Protocols\r\n\r\n", kind: .response).0.failure != nil)
        #expect(read("HTTP/1.1 20 OK\r\n\r\n", kind: .response).0.failure != nil)
        #expect(read("\r\nHTTP/1.1 200 OK\r\n\r\n", kind: .response).0.failure != nil)
    }

    // MARK: fields the gateway reads (RFC 9110 §5.3, RFC 9112 §3.2)

    @Test(
        "a field the gateway reads as one value is refused when repeated, in any case",
        arguments: ["Host", "X-Auth-Token", "Authorization", "X-Sdk-Date", "X-Security-Token", "User-Agent", "X-Request-Id"])
    func aSingletonFieldTwiceIsRefused(_ name: String) {
        let first = name == "Host" ? "" : "Host: gw\r\n"
        for (one, two) in [(name, name), (name, name.uppercased()), (name.lowercased(), name)] {
            let (reading, _) = read("GET / HTTP/1.1\r\n\(first)\(one): a\r\nX-Other: 1\r\n\(two): b\r\n\r\n")
            #expect(reading.failure == .malformed("\(two) is repeated"), "\(one) then \(two)")
            #expect(reading.ends == 0)
        }
        // Once is fine.
        #expect(read("GET / HTTP/1.1\r\n\(first)\(name): a\r\n\r\n").0.failure == nil)
    }

    @Test func listFieldsAreReadAcrossAllTheirLinesInOrder() throws {
        let head = try #require(
            read(
                "GET / HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: 203.0.113.5\r\nX-Other: 1\r\nx-forwarded-for: 192.0.2.9, ,198.51.100.1\r\n"
                    + "X-Forwarded-Proto: https\r\nX-Forwarded-Proto: http\r\nExpect: foo\r\nExpect: 100-continue\r\n\r\n"
            ).1.first)
        #expect(head.elements(.xForwardedFor) == ["203.0.113.5", "192.0.2.9", "198.51.100.1"])
        #expect(head.elements(.xForwardedProto) == ["https", "http"])
        #expect(head.allFields(.xForwardedFor).map(head.value) == ["203.0.113.5", "192.0.2.9, ,198.51.100.1"])
        #expect(head.expectsContinue)
        #expect(head.elements(.xAuthToken) == nil)
        // Content-Length repeated with one value is one length; differing values are refused.
        #expect(read("POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok").0.bodies == ["ok"])
    }

    @Test func anHTTP11RequestNeedsOneValidHost() {
        for bad in [
            "", " ", "a b", "a/b", "a@b", "[::1", "[]", "[::g]", "host:80a", "host:80:81", ":80", "caf\u{e9}", "a:65536", "a:99999", "a:000080",
            // Two Host lines folded into one by a proxy (Envoy sends `host: gw,evil`), and the
            // other sub-delimiters and encodings no host name has.
            "gw,evil", "gw, evil", "a;b", "a=b", "a!b", "a*b", "a%41", "a~b",
        ] {
            let (reading, _) = read("GET / HTTP/1.1\r\nHost: \(bad)\r\n\r\n")
            #expect(reading.failure != nil, "Host: \(bad.debugDescription)")
        }
        #expect(read("GET / HTTP/1.1\r\nX-A: 1\r\n\r\n").0.failure == .malformed("an HTTP/1.1 request without Host"))
        for good in ["gw", "127.0.0.1:8080", "[::1]:80", "[2001:db8::1]", "example.com:", "a-b.c_d", "a:65535", "a:0"] {
            #expect(read("GET / HTTP/1.1\r\nHost: \(good)\r\n\r\n").0.failure == nil, "Host: \(good)")
        }
        // HTTP/1.0 may leave it out (the gateway adds one upstream).
        #expect(read("GET / HTTP/1.0\r\n\r\n").0.ends == 1)
    }

    @Test func connectionCannotNameHostOrAFramingField() {
        for named in ["Host", "content-length", "Transfer-Encoding", "close, HOST"] {
            let request = read("POST / HTTP/1.1\r\nHost: gw\r\nConnection: \(named)\r\nContent-Length: 2\r\n\r\nok").0
            #expect(request.failure != nil, "\(named)")
            let answer = read("HTTP/1.1 200 OK\r\nConnection: \(named)\r\nContent-Length: 2\r\n\r\nok", kind: .response).0
            #expect(answer.failure != nil, "\(named)")
        }
        #expect(read("GET / HTTP/1.1\r\nHost: gw\r\nConnection: close, x-hop\r\n\r\n").0.failure == nil)
    }

    @Test func aRequestFieldNameWithAnUnderscoreIsRefused() {
        for name in ["X_Gatehouse_Principal", "Transfer_Encoding", "Content_Length", "X_Forwarded_For", "_", "x_"] {
            let (reading, _) = read("GET / HTTP/1.1\r\nHost: gw\r\n\(name): 1\r\n\r\n")
            #expect(reading.failure == .malformed("a header field name with an underscore (\(name))"))
        }
        // Nor any other character CGI would turn into _ (nginx's rule: letters, digits and -).
        for name in ["X.Gatehouse.Principal", "Content~Length", "X!Forwarded!For", "x'y", "X^A", "A|B", "a+b", "a#b"] {
            let (reading, _) = read("GET / HTTP/1.1\r\nHost: gw\r\n\(name): 1\r\n\r\n")
            #expect(reading.failure == .malformed("a header field name with a character other than letters, digits and - (\(name))"))
        }
        // The account service's answers are its own business.
        #expect(read("HTTP/1.1 200 OK\r\nX_Server: 1\r\nContent-Length: 0\r\n\r\n", kind: .response).0.ends == 1)
    }

    @Test(
        "a trailer section follows the head's field rules",
        arguments: ["X:\r", "X: a\rb", "X: \u{0}", "X: \u{7F}", "no colon", " folded: 1", "X : 1", "X: 1\r\n\r", "X_Y: 1", "X.Y: 1", "X~Y: 1"])
    func aBrokenTrailerIsRefused(_ trailer: String) {
        // The sample: after the bad trailer line, a second request that must not be swallowed.
        let text =
            "GET /1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\(trailer)\r\nGET /2 HTTP/1.1\r\nHost: gw\r\n\r\n"
        expectRefused(text, headsRead: ["GET /1"])
    }

    @Test func wellFormedTrailersAreReadAndTheNextRequestFollows() {
        let text =
            "POST /1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-A: 1\r\nX-B:\t\r\n\r\nGET /2 HTTP/1.1\r\nHost: gw\r\n\r\n"
        for byteByByte in [false, true] {
            #expect(read(text, byteByByte: byteByByte).0 == Reading(heads: ["POST /1", "GET /2"], bodies: ["ok", ""], ends: 2))
        }
    }
}
