import NIOCore

/// Which proxy in front asks the decision listener (`authz.listen`), by the shape of its
/// question.
public enum DecisionFront: String, Sendable {
    /// nginx's `auth_request`: `GET /auth/request`, the call in `X-Original-Method` and
    /// `X-Original-URI`, its fields as the client sent them.
    case authRequest = "auth_request"
    /// Envoy's HTTP `ext_authz` filter: the call's own method, `authz.envoy_path_prefix`
    /// before its path, the fields `allowed_headers` lets through and, with
    /// `with_request_body`, its body.
    case extAuthz = "ext_authz"
}

/// The call a proxy asks about, read from its question: method and target as the client sent
/// them, and the body when the proxy passed it whole.
///
/// Whether the proxy passed the body is never guessed from its absence: nginx cannot pass
/// it, and Envoy passes it only with `with_request_body`, so a question without a body says
/// nothing by itself. The proxy says which in `X-Original-Body`:
/// - `none`: the call has no body (nginx: a `map` of `$content_length` and
///   `$http_transfer_encoding`);
/// - `withheld`: it has one the proxy does not pass;
/// - `passed`: the question's body is the call's (Envoy with `with_request_body`; Envoy's own
///   `x-envoy-auth-partial-body: true` then says it was cut short).
/// Without it, the body is unknown. A decision that depends on an unknown or withheld body
/// is refused (`GatewayError.bodyWithheld`); one that does not is decided.
struct DecisionRequest {
    var front: DecisionFront
    var method: String
    var target: String
    var body: [UInt8]
    /// Why the call's body is not at hand (nil when `body` is the call's whole body).
    var bodyWithheld: String?

    static let authRequestPath = "/auth/request"

    /// Reads the question: nginx's at exactly `/auth/request`, Envoy's under `envoyPrefix`.
    static func read(_ head: HTTP1.Head, body: ByteBuffer?, envoyPrefix: String) -> Result<DecisionRequest, GatewayError> {
        let passed = body.map { Array($0.readableBytesView) } ?? []
        var request: DecisionRequest
        let path = head.target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.target
        if path == authRequestPath {
            guard head.method == "GET" else { return .failure(.badDecisionRequest("nginx asks with GET \(authRequestPath)")) }
            guard let method = single(.xOriginalMethod, "X-Original-Method", in: head), let target = single(.xOriginalURI, "X-Original-URI", in: head)
            else {
                return .failure(.badDecisionRequest("X-Original-Method and X-Original-URI must each be sent once (proxy_set_header)"))
            }
            guard !method.isEmpty, method.utf8.allSatisfy(HTTP1.Decoder.isTokenByte) else {
                return .failure(.badDecisionRequest("X-Original-Method is not an HTTP method"))
            }
            request = DecisionRequest(front: .authRequest, method: method, target: target, body: passed)
        } else if head.target.hasPrefix(envoyPrefix + "/") {
            if head.contains(.xOriginalMethod) || head.contains(.xOriginalURI) {
                return .failure(.badDecisionRequest("X-Original-Method and X-Original-URI are nginx's; Envoy's question carries the call's own"))
            }
            request = DecisionRequest(front: .extAuthz, method: head.method, target: String(head.target.dropFirst(envoyPrefix.count)), body: passed)
        } else {
            return .failure(
                .badDecisionRequest("the decision listener answers GET \(authRequestPath) (nginx) and paths under \(envoyPrefix)/ (Envoy)"))
        }
        let stated = head.allFields(.xOriginalBody)
        guard stated.count <= 1 else { return .failure(.badDecisionRequest("X-Original-Body is repeated")) }
        switch stated.first.map(head.value) {
        case nil:
            request.bodyWithheld = "the proxy did not say whether the call has a body (X-Original-Body)"
        case "none":
            guard passed.isEmpty else { return .failure(.badDecisionRequest("X-Original-Body says none, but a body came")) }
        case "withheld":
            request.bodyWithheld = "the proxy does not pass bodies (X-Original-Body: withheld)"
        case "passed":
            if head.first(.xEnvoyAuthPartialBody)?.lowercased() == "true" {
                request.bodyWithheld = "Envoy passed only the first part of the body (allow_partial_message)"
            }
        default:
            return .failure(.badDecisionRequest("X-Original-Body is none, withheld or passed"))
        }
        return .success(request)
    }

    /// The value of a field sent exactly once, else nil.
    private static func single(_ known: HTTP1.Known, _ name: String, in head: HTTP1.Head) -> String? {
        let fields = head.allFields(known)
        return fields.count == 1 ? head.value(fields[0]) : nil
    }
}
