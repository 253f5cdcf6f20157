import Foundation
import GatehouseDirectory
import GatehousePolicy

/// What the gateway knows about a call once its request has been read.
public struct Call: Sendable {
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

/// The outcome of authorizing a call: forward it (`refusal == nil`) or answer the refusal.
///
/// A class, not a struct: a call's verdict is filled in as it goes (authorization, then the
/// answer's status and latencies) and passed from step to step, and as a struct of some
/// thirty strings and collections every hand-over retained and released each of them.
/// A verdict belongs to one call, and is only touched on that call's event loop.
public final class Verdict: @unchecked Sendable {
    public var refusal: Refusal?
    public var record: AuditRecord
    /// The parsed target, to forward exactly as received.
    public var target: RequestTarget?
    public var session: Session?
    /// The account whose tags a forwarded call changes (its cached tags are dropped when the
    /// call succeeds).
    public var changesTagsOf: String?
    /// Set when Gatehouse answers the call itself (see `LocalAPI`), with the route's path
    /// parameters.
    public var handler: LocalHandler?
    public var parameters: [String: String] = [:]

    public init(record: AuditRecord) {
        self.record = record
    }
}

extension ContextValue {
    private static let trueList: [ContextValue] = [.bool(true)]
    private static let falseList: [ContextValue] = [.bool(false)]

    /// A one-value list for a flag, shared rather than allocated on every call.
    static func list(_ flag: Bool) -> [ContextValue] { flag ? trueList : falseList }
}

/// Either decided, or waiting for the target account's tags.
public enum Authorization: Sendable {
    case decided(Verdict)
    case needsTags(account: String, PendingDecision)
}

/// A resource's tags, with the condition context they make worked out once, when the tags
/// are fetched, rather than on every call that reads them from the cache.
///
/// Every tag is kept as listed. Tag keys that differ only in case (`protected` and
/// `Protected`, which the account service keeps apart) or repeat are spellings of one
/// condition key `g:ResourceTag/protected`, each a reading of it (`AuthorizationRequest`):
/// no choice among them can switch off a Deny.
public struct ResourceTags: Sendable, Equatable {
    public struct Tag: Sendable, Equatable {
        public var key: String
        public var value: String

        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    public let tags: [Tag]
    /// Folded condition key -> the spellings that make it, in listed order.
    let context: [(key: String, spellings: [KeySpelling])]

    public init(_ tags: [Tag]) {
        self.tags = tags
        var grouped: [(key: String, spellings: [KeySpelling])] = []
        var positions: [String: Int] = [:]
        for tag in tags {
            let spelling = KeySpelling(key: "g:ResourceTag/" + tag.key, values: [.string(tag.value)])
            let key = Self.contextKey(tag.key)
            if let position = positions[key] {
                grouped[position].spellings.append(spelling)
            } else {
                positions[key] = grouped.count
                grouped.append((key, [spelling]))
            }
        }
        context = grouped
    }

    /// Tags from a key -> value map (one spelling each), in key order.
    public init(_ tags: [String: String]) {
        self.init(tags.sorted { $0.key < $1.key }.map { Tag(key: $0.key, value: $0.value) })
    }

    /// The folded condition key a tag of the resource answers: `g:resourcetag/<k>`.
    static func contextKey(_ tagKey: String) -> String { "g:resourcetag/" + ConditionKeyFolding.fold(tagKey) }

    public static func == (lhs: ResourceTags, rhs: ResourceTags) -> Bool { lhs.tags == rhs.tags }
}

/// A decision that only lacks `g:ResourceTag/<k>`; `finish` completes it, once: the verdict
/// it fills in is the call's own object. (Finished again, a refusal already set would stay:
/// a reused pending decision can only deny.)
public struct PendingDecision: Sendable {
    var request: AuthorizationRequest
    var policySet: CompiledPolicySet
    var verdict: Verdict

    /// Decides with the resource's tags, or denies when they could not be read, with the
    /// lookup's reason. Consuming, so the request's context is extended in place rather
    /// than copied first.
    public consuming func finish(_ lookup: Result<ResourceTags, TagLookupFailure>) -> Verdict {
        switch lookup {
        case .success(let tags): return Authorizer.decide(request, tags: tags, with: policySet, verdict)
        case .failure(.notFound(let path)):
            return Authorizer.refuse(verdict, .tagsNotFound(action: request.action, path: path))
        case .failure(.unavailable(let why)): return Authorizer.refuse(verdict, .tagsUnavailable(why))
        }
    }

