import Foundation
import GatehouseDirectory
import GatehousePolicy
import GatehouseSigning

/// Either decided, or waiting for the target account's tags.
public enum AuthorizationResult: Sendable {
    case decided(RequestContext)
    case needsTags(account: String, PendingDecision)
}

/// A decision that only lacks `g:ResourceTag/<k>`; `finish` completes it, once: the request context
/// it fills in is the call's own object. (Finished again, a gateway error already set would stay:
/// a reused pending decision can only deny.)
public struct PendingDecision: Sendable {
    var request: AuthorizationRequest
    var policySet: CompiledPolicySet
    var requestContext: RequestContext
    var shadow: CompiledPolicySet?

    /// Decides with the resource's tags, or denies when they could not be read, with the
    /// lookup's reason. Consuming, so the request's context is extended in place rather
    /// than copied first.
    public consuming func finish(_ lookup: Result<ResourceTags, TagLookupFailure>) -> RequestContext {
        switch lookup {
        case .success(let tags): return Authorizer.decide(request, tags: tags, with: policySet, requestContext, shadow: shadow)
        case .failure(.notFound(let path)):
            return requestContext.refuse(.tagsNotFound(action: request.action, path: path))
        case .failure(.unavailable(let why)): return requestContext.refuse(.tagsUnavailable(why))
        }
    }

    public consuming func finish(tags: ResourceTags) -> RequestContext { finish(.success(tags)) }
}

/// The global condition keys the gateway works out for a call. Only the keys a set tests
/// can change its decisions, so only those are worked out (each is an allocation or two);
/// which they are is asked of the set once, not on every call.
struct GlobalKeys: OptionSet {
    let rawValue: UInt32
    static let sourceIp = GlobalKeys(rawValue: 1 << 0)
    static let currentTime = GlobalKeys(rawValue: 1 << 1)
    static let epochTime = GlobalKeys(rawValue: 1 << 2)
    static let secureTransport = GlobalKeys(rawValue: 1 << 3)
    static let mfaPresent = GlobalKeys(rawValue: 1 << 4)
    static let userAgent = GlobalKeys(rawValue: 1 << 5)
    static let principalType = GlobalKeys(rawValue: 1 << 6)
    static let userId = GlobalKeys(rawValue: 1 << 7)
    static let userName = GlobalKeys(rawValue: 1 << 8)
    static let tokenIssueTime = GlobalKeys(rawValue: 1 << 9)
    static let domainId = GlobalKeys(rawValue: 1 << 10)
    static let domainName = GlobalKeys(rawValue: 1 << 11)
    static let principalOrgId = GlobalKeys(rawValue: 1 << 12)
    static let principalOrgManagementAccountId = GlobalKeys(rawValue: 1 << 13)
    static let principalIsRootUser = GlobalKeys(rawValue: 1 << 14)
    static let resourceOrgId = GlobalKeys(rawValue: 1 << 15)
    static let referer = GlobalKeys(rawValue: 1 << 16)
    static let mfaAge = GlobalKeys(rawValue: 1 << 17)
    static let principalOrgPath = GlobalKeys(rawValue: 1 << 18)

    /// Each flag's (lowercased) condition key.
    static let keys: [(GlobalKeys, String)] = [
        (.sourceIp, "g:sourceip"), (.currentTime, "g:currenttime"), (.epochTime, "g:epochtime"),
        (.secureTransport, "g:securetransport"), (.mfaPresent, "g:mfapresent"), (.userAgent, "g:useragent"),
        (.principalType, "g:principaltype"), (.userId, "g:userid"), (.userName, "g:username"), (.tokenIssueTime, "g:tokenissuetime"),
        (.domainId, "g:domainid"), (.domainName, "g:domainname"), (.principalOrgId, "g:principalorgid"),
        (.principalOrgManagementAccountId, "g:principalorgmanagementaccountid"), (.principalIsRootUser, "g:principalisrootuser"),
        (.resourceOrgId, "g:resourceorgid"), (.referer, "g:referer"), (.mfaAge, "g:mfaage"), (.principalOrgPath, "g:principalorgpath"),
    ]

    /// Each key's flag.
    static let flags: [String: GlobalKeys] = Dictionary(uniqueKeysWithValues: keys.map { ($0.1, $0.0) })

