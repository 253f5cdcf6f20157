import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A strict HTTP/1.1 reader (RFC 9112) for the proxied path, on the bytes as they arrive.
///
/// The gateway reads requests and the account service's answers with it, and writes what it
/// forwards as bytes (`ByteBuffer.writeHeader` and `writeField`, below). The proxy is bound
/// by its own CPU, and NIO's decoder and encoder, the `HTTPHeaders` copies between them and
/// their pipeline hops were a large share of each call (docs/PERFORMANCE.md). One reader for
/// both sides also means message framing is judged once, one way, with every ambiguity
/// refused rather than guessed at: a `Content-Length` beside a `Transfer-Encoding`, differing
/// lengths, any transfer coding but `chunked` alone, bare CR or LF, folded lines, control
/// bytes in a field or a trailer.
///
/// Requests are held to more than framing, because the gateway decides on what it reads
/// and the account service acts on what it is sent (RFC 9110 §5.3, RFC 9112 §3.2):
/// - a field the gateway reads that must occur once (`Known.isSingleton`: Host and the
///   credentials, `User-Agent`, `X-Request-Id`) is refused when repeated; list fields
///   (`X-Forwarded-For`, `X-Forwarded-Proto`, `Expect`, `Connection`) are read across all
///   their lines, in order (`Head.elements`);
/// - an HTTP/1.1 request needs exactly one valid, non-empty `Host`;
/// - `Connection` may not name `Host` or a framing field (either side), which would drop
///   them when the message is passed on;
/// - `CONNECT` is refused: the gateway is no forward proxy, and readers differ on whether a
///   body follows it;
/// - a request field name of anything but letters, digits and `-` is refused: servers that
///   fold `_` into `-` (CGI, WSGI and many frameworks, and CGI turns every other character
///   into `_` first) would read `X_Gatehouse_Principal` or `X.Gatehouse.Principal` as the
///   gateway's own header, or `Content_Length` as a second framing field.
enum HTTP1 {
    /// Why a message cannot be read. A request gets 400 (431 for a head over the limit), an
    /// answer from the account service 502.
    enum Failure: Error, Equatable, CustomStringConvertible {
        case headTooLarge(limit: Int)
        case malformed(String)

        var description: String {
            switch self {
            case .headTooLarge(let limit): "the message head is larger than \(limit) bytes"
            case .malformed(let why): why
            }
        }
    }