    public consuming func finish(tags: ResourceTags) -> Verdict { finish(.success(tags)) }
}

/// What one client connection's last call found, reused by its next while still valid: a
/// client sends the same token, and so needs the same policy set, call after call.
public struct ConnectionMemory: Sendable {
    /// The last session (see `RememberedSession`).
    var session: RememberedSession?
    /// The last call's method and target as resolved in a directory view (`Resolution`).
    private var lastResolution: (method: String, target: String, view: UInt64, resolution: Resolution)?
    /// Whether statements of a set that could apply to a resolution's action and resource
    /// test resource tags, as last asked. The set and resolution are held, so comparing them
    /// by identity cannot mistake a new one for them.
    private var lastTagQuestion: (set: CompiledPolicySet, resolution: Resolution, answer: Bool)?
    /// The last compiled set, for these attached policies in this snapshot, with the global
    /// keys it tests. The snapshot is held (and compared by identity) so a reloaded set is
    /// never mistaken for it.
    private var lastSet: (snapshot: PolicySnapshot, names: [String], set: CompiledPolicySet, globals: GlobalKeys)?

    public init() {}

    /// `policies.policySet(for:)` and the global keys the set tests, without the snapshot's
    /// lock and the hashing when the connection's last call used the same set.
    mutating func policySet(for names: [String], in policies: PolicySnapshot) -> Result<(CompiledPolicySet, GlobalKeys), MissingPolicy> {
        if let last = lastSet, last.snapshot === policies, last.names == names { return .success((last.set, last.globals)) }
        switch policies.policySet(for: names) {
        case .failure(let missing): return .failure(missing)
        case .success(let set):
            let globals = GlobalKeys(testedBy: set)
            lastSet = (policies, names, set, globals)
            return .success((set, globals))
        }
    }
}

extension ConnectionMemory {
    /// The resolution of this method and target in this directory view: the last call's when
    /// it had the same, else `resolve()`'s, remembered for the next.
    mutating func resolution(method: String, target: String, in directory: DirectoryView, _ resolve: () -> Resolution) -> Resolution {
        if let last = lastResolution, last.view == directory.identity, last.method == method, last.target == target {
            return last.resolution
        }
        let resolution = resolve()
        lastResolution = (method, target, directory.identity, resolution)
        return resolution
    }

    /// `ask()`'s answer about resource tags for this set and resolution, asked once while
    /// the connection's calls keep to them.
    mutating func testsResourceTags(_ set: CompiledPolicySet, _ resolution: Resolution, _ ask: () -> Bool) -> Bool {
        if let last = lastTagQuestion, last.resolution === resolution, last.set.isSame(as: set) { return last.answer }
        let answer = ask()
        lastTagQuestion = (set, resolution, answer)
        return answer
    }
}

/// What a call's method and target resolve to before anyone is authenticated: the parsed
/// target (or why it is refused), the route it matches with its path parameters, and the
/// resource URN. It depends only on those, the route catalog and the organization's IDs, so
/// a connection's next call with the same method and target in the same directory view
/// reuses it (`ConnectionMemory`), instead of parsing, matching and building the URN again.
final class Resolution: Sendable {
    let target: Result<RequestTarget, RequestTarget.Rejection>
    let route: Route?
    let parameters: [String: String]
    /// The URN of the resource the route acts on; empty without a route or with a malformed
    /// parameter.
    let resource: String
    /// A path parameter without its documented format (the call is refused with 400).
    let malformedParameter: (name: String, value: String, format: IdentifierFormat)?

