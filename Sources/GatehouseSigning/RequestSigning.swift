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
    /// line in order, and the body. The field lines are kept as bytes with the offsets of
    /// each name and value (`fieldBytes`, `fieldSpans`), so a gateway hands over the head it
    /// received without a string per field; `fields` reads and writes them as strings.
    public struct Request: Sendable {
        public var method: String
        public var rawPath: String
        public var rawQuery: String?
        public var body: [UInt8]
        /// The bytes the field lines' names and values lie in.
        public private(set) var fieldBytes: [UInt8]
        /// Each field line's name and value in `fieldBytes`, in order.
        public private(set) var fieldSpans: [FieldSpan]

        /// Where one field line's name and value lie: offsets into `fieldBytes`, end exclusive.
        public struct FieldSpan: Sendable, Equatable {
            public var nameStart: Int32
            public var nameEnd: Int32
            public var valueStart: Int32
            public var valueEnd: Int32

            public init(nameStart: Int32, nameEnd: Int32, valueStart: Int32, valueEnd: Int32) {
                self.nameStart = nameStart
                self.nameEnd = nameEnd
                self.valueStart = valueStart
                self.valueEnd = valueEnd
            }

            /// Whether the name and the value lie within the first `count` bytes.
            func lies(within count: Int32) -> Bool {
                0 <= nameStart && nameStart <= nameEnd && nameEnd <= count && 0 <= valueStart && valueStart <= valueEnd && valueEnd <= count
            }
        }

        public init(method: String, rawPath: String, rawQuery: String?, fields: [(name: String, value: String)], body: [UInt8]) {
            self.method = method
            self.rawPath = rawPath
            self.rawQuery = rawQuery
            self.body = body
            (fieldBytes, fieldSpans) = Self.serialized(fields)
        }

        /// A request from its target as on the request line: the path before the first `?`,
        /// the query after it.
        public init(method: String, target: String, fields: [(name: String, value: String)], body: [UInt8]) {
            let (fieldBytes, fieldSpans) = Self.serialized(fields)
            self.init(method: method, target: target, fieldBytes: fieldBytes, fieldSpans: fieldSpans, body: body)
        }

        /// A request whose field lines are given as bytes and spans (a received head): names
        /// as received, values as received or already trimmed. Each span must lie within
        /// `fieldBytes` (checked).
        public init(method: String, target: String, fieldBytes: [UInt8], fieldSpans: [FieldSpan], body: [UInt8]) {
            // The view's reading of the parts (the spans checked, the target split at its
            // first `?`), kept as a copy.
            var method = method
            var target = target
            self = method.withUTF8 { method in
                target.withUTF8 { target in
                    fieldBytes.withUnsafeBytes { fieldBytes in
                        fieldSpans.withUnsafeBufferPointer { fieldSpans in
                            body.withUnsafeBytes { body in
                                View.with(
                                    method: UnsafeRawBufferPointer(method), target: UnsafeRawBufferPointer(target), fieldBytes: fieldBytes,
                                    fieldSpans: fieldSpans, body: body, Request.init(copying:))
                            }
                        }
                    }
                }
            }
        }

        /// A request holding a copy of what `view` shows.
        public init(copying view: View) {
            method = String(decoding: view.method, as: UTF8.self)
            rawPath = String(decoding: view.path, as: UTF8.self)
            rawQuery = view.query.map { String(decoding: $0, as: UTF8.self) }
            body = Array(view.body)
            fieldBytes = Array(view.fields.bytes)
            fieldSpans = Array(view.fields.spans)
        }

        /// Every field line as (name, value), in order.
        public var fields: [(name: String, value: String)] {
            get {
                fieldSpans.map { span in
                    (
                        String(decoding: fieldBytes[Int(span.nameStart)..<Int(span.nameEnd)], as: UTF8.self),
                        String(decoding: fieldBytes[Int(span.valueStart)..<Int(span.valueEnd)], as: UTF8.self)
                    )
                }
            }
            set { (fieldBytes, fieldSpans) = Self.serialized(newValue) }
        }

        static func serialized(_ fields: [(name: String, value: String)]) -> ([UInt8], [FieldSpan]) {
            var bytes: [UInt8] = []
            var spans: [FieldSpan] = []
            spans.reserveCapacity(fields.count)
            for (name, value) in fields {
                let nameStart = Int32(bytes.count)
                bytes.append(contentsOf: name.utf8)
                let valueStart = Int32(bytes.count)
                bytes.append(contentsOf: value.utf8)
                spans.append(FieldSpan(nameStart: nameStart, nameEnd: valueStart, valueStart: valueStart, valueEnd: Int32(bytes.count)))
            }
            return (bytes, spans)
        }

        /// The field lines as bytes, for as long as `body` runs.
        func withFields<R>(_ body: (FieldTable) -> R) -> R {
            fieldBytes.withUnsafeBytes { bytes in fieldSpans.withUnsafeBufferPointer { spans in body(FieldTable(bytes: bytes, spans: spans)) } }
        }

        /// This request as a `View`, for as long as `body` runs.
        public func withView<R>(_ body: (View) -> R) -> R {
            var method = method
            var rawPath = rawPath
            var rawQuery = rawQuery ?? ""
            let hasQuery = self.rawQuery != nil
            return method.withUTF8 { method in
                rawPath.withUTF8 { path in
                    rawQuery.withUTF8 { query in
                        self.body.withUnsafeBytes { requestBody in
                            withFields { fields in
                                body(
                                    View(
                                        method: UnsafeRawBufferPointer(method), path: UnsafeRawBufferPointer(path),
                                        query: hasQuery ? UnsafeRawBufferPointer(query) : nil, fields: fields, body: requestBody))
                            }
                        }
                    }
                }
            }
        }

        /// A request's parts as memory someone else holds, valid only inside the closure
        /// that hands it out: what the verifier reads. A gateway makes one over the head it
        /// received (`View.with`), so a signed call is verified without copying its head
        /// into a `Request`, and without a reference to retain per part.
        public struct View {
            public let method: UnsafeRawBufferPointer
            /// The target up to its first `?`, and what follows it (nil without a `?`).
            public let path: UnsafeRawBufferPointer
            public let query: UnsafeRawBufferPointer?
            let fields: FieldTable
            public let body: UnsafeRawBufferPointer

            init(
                method: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer, query: UnsafeRawBufferPointer?, fields: FieldTable,
                body: UnsafeRawBufferPointer
            ) {
                self.method = method
                self.path = path
                self.query = query
                self.fields = fields
                self.body = body
            }

            /// Runs `body` with a view of a request whose target is as on the request line
            /// and whose field lines lie in `fieldBytes` at `fieldSpans` (each checked to
            /// lie within it).
            public static func with<R>(
                method: UnsafeRawBufferPointer, target: UnsafeRawBufferPointer, fieldBytes: UnsafeRawBufferPointer,
                fieldSpans: UnsafeBufferPointer<FieldSpan>, body requestBody: UnsafeRawBufferPointer, _ body: (View) -> R
            ) -> R {
                let count = Int32(clamping: fieldBytes.count)
                for span in fieldSpans { precondition(span.lies(within: count), "a field span outside the field bytes") }
                var path = target
                var query: UnsafeRawBufferPointer?
                if let base = target.baseAddress, let mark = memchr(base, Int32(UInt8(ascii: "?")), target.count) {
                    let split = base.distance(to: UnsafeRawPointer(mark))
                    path = UnsafeRawBufferPointer(rebasing: target[..<split])
                    query = UnsafeRawBufferPointer(rebasing: target[(split + 1)...])
                }
                return body(
                    View(method: method, path: path, query: query, fields: FieldTable(bytes: fieldBytes, spans: fieldSpans), body: requestBody))
            }

            /// The bytes of the first line's value of a field (by lowercase name, in any
            /// case), or nil when the request has none.
            public func value(of lowercasedName: StaticString) -> UnsafeRawBufferPointer? {
                let name = UnsafeRawBufferPointer(staticName: lowercasedName)
                for span in fields.spans where RequestSigning.equalsIgnoringASCIICase(fields.name(span), lowercased: name) {
                    return fields.value(span)
                }
                return nil
            }
        }
    }

    /// A request's field lines, looked up by name on their bytes: no string per field.
    struct FieldTable {
        let bytes: UnsafeRawBufferPointer
        let spans: UnsafeBufferPointer<Request.FieldSpan>

        func name(_ span: Request.FieldSpan) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: bytes[Int(span.nameStart)..<Int(span.nameEnd)])
        }

        func value(_ span: Request.FieldSpan) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: bytes[Int(span.valueStart)..<Int(span.valueEnd)])
        }

        /// The value of the only line named `lowercased` (in any case), and how many lines
        /// have that name.
        func single(_ lowercased: UnsafeRawBufferPointer) -> (value: UnsafeRawBufferPointer?, count: Int) {
            var found: UnsafeRawBufferPointer?
            var count = 0
            for span in spans where RequestSigning.equalsIgnoringASCIICase(name(span), lowercased: lowercased) {
                count += 1
                found = value(span)
            }
            return (count == 1 ? found : nil, count)
        }

        func forEach(named lowercased: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
            for span in spans where RequestSigning.equalsIgnoringASCIICase(name(span), lowercased: lowercased) { body(value(span)) }
        }

        func contains(_ lowercased: UnsafeRawBufferPointer) -> Bool {
            spans.contains { RequestSigning.equalsIgnoringASCIICase(name($0), lowercased: lowercased) }
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
        /// OpenSSL refused to compute a digest: nothing can be verified.
        case digestUnavailable

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
            case .digestUnavailable: "signature_digest_unavailable"
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
            case .digestUnavailable: "the gateway cannot compute SHA-256 (OpenSSL)"
            }
        }
    }

    public enum Algorithm: String, Sendable, CaseIterable {
        case sdkHmacSha256 = "SDK-HMAC-SHA256"
        case v11HmacSha256 = "V11-HMAC-SHA256"
    }

    /// A parsed `Authorization` value.
    public struct Authorization: Sendable, Equatable {
        /// What stays the same call after call (shared by the copies `AuthorizationMemory`
        /// hands out: one reference to retain, not five).
        final class Parts: Sendable {
            let algorithm: Algorithm
            let accessKey: String
            let scope: String?
            let signedHeaders: [String]
            let signedHeaderList: [UInt8]
            /// Whether the fields a signature must cover are among `signedHeaders`: worked out
            /// once, not on every call.
            let signsHost: Bool
            let signsSdkDate: Bool
            let signsSecurityToken: Bool

            init(algorithm: Algorithm, accessKey: String, scope: String?, signedHeaders: [String], signedHeaderList: [UInt8]) {
                self.algorithm = algorithm
                self.accessKey = accessKey
                self.scope = scope
                self.signedHeaders = signedHeaders
                self.signedHeaderList = signedHeaderList
                signsHost = signedHeaders.contains("host")
                signsSdkDate = signedHeaders.contains("x-sdk-date")
                signsSecurityToken = signedHeaders.contains("x-security-token")
            }
        }

        private let parts: Parts
        /// The signature's 32 bytes: its 64 lowercase hex digits, decoded (no string per call).
        let signatureBytes: SIMD32<UInt8>

        /// 64 lowercase hex digits.
        public var signature: String { withUnsafeBytes(of: signatureBytes) { RequestSigning.hex($0) } }

        public var algorithm: Algorithm { parts.algorithm }
        public var accessKey: String { parts.accessKey }
        /// `V11-HMAC-SHA256`'s `yyyymmdd/region/service`; nil for `SDK-HMAC-SHA256`.
        public var scope: String? { parts.scope }
        /// Lowercase field names, in the order signed.
        public var signedHeaders: [String] { parts.signedHeaders }
        /// `signedHeaders` joined by `;`: the canonical request's signed-headers line, and
        /// the names the verifier looks up, as bytes.
        var signedHeaderList: [UInt8] { parts.signedHeaderList }
        var signsHost: Bool { parts.signsHost }
        var signsSdkDate: Bool { parts.signsSdkDate }
        var signsSecurityToken: Bool { parts.signsSecurityToken }

        init(
            algorithm: Algorithm, accessKey: String, scope: String?, signedHeaders: [String], signedHeaderList: [UInt8], signatureBytes: SIMD32<UInt8>
        ) {
            self.init(
                parts: Parts(
                    algorithm: algorithm, accessKey: accessKey, scope: scope, signedHeaders: signedHeaders, signedHeaderList: signedHeaderList),
                signatureBytes: signatureBytes)
        }

        private init(parts: Parts, signatureBytes: SIMD32<UInt8>) {
            self.parts = parts
            self.signatureBytes = signatureBytes
        }

        /// 64 lowercase hex digits (checked beforehand) as 32 bytes.
        static func decodedSignature(_ hex: UnsafeRawBufferPointer) -> SIMD32<UInt8> {
            var bytes = SIMD32<UInt8>()
            // Through its memory: SIMD's element subscript measured as a third of reading a
            // remembered Authorization.
            withUnsafeMutableBytes(of: &bytes) { out in
                for index in 0..<32 { out[index] = hexDigitValue(hex[2 * index]) << 4 | hexDigitValue(hex[2 * index + 1]) }
            }
            return bytes
        }

        /// 64 hex digits as 32 bytes, or nil when any is not a lowercase hex digit: the
        /// check and the decoding in one pass, without a branch per digit.
        static func decodedSignature(checking hex: UnsafeRawBufferPointer) -> SIMD32<UInt8>? {
            guard hex.count == 64 else { return nil }
            var bytes = SIMD32<UInt8>()
            var invalid: UInt8 = 0
            withUnsafeMutableBytes(of: &bytes) { out in
                for index in 0..<32 {
                    let (high, badHigh) = checkedHexDigitValue(hex[2 * index])
                    let (low, badLow) = checkedHexDigitValue(hex[2 * index + 1])
                    invalid |= badHigh | badLow
                    out[index] = high << 4 | low
                }
            }
            return invalid == 0 ? bytes : nil
        }

        /// A byte's value as a lowercase hex digit, and 1 when it is not one (0 when it is).
        @inline(__always)
        static func checkedHexDigitValue(_ byte: UInt8) -> (value: UInt8, invalid: UInt8) {
            let digit = byte &- 0x30
            let letter = byte &- 0x61
            let isDigit = digit < 10
            return (isDigit ? digit : letter &+ 10, isDigit || letter < 6 ? 0 : 1)
        }

        /// A lowercase hex digit's value (the caller checked it is one).
        @inline(__always)
        static func hexDigitValue(_ byte: UInt8) -> UInt8 { byte <= 0x39 ? byte &- 0x30 : byte &- 0x61 &+ 10 }

        /// Whether `digest` (32 bytes) is the signature, compared in time that does not
        /// depend on where they differ.
        func signatureMatches(_ digest: UnsafeRawBufferPointer) -> Bool {
            guard digest.count == 32 else { return false }
            return withUnsafeBytes(of: signatureBytes) { signature in
                var difference: UInt8 = 0
                for index in 0..<32 { difference |= digest[index] ^ signature[index] }
                return difference == 0
            }
        }

        public static func == (lhs: Authorization, rhs: Authorization) -> Bool {
            lhs.algorithm == rhs.algorithm && lhs.accessKey == rhs.accessKey && lhs.scope == rhs.scope && lhs.signedHeaders == rhs.signedHeaders
                && lhs.signatureBytes == rhs.signatureBytes
        }

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
            guard signature.utf8.count == 64, signature.utf8.allSatisfy(AuthorizationMemory.isLowerHex) else {
                return .failure(.malformedAuthorization("Signature is 64 lowercase hex digits"))
            }
            var signatureDigits = signature
            return .success(
                Authorization(
                    algorithm: algorithm, accessKey: accessKey, scope: scope, signedHeaders: signedHeaders,
                    signedHeaderList: Array(signedHeadersText.utf8),
                    signatureBytes: signatureDigits.withUTF8 { decodedSignature(UnsafeRawBufferPointer($0)) }))
        }

        /// This authorization with another signature.
        func with(signatureBytes: SIMD32<UInt8>) -> Authorization { Authorization(parts: parts, signatureBytes: signatureBytes) }

        static func joined(_ names: [String]) -> [UInt8] { Array(names.joined(separator: ";").utf8) }

        static func isFieldName(_ name: String) -> Bool {
            !name.isEmpty && name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "-") }
        }
    }

    /// A secret key ready to verify and sign with: HMAC-SHA256 (RFC 2104) with the SHA-256
    /// states after the key's inner and outer pads absorbed once, so each signature starts
    /// from copies of two states and does no key schedule. The hash is OpenSSL's
    /// (`SHA256State`); only HMAC's two-line construction is written here, since neither
    /// swift-crypto's `HMAC` nor OpenSSL's `EVP_MAC` keeps a keyed state to copy. Made once
    /// per access key and shared by every connection and thread: the keyed states are values,
    /// only ever copied. A class, because it is handed from the directory view to the
    /// verifier on every signed call: as a struct of two 112-byte states and a string, each
    /// hand-over copied all of it through the type's value witness.
    public final class SigningKey: Sendable {
        public let secretKey: String
        private let inner: SHA256State
        private let outer: SHA256State

        public convenience init(secretKey: String) { self.init(secretKey: secretKey, keyBytes: Array(secretKey.utf8)) }

        /// A key from other bytes than the secret's (V11's derived key).
        init(secretKey: String, keyBytes: [UInt8]) {
            self.secretKey = secretKey
            // RFC 2104 §2: a key longer than the block is hashed first; then zero-padded.
            var block = [UInt8](repeating: 0, count: 64)
            var hashedKey = true
            if keyBytes.count > 64 {
                hashedKey = block.withUnsafeMutableBufferPointer { block in
                    keyBytes.withUnsafeBytes { SHA256State.hash($0, into: block.baseAddress!) }
                }
            } else {
                for index in keyBytes.indices { block[index] = keyBytes[index] }
            }
            var inner = SHA256State()
            var outer = SHA256State()
            block.map { $0 ^ 0x36 }.withUnsafeBytes { inner.update($0) }
            block.map { $0 ^ 0x5C }.withUnsafeBytes { outer.update($0) }
            // A key whose long form could not be hashed must never sign: its states fail.
            if !hashedKey { inner = SHA256State.failed }
            self.inner = inner
            self.outer = outer
        }

        /// HMAC-SHA256 of `message` with this key into `out` (32 bytes).
        func authenticationCode(_ message: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<UInt8>) -> Bool {
            var work = inner
            work.update(message)
            guard work.finish(into: out) else { return false }
            work = outer
            work.update(UnsafeRawBufferPointer(start: out, count: SHA256State.digestCount))
            return work.finish(into: out)
        }
    }

    /// Checks a request's signature with the secret key of its access key. `now` is the
    /// verifier's clock. Returns nil when the signature holds.
    public static func verify(_ request: Request, authorization: Authorization, secretKey: String, now: Date) -> Rejection? {
        verify(request, authorization: authorization, key: SigningKey(secretKey: secretKey), now: now)
    }

    /// `verify` with a key made beforehand. On the bytes the request holds throughout: this
    /// runs for every signed call.
    public static func verify(_ request: Request, authorization: Authorization, key: SigningKey, now: Date) -> Rejection? {
        request.withView { verify($0, authorization: authorization, key: key, now: now) }
    }

    /// `verify` on a view of the request (the gateway's case: its received head, read in
    /// place).
    public static func verify(_ request: Request.View, authorization: Authorization, key: SigningKey, now: Date) -> Rejection? {
        let fields = request.fields
        if !authorization.signsHost { return .unsignedField("host") }
        if !authorization.signsSdkDate { return .unsignedField("x-sdk-date") }
        if !authorization.signsSecurityToken && fields.contains(UnsafeRawBufferPointer(staticName: "x-security-token")) {
            return .unsignedField("x-security-token")
        }
        guard let sdkDate = fields.single(UnsafeRawBufferPointer(staticName: "x-sdk-date")).value else {
            return .signedFieldNotOnce("x-sdk-date")
        }
        return withTrimmed(sdkDate) { date -> Rejection? in
            guard let signedAt = parseDate(date) else { return .badDate(String(String(decoding: date, as: UTF8.self).prefix(40))) }
            guard abs(signedAt.timeIntervalSince(now)) <= maxClockSkew else { return .dateOutOfWindow }
            if let scope = authorization.scope, !scope.utf8.starts(with: date.prefix(8)) || scope.utf8.dropFirst(8).first != UInt8(ascii: "/") {
                return .malformedAuthorization("the scope's date is not X-Sdk-Date's")
            }
            return authorization.signedHeaderList.withUnsafeBytes { list in
                withSignature(
                    of: request, signedHeaderList: list, date: date, algorithm: authorization.algorithm,
                    accessKey: authorization.accessKey, scope: authorization.scope, key: key
                ) { expected in
                    authorization.signatureMatches(expected) ? nil : .signatureMismatch
                }
            }
        }
    }

    /// The signature of a request over `signedHeaders`, each of which must be on exactly one
    /// line of the request.
    public static func signature(
        of request: Request, signedHeaders: [String], date: String, algorithm: Algorithm, accessKey: String, scope: String?, secretKey: String
    ) -> Result<String, Rejection> {
        let key = SigningKey(secretKey: secretKey)
        var date = date
        return Authorization.joined(signedHeaders).withUnsafeBytes { list in
            request.withView { request in
                date.withUTF8 { date in
                    var signature = ""
                    let rejection = withSignature(
                        of: request, signedHeaderList: list, date: UnsafeRawBufferPointer(date), algorithm: algorithm,
                        accessKey: accessKey, scope: scope, key: key
                    ) { digest -> Rejection? in
                        signature = hex(digest)
                        return nil
                    }
                    return rejection.map { .failure($0) } ?? .success(signature)
                }
            }
        }
    }

    /// Runs `body` with the signature's 32 bytes (the HMAC before hex), or returns why there
    /// is none.
    static func withSignature(
        of request: Request.View, signedHeaderList: UnsafeRawBufferPointer, date: UnsafeRawBufferPointer, algorithm: Algorithm,
        accessKey: String, scope: String?, key: SigningKey, _ body: (UnsafeRawBufferPointer) -> Rejection?
    ) -> Rejection? {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: SHA256State.digestCount) { digest in
            let out = digest.baseAddress!
            return ByteWriter.with(capacity: 128 + date.count + (scope?.utf8.count ?? 0)) { stringToSign in
                var hashed = true
                let canonicalRejection = withCanonicalRequest(request, signedHeaderList: signedHeaderList) {
                    canonical in
                    stringToSign.append(algorithm.rawValue)
                    stringToSign.append(0x0A)
                    stringToSign.append(date)
                    stringToSign.append(0x0A)
                    if algorithm == .v11HmacSha256, let scope {
                        stringToSign.append(scope)
                        stringToSign.append(0x0A)
                    }
                    hashed = SHA256State.hash(canonical, into: out)
                    stringToSign.appendHex(UnsafeRawBufferPointer(digest))
                }
                if let canonicalRejection { return canonicalRejection }
                guard hashed else { return .digestUnavailable }
                let signed: Bool
                switch algorithm {
                case .sdkHmacSha256:
                    signed = stringToSign.withBytes { key.authenticationCode($0, into: out) }
                case .v11HmacSha256:
                    // The derived key depends on the scope's date: made per call.
                    guard let scope else { return .malformedAuthorization("V11-HMAC-SHA256 needs a scope") }
                    let derived = HKDF<SHA256>.deriveKey(
                        inputKeyMaterial: SymmetricKey(data: Array(key.secretKey.utf8)), salt: Array(accessKey.utf8), info: Array(scope.utf8),
                        outputByteCount: 32)
                    let derivedHex = ByteWriter.with(capacity: 64) { hex in
                        derived.withUnsafeBytes { hex.appendHex($0) }
                        return hex.withBytes { Array($0) }
                    }
                    let derivedKey = SigningKey(secretKey: key.secretKey, keyBytes: derivedHex)
                    signed = stringToSign.withBytes { derivedKey.authenticationCode($0, into: out) }
                }
                guard signed else { return .digestUnavailable }
                return body(UnsafeRawBufferPointer(digest))
            }
        }
    }

    /// Hex SHA-256 of no bytes (most calls are GETs).
    static let emptyBodyHash = Array("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".utf8)

    /// The canonical request (see the type's summary). The body's hash is always computed:
    /// an `X-Sdk-Content-Sha256` that says otherwise (`UNSIGNED-PAYLOAD` included) is refused,
    /// since the gateway decides on the body.
    public static func canonicalRequest(_ request: Request, signedHeaders: [String]) -> Result<String, Rejection> {
        var text = ""
        let rejection = Authorization.joined(signedHeaders).withUnsafeBytes { list in
            request.withView { request in
                withCanonicalRequest(request, signedHeaderList: list) {
                    text = String(decoding: $0, as: UTF8.self)
                }
            }
        }
        return rejection.map { .failure($0) } ?? .success(text)
    }

    /// Runs `body` with the canonical request's bytes, written once into scratch memory
    /// sized for the longest it can be; or returns why there is none.
    static func withCanonicalRequest(
        _ request: Request.View, signedHeaderList: UnsafeRawBufferPointer,
        _ body: (UnsafeRawBufferPointer) -> Void
    ) -> Rejection? {
        let fields = request.fields
        return ByteWriter.with(capacity: 64) { payloadHash in
            if request.body.isEmpty {
                payloadHash.append(emptyBodyHash)
            } else {
                let hashed = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: SHA256State.digestCount) { digest in
                    guard SHA256State.hash(request.body, into: digest.baseAddress!) else { return false }
                    payloadHash.appendHex(UnsafeRawBufferPointer(digest))
                    return true
                }
                guard hashed else { return .digestUnavailable }
            }
            // With a body or without: a claimed hash that is not the body's is refused.
            var claimedOther = false
            fields.forEach(named: UnsafeRawBufferPointer(staticName: "x-sdk-content-sha256")) { claimed in
                withTrimmed(claimed) { claimed in payloadHash.withBytes { if !claimed.elementsEqual($0) { claimedOther = true } } }
            }
            if claimedOther { return .payloadNotSigned }
            // The signed fields' values first: each must be on exactly one line, and their
            // lengths size the scratch memory. Sized by what is signed, not by the whole head
            // (an `Authorization` and a long security token would push it past what
            // `withUnsafeTemporaryAllocation` keeps on the stack, 1 KiB, onto the heap).
            var nameCount = 1
            for byte in signedHeaderList where byte == UInt8(ascii: ";") { nameCount += 1 }
            return withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: nameCount) { values -> Rejection? in
                var found = 0
                var headersBound = 0
                var missing: UnsafeRawBufferPointer?
                forEachName(in: signedHeaderList) { name in
                    guard missing == nil else { return }
                    guard let value = fields.single(name).value else {
                        missing = name
                        return
                    }
                    values.initializeElement(at: found, to: value)
                    found += 1
                    headersBound += name.count + 2 + trimmedBound(value)
                }
                if let missing { return .signedFieldNotOnce(String(decoding: missing, as: UTF8.self)) }
                // Each part's longest form: a path or query byte is at most three once encoded
                // (a query's name without `=` gains one), each signed line as `trimmedBound`
                // gives it, the list, the hash, the line breaks.
                let capacity =
                    request.method.count + 3 * request.path.count + 4 * (request.query?.count ?? 0) + headersBound + signedHeaderList.count
                    + 64 + 16
                return ByteWriter.with(capacity: capacity) { out -> Rejection? in
                    for byte in request.method { out.append((0x61...0x7A).contains(byte) ? byte - 0x20 : byte) }
                    out.append(0x0A)
                    guard appendCanonicalURI(request.path, to: &out) else { return .unreadablePath }
                    out.append(0x0A)
                    if let query = request.query { appendCanonicalQuery(query, to: &out) }
                    out.append(0x0A)
                    var index = 0
                    forEachName(in: signedHeaderList) { name in
                        out.append(name)
                        out.append(UInt8(ascii: ":"))
                        withTrimmed(values[index]) { out.append($0) }
                        out.append(0x0A)
                        index += 1
                    }
                    out.append(0x0A)
                    out.append(signedHeaderList)
                    out.append(0x0A)
                    payloadHash.withBytes { out.append($0) }
                    out.withBytes(body)
                    return nil
                }
            }
        }
    }

    /// Calls `body` with each `;`-separated name of a signed-headers list.
    static func forEachName(in list: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        for index in 0...list.count where index == list.count || list[index] == UInt8(ascii: ";") {
            body(UnsafeRawBufferPointer(rebasing: list[start..<index]))
            start = index + 1
        }
    }

    /// The path percent-decoded, split at `/`, each segment encoded again (everything but
    /// RFC 3986's unreserved characters), ending in `/`, appended as bytes; false when the
    /// decoded bytes are not UTF-8 (the SDK would have replaced them). `/` never occurs
    /// inside a UTF-8 sequence, so splitting the bytes splits the text. In one pass, with
    /// the UTF-8 check only for a path that decodes to bytes beyond ASCII; the leading run
    /// of bytes that stay as they are (for most paths, all of them) is copied whole.
    static func appendCanonicalURI(_ path: UnsafeRawBufferPointer, to out: inout ByteWriter) -> Bool {
        var beyondASCII = false
        out.appendUnchecked(maxCount: 3 * path.count + 1) { tail in
            var index = 0
            while index < path.count, isPlainPathByte(path[index]) { index += 1 }
            if index > 0 { tail.initialize(from: path.baseAddress!.assumingMemoryBound(to: UInt8.self), count: index) }
            var written = index
            while index < path.count {
                var byte = path[index]
                if byte == UInt8(ascii: "%"), index + 2 < path.count, let high = hexValue(path[index + 1]), let low = hexValue(path[index + 2]) {
                    byte = high << 4 | low
                    index += 3
                } else {
                    index += 1
                }
                if byte >= 0x80 { beyondASCII = true }
                if isPlainPathByte(byte) {
                    tail[written] = byte
                    written += 1
                } else {
                    tail[written] = UInt8(ascii: "%")
                    tail[written + 1] = upperHexDigit(byte >> 4)
                    tail[written + 2] = upperHexDigit(byte & 0xF)
                    written += 3
                }
            }
            if written == 0 || tail[written - 1] != UInt8(ascii: "/") {
                tail[written] = UInt8(ascii: "/")
                written += 1
            }
            return written
        }
        return !beyondASCII || String(validating: percentDecoded(path.assumingMemoryBound(to: UInt8.self)), as: UTF8.self) != nil
    }

    /// A byte the canonical URI keeps as it is: RFC 3986's unreserved characters and `/`
    /// (`isUnreserved(byte) || byte == "/"`), by a bit of two masks instead of a chain
    /// of ranges.
    @inline(__always)
    static func isPlainPathByte(_ byte: UInt8) -> Bool {
        // Below 64: `-`, `.`, `/` (0x2D-0x2F) and the digits (0x30-0x39), bits 45 to 57.
        let low: UInt64 = 0x1FFF << 45
        // 64 to 127: A-Z (bits 1-26), `_` (31), a-z (33-58), `~` (62).
        let high: UInt64 = 0x3FF_FFFF << 1 | 1 << 31 | 0x3FF_FFFF << 33 | 1 << 62
        // The mask chosen without a branch: a path alternates digits and letters, which a
        // branch on `byte < 64` mispredicts.
        let mask = byte & 64 == 0 ? low : high
        return byte < 128 && mask >> UInt64(byte & 63) & 1 == 1
    }

    /// RFC 3986's unreserved characters: what percent-encoding leaves as it is.
    @inline(__always)
    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): true
        default: false
        }
    }

    /// Runs `body` with `value` trimmed as Python's `str.strip()` takes it (`trimmedSlice`):
    /// a slice of the bytes when both ends are ASCII, else through a string.
    static func withTrimmed<R>(_ value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        var start = 0
        var end = value.count
        while start < end, isSpace(value[start]) { start += 1 }
        while end > start, isSpace(value[end - 1]) { end -= 1 }
        if start == end || (value[start] < 0x80 && value[end - 1] < 0x80) {
            return body(UnsafeRawBufferPointer(rebasing: value[start..<end]))
        }
        var text = String(trimmedSlice(Substring(String(decoding: value, as: UTF8.self))))
        return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }

    /// The most bytes `withTrimmed` can hand over for `value`: the trimmed slice's length
    /// when both its ends are ASCII, else three per byte (its Unicode path decodes each
    /// byte that is not UTF-8 to U+FFFD).
    static func trimmedBound(_ value: UnsafeRawBufferPointer) -> Int {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        var start = 0
        var end = value.count
        while start < end, isSpace(value[start]) { start += 1 }
        while end > start, isSpace(value[end - 1]) { end -= 1 }
        return start == end || (value[start] < 0x80 && value[end - 1] < 0x80) ? end - start : 3 * value.count
    }

    /// Lower-case hex of `bytes`.
    static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: 2 * bytes.count) { out in
            writeHex(bytes, to: out.baseAddress!)
            return 2 * bytes.count
        }
    }

    /// Lower-case hex of `bytes`, written to `hex` (twice as many bytes).
    @inline(__always)
    static func writeHex(_ bytes: UnsafeRawBufferPointer, to hex: UnsafeMutablePointer<UInt8>) {
        for index in 0..<bytes.count {
            hex[2 * index] = lowerHexDigit(bytes[index] >> 4)
            hex[2 * index + 1] = lowerHexDigit(bytes[index] & 0xF)
        }
    }

    /// The query's `name=value` pairs percent-decoded, sorted by name, then value, and
    /// encoded again; a name without `=` has the value "".
    static func appendCanonicalQuery(_ rawQuery: UnsafeRawBufferPointer, to out: inout ByteWriter) {
        guard !rawQuery.isEmpty else { return }
        let pairs = Array(rawQuery).split(separator: UInt8(ascii: "&")).map { part -> (name: [UInt8], value: [UInt8]) in
            let pieces = part.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            return (percentDecoded(pieces[0]), pieces.count == 2 ? percentDecoded(pieces[1]) : [])
        }
        let sorted = pairs.sorted {
            $0.name == $1.name ? $0.value.lexicographicallyPrecedes($1.value) : $0.name.lexicographicallyPrecedes($1.name)
        }
        for (index, pair) in sorted.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            for byte in pair.name { out.appendPercentEncoded(byte) }
            out.append(UInt8(ascii: "="))
            for byte in pair.value { out.appendPercentEncoded(byte) }
        }
    }

    /// `%XX` to bytes; a `%` not followed by two hex digits stays as it is (as Python's
    /// `unquote` leaves it).
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

    @inline(__always) static func upperHexDigit(_ value: UInt8) -> UInt8 { value < 10 ? 0x30 + value : 0x41 + value - 10 }
    @inline(__always) static func lowerHexDigit(_ value: UInt8) -> UInt8 { value < 10 ? 0x30 + value : 0x61 + value - 10 }

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
        return text.withUTF8 { parseDate(UnsafeRawBufferPointer($0)) }
    }

    static func parseDate(_ bytes: UnsafeRawBufferPointer) -> Date? {
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        // Every digit read, and whether any was not one, without a branch per digit.
        var notDigits: UInt8 = 0
        func number(_ range: Range<Int>) -> Int {
            var value = 0
            for index in range {
                let digit = bytes[index] &- 0x30
                notDigits |= digit > 9 ? 1 : 0
                value = value &* 10 &+ Int(digit)
            }
            return value
        }
        let year = number(0..<4)
        let month = number(4..<6)
        let day = number(6..<8)
        let hour = number(9..<11)
        let minute = number(11..<13)
        let second = number(13..<15)
        guard notDigits == 0, (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month), hour < 24, minute < 60,
            second < 60
        else { return nil }
        let seconds = UTCCalendar.daysSince1970(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
        return Date(timeIntervalSince1970: TimeInterval(seconds))
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
    @inline(__always)
    static func equalsIgnoringASCIICase(_ name: UnsafeRawBufferPointer, lowercased: UnsafeRawBufferPointer) -> Bool {
        guard name.count == lowercased.count else { return false }
        for index in 0..<name.count {
            let a = name[index]
            if a != lowercased[index] && !((0x41...0x5A).contains(a) && a | 0x20 == lowercased[index]) { return false }
        }
        return true
    }

    /// Compares two signatures in time that depends only on their length.
    public static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        var lhs = lhs
        return lhs.withUTF8 { constantTimeEquals(UnsafeRawBufferPointer($0), rhs) }
    }

    static func constantTimeEquals(_ lhs: UnsafeRawBufferPointer, _ rhs: String) -> Bool {
        var rhs = rhs
        return rhs.withUTF8 { right in
            guard lhs.count == right.count else { return false }
            var difference: UInt8 = 0
            for index in 0..<right.count { difference |= lhs[index] ^ right[index] }
            return difference == 0
        }
    }
}