    /// The keys whose values come from the directory (`DirectorySeed.callerKeyNames`).
    static let fromDirectory: GlobalKeys = [
        .principalType, .userId, .userName, .domainId, .domainName, .principalOrgId, .principalOrgManagementAccountId, .principalOrgPath,
        .principalIsRootUser, .resourceOrgId,
    ]

    init(rawValue: UInt32) { self.rawValue = rawValue }

    init(testedBy set: CompiledPolicySet) {
        self = []
        for (flag, key) in Self.keys where set.tests(key) { insert(flag) }
    }
}

extension ContextValue {
    private static let trueList: [ContextValue] = [.bool(true)]
    private static let falseList: [ContextValue] = [.bool(false)]

    /// A one-value list for a flag, shared rather than allocated on every call.
    static func list(_ flag: Bool) -> [ContextValue] { flag ? trueList : falseList }
}

/// Authenticates, routes and authorizes one call, with no I/O: the directory and policy set
/// are snapshots, and tags come back through `PendingDecision`.
public struct Authorizer: Sendable {
    public let catalog: RouteCatalog
    public let trustedProxies: [CIDR]

    public init(catalog: RouteCatalog, trustedProxies: [CIDR]) {
        self.catalog = catalog
        self.trustedProxies = trustedProxies
    }

    public func authorize(
        _ attributes: RequestAttributes, requestId: String, policies: PolicySnapshot, directory: DirectoryView
    ) -> AuthorizationResult {
        var cache = ConnectionCache()
        return authorize(attributes, requestId: requestId, policies: policies, directory: directory, remembering: &cache)
    }