    /// The offset of the first `byte` in `raw[start..<end]`, or `end` when there is none.
    /// `memchr` (vectorised in libc): the head's line scans pass over every byte of a long
    /// field, such as an AK/SK `Authorization`.
    static func firstOffset(of byte: UInt8, in raw: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int {
        guard start < end, let base = raw.baseAddress, let found = memchr(base + start, Int32(byte), end - start) else { return end }
        return UnsafeRawPointer(found) - base
    }

    /// Field names the gateway acts on, recognised once while the head is read.
    enum Known: UInt8 {
        case other, host, contentLength, transferEncoding, connection, keepAlive, proxyConnection, te, trailer, upgrade
        case proxyAuthenticate, proxyAuthorization, expect, xAuthToken, authorization, userAgent, xForwardedFor, xForwardedProto
        case xRequestId, xGatehousePrincipal, xSdkDate, xSecurityToken, cookie, contentType, xSdkContentSha256, referer
        /// What a proxy in front says of the call it asks about (`DecisionRequest`).
        case xOriginalMethod, xOriginalURI, xOriginalBody, xEnvoyAuthPartialBody
        /// A browser's word on where a request comes from (Fetch Metadata), for console forms.
        case secFetchSite

        /// Headers that describe one connection, not the message (RFC 9110 §7.6.1): never forwarded.
        var isHopByHop: Bool {
            switch self {
            case .connection, .keepAlive, .proxyConnection, .te, .trailer, .transferEncoding, .upgrade, .proxyAuthenticate, .proxyAuthorization:
                true
            default: false
            }
        }

        /// Fields a request may carry once only: the gateway reads them as one value, and a
        /// second line would leave which one counts to each reader (RFC 9110 §5.3 allows
        /// repeating list fields only). `Content-Length` is checked on its own: repeated with
        /// the same value it is still one length.
        var isSingleton: Bool {
            switch self {
            case .host, .xAuthToken, .authorization, .xSdkDate, .xSecurityToken, .userAgent, .referer, .xRequestId: true
            default: false
            }
        }

        /// Whatever the gateway accepts, or could accept, as a caller's credential: never
        /// passed on to the account service, which trusts the gateway's word
        /// (`X-Gatehouse-Principal`) instead. (`Proxy-Authorization` is hop-by-hop anyway.)
        var isCredential: Bool {
            switch self {
            case .xAuthToken, .authorization, .xSecurityToken, .cookie: true
            default: false
            }
        }

        static let names: [(name: [UInt8], known: Known)] =
            ([
                ("host", .host), ("content-length", .contentLength), ("transfer-encoding", .transferEncoding), ("connection", .connection),
                ("keep-alive", .keepAlive), ("proxy-connection", .proxyConnection), ("te", .te), ("trailer", .trailer), ("upgrade", .upgrade),
                ("proxy-authenticate", .proxyAuthenticate), ("proxy-authorization", .proxyAuthorization), ("expect", .expect),
                ("x-auth-token", .xAuthToken), ("authorization", .authorization), ("user-agent", .userAgent),
                ("x-forwarded-for", .xForwardedFor), ("x-forwarded-proto", .xForwardedProto), ("x-request-id", .xRequestId),
                ("x-gatehouse-principal", .xGatehousePrincipal), ("x-sdk-date", .xSdkDate), ("x-security-token", .xSecurityToken),
                ("cookie", .cookie), ("content-type", .contentType), ("x-sdk-content-sha256", .xSdkContentSha256), ("referer", .referer),
                ("x-original-method", .xOriginalMethod), ("x-original-uri", .xOriginalURI), ("x-original-body", .xOriginalBody),
                ("x-envoy-auth-partial-body", .xEnvoyAuthPartialBody), ("sec-fetch-site", .secFetchSite),
            ] as [(String, Known)]).map { (Array($0.0.utf8), $0.1) }

        /// `names` by length: a field name is compared only with the known names as long.
        static let namesByLength: [[(name: [UInt8], known: Known)]] = {
            var table = Array(repeating: [(name: [UInt8], known: Known)](), count: (names.map(\.name.count).max() ?? 0) + 1)
            for entry in names { table[entry.name.count].append(entry) }
            return table
        }()

        /// Case-insensitive lookup of a (valid, token-character) field name.
        static func classify(_ name: UnsafeRawBufferPointer) -> Known {
            guard name.count < namesByLength.count else { return .other }
            for entry in namesByLength[name.count] where HTTP1.equalsIgnoringCase(name, entry.name) { return entry.known }
            return .other
        }
    }

    /// One header field: offsets of its name and (trimmed) value within `Head.bytes`.
    struct Field {
        var nameStart: Int32
        var nameEnd: Int32
        var valueStart: Int32
        var valueEnd: Int32
        var known: Known
    }

    /// A parsed request or status line and header section, kept as the bytes received plus
    /// offsets, so forwarding copies fields without building strings for them.
    ///
    /// A class, filled in only while the decoder parses it: a head is handed from decoder to
    /// handler to the steps of a call, and as a struct each hand-over retained and released
    /// its buffer, strings and lists one by one.
    final class Head {
        /// From the start line through the blank line that ends the head.
        let bytes: ByteBuffer
        var fields: [Field] = []
        var minorVersion = 1
        /// Requests: the method and the request target exactly as received.
        var method = ""
        var target = ""
        /// Answers: the status code and the reason phrase's offsets.
        var status = 0
        var reasonStart = 0
        var reasonEnd = 0
        var contentLength: Int?
        /// Whether the body is chunked (the decoder accepts no other transfer coding).
        var isChunked: Bool { hasTransferEncoding }
        /// The codings `Transfer-Encoding` lists, in order; only `chunked` alone is accepted.
        var transferCodings: [[UInt8]] = []
        var hasTransferEncoding = false
        var connectionClose = false
        var connectionKeepAlive = false
        /// Further field names the `Connection` header lists (lowercased): not forwarded either.
        var connectionNamed: [[UInt8]] = []
        var expectsContinue = false

        init(bytes: ByteBuffer) { self.bytes = bytes }

        /// Whether the sender lets the connection carry another message after this one.
        var keepAlive: Bool { minorVersion >= 1 ? !connectionClose : connectionKeepAlive && !connectionClose }

        func value(_ field: Field) -> String {
            bytes.getString(at: bytes.readerIndex + Int(field.valueStart), length: Int(field.valueEnd - field.valueStart)) ?? ""
        }

        /// The first field of that name's value. For the fields a request carries once
        /// (`Known.isSingleton`), the only one.
        func first(_ known: Known) -> String? { firstField(known).map(value) }

        /// The elements of a list field across all its lines, in order, trimmed, empty ones
        /// left out (RFC 9110 §5.3: `A: 1` then `A: 2` is `A: 1, 2`); nil when absent.
        func elements(_ known: Known) -> [String]? {
            var found: [String]?
            bytes.withUnsafeReadableBytes { raw in
                for field in fields where field.known == known {
                    if found == nil { found = [] }
                    let value = UnsafeRawBufferPointer(rebasing: raw[Int(field.valueStart)..<Int(field.valueEnd)])
                    Decoder.forEachElement(of: value) { found!.append(String(decoding: $0, as: UTF8.self)) }
                }
            }
            return found
        }

        /// All lines of a field, in order.
        func allFields(_ known: Known) -> [Field] { fields.filter { $0.known == known } }

        func firstField(_ known: Known) -> Field? {
            for field in fields where field.known == known { return field }
            return nil
        }

        func contains(_ known: Known) -> Bool { fields.contains { $0.known == known } }

        /// Whether the `Connection` header names this field (so it is hop-by-hop too).
        func isNamedByConnection(_ field: Field) -> Bool {
            guard !connectionNamed.isEmpty else { return false }
            return bytes.withUnsafeReadableBytes { raw in
                let name = UnsafeRawBufferPointer(rebasing: raw[Int(field.nameStart)..<Int(field.nameEnd)])
                return connectionNamed.contains { HTTP1.equalsIgnoringCase(name, $0) }
            }
        }

        /// Whether the field is forwarded as received: not hop-by-hop and not named by `Connection`.
        func isEndToEnd(_ field: Field) -> Bool { !field.known.isHopByHop && !isNamedByConnection(field) }
    }

    /// The value of a hexadecimal digit, any case.
    static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The byte with ASCII `A`-`Z` lowered, any other as it is.
    static func lowered(_ byte: UInt8) -> UInt8 { (0x41...0x5A).contains(byte) ? byte | 0x20 : byte }

    /// Whether `bytes` spell `lowercased` in any ASCII case (field names, tokens).
    static func equalsIgnoringCase(_ bytes: some Collection<UInt8>, _ lowercased: some Collection<UInt8>) -> Bool {
        bytes.count == lowercased.count && zip(bytes, lowercased).allSatisfy { lowered($0) == $1 }
    }

    enum Kind { case request, response }

    enum Event {
        case head(Head)
        /// Body bytes, without chunked framing.
        case body(ByteBuffer)
        case end
    }

    /// Reads messages one after another from a connection's bytes. `feed` what arrives, then
    /// call `next()` until it returns nil (more bytes needed). Bytes of a following message
    /// stay buffered until the caller asks for them, which is how pipelined requests wait.
    struct Decoder {
        let kind: Kind
        let maxHeadBytes: Int
        /// Answers only, set before each exchange: the request was HEAD, so no body follows.
        var noBody = false
        private var buffer: ByteBuffer?
        private var state = State.head(scanned: 0, lineStart: 0)

        private enum State {
            /// Looking for the blank line; `scanned` bytes are checked, the current line began at `lineStart`.
            case head(scanned: Int, lineStart: Int)
            case fixed(remaining: Int)
            case chunkSize
            case chunkData(remaining: Int)
            case chunkDataEnd
            case trailers(scanned: Int, lineStart: Int)
            /// Answers without length: everything until the connection closes.
            case untilClose
        }

        /// Chunk-size lines (with extensions) longer than this are refused.
        static let maxChunkLine = 4096
        /// More header fields than this are refused.
        static let maxFields = 512

        init(kind: Kind, maxHeadBytes: Int) {
            self.kind = kind
            self.maxHeadBytes = maxHeadBytes
        }

        /// Bytes received but not yet handed out.
        var bufferedBytes: Int { buffer?.readableBytes ?? 0 }

        /// Between messages with nothing of the next one received.
        var isIdle: Bool {
            if case .head(0, 0) = state { return bufferedBytes == 0 }
            return false
        }

        /// Reading an answer whose end is the connection closing.
        var endsAtClose: Bool {
            if case .untilClose = state { return true }
            return false
        }

        mutating func feed(_ bytes: ByteBuffer) {
            guard var buffer, buffer.readableBytes > 0 else {
                self.buffer = bytes
                return
            }
            self.buffer = nil
            buffer.discardReadBytes()
            buffer.writeImmutableBuffer(bytes)
            self.buffer = buffer
        }

        /// The connection closed: completes an answer that ends there (true), else the message
        /// in progress, if any, was cut short.
        mutating func closed() -> Bool {
            guard endsAtClose else { return false }
            state = .head(scanned: 0, lineStart: 0)
            return true
        }

        mutating func next() throws(Failure) -> Event? {
            if case .fixed(0) = state {
                state = .head(scanned: 0, lineStart: 0)
                return .end
            }
            guard var buffer, buffer.readableBytes > 0 else { return nil }
            self.buffer = nil
            defer { self.buffer = buffer }
            while true {
                switch state {
                case .head(let scanned, let lineStart):
                    guard let end = try scanHead(&buffer, scanned: scanned, lineStart: lineStart) else { return nil }
                    let head = try Self.parseHead(buffer.readSlice(length: end)!, kind: kind)
                    state = .head(scanned: 0, lineStart: 0)
                    // Interim answers (100 Continue and the like) are not the answer; 101 was never asked for.
                    if kind == .response && (100..<200).contains(head.status) {
                        guard head.status != 101 else { throw .malformed("an upgrade (101) nobody asked for") }
                        continue
                    }
                    state = try framing(of: head)
                    return .head(head)
                case .fixed(0):
                    state = .head(scanned: 0, lineStart: 0)
                    return .end
                case .fixed(let remaining):
                    guard buffer.readableBytes > 0 else { return nil }
                    let part = buffer.readSlice(length: min(remaining, buffer.readableBytes))!
                    state = .fixed(remaining: remaining - part.readableBytes)
                    return .body(part)
                case .chunkSize:
                    guard let size = try readChunkSize(&buffer) else { return nil }
                    state = size == 0 ? .trailers(scanned: 0, lineStart: 0) : .chunkData(remaining: size)
                case .chunkData(let remaining):
                    guard buffer.readableBytes > 0 else { return nil }
                    let part = buffer.readSlice(length: min(remaining, buffer.readableBytes))!
                    state = part.readableBytes == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - part.readableBytes)
                    return .body(part)
                case .chunkDataEnd:
                    guard buffer.readableBytes >= 2 else { return nil }
                    guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw .malformed("a chunk does not end with CRLF") }
                    state = .chunkSize
                case .trailers(let scanned, let lineStart):
                    // Trailer fields are checked like the head's, then dropped: the gateway forwards none.
                    guard let end = try scanLines(buffer, scanned: scanned, lineStart: lineStart, limit: maxHeadBytes) else {
                        let seen = buffer.readableBytes
                        state = .trailers(scanned: seen, lineStart: lastLineStart(buffer, from: lineStart, to: seen))
                        return nil
                    }
                    try buffer.withUnsafeReadableBytes { raw in Self.checkTrailers(UnsafeRawBufferPointer(rebasing: raw[..<end]), kind: kind) }
                        .get()
                    buffer.moveReaderIndex(forwardBy: end)
                    state = .head(scanned: 0, lineStart: 0)
                    return .end
                case .untilClose:
                    guard buffer.readableBytes > 0 else { return nil }
                    return .body(buffer.readSlice(length: buffer.readableBytes)!)
                }
            }
        }

