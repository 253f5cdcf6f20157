import GatehouseDirectory
import GatehousePolicy
import GatehouseSigning

/// The stages of the request path, in order (`docs/ARCHITECTURE.md`): read the request,
/// authenticate the caller, route the call to its API, apply the API's caller rule, gather
/// the condition context, decide with the caller's policies, forward the call (or answer it
/// with a built-in endpoint), and audit it. Each gateway error belongs to the stage that
/// raises it.
public enum RequestStage: String, Sendable, CaseIterable {
    case read, authenticate, route
    case callerRule = "caller_rule"
    case context, decide, forward, audit
}

/// A call the gateway answers itself, in the account service's error style
/// (`{"error_code", "error_msg", "request_id"}`, `responseBody`), and the audit log's word for
/// it (`reason`). Every such answer is one of these: `Kind.answer` is the one table from
/// condition to HTTP status, service error code and stage, and `docs/OPERATIONS.md` lists it
/// row by row (a test holds the two together).
public struct GatewayError: Error, Sendable, Equatable {
    /// Every condition the gateway answers itself.
    public enum Kind: String, Sendable, CaseIterable {
        case malformedRequest = "malformed_request"
        case badDecisionRequest = "bad_decision_request"
        case headTooLarge = "head_too_large"
        case bodyTooLarge = "body_too_large"
        case requestTimeout = "request_timeout"
        case badPath = "bad_path"
        case notReady = "not_ready"
        case directoryUnavailable = "directory_unavailable"
        case conflictingCredentials = "conflicting_credentials"
        case credentialMissing = "token_missing"
        case credentialUnknown = "token_unknown"
        case sessionOver = "token_expired"
        case signatureRefused = "signature_refused"
        case accessKeyRefused = "access_key_refused"
        case noRoute = "no_route"
        case badParameter = "bad_parameter"
        case notManagementAccount = "not_management_account"
        case notDelegatedAdministrator = "not_delegated_administrator"
        case notMember = "not_member"
        case badBody = "bad_body"
        case bodyWithheld = "body_withheld"
        case answeredInline = "answered_inline"
        case tagsNotFound = "tags_not_found"
        case tagsUnavailable = "tags_unavailable"
        case attachedPolicyMissing = "attached_policy_missing"
        case policyDenied = "policy_denied"
        case auditUnavailable = "audit_unavailable"
        case badProfile = "bad_profile"
        case notOwnerOrAdmin = "not_owner_or_admin"
        case badTransfer = "bad_transfer"
        case badCredentialRequest = "bad_credential_request"
        case notOwner = "not_owner"
        case noSuchTransfer = "no_such_transfer"
        case transferConflict = "transfer_conflict"
        case linkUnknown = "link_unknown"
        case linkGone = "link_gone"
        case linkUnusable = "link_unusable"
        case localFailure = "local_failure"
        case consoleSignInRefused = "sign_in_refused"
        case consoleFormRefused = "console_form_refused"
        case upstreamUnavailable = "upstream_unavailable"
        case upstreamTimeout = "upstream_timeout"

        /// The table: HTTP status, service error code and the stage that raises it. The codes
        /// are the account service's (`Organizations.*`, `huawei-iam-spec.md`), Huawei API
        /// Gateway's (`APIGW.0301`, API Request Signing Guide, "Common Errors Related to IAM
        /// Authentication Information") or Gatehouse's own (`Gatehouse.0<status>`).
        public var answer: (status: Int, code: String, stage: RequestStage) {
            switch self {
            case .malformedRequest, .badPath, .badDecisionRequest: (400, "Gatehouse.0400", .read)
            case .headTooLarge: (431, "Gatehouse.0431", .read)
            case .bodyTooLarge: (413, "Gatehouse.0413", .read)
            case .requestTimeout: (408, "Gatehouse.0408", .read)
            case .notReady, .directoryUnavailable: (503, "Gatehouse.0503", .authenticate)
            case .conflictingCredentials: (400, "Gatehouse.0400", .authenticate)
            case .credentialMissing, .credentialUnknown, .signatureRefused, .accessKeyRefused: (401, "APIGW.0301", .authenticate)
            case .sessionOver: (401, "Gatehouse.0401", .authenticate)
            case .noRoute: (404, "Gatehouse.0404", .route)
            case .badParameter: (400, "Gatehouse.0400", .route)
            case .notManagementAccount: (401, "Organizations.1001", .callerRule)
            case .notDelegatedAdministrator: (401, "Organizations.1002", .callerRule)
            case .notMember: (401, "Gatehouse.0402", .callerRule)
            case .badBody: (400, "Gatehouse.0400", .context)
            case .bodyWithheld: (403, "Gatehouse.0403", .context)
            case .answeredInline: (403, "Gatehouse.0403", .route)
            case .tagsNotFound: (403, "Organizations.1007", .context)
            case .tagsUnavailable: (503, "Gatehouse.0503", .context)
            case .attachedPolicyMissing, .policyDenied: (403, "Organizations.1007", .decide)
            case .auditUnavailable: (503, "Gatehouse.0503", .audit)
            case .badProfile, .badTransfer, .badCredentialRequest: (400, "Gatehouse.0400", .forward)
            case .notOwnerOrAdmin, .notOwner: (403, "Gatehouse.0403", .forward)
            case .noSuchTransfer, .linkUnknown: (404, "Gatehouse.0404", .forward)
            case .transferConflict, .linkUnusable: (409, "Gatehouse.0409", .forward)
            case .linkGone: (410, "Gatehouse.0410", .forward)
            case .localFailure: (500, "Gatehouse.0500", .forward)
            case .consoleSignInRefused: (401, "Gatehouse.0401", .authenticate)
            case .consoleFormRefused: (403, "Gatehouse.0403", .read)
            case .upstreamUnavailable: (502, "Gatehouse.0502", .forward)
            case .upstreamTimeout: (504, "Gatehouse.0504", .forward)
            }
        }
    }