    init(
        target: Result<RequestTarget, RequestTarget.Rejection>, route: Route? = nil, parameters: [String: String] = [:], resource: String = "",
        malformedParameter: (name: String, value: String, format: IdentifierFormat)? = nil
    ) {
        self.target = target
        self.route = route
        self.parameters = parameters
        self.resource = resource
        self.malformedParameter = malformedParameter
    }
}

/// The global condition keys the gateway works out for a call. Only the keys a set tests
/// can change its decisions, so only those are worked out (each is an allocation or two);
/// which they are is asked of the set once, not on every call.
struct GlobalKeys: OptionSet {
    let rawValue: UInt8
    static let sourceIp = GlobalKeys(rawValue: 1 << 0)
    static let currentTime = GlobalKeys(rawValue: 1 << 1)
    static let epochTime = GlobalKeys(rawValue: 1 << 2)
    static let secureTransport = GlobalKeys(rawValue: 1 << 3)
    static let mfaPresent = GlobalKeys(rawValue: 1 << 4)
    static let userAgent = GlobalKeys(rawValue: 1 << 5)

    /// Each flag's (lowercased) condition key.
    static let keys: [(GlobalKeys, String)] = [
        (.sourceIp, "g:sourceip"), (.currentTime, "g:currenttime"), (.epochTime, "g:epochtime"),
        (.secureTransport, "g:securetransport"), (.mfaPresent, "g:mfapresent"), (.userAgent, "g:useragent"),
    ]

    init(rawValue: UInt8) { self.rawValue = rawValue }

    init(testedBy set: CompiledPolicySet) {
        self = []
        for (flag, key) in Self.keys where set.tests(key) { insert(flag) }
    }
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

    public func authorize(_ call: Call, requestId: String, policies: PolicySnapshot, directory: DirectoryView) -> Authorization {
        var memory = ConnectionMemory()
        return authorize(call, requestId: requestId, policies: policies, directory: directory, remembering: &memory)
    }

