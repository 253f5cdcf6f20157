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

        /// The values of every line of a field, by name in any case.
        func values(_ name: String) -> [String] {
            fields.filter { $0.name.lowercased() == name }.map(\.value)
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
            guard let space = value.firstIndex(of: " ") else { return .failure(.malformedAuthorization("no parameters")) }
            let name = String(value[..<space])
            guard let algorithm = Algorithm(rawValue: name) else { return .failure(.unknownAlgorithm(String(name.prefix(40)))) }
            var parts: [String: String] = [:]
            for part in value[value.index(after: space)...].split(separator: ",", omittingEmptySubsequences: false) {
                let trimmed = part.trimmingCharacters(in: .whitespaces)
                guard let equals = trimmed.firstIndex(of: "="), equals != trimmed.startIndex else {
                    return .failure(.malformedAuthorization("a part is not name=value"))
                }
                let key = String(trimmed[..<equals])
                guard parts[key] == nil else { return .failure(.malformedAuthorization("\(key) is given twice")) }
                parts[key] = String(trimmed[trimmed.index(after: equals)...])
            }
            let credentialKey = algorithm == .sdkHmacSha256 ? "Access" : "Credential"
            guard Set(parts.keys) == [credentialKey, "SignedHeaders", "Signature"] else {
                return .failure(.malformedAuthorization("the parts are \(credentialKey), SignedHeaders and Signature"))
            }
            var accessKey = parts[credentialKey]!
            var scope: String?
            if algorithm == .v11HmacSha256 {
                let pieces = accessKey.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
                guard pieces.count == 4, pieces.allSatisfy({ !$0.isEmpty }), pieces[1].count == 8, pieces[1].allSatisfy(\.isASCIIDigit) else {
                    return .failure(.malformedAuthorization("Credential is <AK>/<yyyymmdd>/<region>/<service>"))
                }
                accessKey = pieces[0]
                scope = pieces[1...].joined(separator: "/")
            }
            guard !accessKey.isEmpty, accessKey.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                return .failure(.malformedAuthorization("no access key"))
            }
            let signedHeaders = parts["SignedHeaders"]!.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
            guard !signedHeaders.isEmpty, signedHeaders.allSatisfy(isFieldName), Set(signedHeaders).count == signedHeaders.count else {
                return .failure(.malformedAuthorization("SignedHeaders is a list of lowercase field names, each once"))
            }
            let signature = parts["Signature"]!
            guard signature.utf8.count == 64, signature.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                return .failure(.malformedAuthorization("Signature is 64 lowercase hex digits"))
            }
            return .success(
                Authorization(algorithm: algorithm, accessKey: accessKey, scope: scope, signedHeaders: signedHeaders, signature: signature))
        }

        static func isFieldName(_ name: String) -> Bool {
            !name.isEmpty && name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "-") }
        }
    }

    /// Checks a request's signature with the secret key of its access key. `now` is the
    /// verifier's clock. Returns nil when the signature holds.
    public static func verify(_ request: Request, authorization: Authorization, secretKey: String, now: Date) -> Rejection? {
        for required in ["host", "x-sdk-date"] + (request.values("x-security-token").isEmpty ? [] : ["x-security-token"])
        where !authorization.signedHeaders.contains(required) {
            return .unsignedField(required)
        }
        let dates = request.values("x-sdk-date")
        guard dates.count == 1 else { return .signedFieldNotOnce("x-sdk-date") }
        let date = dates[0].trimmingCharacters(in: .whitespaces)
        guard let signedAt = parseDate(date) else { return .badDate(String(date.prefix(40))) }
        guard abs(signedAt.timeIntervalSince(now)) <= maxClockSkew else { return .dateOutOfWindow }
        if let scope = authorization.scope, !scope.hasPrefix(String(date.prefix(8)) + "/") {
            return .malformedAuthorization("the scope's date is not X-Sdk-Date's")
        }
        let expected: String
        switch signature(
            of: request, signedHeaders: authorization.signedHeaders, date: date, algorithm: authorization.algorithm,
            accessKey: authorization.accessKey, scope: authorization.scope, secretKey: secretKey)
        {
        case .failure(let rejection): return rejection
        case .success(let computed): expected = computed
        }
        return constantTimeEquals(expected, authorization.signature) ? nil : .signatureMismatch
    }

    /// The signature of a request over `signedHeaders`, each of which must be on exactly one
    /// line of the request.
    public static func signature(
        of request: Request, signedHeaders: [String], date: String, algorithm: Algorithm, accessKey: String, scope: String?, secretKey: String
    ) -> Result<String, Rejection> {
        let canonical: String
        switch canonicalRequest(request, signedHeaders: signedHeaders) {
        case .failure(let rejection): return .failure(rejection)
        case .success(let text): canonical = text
        }
        let hashed = hex(SHA256.hash(data: Array(canonical.utf8)))
        switch algorithm {
        case .sdkHmacSha256:
            return .success(hmacHex(key: Array(secretKey.utf8), "\(algorithm.rawValue)\n\(date)\n\(hashed)"))
        case .v11HmacSha256:
            guard let scope else { return .failure(.malformedAuthorization("V11-HMAC-SHA256 needs a scope")) }
            let derived = HKDF<SHA256>.deriveKey(
                inputKeyMaterial: SymmetricKey(data: Array(secretKey.utf8)), salt: Array(accessKey.utf8), info: Array(scope.utf8),
                outputByteCount: 32)
            let key = derived.withUnsafeBytes { hex($0) }
            return .success(hmacHex(key: Array(key.utf8), "\(algorithm.rawValue)\n\(date)\n\(scope)\n\(hashed)"))
        }
    }

    /// The canonical request (see the type's summary). The body's hash is always computed:
    /// an `X-Sdk-Content-Sha256` that says otherwise (`UNSIGNED-PAYLOAD` included) is refused,
    /// since the gateway decides on the body.
    public static func canonicalRequest(_ request: Request, signedHeaders: [String]) -> Result<String, Rejection> {
        let payloadHash = hex(SHA256.hash(data: request.body))
        for claimed in request.values("x-sdk-content-sha256")
        where !request.body.isEmpty && claimed.trimmingCharacters(in: .whitespaces) != payloadHash {
            return .failure(.payloadNotSigned)
        }
        var headers: [String] = []
        for name in signedHeaders {
            let values = request.values(name)
            guard values.count == 1 else { return .failure(.signedFieldNotOnce(name)) }
            headers.append(name + ":" + values[0].trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard let uri = canonicalURI(request.rawPath) else { return .failure(.unreadablePath) }
        return .success(
            [
                request.method.uppercased(), uri, canonicalQuery(request.rawQuery ?? ""), headers.joined(separator: "\n") + "\n",
                signedHeaders.joined(separator: ";"), payloadHash,
            ].joined(separator: "\n"))
    }

    /// The path percent-decoded, split at `/`, each segment encoded again (everything but
    /// RFC 3986's unreserved characters), ending in `/`. Nil when the decoded bytes are not
    /// UTF-8 (the SDK would have replaced them).
    static func canonicalURI(_ rawPath: String) -> String? {
        guard let decoded = String(validating: percentDecoded(rawPath), as: UTF8.self) else { return nil }
        var uri = decoded.split(separator: "/", omittingEmptySubsequences: false).map { percentEncoded(Array($0.utf8)) }.joined(separator: "/")
        if !uri.hasSuffix("/") { uri += "/" }
        return uri
    }

    /// The query's `name=value` pairs percent-decoded, sorted by name, then value, and
    /// encoded again; a name without `=` has the value "".
    static func canonicalQuery(_ rawQuery: String) -> String {
        let pairs = rawQuery.split(separator: "&").map { part -> (name: [UInt8], value: [UInt8]) in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (percentDecoded(String(pieces[0])), pieces.count == 2 ? percentDecoded(String(pieces[1])) : [])
        }
        return pairs.sorted { $0.name == $1.name ? $0.value.lexicographicallyPrecedes($1.value) : $0.name.lexicographicallyPrecedes($1.name) }
            .map { percentEncoded($0.name) + "=" + percentEncoded($0.value) }.joined(separator: "&")
    }

    /// `%XX` to bytes; a `%` not followed by two hex digits stays as it is (as Python's
    /// `unquote` leaves it).
    static func percentDecoded(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
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

    static func percentEncoded(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): out.append(byte)
            default: out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }

    /// `yyyyMMddTHHmmssZ` in UTC, exactly.
    public static func parseDate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
            let minute = number(11..<13), let second = number(13..<15), (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60,
            second < 60
        else { return nil }
        var components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        components.timeZone = TimeZone(identifier: "UTC")
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: components), calendar.component(.day, from: date) == day else { return nil }
        return date
    }

    /// `yyyyMMddTHHmmssZ` for a date, in UTC.
    public static func formatDate(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { String(format: "%02d", value ?? 0) }
        return String(format: "%04d", parts.year ?? 0) + two(parts.month) + two(parts.day) + "T" + two(parts.hour) + two(parts.minute)
            + two(parts.second) + "Z"
    }

    static func hmacHex(key: [UInt8], _ message: String) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: key)))
    }

    static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]] }
        return String(decoding: out, as: UTF8.self)
    }

    /// Compares two signatures in time that depends only on their length.
    public static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let left = Array(lhs.utf8)
        let right = Array(rhs.utf8)
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