    public let kind: Kind

    /// Refusals `mode: shadow` forwards anyway: the caller rule's, the policies' and the
    /// tags they need. Never an unauthenticated call (there is no principal to forward as),
    /// an unreadable one, or one the gateway cannot decide on for want of its body.
    public var isWouldBeDenial: Bool {
        switch kind {
        case .notManagementAccount, .notDelegatedAdministrator, .notMember, .tagsNotFound, .tagsUnavailable, .attachedPolicyMissing, .policyDenied:
            true
        default: false
        }
    }
    /// For the caller: says what is wrong, never a policy's contents or a credential.
    public let message: String
    /// For the audit log and metrics (counted by the part before any colon).
    public let reason: String

    public var status: Int { kind.answer.status }
    public var code: String { kind.answer.code }
    public var stage: RequestStage { kind.answer.stage }

    init(_ kind: Kind, _ message: String, reason: String? = nil) {
        self.kind = kind
        self.message = message
        self.reason = reason ?? kind.rawValue
    }

    /// `{"error_code", "error_msg", "request_id"}`: the one body every gateway error is
    /// answered with.
    public func responseBody(requestId: String) -> String {
        JSONWriter.compact(.object([("error_code", .string(code)), ("error_msg", .string(message)), ("request_id", .string(requestId))]))
    }

    // MARK: read

    /// A request the HTTP/1 reader refuses; `why` is the reader's reason, for the caller and
    /// the audit log alike (it names a field, never echoes a value).
    public static func malformedRequest(_ why: String) -> GatewayError {
        GatewayError(.malformedRequest, "The request is not valid HTTP/1: \(why).", reason: "malformed_request: \(why)")
    }

    /// A proxy's question that does not say plainly which call it is about
    /// (`DecisionRequest`): `why` names the field, never echoes a value.
    public static func badDecisionRequest(_ why: String) -> GatewayError {
        GatewayError(.badDecisionRequest, "The proxy's authorization request cannot be read: \(why).", reason: "bad_decision_request: \(why)")
    }

    public static func headTooLarge(limit: Int) -> GatewayError {
        GatewayError(.headTooLarge, "The request line and headers are larger than \(limit) bytes.")
    }

    public static func bodyTooLarge(limit: Int) -> GatewayError {
        GatewayError(.bodyTooLarge, "The request body is larger than \(limit) bytes.")
    }

    public static let requestTimeout = GatewayError(.requestTimeout, "The request was not received in time.")

    public static func badTarget(_ rejection: RequestTarget.Rejection) -> GatewayError {
        GatewayError(.badPath, "Bad request path: \(rejection).")
    }

    // MARK: authenticate

    public static let notReady = GatewayError(.notReady, "The gateway has no valid policy set or directory yet.")

    /// A shared directory (PostgreSQL) whose changes the gateway cannot currently see: its
    /// copy may be out of date (a revoked token, a transfer done elsewhere), so no call that
    /// needs it is decided. `why` goes to the audit log, not to the caller.
    public static func directoryUnavailable(_ why: String) -> GatewayError {
        GatewayError(
            .directoryUnavailable, "The gateway cannot reach its directory to check that its copy is current; try again shortly.",
            reason: "directory_unavailable: \(why)")
    }

    public static let conflictingCredentials = GatewayError(
        .conflictingCredentials, "The request carries both X-Auth-Token and Authorization; send one credential.")