/// Bytes written into scratch memory the caller sizes beforehand (on the stack when small):
/// the canonical request and the string to sign, without growing an array byte by byte.
/// Writing past the capacity stops the process rather than the memory next to it.
struct ByteWriter {
    private let base: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private(set) var count = 0

    /// Runs `body` with a writer of `capacity` bytes, valid only inside it.
    static func with<R>(capacity: Int, _ body: (inout ByteWriter) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(capacity, 1)) { buffer in
            var writer = ByteWriter(base: buffer.baseAddress!, capacity: buffer.count)
            return body(&writer)
        }
    }

    private init(base: UnsafeMutablePointer<UInt8>, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        precondition(count < capacity, "ByteWriter overflow")
        base[count] = byte
        count += 1
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= capacity - count, "ByteWriter overflow")
        if let source = bytes.baseAddress, !bytes.isEmpty {
            (base + count).initialize(from: source.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        }
        count += bytes.count
    }

    mutating func append(_ bytes: [UInt8]) { bytes.withUnsafeBytes { append($0) } }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// A byte as is when RFC 3986 leaves it unreserved, else `%XX` (upper-case hex).
    @inline(__always)
    mutating func appendPercentEncoded(_ byte: UInt8) {
        if RequestSigning.isUnreserved(byte) {
            append(byte)
        } else {
            append(UInt8(ascii: "%"))
            append(RequestSigning.upperHexDigit(byte >> 4))
            append(RequestSigning.upperHexDigit(byte & 0xF))
        }
    }

    /// Lets `write` fill up to `maxCount` bytes at the end directly (checked once, not per
    /// byte) and returns how many it wrote.
    @discardableResult
    mutating func appendUnchecked(maxCount: Int, _ write: (UnsafeMutablePointer<UInt8>) -> Int) -> Int {
        precondition(maxCount <= capacity - count, "ByteWriter overflow")
        let written = write(base + count)
        precondition(written <= maxCount, "ByteWriter overflow")
        count += written
        return written
    }

    /// Lower-case hex of `bytes` (a digest).
    mutating func appendHex(_ bytes: UnsafeRawBufferPointer) {
        precondition(2 * bytes.count <= capacity - count, "ByteWriter overflow")
        RequestSigning.writeHex(bytes, to: base + count)
        count += 2 * bytes.count
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R { body(UnsafeRawBufferPointer(start: base, count: count)) }
}

