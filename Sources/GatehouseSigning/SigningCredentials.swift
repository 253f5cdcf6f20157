import Foundation

/// An AK/SK pair to sign with (or, for a service, to verify with), read from a JSON file
/// only its owner can read:
/// `{"access_key": "...", "secret_key": "...", "algorithm": "SDK-HMAC-SHA256"}`; for
/// `V11-HMAC-SHA256` also `"region"` (and `"service"`, default `organizations`), which make
/// the scope `yyyymmdd/region/service`.
public struct SigningCredentials: Sendable, Equatable {
    public var accessKey: String
    public var secretKey: String
    public var algorithm: RequestSigning.Algorithm
    /// `region/service`, for V11-HMAC-SHA256.
    public var scopeSuffix: String?

    public init(accessKey: String, secretKey: String, algorithm: RequestSigning.Algorithm = .sdkHmacSha256, scopeSuffix: String? = nil) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.algorithm = algorithm
        self.scopeSuffix = scopeSuffix
    }

    /// Why a signing file cannot be used.
    public struct FileError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads and checks the file; the error says what to fix.
    public static func load(file path: String) throws(FileError) -> SigningCredentials {
        func bad(_ why: String) -> FileError { FileError(description: "\(path): \(why)") }
        var status = stat()
        guard stat(path, &status) == 0, let bytes = FileManager.default.contents(atPath: path) else { throw bad("cannot read the file") }
        if status.st_mode & 0o077 != 0 {
            throw bad("the file holds a secret key and is readable by others (mode \(String(status.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        guard bytes.count <= 1 << 16, let object = (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any] else {
            throw bad(#"not a JSON object {"access_key", "secret_key"}"#)
        }
        let known: Set<String> = ["access_key", "secret_key", "algorithm", "region", "service"]
        if let odd = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw bad("unknown member \"\(odd)\"; the members are \(known.sorted().joined(separator: ", "))")
        }
        func text(_ name: String) throws(FileError) -> String? {
            guard let value = object[name] else { return nil }
            guard let string = value as? String else { throw bad("\(name) must be a string") }
            guard !string.isEmpty, string.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw bad("\(name) must be printable ASCII without spaces")
            }
            return string
        }
        guard let accessKey = try text("access_key"), let secretKey = try text("secret_key") else {
            throw bad("access_key and secret_key are required")
        }
        let name = try text("algorithm") ?? RequestSigning.Algorithm.sdkHmacSha256.rawValue
        guard let algorithm = RequestSigning.Algorithm(rawValue: name) else {
            throw bad("algorithm is \(RequestSigning.Algorithm.allCases.map(\.rawValue).joined(separator: " or ")), not \(name)")
        }
        var scopeSuffix: String?
        if algorithm == .v11HmacSha256 {
            guard let region = try text("region") else { throw bad("V11-HMAC-SHA256 needs the region") }
            scopeSuffix = region + "/" + (try text("service") ?? "organizations")
        }
        return SigningCredentials(accessKey: accessKey, secretKey: secretKey, algorithm: algorithm, scopeSuffix: scopeSuffix)
    }

    /// The file's text for these credentials.
    public var fileText: String {
        var object: [String: String] = ["access_key": accessKey, "secret_key": secretKey, "algorithm": algorithm.rawValue]
        if let scopeSuffix {
            let parts = scopeSuffix.split(separator: "/", maxSplits: 1).map(String.init)
            object["region"] = parts.first
            object["service"] = parts.count > 1 ? parts[1] : nil
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The `X-Sdk-Date` and `Authorization` fields that sign a request. `fields` are the
    /// other fields signed (lowercase names, each once); `target` is the request target as
    /// sent.
    public func sign(method: String, target: String, fields: [(name: String, value: String)], body: [UInt8], now: Date) -> [(StaticString, String)] {
        let date = RequestSigning.formatDate(now)
        var signed = fields
        signed.append(("x-sdk-date", date))
        signed.sort { $0.name < $1.name }
        let request = RequestSigning.Request(method: method, target: target, fields: signed, body: body)
        let names = signed.map(\.name)
        let scope = scopeSuffix.map { String(date.prefix(8)) + "/" + $0 }
        // The fields are the signer's own and each is given once, so only OpenSSL failing to
        // hash could refuse; the empty signature is then refused upstream (fail closed).
        let signature =
            (try? RequestSigning.signature(
                of: request, signedHeaders: names, date: date, algorithm: algorithm, accessKey: accessKey, scope: scope, secretKey: secretKey
            ).get()) ?? ""
        let credential = scope.map { "Credential=\(accessKey)/\($0)" } ?? "Access=\(accessKey)"
        return [
            ("X-Sdk-Date", date),
            ("Authorization", "\(algorithm.rawValue) \(credential), SignedHeaders=\(names.joined(separator: ";")), Signature=\(signature)"),
        ]
    }

    /// Verifies a request signed with these credentials (see `RequestSigning.verify`); nil
    /// when the signature holds.
    public func verify(_ request: RequestSigning.Request, authorization value: String?, now: Date) -> RequestSigning.Rejection? {
        guard let value else { return .malformedAuthorization("no Authorization") }
        switch RequestSigning.Authorization.parse(value) {
        case .failure(let rejection): return rejection
        case .success(let authorization):
            guard RequestSigning.constantTimeEquals(authorization.accessKey, accessKey) else { return .signatureMismatch }
            return RequestSigning.verify(request, authorization: authorization, secretKey: secretKey, now: now)
        }
    }
}
