import GatehouseDirectory
import GatehousePolicy

/// A call the gateway answers itself, in the account service's error style
/// (`{"error_code", "error_msg", "request_id"}`). `reason` is the audit log's word for it.
public struct Refusal: Error, Sendable, Equatable {
    public var status: Int
    public var code: String
    public var message: String
    public var reason: String

    public init(status: Int, code: String, message: String, reason: String) {
        self.status = status
        self.code = code
        self.message = message
        self.reason = reason
    }

    /// A refused credential. Only a session that existed and is over (expired, revoked,
    /// ended, its user disabled) is "login expired", the guide's prompt to sign in again.
    /// No credential and one the directory does not know get Huawei API Gateway's answers
    /// for a missing and an undecryptable token (`APIGW.0301`, "Common Errors Related to IAM
    /// Authentication Information", API Request Signing Guide). The audit log keeps which.
    public static func credentialRefused(_ why: TokenRejection?) -> Refusal {
        switch why {
        case nil:
            return Refusal(
                status: 401, code: "APIGW.0301", message: "Incorrect IAM authentication information: x-auth-token not found", reason: "token_missing")
        case .unknown?:
            return Refusal(
                status: 401, code: "APIGW.0301", message: "Incorrect IAM authentication information: decrypt token fail", reason: "token_unknown")
        case let why?:
            return Refusal(status: 401, code: "Gatehouse.0401", message: "login expired", reason: "token_" + why.rawValue)
        }
    }

    public static func badTarget(_ rejection: RequestTarget.Rejection) -> Refusal {
        Refusal(status: 400, code: "Gatehouse.0400", message: "Bad request path: \(rejection).", reason: "bad_path")
    }

    /// A path parameter that does not have its documented ID format (`IdentifierFormat`).
    public static func badParameter(name: String, value: String, format: IdentifierFormat) -> Refusal {
        let shown = value.count > 64 ? String(value.prefix(64)) + "..." : value
        return Refusal(
            status: 400, code: "Gatehouse.0400", message: "Invalid \(name) \(JSONWriter.quoted(shown)): \(format.description).",
            reason: "bad_parameter: \(name)")
    }

    public static func badBody(_ message: String) -> Refusal {
        Refusal(status: 400, code: "Gatehouse.0400", message: message, reason: "bad_body")
    }

    public static let conflictingCredentials = Refusal(
        status: 400, code: "Gatehouse.0400", message: "The request carries both X-Auth-Token and Authorization; send one credential.",
        reason: "conflicting_credentials")

    /// A request the HTTP/1 reader refuses; `why` is the reader's reason, for the caller and
    /// the audit log alike (it names a field, never echoes a value).
    public static func malformedRequest(_ why: String) -> Refusal {
        Refusal(status: 400, code: "Gatehouse.0400", message: "The request is not valid HTTP/1: \(why).", reason: "malformed_request: \(why)")
    }

    public static func noRoute(method: String, path: String) -> Refusal {
        Refusal(status: 404, code: "Gatehouse.0404", message: "No API matches \(method) \(path).", reason: "no_route")
    }

    public static let notManagementAccount = Refusal(
        status: 401, code: "Organizations.1001",
        message: "This operation can be called only from the management account of an organization.", reason: "not_management_account")

    public static let notDelegatedAdministrator = Refusal(
        status: 401, code: "Organizations.1002",
        message:
            "This operation can be called only from the management account of an organization or by a member account that is a delegated administrator for a service.",
        reason: "not_delegated_administrator")

    public static let notMember = Refusal(
        status: 401, code: "Gatehouse.0402", message: "This operation can be called only from an account in the organization.", reason: "not_member")

    public static func policyDenied(action: String, reason: String) -> Refusal {
        Refusal(status: 403, code: "Organizations.1007", message: "Policy doesn't allow '\(action)' to be performed.", reason: reason)
    }

    public static let requestTimeout = Refusal(
        status: 408, code: "Gatehouse.0408", message: "The request was not received in time.", reason: "request_timeout")

    public static func bodyTooLarge(limit: Int) -> Refusal {
        Refusal(status: 413, code: "Gatehouse.0413", message: "The request body is larger than \(limit) bytes.", reason: "body_too_large")
    }

    public static func headTooLarge(limit: Int) -> Refusal {
        Refusal(
            status: 431, code: "Gatehouse.0431", message: "The request line and headers are larger than \(limit) bytes.", reason: "head_too_large")
    }

    public static func upstreamUnavailable(_ detail: String) -> Refusal {
        Refusal(status: 502, code: "Gatehouse.0502", message: "The account service cannot be reached.", reason: "upstream_unavailable: \(detail)")
    }

    /// The tags a policy needs could not be read (the lookup's reason is audited): a deny,
    /// never "no tags".
    public static func tagsUnavailable(_ why: String) -> Refusal {
        Refusal(
            status: 503, code: "Gatehouse.0503", message: "The target resource's tags cannot be read, so the call cannot be authorized.",
            reason: "tags_unavailable: \(why)")
    }

    /// The tag lookup found no such resource: a policy that tests its tags cannot allow the
    /// call, so it is denied as by policy.
    public static func tagsNotFound(action: String, path: String) -> Refusal {
        Refusal(
            status: 403, code: "Organizations.1007", message: "Policy doesn't allow '\(action)' to be performed.",
            reason: "tags_not_found: GET \(path) answered 404")
    }

    public static let auditUnavailable = Refusal(
        status: 503, code: "Gatehouse.0503", message: "The audit log cannot be written, so no call is let through.", reason: "audit_unavailable")

    public static let notReady = Refusal(
        status: 503, code: "Gatehouse.0503", message: "The gateway has no valid policy set or directory yet.", reason: "not_ready")

    public static let upstreamTimeout = Refusal(
        status: 504, code: "Gatehouse.0504", message: "The account service did not answer in time.", reason: "upstream_timeout")
}