    /// `authorize`, with what the connection's last call found (see `ConnectionCache`) and
    /// the accounts' tags already at hand (`knownTags`, the tag cache): with those, a decision
    /// that needs tags is made at once instead of pending.
    ///
    /// The stages run in `RequestStage` order, each a function below; the first that finds
    /// a gateway error ends the call with it. Order matters: an unauthenticated caller
    /// learns nothing about routes or policies.
    public func authorize(
        _ attributes: RequestAttributes, requestId: String, policies: PolicySnapshot, directory: DirectoryView,
        remembering cache: inout ConnectionCache, knownTags: (String) -> ResourceTags? = { _ in nil }, shadow: PolicySnapshot? = nil
    ) -> AuthorizationResult {
        let sourceIp = sourceAddress(of: attributes)
        let requestContext = RequestContext(
            requestId: requestId, method: attributes.method, path: attributes.target, sourceIp: sourceIp, policyRevision: policies.revision,
            receivedAt: attributes.now)
        // The target is parsed and matched once per method, target and directory view (the
        // route stage's result, kept for the connection's next call); an unreadable target is
        // refused as part of reading the request.
        let match = cache.routeMatch(method: attributes.method, target: attributes.target, in: directory) {
            matchRoute(method: attributes.method, target: attributes.target, in: directory)
        }
        // A console route, or a path under /console that is none (refused as a page too).
        requestContext.isConsole = match.route.map { $0.handler?.isConsole ?? false } ?? Self.isConsolePath(attributes.target)
        let target: RequestTarget
        switch match.target {
        case .failure(let rejection): return .decided(requestContext.refuse(.badTarget(rejection)))
        case .success(let parsed): target = parsed
        }
        requestContext.target = target
        if requestContext.isConsole { requestContext.secureTransport = isSecureTransport(attributes) }
        // The transfer confirmation page is reached by an emailed link, which is its own
        // credential, and the console's sign-in takes a password: no session, caller rule
        // or policy applies (`BuiltInEndpoint.authenticatesItself`).
        if let route = match.route, let endpoint = route.handler, let reason = endpoint.authenticatesItself {
            requestContext.record.action = route.action
            requestContext.handler = endpoint
            requestContext.parameters = match.parameters
            if endpoint == .consoleSignIn { requestContext.record.credential = ConsoleSession.signInCredentialKind }
            return .decided(requestContext.allow(reason: reason))
        }

        let session: Session
        let authenticated =
            requestContext.isConsole
            ? authenticateConsole(attributes, in: directory, cache: &cache, record: &requestContext.record)
            : authenticate(attributes, in: directory, cache: &cache, record: &requestContext.record)
        switch authenticated {
        case .failure(let error): return .decided(requestContext.refuse(error))
        case .success(let found): session = found
        }
        requestContext.session = session
        requestContext.record.user = session.user.name
        requestContext.record.principal = session.principal.urn
        requestContext.record.credential = requestContext.isConsole ? ConsoleSession.credentialKind : session.credential.rawValue
        requestContext.record.accessKey = session.accessKey

        let route: Route
        switch self.route(match, method: attributes.method, target: target) {
        case .failure(let error):
            requestContext.record.action = match.route?.action
            return .decided(requestContext.refuse(error))
        case .success(let found): route = found
        }
        var parameters = match.parameters
        var resource = match.resource
        requestContext.record.action = route.identityPolicy ? route.action : nil
        // A resource named in the body (`{body:<name>}`) is read per call, and only from a
        // caller who authenticated.
        if !route.bodyReferences.isEmpty {
            if let why = attributes.bodyWithheld {
                return .decided(requestContext.refuse(.bodyWithheld(needs: "the resource is named in it", why: why)))
            }
            switch Self.bodyValues(route.bodyReferences, in: attributes.body) {
            case .failure(let error): return .decided(requestContext.refuse(error))
            case .success(let values): parameters.merge(values) { _, read in read }
            }
            if let malformed = route.malformedParameter(in: parameters) {
                return .decided(requestContext.refuse(.badParameter(name: malformed.name, value: malformed.value, format: malformed.format)))
            }
            resource = route.resourceURN(parameters: parameters, in: directory.organization)
        }
        requestContext.record.resource = resource
        requestContext.handler = route.handler
        requestContext.ownerRights = route.ownerRights && session.user.name == directory.organization.owner
        requestContext.parameters = parameters

        if let error = callerRuleError(route.callers, account: session.user.accountId, directory: directory) {
            return .decided(requestContext.refuse(error))
        }
        // Documented as needing no identity-policy permission: authentication and the caller
        // rule decide.
        if !route.identityPolicy { return .decided(requestContext.allow(reason: "no_identity_policy_required")) }

        let (policySet, enforcedGlobals): (CompiledPolicySet, GlobalKeys)
        switch cache.policySet(for: session.policies, in: policies) {
        case .failure(let missing): return .decided(requestContext.refuse(.attachedPolicyMissing(action: route.action, name: missing.name)))
        case .success(let found): (policySet, enforcedGlobals) = found
        }
        // The shadow set decides on the same context: the keys either set tests are worked out.
        var globals = enforcedGlobals
        var shadowSet: CompiledPolicySet?
        if let shadow {
            switch shadow.policySet(for: session.policies) {
            case .success(let found):
                shadowSet = found
                globals.formUnion(GlobalKeys(testedBy: found))
            case .failure(let missing):
                requestContext.record.shadowDecision = "deny"
                requestContext.record.shadowReason = "attached_policy_missing: \(missing.name)"
            }
        }
        var request: AuthorizationRequest
        switch context(
            attributes, session: session, route: route, resource: resource, target: target, sourceIp: sourceIp, globals: globals)
        {
        case .failure(let error): return .decided(requestContext.refuse(error))
        case .success(let built): request = built
        }
        if route.carriesRequestTags { requestContext.changesTagsOf = route.tagSubject.flatMap { parameters[$0] } }
        // The target's tags are context too, from the account service (a policy information
        // point): looked up only when a statement that could apply tests them.
        let testsResourceTags = { policySet.testsConditionKey(for: request, where: { $0.hasPrefix("g:resourcetag/") }) }
        let shadowTestsResourceTags = { shadowSet?.testsConditionKey(for: request, where: { $0.hasPrefix("g:resourcetag/") }) ?? false }
        if route.carriesResourceTags, let subject = route.tagSubject, let account = parameters[subject],
            (route.bodyReferences.isEmpty ? cache.testsResourceTags(policySet, match, testsResourceTags) : testsResourceTags())
                || shadowTestsResourceTags()
        {
            // Consumed, so adding the tags extends this request's context instead of a copy.
            if let tags = knownTags(account) {
                return .decided(Self.decide(consume request, tags: tags, with: policySet, requestContext, shadow: shadowSet))
            }
            return .needsTags(
                account: account, PendingDecision(request: request, policySet: policySet, requestContext: requestContext, shadow: shadowSet))
        }
        return .decided(Self.decide(request, with: policySet, requestContext, shadow: shadowSet))
    }

    // MARK: stages