extension UnsafeRawBufferPointer {
    /// The bytes of a static string (a field name), without a copy.
    init(staticName: StaticString) {
        self.init(start: staticName.utf8Start, count: staticName.utf8CodeUnitCount)
    }
}

extension RequestSigning {
    /// Parses `Authorization` values, remembering the last one up to its signature: a client
    /// sends the same algorithm, access key and signed headers call after call, and only the
    /// signature changes. A value that is the last one's text up to `Signature=` followed by
    /// 64 lowercase hex digits parses to the last result with that signature, exactly as
    /// `Authorization.parse` would read it; anything else is parsed in full.
    public struct AuthorizationMemory: Sendable {
        private var last: (prefix: [UInt8], authorization: Authorization)?

        public init() {}

        public mutating func parse(_ value: String) -> Result<Authorization, Rejection> {
            var value = value
            return value.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
        }

        /// `parse` on the value's bytes as received (a field of a `Request`): a string is
        /// made only when the value is not the remembered one's.
        public mutating func parse(_ bytes: UnsafeRawBufferPointer) -> Result<Authorization, Rejection> {
            let split = bytes.count - 64
            // The remembered prefix ends in `Signature=` (only a signed value's is kept), so
            // the same prefix and 64 lowercase hex digits after it are a signed value.
            if bytes.count > 74, let last, last.prefix.count == split,
                last.prefix.withUnsafeBytes({ memcmp($0.baseAddress!, bytes.baseAddress!, split) == 0 }),
                let signature = Authorization.decodedSignature(checking: UnsafeRawBufferPointer(rebasing: bytes[split...]))
            {
                return .success(last.authorization.with(signatureBytes: signature))
            }
            let signed =
                bytes.count > 74 && (split..<bytes.count).allSatisfy({ Self.isLowerHex(bytes[$0]) })
                && UnsafeRawBufferPointer(rebasing: bytes[(split - 10)..<split]).elementsEqual(UnsafeRawBufferPointer(staticName: "Signature="))
            let parsed = Authorization.parse(String(decoding: bytes, as: UTF8.self))
            if case .success(let authorization) = parsed, signed { last = (Array(bytes[..<split]), authorization) }
            return parsed
        }

        @inline(__always)
        static func isLowerHex(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) }
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
