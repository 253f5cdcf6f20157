import Foundation
import GatehouseDirectory
import GatehousePolicy

/// One call's state on the request path (`RequestStage`): what authorization found, the
/// gateway error that ends it if any, and its audit record, which is created here and
/// nowhere else, and filled in stage by stage until the audit stage writes it.
///
/// A class, not a struct: a call's context is filled in as it goes (authorization, then the
/// answer's status and latencies) and passed from stage to stage, and as a struct of some
/// thirty strings and collections every hand-over retained and released each of them.
/// A request context belongs to one call, and is only touched on that call's event loop.
public final class RequestContext: @unchecked Sendable {
    /// Set when the call is refused: the gateway answers it (`GatewayError.responseBody`).
    public private(set) var gatewayError: GatewayError?
    public var record: AuditRecord
    /// The parsed target, to forward exactly as received.
    public var target: RequestTarget?
    public var session: Session?
    /// The account whose tags a forwarded call changes (its cached tags are dropped when the
    /// call succeeds).
    public var changesTagsOf: String?
    /// Set when Gatehouse answers the call itself (see `BuiltInEndpoints`), with the route's
    /// path parameters.
    public var handler: BuiltInEndpoint?
    public var parameters: [String: String] = [:]
    /// The call is for a console page: refused as a page, not as the API's JSON.
    public var isConsole = false
    /// The caller owns the organization and the route gives the owner its call by role
    /// (`Route.ownerRights`): an implicit deny is then an allow, `owner_rights`.
    public var ownerRights = false
    /// A console call reached the gateway over TLS, directly or through a trusted proxy
    /// (`g:SecureTransport`'s rule): its cookies are then `Secure`.
    public var secureTransport = false

    /// A call as read: `method` and `path` as received (`-` when the request could not be
    /// read that far), the client's address, and the policy set's revision (empty before one
    /// is loaded).
    public init(requestId: String, method: String, path: String, sourceIp: String, policyRevision: String, receivedAt: Date) {
        record = AuditRecord(time: receivedAt, requestId: requestId, method: method, path: path, sourceIp: sourceIp, policyRevision: policyRevision)
    }

    /// Ends the call with `error`: denied, with its audit reason and status (the same
    /// context, returned for chaining).
    @discardableResult
    public func refuse(_ error: GatewayError) -> RequestContext {
        gatewayError = error
        record.decision = "deny"
        record.reason = error.reason
        record.status = error.status
        return self
    }

    /// Lets the call through, for `reason` (the engine's, or `confirmation_link`).
    @discardableResult
    public func allow(reason: String, statements: [StatementRef] = []) -> RequestContext {
        record.decision = "allow"
        record.reason = reason
        record.statements = statements
        return self
    }

    /// `mode: shadow`: the refusal stays in the record (`decision`, `reason`) but the call
    /// goes on, marked as not enforced.
    func forwardDespiteRefusal() {
        gatewayError = nil
        record.enforced = false
    }

    /// A built-in endpoint answered: its status, what it changed and, for a call without a
    /// token (an accepted transfer), who acted.
    func answered(by response: EndpointResponse) {
        record.status = response.status
        record.changes = response.changes
        if let user = response.actingUser { record.user = user }
    }

    /// The account service failed after part of its answer went out: the call stays
    /// allowed (it was), with this reason.
    func markAnswerBroken() {
        record.reason = "upstream_broken_answer"
    }
}