    /// Authenticate: the caller's one credential (`X-Auth-Token` or `Authorization: Bearer`,
    /// or an AK/SK signature) to a live session in the directory.
    /// A refused credential is still named in the audit `record`: its kind, and a signed
    /// call's access key ID.
    func authenticate(
        _ attributes: RequestAttributes, in directory: DirectoryView, cache: inout ConnectionCache, record: inout AuditRecord
    ) -> Result<Session, GatewayError> {
        guard !attributes.conflictingCredentials else { return .failure(.conflictingCredentials) }
        if attributes.securityTokenWithoutSignature { return .failure(.securityTokenWithoutSignature) }
        if let signed = attributes.signed {
            // The signature covers the body's hash: without the body it cannot be checked.
            if let why = attributes.bodyWithheld {
                record.credential = (signed.securityToken == nil ? CredentialKind.accessKey : .temporaryAccessKey).rawValue
                return .failure(.bodyWithheld(needs: "the AK/SK signature covers it", why: why))
            }
            return Self.authenticate(signed, in: directory, now: attributes.now, cache: &cache, record: &record)
        }
        if attributes.token != nil { record.credential = CredentialKind.token.rawValue }
        guard let token = attributes.token, !token.isEmpty else { return .failure(.credentialRefused(nil)) }
        // A console session's token lets a browser see pages, and nothing more.
        if DirectoryStore.isConsoleSession(token) { return .failure(.consoleSessionOnTheAPI) }
        switch directory.authenticate(token, now: attributes.now, remembering: &cache.session) {
        case .failure(let why): return .failure(.credentialRefused(why))
        case .success(let session): return .success(session)
        }
    }

    /// Whether a target is under `/console` (the console's pages).
    static func isConsolePath(_ target: String) -> Bool {
        target == "/console" || target.hasPrefix("/console/") || target.hasPrefix("/console?")
    }

    /// Authenticate a console page: its session cookie only. A token or signature sent
    /// with it is not looked at, and the cookie is never a credential elsewhere, so a page
    /// of another site cannot make a browser call the API with it.
    func authenticateConsole(
        _ attributes: RequestAttributes, in directory: DirectoryView, cache: inout ConnectionCache, record: inout AuditRecord
    ) -> Result<Session, GatewayError> {
        record.credential = ConsoleSession.credentialKind
        // Only a console session's token: an API token in the cookie is no sign-in.
        guard let token = attributes.cookies.session, DirectoryStore.isConsoleSession(token) else {
            return .failure(.credentialRefused(nil))
        }
        switch directory.authenticate(token, now: attributes.now, remembering: &cache.session) {
        case .failure(let why): return .failure(.credentialRefused(why))
        case .success(let session): return .success(session)
        }
    }

    /// An AK/SK-signed call: the `Authorization` parsed, the access key found, the signature
    /// verified with its secret (`RequestSigning.verify`: signed fields, date window, body),
    /// and only then the key's state and security token checked.
    /// The audit `record` gets the access key ID and the credential kind: the key's own,
    /// or for a key the directory does not know, what the call presents (with or without
    /// `X-Security-Token`).
    static func authenticate(
        _ signed: SignedCredential, in directory: DirectoryView, now: Date, cache: inout ConnectionCache, record: inout AuditRecord
    ) -> Result<Session, GatewayError> {
        record.credential = (signed.securityToken == nil ? CredentialKind.accessKey : .temporaryAccessKey).rawValue
        // One view of the request for reading `Authorization` and verifying: the received
        // head's bytes, read in place.
        return signed.withView { request in
            let authorization: RequestSigning.Authorization
            switch cache.authorizations.parse(request.value(of: "authorization") ?? UnsafeRawBufferPointer(start: nil, count: 0)) {
            case .failure(let rejection): return .failure(.signatureRefused(rejection))
            case .success(let parsed): authorization = parsed
            }
            let credential: AccessKeyCredential
            switch directory.accessKey(authorization.accessKey) {
            case .failure(let why):
                // Bounded and printable (the parser checks); shown to operators, not a secret.
                record.accessKey = authorization.accessKey.utf8.count > 128 ? String(authorization.accessKey.prefix(128)) : authorization.accessKey
                return .failure(.accessKeyRefused(why, accessKey: authorization.accessKey))
            case .success(let found): credential = found
            }
            // The directory's own copy: no new string per call.
            record.accessKey = credential.accessKey
            record.credential = (credential.isTemporary ? CredentialKind.temporaryAccessKey : .accessKey).rawValue
            // A temporary key's call must carry its token, and the token must be signed (the
            // signer checks the latter); said before verifying, as the cheaper refusal.
            if credential.isTemporary && signed.securityToken == nil {
                return .failure(.accessKeyRefused(.securityTokenMissing, accessKey: authorization.accessKey))
            }
            if let rejection = RequestSigning.verify(request, authorization: authorization, key: credential.signingKey, now: now) {
                return .failure(.signatureRefused(rejection))
            }
            switch directory.session(for: credential, securityToken: signed.securityToken, now: now) {
            case .failure(let why): return .failure(.accessKeyRefused(why, accessKey: authorization.accessKey))
            case .success(let session): return .success(session)
            }
        }
    }

