import Foundation

/// What the gateway knows about a call once its request has been read.
public struct RequestAttributes: Sendable {
    public var method: String
    /// The request target exactly as received.
    public var target: String
    public var token: String?
    public var userAgent: String?
    public var forwardedFor: String?
    public var forwardedProto: String?
    /// The address of the socket's peer.
    public var peer: String
    public var body: [UInt8]
    public var now: Date
    /// The request carries two credentials (`X-Auth-Token` and `Authorization`), which could
    /// name two callers: refused rather than one picked.
    public var conflictingCredentials = false

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