    /// `authorize`, with what the connection's last call found (see `ConnectionMemory`) and
    /// the accounts' tags already at hand (`knownTags`, the tag cache): with those, a decision
    /// that needs tags is made at once instead of pending.
    public func authorize(
        _ call: Call, requestId: String, policies: PolicySnapshot, directory: DirectoryView, remembering memory: inout ConnectionMemory,
        knownTags: (String) -> ResourceTags? = { _ in nil }
    ) -> Authorization {
        let sourceIp = sourceAddress(of: call)
        let verdict = Verdict(
            record: AuditRecord(
                time: call.now, requestId: requestId, method: call.method, path: call.target, sourceIp: sourceIp, policyRevision: policies.revision))
        // Order matters: an unauthenticated caller learns nothing about routes or policies.
        let resolution = memory.resolution(method: call.method, target: call.target, in: directory) {
            resolve(method: call.method, target: call.target, in: directory)
        }
        let target: RequestTarget
        switch resolution.target {
        case .failure(let rejection): return .decided(Self.refuse(verdict, .badTarget(rejection)))
        case .success(let parsed): target = parsed
        }
        verdict.target = target
        // The transfer confirmation page is reached by an emailed link, which is its own
        // credential: no token, caller rule or policy applies.
        if let route = resolution.route, let handler = route.handler, handler.authenticatesByLink {
            verdict.record.action = route.action
            verdict.handler = handler
            verdict.parameters = resolution.parameters
            verdict.record.decision = "allow"
            verdict.record.reason = "confirmation_link"
            return .decided(verdict)
        }
        guard !call.conflictingCredentials else { return .decided(Self.refuse(verdict, .conflictingCredentials)) }
        guard let token = call.token, !token.isEmpty else { return .decided(Self.refuse(verdict, .credentialRefused(nil))) }
        let session: Session
        switch directory.authenticate(token, now: call.now, remembering: &memory.session) {
        case .failure(let why): return .decided(Self.refuse(verdict, .credentialRefused(why)))
        case .success(let found): session = found
        }
        verdict.session = session
        verdict.record.user = session.user.name
        verdict.record.principal = session.principal.urn
        guard let route = resolution.route else {
            return .decided(Self.refuse(verdict, .noRoute(method: call.method, path: target.rawPath)))
        }
        verdict.record.action = route.action
        // Checked before the caller rule and any lookup: nothing is looked up with a value
        // that cannot be an ID.
        if let malformed = resolution.malformedParameter {
            return .decided(Self.refuse(verdict, .badParameter(name: malformed.name, value: malformed.value, format: malformed.format)))
        }
        let parameters = resolution.parameters
        let resource = resolution.resource
        verdict.record.resource = resource
        verdict.handler = route.handler
        verdict.parameters = parameters
        if let refusal = callerRefusal(route.callers, account: session.user.accountId, directory: directory) {
            return .decided(Self.refuse(verdict, refusal))
        }
        let (policySet, globals): (CompiledPolicySet, GlobalKeys)
        switch memory.policySet(for: session.policies, in: policies) {
        case .failure(let missing):
            return .decided(Self.refuse(verdict, .policyDenied(action: route.action, reason: "attached_policy_missing: \(missing.name)")))
        case .success(let found): (policySet, globals) = found
        }
        var request = AuthorizationRequest(principal: session.principal, action: route.action, resource: resource)
        request.reserveContext(8)
        if globals.contains(.sourceIp) { request.setContext(normalizedKey: "g:sourceip", [.string(sourceIp)]) }
        if globals.contains(.currentTime) { request.setContext(normalizedKey: "g:currenttime", [.string(Self.iso8601(call.now))]) }
        if globals.contains(.epochTime) {
            request.setContext(normalizedKey: "g:epochtime", [.number(.integer(Int64(call.now.timeIntervalSince1970.rounded(.down))))])
        }
        if globals.contains(.secureTransport) {
            request.setContext(normalizedKey: "g:securetransport", ContextValue.list(isSecureTransport(call)))
        }
        if globals.contains(.mfaPresent) { request.setContext(normalizedKey: "g:mfapresent", ContextValue.list(session.mfa)) }
        if globals.contains(.userAgent) { request.setContext(normalizedKey: "g:useragent", call.userAgent.map { [.string($0)] } ?? []) }
        if route.carriesRequestTags {
            switch Self.requestTags(call.body) {
            case .failure(let refusal): return .decided(Self.refuse(verdict, refusal))
            case .success(let (tags, keys)):
                // A tag key written twice, or in two cases, is two readings of one key.
                for (key, value) in tags { request.addContext("g:RequestTag/" + key, [.string(value)]) }
                request.setContext("g:tagkeys", keys.map { .string($0) })
            }
            verdict.changesTagsOf = route.tagSubject.flatMap { parameters[$0] }
        }
        if route.carriesResourceTags, let subject = route.tagSubject, let account = parameters[subject],
            memory.testsResourceTags(policySet, resolution, { policySet.testsConditionKey(for: request, where: { $0.hasPrefix("g:resourcetag/") }) })
        {
            // Consumed, so adding the tags extends this request's context instead of a copy.
            if let tags = knownTags(account) { return .decided(Self.decide(consume request, tags: tags, with: policySet, verdict)) }
            return .needsTags(account: account, PendingDecision(request: request, policySet: policySet, verdict: verdict))
        }
        return .decided(Self.decide(request, with: policySet, verdict))
    }

    /// Parses the target and, when it is acceptable, finds its route and the resource URN.
    func resolve(method: String, target: String, in directory: DirectoryView) -> Resolution {
        let parsed: RequestTarget
        switch RequestTarget.parse(target) {
        case .failure(let rejection): return Resolution(target: .failure(rejection))
        case .success(let found): parsed = found
        }
        guard let (route, parameters) = catalog.match(method: method, target: parsed) else { return Resolution(target: .success(parsed)) }
        if let malformed = route.malformedParameter(in: parameters) {
            return Resolution(target: .success(parsed), route: route, parameters: parameters, malformedParameter: malformed)
        }
        let organization = directory.organization
        let resource = route.resourceURN(
            parameters: parameters, organizationId: organization.id, managementAccountId: organization.managementAccountId)
        return Resolution(target: .success(parsed), route: route, parameters: parameters, resource: resource)
    }

    /// `decide`, with the target account's tags as `g:ResourceTag/<k>`.
    static func decide(
        _ request: consuming AuthorizationRequest, tags: ResourceTags, with policySet: CompiledPolicySet, _ verdict: Verdict
    )
        -> Verdict
    {
        var request = request
        for (key, spellings) in tags.context { request.setContext(normalizedKey: key, spellings: spellings) }
        return decide(request, with: policySet, verdict)
    }