    /// Route: the API the call is to, with its path parameters checked against their
    /// documented formats before anything is looked up with them.
    func route(_ match: RouteMatch, method: String, target: RequestTarget) -> Result<Route, GatewayError> {
        guard let route = match.route else { return .failure(.noRoute(method: method, path: target.rawPath)) }
        if let malformed = match.malformedParameter {
            return .failure(.badParameter(name: malformed.name, value: malformed.value, format: malformed.format))
        }
        return .success(route)
    }

    /// Parses the target and, when it is acceptable, finds its route and the resource URN
    /// (kept per connection as a `RouteMatch`).
    func matchRoute(method: String, target: String, in directory: DirectoryView) -> RouteMatch {
        let parsed: RequestTarget
        switch RequestTarget.parse(target) {
        case .failure(let rejection): return RouteMatch(target: .failure(rejection))
        case .success(let found): parsed = found
        }
        guard case (let route, var parameters)? = catalog.match(method: method, target: parsed) else { return RouteMatch(target: .success(parsed)) }
        if let malformed = route.malformedParameter(in: parameters) {
            return RouteMatch(target: .success(parsed), route: route, parameters: parameters, malformedParameter: malformed)
        }
        if !route.queryReferences.isEmpty {
            parameters.merge(Self.queryValues(route.queryReferences, in: parsed.rawQuery)) { _, read in read }
            if let malformed = route.malformedParameter(in: parameters) {
                return RouteMatch(target: .success(parsed), route: route, parameters: parameters, malformedParameter: malformed)
            }
        }
        let resource = route.resourceURN(parameters: parameters, in: directory.organization)
        return RouteMatch(target: .success(parsed), route: route, parameters: parameters, resource: resource)
    }

    /// Context: the authorization request, with only the global keys the caller's policy set
    /// tests (`globals`; the caller's directory keys from the session), the principal's keys
    /// (read from the principal when asked), `g:RequestTag/<k>` and `g:TagKeys` from a
    /// tag-changing body, and `organizations:ServicePrincipal`.
    func context(
        _ attributes: RequestAttributes, session: Session, route: Route, resource: String, target: RequestTarget? = nil, sourceIp: String,
        globals: GlobalKeys
    ) -> Result<AuthorizationRequest, GatewayError> {
        var request = AuthorizationRequest(principal: session.principal, action: route.action, resource: resource)
        request.reserveContext(8)
        if globals.contains(.sourceIp) { request.setContext(normalizedKey: "g:sourceip", [.string(sourceIp)]) }
        if globals.contains(.currentTime) { request.setContext(normalizedKey: "g:currenttime", [.string(Self.iso8601(attributes.now))]) }
        if globals.contains(.epochTime) {
            request.setContext(normalizedKey: "g:epochtime", [.number(.integer(Int64(attributes.now.timeIntervalSince1970.rounded(.down))))])
        }
        if globals.contains(.secureTransport) {
            request.setContext(normalizedKey: "g:securetransport", ContextValue.list(isSecureTransport(attributes)))
        }
        if globals.contains(.mfaPresent) { request.setContext(normalizedKey: "g:mfapresent", ContextValue.list(session.mfa)) }
        if globals.contains(.userAgent) { request.setContext(normalizedKey: "g:useragent", attributes.userAgent.map { [.string($0)] } ?? []) }
        if globals.contains(.referer) { request.setContext(normalizedKey: "g:referer", attributes.referer.map { [.string($0)] } ?? []) }
        // Seconds since the caller proved MFA: when the credential was issued on an MFA login
        // (a token's or temporary credentials' issue); absent without MFA, as documented.
        if globals.contains(.mfaAge) {
            let age = Int64((attributes.now.timeIntervalSince1970 - session.issuedAt).rounded(.down))
            request.setContext(normalizedKey: "g:mfaage", session.mfa ? [.number(.integer(max(0, age)))] : [])
        }
        // The caller's keys from the directory (who, which account, where in the organization),
        // made once per view: the same for every kind of credential, and what `eval --user`
        // and `diff` set (`DirectorySeed.callerKeys(for:)`).
        if !globals.isDisjoint(with: .fromDirectory) {
            for (key, values) in session.callerKeys where globals.contains(GlobalKeys.flags[key] ?? []) {
                request.setContext(normalizedKey: key, values)
            }
        }
        if globals.contains(.tokenIssueTime) {
            request.setContext(normalizedKey: "g:tokenissuetime", [.string(Self.iso8601(Date(timeIntervalSince1970: session.issuedAt)))])
        }
        if (route.carriesRequestTags || route.carriesServicePrincipal), let why = attributes.bodyWithheld {
            return .failure(.bodyWithheld(needs: route.carriesRequestTags ? "the tags it sets" : "the service principal it names", why: why))
        }
        if route.carriesRequestTags {
            switch Self.requestTags(attributes.body, required: route.tagsRequired) {
            case .failure(let error): return .failure(error)
            case .success(let (tags, keys)):
                // A tag key written twice, or in two cases, is two readings of one key.
                for (key, value) in tags { request.addContext("g:RequestTag/" + key, [.string(value)]) }
                request.setContext("g:tagkeys", keys.map { .string($0) })
            }
        }
        if route.carriesServicePrincipal {
            switch Self.servicePrincipal(body: attributes.body, query: target?.rawQuery) {
            case .failure(let error): return .failure(error)
            case .success(let principal?): request.setContext(normalizedKey: "organizations:serviceprincipal", [.string(principal)])
            case .success(nil): break
            }
        }
        return .success(request)
    }