    /// A refused credential. Only a session that existed and is over (expired, revoked,
    /// ended, its user disabled) is "login expired", the guide's prompt to sign in again.
    /// No credential and one the directory does not know get Huawei API Gateway's answers
    /// for a missing and an undecryptable token. The audit log keeps which.
    public static func credentialRefused(_ why: TokenRejection?) -> GatewayError {
        switch why {
        case nil: GatewayError(.credentialMissing, "Incorrect IAM authentication information: x-auth-token not found")
        case .unknown?: GatewayError(.credentialUnknown, "Incorrect IAM authentication information: decrypt token fail")
        case let why?: GatewayError(.sessionOver, "login expired", reason: "token_" + why.rawValue)
        }
    }

    /// A console session's token (`gc_`) sent to the API: known, but not a credential there,
    /// answered as a token the API does not know.
    public static let consoleSessionOnTheAPI = GatewayError(
        .credentialUnknown, "Incorrect IAM authentication information: decrypt token fail", reason: "token_console_session")

    /// An AK/SK signature that does not hold, with Huawei API Gateway's message for it and
    /// the signer's reason (`RequestSigning.Rejection.reason`) in the audit log.
    public static func signatureRefused(_ rejection: RequestSigning.Rejection) -> GatewayError {
        GatewayError(
            .signatureRefused, "Incorrect IAM authentication information: verify aksk signature fail, \(rejection.description)",
            reason: rejection.reason)
    }

    /// An `X-Security-Token` on a call that is not AK/SK-signed.
    public static let securityTokenWithoutSignature = GatewayError(
        .signatureRefused, "Incorrect IAM authentication information: X-Security-Token is sent only with an AK/SK-signed request",
        reason: "security_token_without_signature")

    /// An access key that does not authenticate the call. Unknown keys (and those whose
    /// secret the gateway cannot open) get Huawei API Gateway's "Get secretKey failed"; the
    /// rest are said only after the signature held. Ended credentials are "login expired".
    public static func accessKeyRefused(_ why: AccessKeyRejection, accessKey: String) -> GatewayError {
        if why.isEnded { return GatewayError(.sessionOver, "login expired", reason: why.rawValue) }
        // The caller's own AK, as Huawei's gateway echoes it; bounded, and printable by the parser.
        let shown = accessKey.count > 64 ? String(accessKey.prefix(64)) + "..." : accessKey
        let message: String
        switch why {
        case .unknown, .unreadable, .expired, .sessionEnded, .userDisabled:
            message = "Get secretKey failed,ak:\(shown),err:ak not exist"
        case .inactive: message = "Get secretKey failed,ak:\(shown),err:ak is inactive"
        case .securityTokenMissing: message = "the temporary access key \(shown) is used without its X-Security-Token"
        case .securityTokenMismatch: message = "the X-Security-Token does not belong to the access key \(shown)"
        case .securityTokenUnexpected: message = "X-Security-Token is sent only with temporary access keys"
        }
        return GatewayError(.accessKeyRefused, "Incorrect IAM authentication information: " + message, reason: why.rawValue)
    }

    // MARK: route

    public static func noRoute(method: String, path: String) -> GatewayError {
        GatewayError(.noRoute, "No API matches \(method) \(path).")
    }

    /// A path parameter that does not have its documented ID format (`IdentifierFormat`).
    public static func badParameter(name: String, value: String, format: IdentifierFormat) -> GatewayError {
        let shown = value.count > 64 ? String(value.prefix(64)) + "..." : value
        return GatewayError(.badParameter, "Invalid \(name) \(JSONWriter.quoted(shown)): \(format.description).", reason: "bad_parameter: \(name)")
    }

    // MARK: caller rule

    public static let notManagementAccount = GatewayError(
        .notManagementAccount, "This operation can be called only from the management account of an organization.")

    public static let notDelegatedAdministrator = GatewayError(
        .notDelegatedAdministrator,
        "This operation can be called only from the management account of an organization or by a member account that is a delegated administrator for a service."
    )

    public static let notMember = GatewayError(.notMember, "This operation can be called only from an account in the organization.")

    // MARK: context

    public static func badBody(_ message: String) -> GatewayError { GatewayError(.badBody, message) }

    /// The decision depends on the request body (`needs`: what reads it), which the proxy
    /// asking did not pass whole (`why`): refused rather than decided on a guess.
    public static func bodyWithheld(needs: String, why: String) -> GatewayError {
        GatewayError(
            .bodyWithheld,
            "The call cannot be authorized without its body (\(needs)), which the proxy did not pass: \(why). See docs/OPERATIONS.md, \"Behind nginx or Envoy\".",
            reason: "body_withheld: \(needs)")
    }

