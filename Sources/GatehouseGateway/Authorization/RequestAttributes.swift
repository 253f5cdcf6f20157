import Foundation
import GatehouseSigning

/// What the gateway knows about a call once its request has been read.
public struct RequestAttributes: Sendable {
    public var method: String
    /// The request target exactly as received.
    public var target: String
    public var token: String?
    /// An AK/SK-signed call: the `Authorization` value, the `X-Security-Token` and the
    /// request as signed (`RequestSigning.Request`).
    public var signed: SignedCredential?
    /// An `X-Security-Token` sent without an AK/SK signature: refused, since it names
    /// temporary credentials the call does not use.
    public var securityTokenWithoutSignature = false
    public var userAgent: String?
    /// The `Referer` field (`g:Referer`).
    public var referer: String?
    public var forwardedFor: String?
    public var forwardedProto: String?
    /// The client's connection to the gateway is TLS.
    public var isTLS = false
    /// The address of the socket's peer.
    public var peer: String
    public var body: [UInt8]
    public var now: Date
    /// Asked by a proxy in front (the decision listener): why the call's body is not at
    /// hand, when it is not (`DecisionRequest`); a decision that depends on it is refused.
    public var bodyWithheld: String?
    /// Asked by a proxy in front: the socket's peer is that proxy, whose `X-Forwarded-For`
    /// and `X-Forwarded-Proto` are believed as a trusted proxy's.
    public var peerIsAskingProxy = false
    /// The request carries two credentials (`X-Auth-Token` and `Authorization`), which could
    /// name two callers: refused rather than one picked.
    public var conflictingCredentials = false
    /// The console's cookies (`ConsoleCookies`): its session is the credential of console
    /// pages, and of nothing else.
    public var cookies = ConsoleCookies()

    public init(
        method: String, target: String, token: String? = nil, userAgent: String? = nil, forwardedFor: String? = nil, forwardedProto: String? = nil,
        peer: String, body: [UInt8] = [], now: Date = Date()
    ) {
        self.method = method
        self.target = target
        self.token = token
        self.userAgent = userAgent
        self.forwardedFor = forwardedFor
        self.forwardedProto = forwardedProto
        self.peer = peer
        self.body = body
        self.now = now
    }
}

/// What an AK/SK-signed call carries to authenticate it: the request as signed, whose
/// field lines include its `Authorization` (read from there as bytes, not copied out).
public struct SignedCredential: Sendable {
    public var securityToken: String?
    public var request: RequestSigning.Request

    /// A signed call as received: `request`'s fields carry the `Authorization`.
    public init(securityToken: String?, request: RequestSigning.Request) {
        self.securityToken = securityToken
        self.request = request
    }

    /// A signed call with its `Authorization` given apart from `request`'s fields (set as
    /// that field).
    public init(authorization: String, securityToken: String?, request: RequestSigning.Request) {
        self.init(securityToken: securityToken, request: request)
        self.authorization = authorization
    }

    /// The `Authorization` value as received ("" when the request has none).
    public var authorization: String {
        get { request.value(of: "authorization") ?? "" }
        set {
            var fields = request.fields.filter { $0.name.lowercased() != "authorization" }
            fields.append(("Authorization", newValue))
            request.fields = fields
        }
    }
}