        /// Finds the end of the head (the offset just past its blank line), nil while it has not
        /// all arrived. Leading blank lines before a request are skipped (RFC 9112 §2.2).
        private mutating func scanHead(_ buffer: inout ByteBuffer, scanned: Int, lineStart: Int) throws(Failure) -> Int? {
            if kind == .request && scanned == 0 {
                while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
                    buffer.moveReaderIndex(forwardBy: 2)
                }
            }
            if let end = try scanLines(buffer, scanned: scanned, lineStart: lineStart, limit: maxHeadBytes) {
                guard end == 2 else { return end }
                // A blank line where the start line belongs: skipped before a request (its CRLF
                // came in two reads), refused in an answer.
                guard kind == .request else { throw .malformed("an empty status line") }
                buffer.moveReaderIndex(forwardBy: 2)
                return try scanHead(&buffer, scanned: 0, lineStart: 0)
            }
            let seen = buffer.readableBytes
            state = .head(scanned: seen, lineStart: lastLineStart(buffer, from: lineStart, to: seen))
            return nil
        }

        /// Where the last complete line before `to` ended (the start of the line in progress).
        private func lastLineStart(_ buffer: ByteBuffer, from lineStart: Int, to end: Int) -> Int {
            buffer.withUnsafeReadableBytes { raw in
                var index = end
                while index > lineStart {
                    if raw[index - 1] == 0x0A { return index }
                    index -= 1
                }
                return lineStart
            }
        }

        /// Scans CRLF-ended lines from `scanned` for an empty one; returns the offset past it.
        /// A line feed without its carriage return is refused, as is going past `limit` bytes.
        private func scanLines(_ buffer: ByteBuffer, scanned: Int, lineStart: Int, limit: Int) throws(Failure) -> Int? {
            let result: Result<Int?, Failure> = buffer.withUnsafeReadableBytes { raw in
                var lineStart = lineStart
                var index = scanned
                let searched = min(raw.count, limit)
                while index < searched {
                    let lineFeed = HTTP1.firstOffset(of: 0x0A, in: raw, from: index, to: searched)
                    guard lineFeed < searched else { break }
                    guard lineFeed > 0, raw[lineFeed - 1] == 0x0D else { return .failure(.malformed("a line ends without CR")) }
                    if lineFeed - 1 == lineStart { return .success(lineFeed + 1) }
                    lineStart = lineFeed + 1
                    index = lineFeed + 1
                }
                return raw.count > limit ? .failure(.headTooLarge(limit: maxHeadBytes)) : .success(nil)
            }
            return try result.get()
        }

        /// How the body after this head is delimited (RFC 9112 §6).
        private func framing(of head: Head) throws(Failure) -> State {
            if kind == .response && (noBody || head.status == 204 || head.status == 304) { return .fixed(remaining: 0) }
            if head.hasTransferEncoding {
                // Anything but plain `chunked` is refused rather than passed on with its coding dropped.
                guard head.transferCodings.count == 1, Self.equalsLowercased(head.transferCodings[0], "chunked") else {
                    throw .malformed("a Transfer-Encoding other than chunked")
                }
                guard head.contentLength == nil else { throw .malformed("both Content-Length and Transfer-Encoding") }
                guard kind == .response || head.minorVersion == 1 else { throw .malformed("Transfer-Encoding in an HTTP/1.0 request") }
                return .chunkSize
            }
            if let length = head.contentLength { return .fixed(remaining: length) }
            return kind == .request ? .fixed(remaining: 0) : .untilClose
        }

        /// Reads `1*HEXDIG [ chunk-ext ] CRLF`; nil while the line has not all arrived.
        private func readChunkSize(_ buffer: inout ByteBuffer) throws(Failure) -> Int? {
            let result: Result<(size: Int, length: Int)?, Failure> = buffer.withUnsafeReadableBytes { raw in
                guard let lineFeed = raw.firstIndex(of: 0x0A) else {
                    return raw.count > Self.maxChunkLine ? .failure(.malformed("a chunk-size line is too long")) : .success(nil)
                }
                guard lineFeed > 0, raw[lineFeed - 1] == 0x0D, lineFeed <= Self.maxChunkLine else {
                    return .failure(.malformed("a malformed chunk-size line"))
                }
                var size = 0
                var index = 0
                while index < lineFeed - 1, let digit = HTTP1.hex(raw[index]) {
                    guard index < 15 else { return .failure(.malformed("a chunk size out of range")) }
                    size = size << 4 | Int(digit)
                    index += 1
                }
                guard index > 0 else { return .failure(.malformed("a chunk without a size")) }
                // Extensions are allowed and ignored: `BWS ; ...` with no control bytes.
                while index < lineFeed - 1, raw[index] == 0x20 || raw[index] == 0x09 { index += 1 }
                if index < lineFeed - 1 {
                    guard raw[index] == UInt8(ascii: ";"), raw[index..<lineFeed - 1].allSatisfy(Self.isFieldValueByte) else {
                        return .failure(.malformed("a malformed chunk extension"))
                    }
                }
                return .success((size, lineFeed + 1))
            }
            guard let (size, length) = try result.get() else { return nil }
            buffer.moveReaderIndex(forwardBy: length)
            return size
        }

        // MARK: the head

        /// Parses a complete head: start line, then `name: value` lines, CRLF-ended (the
        /// scanner checked the line endings), up to the blank line; then the rules that hold
        /// for the head as a whole (see `HTTP1`).
        static func parseHead(_ bytes: ByteBuffer, kind: Kind) throws(Failure) -> Head {
            let head = Head(bytes: bytes)
            let result: Result<Void, Failure> = bytes.withUnsafeReadableBytes { raw in
                // Every line ends in CRLF, the last one empty; the first CR of a line must be its end.
                var lineEnd = 0
                while raw[lineEnd] != 0x0D { lineEnd += 1 }
                guard raw[lineEnd + 1] == 0x0A else { return .failure(.malformed("a CR without LF")) }
                let start = kind == .request ? parseRequestLine(raw, end: lineEnd, into: head) : parseStatusLine(raw, end: lineEnd, into: head)
                if case .failure = start { return start }
                head.fields.reserveCapacity(12)
                var seen: UInt64 = 0
                let fieldsEnd = forEachFieldLine(raw, from: lineEnd + 2) { start, end in
                    guard head.fields.count < maxFields else { return .failure(.malformed("more than \(maxFields) header fields")) }
                    return parseField(raw, from: start, to: end, into: head, kind: kind, seen: &seen)
                }
                guard case .success(let end) = fieldsEnd else { return fieldsEnd.map { _ in () } }
                // The blank line must be the last one, not a bare CR starting another.
                guard end == raw.count else { return .failure(.malformed("a CR without LF")) }
                return checkWhole(head, kind: kind, raw: raw)
            }
            try result.get()
            return head
        }

        /// Calls `body` with each field line's bounds (CR excluded) from `start` up to the
        /// blank line; returns the offset past the blank line. Lines must end in CRLF with
        /// no CR before: one rule for the head and the trailer section.
        private static func forEachFieldLine(
            _ raw: UnsafeRawBufferPointer, from start: Int, _ body: (Int, Int) -> Result<Void, Failure>
        ) -> Result<Int, Failure> {
            var lineStart = start
            while lineStart < raw.count, raw[lineStart] != 0x0D {
                let end = HTTP1.firstOffset(of: 0x0D, in: raw, from: lineStart, to: raw.count)
                guard end + 1 < raw.count, raw[end + 1] == 0x0A else { return .failure(.malformed("a CR without LF")) }
                if case .failure(let failure) = body(lineStart, end) { return .failure(failure) }
                lineStart = end + 2
            }
            guard lineStart + 1 < raw.count, raw[lineStart + 1] == 0x0A else { return .failure(.malformed("a CR without LF")) }
            return .success(lineStart + 2)
        }

        /// Rules about the head as a whole, once every field is read.
        private static func checkWhole(_ head: Head, kind: Kind, raw: UnsafeRawBufferPointer) -> Result<Void, Failure> {
            // A field named by Connection is dropped when the message is passed on; Host and
            // the framing fields must not be (RFC 9112 §3.2, §6; RFC 9110 §7.6.1).
            for name in head.connectionNamed {
                if equalsLowercased(name, "host") || equalsLowercased(name, "content-length") || equalsLowercased(name, "transfer-encoding") {
                    return .failure(.malformed("Connection names \(String(decoding: name, as: UTF8.self)), which cannot be hop-by-hop"))
                }
            }
            guard kind == .request else { return .success(()) }
            // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host, and its value is a valid
            // uri-host [":" port]; an HTTP/1.0 one may have none (the gateway adds it upstream).
            guard let host = head.firstField(.host) else {
                return head.minorVersion == 0 ? .success(()) : .failure(.malformed("an HTTP/1.1 request without Host"))
            }
            let value = UnsafeRawBufferPointer(rebasing: raw[Int(host.valueStart)..<Int(host.valueEnd)])
            guard isValidHost(value) else { return .failure(.malformed("an empty or invalid Host")) }
            return .success(())
        }

        /// `uri-host [ ":" port ]` (RFC 3986 §3.2.2): a host name or IPv4 address, or an IP
        /// literal in brackets, then an optional port of digits. Never empty.
        ///
        /// Narrower than RFC 3986's reg-name on purpose: a host name here is letters, digits,
        /// `-`, `.` and `_`, with none of the sub-delimiters or percent-encoding no DNS name
        /// has. A comma in particular is what a proxy leaves when it folds two Host lines into
        /// one (Envoy sends `host: a,b`), the ambiguity a repeated Host is refused for.
        static func isValidHost(_ value: UnsafeRawBufferPointer) -> Bool {
            guard !value.isEmpty else { return false }
            var index = 0
            if value[0] == UInt8(ascii: "[") {
                guard let close = value.firstIndex(of: UInt8(ascii: "]")), close > 1 else { return false }
                guard value[1..<close].allSatisfy({ HTTP1.hex($0) != nil || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else {
                    return false
                }
                index = close + 1
            } else {
                while index < value.count, value[index] != UInt8(ascii: ":") {
                    guard isRegNameByte(value[index]) else { return false }
                    index += 1
                }
                guard index > 0 else { return false }
            }
            guard index < value.count else { return true }
            guard value[index] == UInt8(ascii: ":") else { return false }
            // port = *DIGIT, and a port is at most 65535 (an empty one means the default).
            let port = value[(index + 1)...]
            guard port.count <= 5, port.allSatisfy({ (0x30...0x39).contains($0) }) else { return false }
            return port.reduce(0) { $0 * 10 + Int($1 - 0x30) } <= 65535
        }

        /// A host name's bytes: letters, digits, `-`, `.` and `_`.
        private static func isRegNameByte(_ byte: UInt8) -> Bool {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"): true
            default: false
            }
        }

        /// Checks a trailer section (the lines after the last chunk, through the blank line)
        /// by the head's rules for a field line, so a bare CR or a line that is no field
        /// cannot make the next request part of this one. Trailer fields are then dropped:
        /// the gateway reads and forwards none.
        static func checkTrailers(_ raw: UnsafeRawBufferPointer, kind: Kind) -> Result<Void, Failure> {
            var count = 0
            let end = forEachFieldLine(raw, from: 0) { start, end in
                count += 1
                guard count <= maxFields else { return .failure(.malformed("more than \(maxFields) trailer fields")) }
                return fieldLine(raw, from: start, to: end).flatMap { nameEnd, _, _ in
                    kind == .request ? checkRequestFieldName(UnsafeRawBufferPointer(rebasing: raw[start..<nameEnd]), known: .other) : .success(())
                }
            }
            guard case .success(let end) = end else { return end.map { _ in () } }
            return end == raw.count ? .success(()) : .failure(.malformed("a CR without LF"))
        }

        private static func parseRequestLine(_ raw: UnsafeRawBufferPointer, end: Int, into head: Head) -> Result<Void, Failure> {
            // method SP request-target SP HTTP-version
            var index = 0
            while index < end, isTokenByte(raw[index]) { index += 1 }
            guard index > 0, index < end, raw[index] == 0x20 else { return .failure(.malformed("a malformed request line")) }
            let methodEnd = index
            index += 1
            let targetStart = index
            while index < end, raw[index] > 0x20, raw[index] < 0x7F { index += 1 }
            guard index > targetStart, index < end, raw[index] == 0x20 else { return .failure(.malformed("a malformed request target")) }
            let targetEnd = index
            guard let minor = version(raw, from: index + 1, to: end) else { return .failure(.malformed("not an HTTP/1.x request")) }
            head.minorVersion = minor
            // CONNECT asks for a tunnel: readers differ on whether a body follows (llhttp hands
            // the rest of the connection to the tunnel), and the gateway is no forward proxy.
            if methodEnd == 7, raw[0..<7].elementsEqual("CONNECT".utf8) {
                return .failure(.malformed("CONNECT is not supported"))
            }
            head.method = String(decoding: UnsafeRawBufferPointer(rebasing: raw[0..<methodEnd]), as: UTF8.self)
            head.target = String(decoding: UnsafeRawBufferPointer(rebasing: raw[targetStart..<targetEnd]), as: UTF8.self)
            return .success(())
        }

        private static func parseStatusLine(_ raw: UnsafeRawBufferPointer, end: Int, into head: Head) -> Result<Void, Failure> {
            // HTTP-version SP 3DIGIT SP [ reason-phrase ]; a missing last SP is tolerated.
            guard end >= 12, let minor = version(raw, from: 0, to: 8), raw[8] == 0x20,
                raw[9...11].allSatisfy({ (0x30...0x39).contains($0) }), end == 12 || raw[12] == 0x20,
                raw[min(13, end)..<end].allSatisfy(isFieldValueByte)
            else { return .failure(.malformed("a malformed status line")) }
            head.minorVersion = minor
            head.status = Int(raw[9] - 0x30) * 100 + Int(raw[10] - 0x30) * 10 + Int(raw[11] - 0x30)
            head.reasonStart = min(13, end)
            head.reasonEnd = end
            return .success(())
        }

        /// `HTTP/1.0` or `HTTP/1.1` exactly filling `start..<end`: the minor version.
        private static func version(_ raw: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
            guard end - start == 8, raw[start] == UInt8(ascii: "H"), raw[start + 1] == UInt8(ascii: "T"), raw[start + 2] == UInt8(ascii: "T"),
                raw[start + 3] == UInt8(ascii: "P"), raw[start + 4] == UInt8(ascii: "/"), raw[start + 5] == UInt8(ascii: "1"),
                raw[start + 6] == UInt8(ascii: ".")
            else { return nil }
            switch raw[start + 7] {
            case 0x30: return 0
            case 0x31: return 1
            default: return nil
            }
        }

        /// One field line's syntax: `token ":" OWS field-value OWS`, no control bytes.
        /// Returns the name's end and the trimmed value's bounds.
        private static func fieldLine(_ raw: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Result<(Int, Int, Int), Failure> {
            var index = start
            while index < end, isTokenByte(raw[index]) { index += 1 }
            // No name (a folded line starts with a space), or no colon right after it.
            guard index > start, index < end, raw[index] == UInt8(ascii: ":") else {
                return .failure(.malformed("a malformed header field line"))
            }
            let nameEnd = index
            index += 1
            while index < end, raw[index] == 0x20 || raw[index] == 0x09 { index += 1 }
            var valueEnd = end
            while valueEnd > index, raw[valueEnd - 1] == 0x20 || raw[valueEnd - 1] == 0x09 { valueEnd -= 1 }
            guard allFieldValueBytes(raw, from: index, to: valueEnd) else {
                return .failure(.malformed("a control character in a header field value"))
            }
            return .success((nameEnd, index, valueEnd))
        }

        private static func parseField(
            _ raw: UnsafeRawBufferPointer, from start: Int, to end: Int, into head: Head, kind: Kind, seen: inout UInt64
        ) -> Result<Void, Failure> {
            let nameEnd: Int
            let index: Int
            let valueEnd: Int
            switch fieldLine(raw, from: start, to: end) {
            case .failure(let failure): return .failure(failure)
            case .success(let bounds): (nameEnd, index, valueEnd) = bounds
            }
            let name = UnsafeRawBufferPointer(rebasing: raw[start..<nameEnd])
            let known = Known.classify(name)
            if kind == .request {
                if case .failure(let failure) = checkRequestFieldName(name, known: known) { return .failure(failure) }
                if known.isSingleton {
                    let bit: UInt64 = 1 << known.rawValue
                    guard seen & bit == 0 else { return .failure(.malformed("\(String(decoding: name, as: UTF8.self)) is repeated")) }
                    seen |= bit
                }
            }
            let value = UnsafeRawBufferPointer(rebasing: raw[index..<valueEnd])
            head.fields.append(
                Field(nameStart: Int32(start), nameEnd: Int32(nameEnd), valueStart: Int32(index), valueEnd: Int32(valueEnd), known: known))
            switch known {
            case .contentLength:
                guard (1...18).contains(value.count), value.allSatisfy({ (0x30...0x39).contains($0) }) else {
                    return .failure(.malformed("an invalid Content-Length"))
                }
                let length = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
                guard head.contentLength == nil || head.contentLength == length else {
                    return .failure(.malformed("differing Content-Length values"))
                }
                head.contentLength = length
            case .transferEncoding:
                head.hasTransferEncoding = true
                forEachElement(of: value) { head.transferCodings.append(Array($0)) }
            case .connection:
                // Read in place: `Connection: keep-alive` is on nearly every answer.
                forEachElement(of: value) { option in
                    if equalsLowercased(option, "close") {
                        head.connectionClose = true
                    } else if equalsLowercased(option, "keep-alive") {
                        head.connectionKeepAlive = true
                    } else {
                        head.connectionNamed.append(option.map(HTTP1.lowered))
                    }
                }
            case .expect:
                // A list field: any line may hold the expectation.
                forEachElement(of: value) { if equalsLowercased($0, "100-continue") { head.expectsContinue = true } }
            default:
                break
            }
            return .success(())
        }

        /// Calls `body` with each comma-separated element of a list value, trimmed, empty ones
        /// skipped, as a slice of `value` (nothing is copied).
        static func forEachElement(of value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
            var start = 0
            while start <= value.count {
                var end = start
                while end < value.count, value[end] != UInt8(ascii: ",") { end += 1 }
                var first = start
                var last = end
                while first < last, value[first] == 0x20 || value[first] == 0x09 { first += 1 }
                while last > first, value[last - 1] == 0x20 || value[last - 1] == 0x09 { last -= 1 }
                if first < last { body(UnsafeRawBufferPointer(rebasing: value[first..<last])) }
                start = end + 1
            }
        }

        static func equalsLowercased(_ bytes: some Collection<UInt8>, _ lowercased: StaticString) -> Bool {
            lowercased.withUTF8Buffer { HTTP1.equalsIgnoringCase(bytes, $0) }
        }

        /// As nginx's ignore_invalid_headers: a request's field names (head and trailers) are
        /// letters, digits and `-` only. Servers behind CGI and its heirs turn every other
        /// character into `_`, and `_` into `-`.
        static func checkRequestFieldName(_ name: UnsafeRawBufferPointer, known: Known) -> Result<Void, Failure> {
            guard known == .other, !name.allSatisfy(isPlainNameByte) else { return .success(()) }
            let what = name.contains(UInt8(ascii: "_")) ? "an underscore" : "a character other than letters, digits and -"
            return .failure(.malformed("a header field name with \(what) (\(String(decoding: name, as: UTF8.self)))"))
        }

        /// A letter, digit or `-`: what a request's field names may be made of.
        static func isPlainNameByte(_ byte: UInt8) -> Bool {
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == UInt8(ascii: "-")
        }

        /// tchar (RFC 9110 §5.6.2).
        static func isTokenByte(_ byte: UInt8) -> Bool {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
                UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
                UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
                true
            default: false
            }
        }

        /// field-vchar, SP or HTAB; obs-text is allowed, control bytes (NUL, CR, LF, DEL) are not.
        static func isFieldValueByte(_ byte: UInt8) -> Bool { byte == 0x09 || (byte >= 0x20 && byte != 0x7F) }

        /// Whether every byte of `raw[start..<end]` is `isFieldValueByte`, eight at a time: an
        /// AK/SK `Authorization` value is some 200 bytes, and a byte loop over it was a
        /// measurable share of a signed call. A word of printable ASCII (0x20-0x7E, nearly
        /// every value) passes on a few word operations; any other word (a tab, obs-text, or
        /// a byte to refuse) is checked byte by byte, so the answer is always the byte loop's.
        /// The word tests are exact "some byte is" tests ("Bit Twiddling Hacks", `hasless`
        /// and `haszero`): a byte below 0x20, or 0x7F, or one with its high bit set.
        static func allFieldValueBytes(_ raw: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Bool {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highBits: UInt64 = 0x8080_8080_8080_8080
            var index = start
            while index + 8 <= end {
                let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                let belowSpace = (word &- ones &* 0x20) & ~word & highBits
                let delete = word ^ (ones &* 0x7F)
                let isDelete = (delete &- ones) & ~delete & highBits
                if belowSpace | isDelete | (word & highBits) != 0 {
                    for offset in index..<index + 8 where !isFieldValueByte(raw[offset]) { return false }
                }
                index += 8
            }
            while index < end {
                guard isFieldValueByte(raw[index]) else { return false }
                index += 1
            }
            return true
        }
    }
}