    static func decide(_ request: AuthorizationRequest, with policySet: CompiledPolicySet, _ verdict: Verdict) -> Verdict {
        let decision = policySet.evaluate(request)
        verdict.record.reason = decision.reason.rawValue
        verdict.record.statements = decision.statements
        if decision.isAllowed {
            verdict.record.decision = "allow"
            return verdict
        }
        return refuse(verdict, .policyDenied(action: request.action, reason: decision.reason.rawValue))
    }

    /// Marks the verdict refused (it is the same verdict, returned for chaining).
    @discardableResult
    static func refuse(_ verdict: Verdict, _ refusal: Refusal) -> Verdict {
        verdict.refusal = refusal
        verdict.record.decision = "deny"
        verdict.record.reason = refusal.reason
        verdict.record.status = refusal.status
        return verdict
    }

    func callerRefusal(_ rule: CallerRule, account: String, directory: DirectoryView) -> Refusal? {
        let management = account == directory.organization.managementAccountId
        switch rule {
        case .management: return management ? nil : .notManagementAccount
        case .managementOrDelegated: return management || directory.isDelegatedAdministrator(account) ? nil : .notDelegatedAdministrator
        case .member: return directory.isMember(account) ? nil : .notMember
        }
    }

    func isTrusted(_ address: String) -> Bool {
        guard !trustedProxies.isEmpty, let ip = IPAddress(address) else { return false }
        return trustedProxies.contains { $0.contains(ip) }
    }

    /// Whether the client reached the trusted proxy over HTTPS: the peer is a trusted proxy
    /// and every hop `X-Forwarded-Proto` lists says `https` (a proxy that appends its own
    /// protocol to the client's is believed only when all agree).
    func isSecureTransport(_ call: Call) -> Bool {
        guard isTrusted(call.peer), let proto = call.forwardedProto else { return false }
        let hops = proto.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return !hops.isEmpty && hops.allSatisfy { $0.lowercased() == "https" }
    }

    /// The client's address: the socket peer, unless the peer is a trusted proxy, in which
    /// case `X-Forwarded-For` is read from the right, skipping trusted proxies.
    func sourceAddress(of call: Call) -> String {
        guard isTrusted(call.peer), let forwarded = call.forwardedFor else { return call.peer }
        let hops = forwarded.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for hop in hops.reversed() where !isTrusted(hop) { return hop }
        return hops.first ?? call.peer
    }

    /// `g:RequestTag/<k>` and `g:TagKeys` from a tag-changing body: `{"tags": [{"key", "value"}]}`
    /// (a value, when given, a string; the typed delete API sends keys alone) or
    /// `{"tag_keys": [...]}`. A body that cannot be read the way the account service reads
    /// it is refused, since the policy could not see what it changes: not JSON, not an
    /// object, `tags` or `tag_keys` of another type, a tag without a string key, a value
    /// that is not a string.
    static func requestTags(_ body: [UInt8]) -> Result<([(String, String)], [String]), Refusal> {
        let shape = "The request body must be a JSON object with tags ([{\"key\", \"value\"}]) or tag_keys ([\"...\"])."
        guard let json = try? JSONLoader.parse(body, limits: JSONLimits(maxBytes: max(body.count, 1), maxDepth: 8)), case .object(let members) = json
        else {
            return .failure(.badBody(shape))
        }
        // A member spelled like one the policy reads, in another case ("Tags", "Key"), could
        // be read by a service that matches names without case (as Go's encoding/json does)
        // and never by the policy: refused, like keys that differ only in case elsewhere.
        if let odd = Self.memberInAnotherCase(members, of: ["tags", "tag_keys"]) {
            return .failure(.badBody("\(JSONWriter.quoted(odd)) is not a member of a tagging body; the members are tags and tag_keys."))
        }
        var tags: [(String, String)] = []
        var keys: [String] = []
        switch json["tags"] {
        case nil: break
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
        case nil: break
        case .array(let items)?:
            for item in items {
                guard case .string(let key) = item else { return .failure(.badBody("tag_keys must be a list of strings.")) }
                keys.append(key)
            }
        default: return .failure(.badBody(shape))
        }
        if tags.isEmpty && keys.isEmpty { return .failure(.badBody(shape)) }
        return .success((tags, keys))
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