    /// Decide, with the target account's tags as `g:ResourceTag/<k>`.
    static func decide(
        _ request: consuming AuthorizationRequest, tags: ResourceTags, with policySet: CompiledPolicySet, _ requestContext: RequestContext,
        shadow: CompiledPolicySet? = nil
    )
        -> RequestContext
    {
        var request = request
        for (key, spellings) in tags.context { request.setContext(normalizedKey: key, spellings: spellings) }
        return decide(request, with: policySet, requestContext, shadow: shadow)
    }

    /// Decide: explicit deny over allow over implicit deny, by the engine; the shadow set
    /// (`policies.shadow_dir`), when given, decides the same request for the audit line only.
    static func decide(
        _ request: AuthorizationRequest, with policySet: CompiledPolicySet, _ requestContext: RequestContext, shadow: CompiledPolicySet? = nil
    ) -> RequestContext {
        if let shadow {
            let decision = shadow.evaluate(request)
            let byOwner = requestContext.ownerRights && decision.reason == .implicitDeny
            requestContext.record.shadowDecision = decision.isAllowed || byOwner ? "allow" : "deny"
            requestContext.record.shadowReason = byOwner ? "owner_rights" : decision.reason.rawValue
            requestContext.record.shadowStatements = decision.statements
        }
        let decision = policySet.evaluate(request)
        if decision.isAllowed { return requestContext.allow(reason: decision.reason.rawValue, statements: decision.statements) }
        if requestContext.ownerRights && decision.reason == .implicitDeny { return requestContext.allow(reason: "owner_rights") }
        requestContext.record.statements = decision.statements
        return requestContext.refuse(.policyDenied(action: request.action, reason: decision.reason.rawValue))
    }

    /// Caller rule: whether the caller's account may call this API at all (management
    /// account only, or delegated administrators too, or any member).
    func callerRuleError(_ rule: CallerRule, account: String, directory: DirectoryView) -> GatewayError? {
        let management = account == directory.organization.managementAccountId
        switch rule {
        case .management: return management ? nil : .notManagementAccount
        case .managementOrDelegated: return management || directory.isDelegatedAdministrator(account) ? nil : .notDelegatedAdministrator
        case .member: return directory.isMember(account) ? nil : .notMember
        }
    }

    /// The peer's `X-Forwarded-*` are believed: a configured trusted proxy, or the proxy
    /// asking the decision listener.
    func isTrustedPeer(_ attributes: RequestAttributes) -> Bool { attributes.peerIsAskingProxy || isTrusted(attributes.peer) }