/// Writing heads as bytes: fields the gateway adds, and received fields copied unchanged.
extension ByteWriter {
    /// `name: value` CRLF (`headerBytes` long). Values are the gateway's own or were read by
    /// `HTTP1.Decoder`, so they hold no line breaks.
    mutating func header(_ name: StaticString, _ value: String) {
        raw(name)
        raw(": ")
        string(value)
        raw("\r\n")
    }

    static func headerBytes(_ name: StaticString, _ value: String) -> Int { name.utf8CodeUnitCount + value.utf8.count + 4 }

    /// `Content-Length: <length>` CRLF (at most 38 bytes).
    mutating func contentLength(_ length: Int) {
        raw("Content-Length: ")
        decimal(length)
        raw("\r\n")
    }

    /// A received field's value, as it arrived.
    mutating func value(of field: HTTP1.Field, in head: HTTP1.Head) {
        head.bytes.withUnsafeReadableBytes { raw in
            bytes(UnsafeRawBufferPointer(rebasing: raw[Int(field.valueStart)..<Int(field.valueEnd)]))
        }
    }

    /// A received field as it arrived, name through value (the reader allows only spaces and
    /// tabs between colon and value), then CRLF: at most its line's length.
    mutating func field(_ field: HTTP1.Field, of head: HTTP1.Head) {
        head.bytes.withUnsafeReadableBytes { raw in
            bytes(UnsafeRawBufferPointer(rebasing: raw[Int(field.nameStart)..<Int(field.valueEnd)]))
        }
        raw("\r\n")
    }
}

extension ByteBuffer {
    /// `ByteWriter.header`, for heads written once in a while (local answers, tag fetches).
    mutating func writeHeader(_ name: StaticString, _ value: String) {
        write(atMost: ByteWriter.headerBytes(name, value)) { $0.header(name, value) }
    }
}
