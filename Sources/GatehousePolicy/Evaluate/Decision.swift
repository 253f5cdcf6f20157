/// Why a request was allowed or denied.
public enum DecisionReason: String, Sendable, Hashable {
    case explicitAllow = "explicit_allow"
    case explicitDeny = "explicit_deny"
    case implicitDeny = "implicit_deny"
}

/// Names one statement of a policy set: the policy, the Sid (or index) and its effect.
public struct StatementRef: Sendable, Hashable, CustomStringConvertible {
    public var policy: String
    public var sid: String?
    public var index: Int
    public var effect: Effect

    public init(policy: String, sid: String?, index: Int, effect: Effect) {
        self.policy = policy
        self.sid = sid
        self.index = index
        self.effect = effect
    }

    /// The Sid, or `Statement[i]` for a statement without one.
    public var displayName: String { sid ?? "Statement[\(index)]" }

    public var description: String { "\(policy): \(displayName) (\(effect.rawValue))" }
}

/// The outcome of evaluating a request: allow or deny, why, and which statements decided it
/// (every applying Deny for an explicit deny, every applying Allow for an allow, none for an
/// implicit deny).
public struct Decision: Sendable, Hashable {
    public var reason: DecisionReason
    public var statements: [StatementRef]

    public init(reason: DecisionReason, statements: [StatementRef]) {
        self.reason = reason
        self.statements = statements
    }

    public var isAllowed: Bool { reason == .explicitAllow }

    /// Huawei IAM's wording for a denial, naming principal, action and resource but
    /// nothing of the policies' contents.
    public func message(for request: AuthorizationRequest) -> String {
        let principal = request.principal.urn ?? "(anonymous)"
        switch reason {
        case .explicitAllow:
            return "User: \(principal) is allowed to perform: \(request.action) on resource: \(request.resource)."
        case .explicitDeny:
            return
                "User: \(principal) is not authorized to perform: \(request.action) on resource: \(request.resource) with an explicit deny in the identity policy."
        case .implicitDeny:
            return
                "User: \(principal) is not authorized to perform: \(request.action) on resource: \(request.resource) because no identity policy allows the \(request.action) action."
        }
    }
}