    func isTrusted(_ address: String) -> Bool {
        guard !trustedProxies.isEmpty, let ip = IPAddress(address) else { return false }
        return trustedProxies.contains { $0.contains(ip) }
    }

    /// Whether the client reached the gateway over TLS, directly, or through a trusted proxy
    /// (the peer is one and every hop `X-Forwarded-Proto` lists says `https`: a proxy that
    /// appends its own protocol to the client's is believed only when all agree). Behind a
    /// proxy, the proxy's own connection to the gateway says nothing about the client's.
    func isSecureTransport(_ attributes: RequestAttributes) -> Bool {
        if attributes.isTLS && !isTrustedPeer(attributes) { return true }
        guard isTrustedPeer(attributes), let proto = attributes.forwardedProto else { return false }
        let hops = proto.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return !hops.isEmpty && hops.allSatisfy { $0.lowercased() == "https" }
    }

    /// The client's address: the socket peer, unless the peer is a trusted proxy, in which
    /// case `X-Forwarded-For` is read from the right, skipping trusted proxies.
    func sourceAddress(of attributes: RequestAttributes) -> String {
        guard isTrustedPeer(attributes), let forwarded = attributes.forwardedFor else { return attributes.peer }
        let hops = forwarded.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for hop in hops.reversed() where !isTrusted(hop) { return hop }
        return hops.first ?? attributes.peer
    }

    /// `g:RequestTag/<k>` and `g:TagKeys` from a tag-changing body: `{"tags": [{"key", "value"}]}`
    /// (a value, when given, a string; the typed delete API sends keys alone) or
    /// `{"tag_keys": [...]}`. A body that cannot be read the way the account service reads
    /// it is refused, since the policy could not see what it changes: not JSON, not an
    /// object, `tags` or `tag_keys` of another type, a tag without a string key, a value
    /// that is not a string; and, when the tags are `required` (a tagging call), a body
    /// with none. Otherwise no tags read as none: no `g:RequestTag/<k>`, no `g:TagKeys`.
    static func requestTags(_ body: [UInt8], required: Bool) -> Result<([(String, String)], [String]), GatewayError> {
        let shape = "The request body must be a JSON object with tags ([{\"key\", \"value\"}]) or tag_keys ([\"...\"])."
        guard let (json, members) = jsonObject(body) else { return .failure(.badBody(shape)) }
        // A member spelled like one the policy reads, in another case ("Tags", "Key"), could
        // be read by a service that matches names without case (as Go's encoding/json does)
        // and never by the policy: refused, like keys that differ only in case elsewhere.
        if let odd = Self.memberInAnotherCase(members, of: ["tags", "tag_keys"]) {
            return .failure(.badBody("\(JSONWriter.quoted(odd)) is not a member of a tagging body; the members are tags and tag_keys."))
        }
        var tags: [(String, String)] = []
        var keys: [String] = []
        // null is read as absent, as the service's JSON binding reads it.
        switch json["tags"] {
        case nil, .null?: break
        case .array(let items)?:
            for (index, item) in items.enumerated() {
                if case .object(let fields) = item, let odd = Self.memberInAnotherCase(fields, of: ["key", "value"]) {
                    return .failure(.badBody("tags[\(index)] has \(JSONWriter.quoted(odd)); a tag's members are key and value."))
                }
                guard case .string(let key)? = item["key"] else { return .failure(.badBody("tags[\(index)] needs a string key.")) }
                keys.append(key)
                switch item["value"] {
                case nil: break
                case .string(let value)?: tags.append((key, value))
                default: return .failure(.badBody("tags[\(index)].value must be a string."))
                }
            }
        default: return .failure(.badBody(shape))
        }
        switch json["tag_keys"] {
        case nil, .null?: break
        case .array(let items)?:
            for item in items {
                guard case .string(let key) = item else { return .failure(.badBody("tag_keys must be a list of strings.")) }
                keys.append(key)
            }
        default: return .failure(.badBody(shape))
        }
        if required && tags.isEmpty && keys.isEmpty { return .failure(.badBody(shape)) }
        return .success((tags, keys))
    }

