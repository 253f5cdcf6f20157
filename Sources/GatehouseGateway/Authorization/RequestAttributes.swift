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
    private var source: Source

    /// Where the signed request's bytes are: a `RequestSigning.Request` made by hand, or the
    /// head as received, read in place (`withView`) so a signed call copies none of it.
    private enum Source: Sendable {
        case request(RequestSigning.Request)
        case received(ReceivedRequest)
    }

    /// A signed call as received: `request`'s fields carry the `Authorization`.
    public init(securityToken: String?, request: RequestSigning.Request) {
        self.securityToken = securityToken
        self.source = .request(request)
    }

    /// A signed call as the gateway read it: the head's field lines, with the method,
    /// target and body the signature is checked against (on the decision listener, the
    /// call's, not the question's).
    init(securityToken: String?, head: HTTP1.Head, method: String, target: String, body: [UInt8]) {
        self.securityToken = securityToken
        self.source = .received(ReceivedRequest(head: head, method: method, target: target, body: body))
    }

    /// A signed call with its `Authorization` given apart from `request`'s fields (set as
    /// that field).
    public init(authorization: String, securityToken: String?, request: RequestSigning.Request) {
        self.init(securityToken: securityToken, request: request)
        self.authorization = authorization
    }

    /// The request as signed (made from the head when it was received).
    public var request: RequestSigning.Request {
        get {
            switch source {
            case .request(let request): request
            case .received(let received): received.withView(RequestSigning.Request.init(copying:))
            }
        }
        set { source = .request(newValue) }
    }

    /// Runs `body` with a view of the request as signed: the head's own bytes when it was
    /// received, valid only inside `body`.
    func withView<R>(_ body: (RequestSigning.Request.View) -> R) -> R {
        switch source {
        case .request(let request): request.withView(body)
        case .received(let received): received.withView(body)
        }
    }

    /// The `Authorization` value as received ("" when the request has none).
    public var authorization: String {
        get { withView { $0.value(of: "authorization").map { String(decoding: $0, as: UTF8.self) } } ?? "" }
        set {
            var fields = request.fields.filter { $0.name.lowercased() != "authorization" }
            fields.append(("Authorization", newValue))
            request.fields = fields
        }
    }
}

/// A signed call's head as the gateway received it, with what the signature covers
/// besides its field lines. A class: handed from the handler to the authorizer in one
/// retain. The head is filled in only while the decoder parses it and never changed after.
final class ReceivedRequest: @unchecked Sendable {
    let head: HTTP1.Head
    let method: String
    let target: String
    let body: [UInt8]

    init(head: HTTP1.Head, method: String, target: String, body: [UInt8]) {
        self.head = head
        self.method = method
        self.target = target
        self.body = body
    }

    /// The head's readable bytes and its field lines' spans (on the stack) as a view.
    func withView<R>(_ body: (RequestSigning.Request.View) -> R) -> R {
        var method = method
        var target = target
        let fields = head.fields
        return withUnsafeTemporaryAllocation(of: RequestSigning.Request.FieldSpan.self, capacity: max(fields.count, 1)) { spans in
            for (index, field) in fields.enumerated() {
                spans.initializeElement(
                    at: index,
                    to: RequestSigning.Request.FieldSpan(
                        nameStart: field.nameStart, nameEnd: field.nameEnd, valueStart: field.valueStart, valueEnd: field.valueEnd))
            }
            return head.bytes.withUnsafeReadableBytes { fieldBytes in
                method.withUTF8 { method in
                    target.withUTF8 { target in
                        self.body.withUnsafeBytes { requestBody in
                            RequestSigning.Request.View.with(
                                method: UnsafeRawBufferPointer(method), target: UnsafeRawBufferPointer(target), fieldBytes: fieldBytes,
                                fieldSpans: UnsafeBufferPointer(rebasing: spans[..<fields.count]), body: requestBody, body)
                        }
                    }
                }
            }
        }
    }
}
