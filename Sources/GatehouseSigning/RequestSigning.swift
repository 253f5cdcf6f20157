import Crypto
import Foundation

/// Huawei Cloud's AK/SK request signing, as the official SDKs' core `signer` module computes
/// it (`huaweicloudsdkcore/signer/signer.py`, `Signer` and `DerivationAKSKSigner`; the "API
/// Request Signing Guide"):
///
/// ```
/// canonical request = METHOD \n canonical URI \n canonical query \n canonical headers \n
///                     signed headers \n hex(SHA-256(body))
/// string to sign    = algorithm \n X-Sdk-Date [\n scope] \n hex(SHA-256(canonical request))
/// signature         = hex(HMAC-SHA256(key, string to sign))
/// ```
///
/// The key is the secret key (`SDK-HMAC-SHA256`), or for `V11-HMAC-SHA256` the hex of
/// HKDF-SHA256 (salt: the access key, input: the secret key, info: the scope
/// `yyyymmdd/region/service`, 32 bytes). This type verifies what a client signed and signs
/// what the gateway forwards; it holds no keys.
public enum RequestSigning {
    /// The most an `X-Sdk-Date` may differ from the verifier's clock: 15 minutes.
    public static let maxClockSkew: TimeInterval = 15 * 60

    /// A request as received: the raw path and query (as on the request line), every field
    /// line in order, and the body.
    public struct Request: Sendable {
        public var method: String
        public var rawPath: String
        public var rawQuery: String?
        public var fields: [(name: String, value: String)]
        public var body: [UInt8]

        public init(method: String, rawPath: String, rawQuery: String?, fields: [(name: String, value: String)], body: [UInt8]) {
            self.method = method
            self.rawPath = rawPath
            self.rawQuery = rawQuery
            self.fields = fields
            self.body = body
        }

        /// A request from its target as on the request line: the path before the first `?`,
        /// the query after it.
        public init(method: String, target: String, fields: [(name: String, value: String)], body: [UInt8]) {
            let utf8 = target.utf8
            let query = utf8.firstIndex(of: UInt8(ascii: "?"))
            self.init(
                method: method, rawPath: String(Substring(utf8[..<(query ?? utf8.endIndex)])),
                rawQuery: query.map { String(Substring(utf8[utf8.index(after: $0)...])) }, fields: fields, body: body)
        }

        /// The values of every line of a field, by (lowercase) name in any case.
        func values(_ name: String) -> [String] {
            var found: [String] = []
            for field in fields where RequestSigning.equalsIgnoringASCIICase(field.name, lowercased: name) { found.append(field.value) }
            return found
        }

        /// The value of a field given on exactly one line, with how many lines give it (so
        /// a caller can tell none from several), without collecting them: this runs for each
        /// signed field of every signed call.
        func single(_ name: String) -> (value: String?, count: Int) {
            var value: String?
            var count = 0
            fields.withUnsafeBufferPointer { fields in
                for index in fields.indices where RequestSigning.equalsIgnoringASCIICase(fields[index].name, lowercased: name) {
                    count += 1
                    value = fields[index].value
                }
            }
            return (count == 1 ? value : nil, count)
        }
    }

    /// Why a signed request is refused; each is its own audit reason.
    public enum Rejection: Error, Sendable, Equatable, CustomStringConvertible {
        /// The `Authorization` value is not `<algorithm> Access=..., SignedHeaders=..., Signature=...`.
        case malformedAuthorization(String)
        case unknownAlgorithm(String)
        /// A field the signature must cover (`host`, `x-sdk-date`, `x-security-token` when
        /// sent) is not among the signed headers.
        case unsignedField(String)
        /// A signed header is missing from the request, or given on more than one line.
        case signedFieldNotOnce(String)
        case badDate(String)
        /// `X-Sdk-Date` is further than `maxClockSkew` from now.
        case dateOutOfWindow
        /// `X-Sdk-Content-Sha256` is not the body's hash (`UNSIGNED-PAYLOAD` included).
        case payloadNotSigned
        case unreadablePath
        case signatureMismatch