    /// A query's parameters in order, names and values percent-decoded (undecodable
    /// percent-encoding kept as written: no ID format accepts `%`).
    static func queryParameters(_ rawQuery: String?) -> [(name: String, value: String)] {
        (rawQuery ?? "").split(separator: "&").compactMap { pair in
            let (rawName, rawValue) = pair.firstIndex(of: "=").map { (pair[..<$0], pair[pair.index(after: $0)...]) } ?? (pair, "")
            guard let name = String(rawName).removingPercentEncoding else { return nil }
            return (name, String(rawValue).removingPercentEncoding ?? String(rawValue))
        }
    }

    /// The query parameters a route's resource names (`query:<name>`). A parameter given
    /// twice is ambiguous (which one would the service read?): both values are kept, joined
    /// by `,`, which no ID format accepts, so the call is refused; one not given reads as
    /// empty, refused the same way.
    static func queryValues(_ references: [String], in rawQuery: String?) -> [String: String] {
        var values: [String: [String]] = [:]
        for reference in references { values[reference] = [] }
        for (name, value) in queryParameters(rawQuery) where values["query:" + name] != nil { values["query:" + name]!.append(value) }
        return values.mapValues { $0.joined(separator: ",") }
    }

    /// The body members a route's resource names (`body:<name>`): the body must be a JSON
    /// object and each a string member (its format is checked next, as a path parameter's).
    static func bodyValues(_ references: [String], in body: [UInt8]) -> Result<[String: String], GatewayError> {
        let names = references.map { String($0.dropFirst("body:".count)) }
        let shape = "The request body must be a JSON object with \(names.joined(separator: " and ")) as strings."
        guard let (json, members) = jsonObject(body) else { return .failure(.badBody(shape)) }
        if let odd = Self.memberInAnotherCase(members, of: Set(names)) {
            return .failure(.badBody("\(JSONWriter.quoted(odd)) differs only in case from a member the policy reads; \(shape)"))
        }
        var values: [String: String] = [:]
        for (reference, name) in zip(references, names) {
            guard case .string(let value)? = json[name] else { return .failure(.badBody(shape)) }
            values[reference] = value
        }
        return .success(values)
    }

    /// `organizations:ServicePrincipal`: the body's `service_principal` (the trusted-service
    /// and delegated-administrator APIs), else the query's (listing delegated
    /// administrators); nil when the call names none. A body that is there but cannot be
    /// read, or a `service_principal` that is not a string or is given twice, is refused:
    /// the policy could not see what the service would.
    static func servicePrincipal(body: [UInt8], query: String?) -> Result<String?, GatewayError> {
        if !body.isEmpty {
            guard let (json, members) = jsonObject(body) else { return .failure(.badBody("The request body must be a JSON object.")) }
            if let odd = Self.memberInAnotherCase(members, of: ["service_principal"]) {
                return .failure(.badBody("\(JSONWriter.quoted(odd)) is not a member; the service's principal is service_principal."))
            }
            switch json["service_principal"] {
            case nil: break
            case .string(let value)?: return .success(value)
            default: return .failure(.badBody("service_principal must be a string."))
            }
        }
        let given = queryParameters(query).filter { $0.name == "service_principal" }
        if given.count > 1 { return .failure(.badBody("service_principal is given more than once in the query.")) }
        return .success(given.first.map(\.value))
    }

    /// A request body as the JSON object the account service reads (parsed by jansson,
    /// duplicate members refused), with its members; nil when it is not one.
    static func jsonObject(_ body: [UInt8]) -> (JSONValue, [(key: String, value: JSONValue)])? {
        guard let json = try? JSONLoader.parse(body, limits: JSONLimits(maxBytes: max(body.count, 1), maxDepth: 8)), case .object(let members) = json
        else { return nil }
        return (json, members)
    }

    /// The first member whose name is one of `names` in another case, if any.
    static func memberInAnotherCase(_ members: [(key: String, value: JSONValue)], of names: Set<String>) -> String? {
        members.first { !names.contains($0.key) && names.contains($0.key.lowercased()) }?.key
    }

    /// `2026-11-23T10:00:00Z` (whole seconds, rounded down), without a formatter: this runs on every call.
    static func iso8601(_ date: Date) -> String {
        UTCTime.string(date, milliseconds: false)
    }
}

extension Route {
    /// The resource URN for these values in this organization.
    func resourceURN(parameters: [String: String], in organization: DirectorySeed.Organization) -> String {
        resourceURN(parameters: parameters, organizationId: organization.id, managementAccountId: organization.managementAccountId)
    }
}
