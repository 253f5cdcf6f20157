import Foundation
import GatehouseDirectory
import GatehousePolicy

/// `POST /v3.0/OS-CREDENTIAL/securitytokens`, in the shape of IAM's "Obtaining Temporary
/// Access Keys and Security Tokens of an IAM User": a caller holding a token or a permanent
/// access key gets temporary credentials for themselves.
///
/// Body: `{"auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": 900}}}}`
/// (`duration_seconds` 900 to 86400, default 900). Answer 201:
/// `{"credential": {"access", "secret", "securitytoken", "expires_at"}}`. The new
/// credentials carry the caller's MFA state and end with the caller's sessions. Callers on
/// temporary credentials are refused: renewing them from themselves would let a session
/// outlive its expiry. (IAM's `policy` member, which narrows OBS permissions only, is refused
/// rather than ignored.)
enum SecurityTokenEndpoint {
    static func handle(_ call: EndpointRequest, store: DirectoryStore) throws -> Result<EndpointResponse, GatewayError> {
        guard let session = call.session else { return .failure(.credentialRefused(nil)) }
        guard session.credential != .temporaryAccessKey else {
            return .failure(.badCredentialRequest("Temporary credentials cannot be used to obtain more temporary credentials."))
        }
        let duration: Int
        switch Self.duration(from: call.body) {
        case .failure(let error): return .failure(error)
        case .success(let seconds): duration = seconds
        }
        let issued = try store.issueTemporaryCredentials(
            user: session.user.name, validFor: TimeInterval(duration), mfa: session.mfa, now: call.now)
        var response = EndpointResponse(
            status: 201,
            json: .object([
                (
                    "credential",
                    .object([
                        ("access", .string(issued.accessKey)), ("secret", .string(issued.secretKey)),
                        ("securitytoken", .string(issued.securityToken)),
                        ("expires_at", .string(UTCTime.string(issued.expiresAt, milliseconds: true))),
                    ])
                )
            ]),
            // Names the new key in the audit line (never its secret), and makes the gateway's
            // view take it up at once.
            changes: [FieldChange(field: "temporary_access_key", old: nil, new: issued.accessKey)])
        response.contentType = "application/json;charset=utf8"
        return .success(response)
    }

    /// `auth.identity.token.duration_seconds`, checked as IAM documents it.
    static func duration(from body: [UInt8]) -> Result<Int, GatewayError> {
        func bad(_ message: String) -> Result<Int, GatewayError> { .failure(.badCredentialRequest(message)) }
        let shape = #"The body must be {"auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": 900}}}}."#
        guard !body.isEmpty, let json = try? JSONLoader.parse(body, limits: JSONLimits(maxBytes: max(body.count, 1), maxDepth: 8)),
            case .object(let top) = json
        else { return bad(shape) }
        if let odd = top.first(where: { $0.key != "auth" }) { return bad("\(JSONWriter.quoted(odd.key)) is not a member of the body; \(shape)") }
        guard case .object(let auth)? = json["auth"], case .object(let identity)? = json["auth"]?["identity"] else { return bad(shape) }
        if let odd = auth.first(where: { $0.key != "identity" }) { return bad("auth.\(odd.key) is not supported; \(shape)") }
        if let odd = identity.first(where: { $0.key != "methods" && $0.key != "token" }) {
            return bad("auth.identity.\(odd.key) is not supported; \(shape)")
        }
        guard case .array(let methods)? = identity.first(where: { $0.key == "methods" })?.value, methods == [.string("token")] else {
            return bad(#"auth.identity.methods must be ["token"]."#)
        }
        guard let token = identity.first(where: { $0.key == "token" })?.value else { return .success(900) }
        guard case .object(let members) = token else { return bad("auth.identity.token must be an object.") }
        if let odd = members.first(where: { $0.key != "duration_seconds" && $0.key != "id" }) {
            return bad("auth.identity.token.\(odd.key) is not supported; \(shape)")
        }
        if members.contains(where: { $0.key == "id" }) {
            return bad("auth.identity.token.id is not supported: the caller's own credential is the one used.")
        }
        guard let value = members.first(where: { $0.key == "duration_seconds" })?.value else { return .success(900) }
        guard case .integer(let seconds) = value, (900...86_400).contains(seconds) else {
            return bad("auth.identity.token.duration_seconds must be a whole number from 900 to 86400.")
        }
        return .success(Int(seconds))
    }
}