        public var reason: String {
            switch self {
            case .malformedAuthorization: "signature_malformed"
            case .unknownAlgorithm: "signature_unknown_algorithm"
            case .unsignedField: "signature_unsigned_field"
            case .signedFieldNotOnce: "signature_field_not_once"
            case .badDate: "signature_bad_date"
            case .dateOutOfWindow: "signature_date_out_of_window"
            case .payloadNotSigned: "signature_payload_not_signed"
            case .unreadablePath: "signature_unreadable_path"
            case .signatureMismatch: "signature_mismatch"
            }
        }

        public var description: String {
            switch self {
            case .malformedAuthorization(let why): "malformed Authorization: \(why)"
            case .unknownAlgorithm(let name): "unknown signing algorithm \(name)"
            case .unsignedField(let name): "\(name) is not among the signed headers"
            case .signedFieldNotOnce(let name): "the signed header \(name) is not on exactly one line"
            case .badDate(let value): "X-Sdk-Date \(value) is not yyyyMMddTHHmmssZ"
            case .dateOutOfWindow: "X-Sdk-Date is more than 15 minutes from the gateway's clock"
            case .payloadNotSigned: "X-Sdk-Content-Sha256 is not the body's SHA-256"
            case .unreadablePath: "the path cannot be read as UTF-8"
            case .signatureMismatch: "the signature does not match"
            }
        }
    }

    public enum Algorithm: String, Sendable, CaseIterable {
        case sdkHmacSha256 = "SDK-HMAC-SHA256"
        case v11HmacSha256 = "V11-HMAC-SHA256"
    }

    /// A parsed `Authorization` value.
    public struct Authorization: Sendable, Equatable {
        public var algorithm: Algorithm
        public var accessKey: String
        /// `V11-HMAC-SHA256`'s `yyyymmdd/region/service`; nil for `SDK-HMAC-SHA256`.
        public var scope: String?
        /// Lowercase field names, in the order signed.
        public var signedHeaders: [String]
        /// 64 lowercase hex digits.
        public var signature: String