    /// An API Gatehouse answers itself (the profile, ownership transfers, temporary
    /// credentials), asked about by a proxy: the service behind the proxy does not have it.
    public static func answeredInline(action: String) -> GatewayError {
        GatewayError(
            .answeredInline, "'\(action)' is answered by Gatehouse itself; call it on the gateway's API port, not through the proxy.",
            reason: "answered_inline: \(action)")
    }

    /// The tag lookup found no such resource: a policy that tests its tags cannot allow the
    /// call, so it is denied as by policy.
    public static func tagsNotFound(action: String, path: String) -> GatewayError {
        GatewayError(.tagsNotFound, policyMessage(action), reason: "tags_not_found: GET \(path) answered 404")
    }

    /// The tags a policy needs could not be read (the lookup's reason is audited): a deny,
    /// never "no tags".
    public static func tagsUnavailable(_ why: String) -> GatewayError {
        GatewayError(
            .tagsUnavailable, "The target resource's tags cannot be read, so the call cannot be authorized.", reason: "tags_unavailable: \(why)")
    }

    // MARK: decide

    /// A policy the directory attaches to the caller is not in the policy set: denied, since
    /// it might have denied.
    public static func attachedPolicyMissing(action: String, name: String) -> GatewayError {
        GatewayError(.attachedPolicyMissing, policyMessage(action), reason: "attached_policy_missing: \(name)")
    }

    /// Denied by the policies; `reason` is the engine's (`explicit_deny`, `implicit_deny`).
    public static func policyDenied(action: String, reason: String) -> GatewayError {
        GatewayError(.policyDenied, policyMessage(action), reason: reason)
    }

    static func policyMessage(_ action: String) -> String { "Policy doesn't allow '\(action)' to be performed." }

    // MARK: audit

    public static let auditUnavailable = GatewayError(.auditUnavailable, "The audit log cannot be written, so no call is let through.")

    // MARK: forward (and the built-in endpoints, which answer in its place)

    /// A profile change that breaks a rule; the message names the field.
    public static func badProfile(_ message: String) -> GatewayError { GatewayError(.badProfile, message) }

    public static let notOwnerOrAdmin = GatewayError(
        .notOwnerOrAdmin, "Only the organization owner or an administrator may edit the organization profile.")

    public static func badTransfer(_ message: String) -> GatewayError { GatewayError(.badTransfer, message) }

    /// A request for temporary credentials that cannot be granted as asked.
    public static func badCredentialRequest(_ message: String) -> GatewayError { GatewayError(.badCredentialRequest, message) }

    /// The transfer API's answer to a transfer error.
    public static func transfer(_ error: TransferError) -> GatewayError {
        switch error {
        case .notOwner: GatewayError(.notOwner, error.description)
        case .notFound: GatewayError(.noSuchTransfer, error.description)
        case .alreadyPending, .notPending: GatewayError(.transferConflict, error.description)
        default: badTransfer(error.description)
        }
    }

    /// Why a confirmation link cannot be used, for the page the link opens (its status comes
    /// from the table; the page is the endpoint's answer, so the call is audited as the
    /// endpoint's, not as refused).
    public static func link(_ error: TransferError) -> GatewayError {
        switch error {
        case .unknownLink: GatewayError(.linkUnknown, error.description)
        case .linkExpired, .linkCancelled: GatewayError(.linkGone, error.description)
        default: GatewayError(.linkUnusable, error.description)
        }
    }

    /// A console sign-in with a wrong user name or password (which of the two is not said;
    /// the audit log names the user tried).
    public static func consoleSignInRefused(user: String) -> GatewayError {
        GatewayError(.consoleSignInRefused, "The user name or password is incorrect.", reason: "sign_in_refused: \(user)")
    }

    /// A console form that cannot be shown to come from the console's own page (CSRF: no
    /// or a wrong token, another site per `Sec-Fetch-Site`), or is no form at all.
    public static func consoleFormRefused(_ why: String) -> GatewayError {
        GatewayError(
            .consoleFormRefused, "The form was refused: \(why). Reload the console page and try again.", reason: "console_form_refused: \(why)")
    }

    public static func localFailure(_ detail: String) -> GatewayError {
        GatewayError(.localFailure, "The gateway could not complete the call; nothing was changed.", reason: "local_failure: \(detail)")
    }

    public static func upstreamUnavailable(_ detail: String) -> GatewayError {
        GatewayError(.upstreamUnavailable, "The account service cannot be reached.", reason: "upstream_unavailable: \(detail)")
    }

    public static let upstreamTimeout = GatewayError(.upstreamTimeout, "The account service did not answer in time.")
}