        /// `SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=a;b, Signature=<hex>`, or
        /// `V11-HMAC-SHA256 Credential=<AK>/<scope>, SignedHeaders=..., Signature=...`, and
        /// nothing else: every part once, no unknown part.
        public static func parse(_ value: String) -> Result<Authorization, Rejection> {
            // On UTF-8 bytes throughout: this runs for every signed call, and Character-wise
            // searching and Foundation's trimming were a fifth of the gateway's time.
            let utf8 = value.utf8
            guard let space = utf8.firstIndex(of: UInt8(ascii: " ")) else { return .failure(.malformedAuthorization("no parameters")) }
            let name = String(Substring(utf8[..<space]))
            guard let algorithm = Algorithm(rawValue: name) else { return .failure(.unknownAlgorithm(String(name.prefix(40)))) }
            let credentialKey = algorithm == .sdkHmacSha256 ? "Access" : "Credential"
            var credential: String?
            var signedHeadersText: String?
            var signatureText: String?
            for part in RequestSigning.pieces(Substring(utf8[utf8.index(after: space)...]), separatedBy: UInt8(ascii: ",")) {
                let trimmed = RequestSigning.trimmedSlice(part)
                let bytes = trimmed.utf8
                guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")), equals != bytes.startIndex else {
                    return .failure(.malformedAuthorization("a part is not name=value"))
                }
                let key = Substring(bytes[..<equals])
                let text = String(Substring(bytes[bytes.index(after: equals)...]))
                func set(_ slot: inout String?) -> Rejection? {
                    guard slot == nil else { return .malformedAuthorization("\(key) is given twice") }
                    slot = text
                    return nil
                }
                let problem: Rejection?
                switch key {
                case credentialKey[...]: problem = set(&credential)
                case "SignedHeaders": problem = set(&signedHeadersText)
                case "Signature": problem = set(&signatureText)
                default: problem = .malformedAuthorization("the parts are \(credentialKey), SignedHeaders and Signature")
                }
                if let problem { return .failure(problem) }
            }
            guard var accessKey = credential, let signedHeadersText, let signature = signatureText else {
                return .failure(.malformedAuthorization("the parts are \(credentialKey), SignedHeaders and Signature"))
            }
            var scope: String?
            if algorithm == .v11HmacSha256 {
                let pieces = accessKey.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
                guard pieces.count == 4, pieces.allSatisfy({ !$0.isEmpty }), pieces[1].utf8.count == 8,
                    pieces[1].utf8.allSatisfy({ (0x30...0x39).contains($0) })
                else {
                    return .failure(.malformedAuthorization("Credential is <AK>/<yyyymmdd>/<region>/<service>"))
                }
                accessKey = pieces[0]
                scope = pieces[1...].joined(separator: "/")
            }
            guard !accessKey.isEmpty, accessKey.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                return .failure(.malformedAuthorization("no access key"))
            }
            let signedHeaders = RequestSigning.pieces(signedHeadersText[...], separatedBy: UInt8(ascii: ";")).map(String.init)
            var distinct = true
            for (index, header) in signedHeaders.enumerated() where signedHeaders[..<index].contains(header) { distinct = false }
            guard !signedHeaders.isEmpty, signedHeaders.allSatisfy(isFieldName), distinct else {
                return .failure(.malformedAuthorization("SignedHeaders is a list of lowercase field names, each once"))
            }
            guard signature.utf8.count == 64, signature.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                return .failure(.malformedAuthorization("Signature is 64 lowercase hex digits"))
            }
            return .success(
                Authorization(algorithm: algorithm, accessKey: accessKey, scope: scope, signedHeaders: signedHeaders, signature: signature))
        }

        /// This authorization with another signature.
        func with(signature: String) -> Authorization {
            var copy = self
            copy.signature = signature
            return copy
        }

        static func isFieldName(_ name: String) -> Bool {
            !name.isEmpty && name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "-") }
        }
    }

    /// A secret key ready to verify and sign with: for `SDK-HMAC-SHA256`, the HMAC state after
    /// the key is made once, and each signature copies it (a verifier keeps one per access
    /// key). Confined to one thread at a time, like the digest contexts inside it.
    public struct SigningKey: @unchecked Sendable {
        public let secretKey: String
        let keyed: HMAC<SHA256>

        public init(secretKey: String) {
            self.secretKey = secretKey
            keyed = HMAC<SHA256>(key: SymmetricKey(data: Array(secretKey.utf8)))
        }
    }

    /// Checks a request's signature with the secret key of its access key. `now` is the
    /// verifier's clock. Returns nil when the signature holds.
    public static func verify(_ request: Request, authorization: Authorization, secretKey: String, now: Date) -> Rejection? {
        verify(request, authorization: authorization, key: SigningKey(secretKey: secretKey), now: now)
    }

    /// `verify` with a key made beforehand.
    public static func verify(_ request: Request, authorization: Authorization, key: SigningKey, now: Date) -> Rejection? {
        for required in ["host", "x-sdk-date"] where !authorization.signedHeaders.contains(required) { return .unsignedField(required) }
        if request.single("x-security-token").count > 0 && !authorization.signedHeaders.contains("x-security-token") {
            return .unsignedField("x-security-token")
        }
        guard let sdkDate = request.single("x-sdk-date").value else { return .signedFieldNotOnce("x-sdk-date") }
        let date = trimmed(sdkDate[...])
        guard let signedAt = parseDate(date) else { return .badDate(String(date.prefix(40))) }
        guard abs(signedAt.timeIntervalSince(now)) <= maxClockSkew else { return .dateOutOfWindow }
        if let scope = authorization.scope, !scope.hasPrefix(String(date.prefix(8)) + "/") {
            return .malformedAuthorization("the scope's date is not X-Sdk-Date's")
        }
        switch signatureHex(
            of: request, signedHeaders: authorization.signedHeaders, date: date, algorithm: authorization.algorithm,
            accessKey: authorization.accessKey, scope: authorization.scope, key: key)
        {
        case .failure(let rejection): return rejection
        case .success(let expected):
            return constantTimeEquals(expected, authorization.signature.utf8) ? nil : .signatureMismatch
        }
    }

    /// The signature of a request over `signedHeaders`, each of which must be on exactly one
    /// line of the request.
    public static func signature(
        of request: Request, signedHeaders: [String], date: String, algorithm: Algorithm, accessKey: String, scope: String?, secretKey: String
    ) -> Result<String, Rejection> {
        signatureHex(
            of: request, signedHeaders: signedHeaders, date: date, algorithm: algorithm, accessKey: accessKey, scope: scope,
            key: SigningKey(secretKey: secretKey)
        ).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The signature as hex bytes. Everything on the way is bytes: this runs for every signed
    /// call, and building the canonical request out of Strings was most of its cost.
    static func signatureHex(
        of request: Request, signedHeaders: [String], date: String, algorithm: Algorithm, accessKey: String, scope: String?, key: SigningKey
    ) -> Result<[UInt8], Rejection> {
        let canonical: [UInt8]
        switch canonicalRequestBytes(request, signedHeaders: signedHeaders) {
        case .failure(let rejection): return .failure(rejection)
        case .success(let bytes): canonical = bytes
        }
        var stringToSign: [UInt8] = []
        stringToSign.reserveCapacity(160)
        appendUTF8(algorithm.rawValue, to: &stringToSign)
        stringToSign.append(0x0A)
        appendUTF8(date, to: &stringToSign)
        stringToSign.append(0x0A)
        var mac: HMAC<SHA256>
        switch algorithm {
        case .sdkHmacSha256:
            mac = key.keyed
        case .v11HmacSha256:
            // The derived key depends on the scope's date: made per call.
            guard let scope else { return .failure(.malformedAuthorization("V11-HMAC-SHA256 needs a scope")) }
            let derived = HKDF<SHA256>.deriveKey(
                inputKeyMaterial: SymmetricKey(data: Array(key.secretKey.utf8)), salt: Array(accessKey.utf8), info: Array(scope.utf8),
                outputByteCount: 32)
            var derivedHex: [UInt8] = []
            appendDigestHex(derived, to: &derivedHex)
            mac = HMAC<SHA256>(key: SymmetricKey(data: derivedHex))
            appendUTF8(scope, to: &stringToSign)
            stringToSign.append(0x0A)
        }
        appendDigestHex(SHA256.hash(data: canonical), to: &stringToSign)
        mac.update(data: stringToSign)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        appendDigestHex(mac.finalize(), to: &hex)
        return .success(hex)
    }

    /// Hex SHA-256 of no bytes (most calls are GETs).
    static let emptyBodyHash = Array("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".utf8)

    /// The canonical request (see the type's summary). The body's hash is always computed:
    /// an `X-Sdk-Content-Sha256` that says otherwise (`UNSIGNED-PAYLOAD` included) is refused,
    /// since the gateway decides on the body.
    public static func canonicalRequest(_ request: Request, signedHeaders: [String]) -> Result<String, Rejection> {
        canonicalRequestBytes(request, signedHeaders: signedHeaders).map { String(decoding: $0, as: UTF8.self) }
    }

    static func canonicalRequestBytes(_ request: Request, signedHeaders: [String]) -> Result<[UInt8], Rejection> {
        var payloadHash: [UInt8]
        if request.body.isEmpty {
            payloadHash = emptyBodyHash
        } else {
            payloadHash = []
            appendDigestHex(SHA256.hash(data: request.body), to: &payloadHash)
        }
        for claimed in request.values("x-sdk-content-sha256") where !request.body.isEmpty && !trimmed(claimed[...]).utf8.elementsEqual(payloadHash) {
            return .failure(.payloadNotSigned)
        }
        var out: [UInt8] = []
        out.reserveCapacity(256 + request.rawPath.utf8.count * 3 + (request.rawQuery?.utf8.count ?? 0) * 3)
        for byte in request.method.utf8 { out.append((0x61...0x7A).contains(byte) ? byte - 0x20 : byte) }
        out.append(0x0A)
        guard appendCanonicalURI(request.rawPath, to: &out) else { return .failure(.unreadablePath) }
        out.append(0x0A)
        appendCanonicalQuery(request.rawQuery ?? "", to: &out)
        out.append(0x0A)
        for name in signedHeaders {
            guard let value = request.single(name).value else { return .failure(.signedFieldNotOnce(name)) }
            appendUTF8(name, to: &out)
            out.append(UInt8(ascii: ":"))
            appendUTF8(trimmedSlice(value[...]), to: &out)
            out.append(0x0A)
        }
        out.append(0x0A)
        for (index, name) in signedHeaders.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ";")) }
            appendUTF8(name, to: &out)
        }
        out.append(0x0A)
        out.append(contentsOf: payloadHash)
        return .success(out)
    }

    /// The path percent-decoded, split at `/`, each segment encoded again (everything but
    /// RFC 3986's unreserved characters), ending in `/`, appended as bytes; false when the
    /// decoded bytes are not UTF-8 (the SDK would have replaced them). `/` never occurs
    /// inside a UTF-8 sequence, so splitting the bytes splits the text.
    static func appendCanonicalURI(_ rawPath: String, to out: inout [UInt8]) -> Bool {
        let decoded = percentDecoded(rawPath)
        if !decoded.allSatisfy({ $0 < 0x80 }) && String(validating: decoded, as: UTF8.self) == nil { return false }
        let start = out.count
        for byte in decoded {
            if byte == UInt8(ascii: "/") { out.append(byte) } else { appendPercentEncoded(byte, to: &out) }
        }
        if out.count == start || out.last != UInt8(ascii: "/") { out.append(UInt8(ascii: "/")) }
        return true
    }

    /// The query's `name=value` pairs percent-decoded, sorted by name, then value, and
    /// encoded again; a name without `=` has the value "".
    static func appendCanonicalQuery(_ rawQuery: String, to out: inout [UInt8]) {
        guard !rawQuery.isEmpty else { return }
        let pairs = Array(rawQuery.utf8).split(separator: UInt8(ascii: "&")).map { part -> (name: [UInt8], value: [UInt8]) in
            let pieces = part.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            return (percentDecoded(pieces[0]), pieces.count == 2 ? percentDecoded(pieces[1]) : [])
        }
        let sorted = pairs.sorted {
            $0.name == $1.name ? $0.value.lexicographicallyPrecedes($1.value) : $0.name.lexicographicallyPrecedes($1.name)
        }
        for (index, pair) in sorted.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            for byte in pair.name { appendPercentEncoded(byte, to: &out) }
            out.append(UInt8(ascii: "="))
            for byte in pair.value { appendPercentEncoded(byte, to: &out) }
        }
    }

    /// `%XX` to bytes; a `%` not followed by two hex digits stays as it is (as Python's
    /// `unquote` leaves it).
    static func percentDecoded(_ text: String) -> [UInt8] {
        var text = text
        return text.withUTF8 { percentDecoded($0) }
    }

    static func percentDecoded(_ bytes: ArraySlice<UInt8>) -> [UInt8] { bytes.withUnsafeBufferPointer { percentDecoded($0) } }

    static func percentDecoded(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
            {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }

    /// A byte as is when RFC 3986 leaves it unreserved, else `%XX` (upper-case hex).
    @inline(__always)
    static func appendPercentEncoded(_ byte: UInt8, to out: inout [UInt8]) {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.append(byte)
        default:
            out.append(UInt8(ascii: "%"))
            out.append(upperHexDigit(byte >> 4))
            out.append(upperHexDigit(byte & 0xF))
        }
    }

    @inline(__always) static func upperHexDigit(_ value: UInt8) -> UInt8 { value < 10 ? 0x30 + value : 0x41 + value - 10 }
    @inline(__always) static func lowerHexDigit(_ value: UInt8) -> UInt8 { value < 10 ? 0x30 + value : 0x61 + value - 10 }

    /// A string's UTF-8, appended in one copy (appending a `UTF8View` goes byte by byte).
    @inline(__always)
    static func appendUTF8(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { out.append(contentsOf: $0) }
    }

    @inline(__always)
    static func appendUTF8(_ text: Substring, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { out.append(contentsOf: $0) }
    }

    /// Lower-case hex of a digest's (or key's) bytes, appended.
    static func appendDigestHex(_ digest: some ContiguousBytes, to out: inout [UInt8]) {
        digest.withUnsafeBytes { bytes in
            out.append(
                contentsOf: [UInt8](unsafeUninitializedCapacity: bytes.count * 2) { hex, count in
                    for (index, byte) in bytes.enumerated() {
                        hex[2 * index] = lowerHexDigit(byte >> 4)
                        hex[2 * index + 1] = lowerHexDigit(byte & 0xF)
                    }
                    count = bytes.count * 2
                })
        }
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }

    /// `yyyyMMddTHHmmssZ` in UTC, exactly (a real calendar date). Without Foundation's
    /// calendar, which was a large share of verifying a signature.
    public static func parseDate(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { bytes -> Date? in
            guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
            func number(_ range: Range<Int>) -> Int? {
                var value = 0
                for index in range {
                    let byte = bytes[index]
                    guard (0x30...0x39).contains(byte) else { return nil }
                    value = value * 10 + Int(byte - 0x30)
                }
                return value
            }
            guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
                let minute = number(11..<13), let second = number(13..<15), (1...12).contains(month), day >= 1,
                day <= daysInMonth(year: year, month: month), hour < 24, minute < 60, second < 60
            else { return nil }
            let seconds = UTCCalendar.daysSince1970(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
            return Date(timeIntervalSince1970: TimeInterval(seconds))
        }
    }

    /// `yyyyMMddTHHmmssZ` for a date, in UTC (whole seconds, rounded down).
    public static func formatDate(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let (year, month, day) = UTCCalendar.civilDate(daysSince1970: days)
        let time = seconds - days * 86_400
        var out: [UInt8] = []
        out.reserveCapacity(16)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        digits(year, 4)
        digits(month, 2)
        digits(day, 2)
        out.append(UInt8(ascii: "T"))
        digits(time / 3600, 2)
        digits(time / 60 % 60, 2)
        digits(time % 60, 2)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// `text` without leading and trailing white space, as Python's `str.strip()` (the
    /// SDK's) takes it: ASCII white space on the fast path, Foundation's reading of Unicode
    /// white space only when an end is not ASCII.
    static func trimmed(_ text: Substring) -> String { String(trimmedSlice(text)) }

    /// `trimmed`, as a slice of `text` where it can be (no copy on the common path).
    static func trimmedSlice(_ text: Substring) -> Substring {
        let bytes = text.utf8
        guard let first = bytes.first, let last = bytes.last else { return "" }
        if first >= 0x80 || last >= 0x80 { return Substring(text.trimmingCharacters(in: .whitespacesAndNewlines)) }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        guard isSpace(first) || isSpace(last) else { return text }
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, isSpace(bytes[start]) { start = bytes.index(after: start) }
        while end > start, isSpace(bytes[bytes.index(before: end)]) { end = bytes.index(before: end) }
        let inner = Substring(bytes[start..<end])
        if let first = inner.utf8.first, let last = inner.utf8.last, first >= 0x80 || last >= 0x80 {
            return Substring(inner.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return inner
    }

    /// `text` split at every `separator` byte (an ASCII character, so never inside a UTF-8
    /// sequence), empty pieces kept: String's own split walks grapheme clusters, which was a
    /// measurable share of verifying a signature.
    static func pieces(_ text: Substring, separatedBy separator: UInt8) -> [Substring] {
        var result: [Substring] = []
        let utf8 = text.utf8
        var start = utf8.startIndex
        var index = start
        while index < utf8.endIndex {
            if utf8[index] == separator {
                result.append(Substring(utf8[start..<index]))
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        result.append(Substring(utf8[start..<utf8.endIndex]))
        return result
    }

    /// Whether `name` is `lowercased` in any ASCII case.
    static func equalsIgnoringASCIICase(_ name: String, lowercased: String) -> Bool {
        let left = name.utf8
        let right = lowercased.utf8
        guard left.count == right.count else { return false }
        // Native strings are contiguous: compared in place, without copies or iterators.
        if let answer = left.withContiguousStorageIfAvailable({ left in
            right.withContiguousStorageIfAvailable { right in
                for index in 0..<left.count {
                    let a = left[index]
                    if a != right[index] && !((0x41...0x5A).contains(a) && a | 0x20 == right[index]) { return false }
                }
                return true
            }
        }), let answer {
            return answer
        }
        for (a, b) in zip(left, right) where a != b && !((0x41...0x5A).contains(a) && a | 0x20 == b) { return false }
        return true
    }

    /// Compares two signatures in time that depends only on their length.
    public static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        constantTimeEquals(Array(lhs.utf8), rhs.utf8)
    }

    static func constantTimeEquals(_ lhs: [UInt8], _ rhs: String.UTF8View) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var rhs = String(rhs)
        return rhs.withUTF8 { right in
            lhs.withUnsafeBufferPointer { left in
                var difference: UInt8 = 0
                for index in 0..<left.count { difference |= left[index] ^ right[index] }
                return difference == 0
            }
        }
    }
}

extension RequestSigning {
    /// Parses `Authorization` values, remembering the last one up to its signature: a client
    /// sends the same algorithm, access key and signed headers call after call, and only the
    /// signature changes. A value that is the last one's text up to `Signature=` followed by
    /// 64 lowercase hex digits parses to the last result with that signature, exactly as
    /// `Authorization.parse` would read it; anything else is parsed in full.
    public struct AuthorizationMemory: Sendable {
        private var last: (prefix: Substring, authorization: Authorization)?

        public init() {}

        /// Byte equality by `memcmp` on the strings' contiguous UTF-8 (a `UTF8View`'s
        /// `elementsEqual` goes byte by byte through its iterator).
        static func sameBytes(_ lhs: Substring, _ rhs: Substring) -> Bool {
            var lhs = lhs
            var rhs = rhs
            return lhs.withUTF8 { left in
                rhs.withUTF8 { right in left.count == right.count && (left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
                }
            }
        }

        public mutating func parse(_ value: String) -> Result<Authorization, Rejection> {
            let utf8 = value.utf8
            var split: String.Index?
            if utf8.count > 74 {
                let start = utf8.index(utf8.endIndex, offsetBy: -64)
                if utf8[start...].allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
                    utf8[utf8.index(start, offsetBy: -10)..<start].elementsEqual("Signature=".utf8)
                {
                    split = start
                }
            }
            if let split, let last, last.prefix.utf8.count == utf8.distance(from: utf8.startIndex, to: split),
                Self.sameBytes(last.prefix, value[..<split])
            {
                return .success(last.authorization.with(signature: String(value[split...])))
            }
            let parsed = Authorization.parse(value)
            if case .success(let authorization) = parsed, let split { self.last = (value[..<split], authorization) }
            return parsed
        }
    }
}

/// Proleptic Gregorian calendar arithmetic in UTC (Howard Hinnant's `days_from_civil` and
/// `civil_from_days`), without Foundation's `Calendar`, which was measured to be a large
/// share of a signed call: the signer's `X-Sdk-Date` and the gateway's audit timestamps.
public enum UTCCalendar {
    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    public static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date `days` after 1970-01-01 (`civil_from_days`).
    public static func civilDate(daysSince1970 days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shifted = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shifted + 2) / 5 + 1
        let month = shifted < 10 ? shifted + 3 : shifted - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
