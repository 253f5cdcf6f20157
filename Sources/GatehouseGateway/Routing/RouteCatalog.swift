import GatehouseDirectory
import GatehousePolicy

/// Which calling accounts an API accepts, before any policy is looked at (per API, as
/// Huawei's Organizations reference lists them).
public enum CallerRule: String, Sendable, CaseIterable {
    /// The organization's management account only (`Organizations.1001` otherwise).
    case management
    /// The management account or a delegated administrator (`Organizations.1002` otherwise).
    case managementOrDelegated = "management_or_delegated"
    /// Any account in the organization.
    case member
}

/// One API of the account service: how a call maps to an action, a resource and the
/// condition keys to collect. Immutable, and a class so that matching a call hands out a
/// reference rather than a copy of its strings and lists.
public final class Route: Sendable {
    public enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    public let method: String
    public let path: String
    public let segments: [Segment]
    public let action: String
    /// A URN with `{placeholders}`, or `*`. A placeholder is a value: a path parameter
    /// (`{account_id}`), a query parameter (`{query:root_id}`), a string member of the JSON
    /// body (`{body:account_id}`), `{organization_id}` or `{management_account_id}`; or the
    /// resource type of a value (`{type_of:resource_id}`, see `Route.resourceType(of:format:)`).
    public let resource: String
    public let callers: CallerRule
    /// Condition-key families the call carries besides the global ones (`g:ResourceTag`,
    /// `g:RequestTag`, `g:TagKeys`, `organizations:ServicePrincipal`).
    public let context: [String]
    /// False for the operations whose reference says they need no identity-policy
    /// permission: decided by authentication and the caller rule alone.
    public let identityPolicy: Bool
    /// True for the tagging calls, whose body is the tags: one without `tags` or
    /// `tag_keys` is refused (400). Elsewhere (creating an account, OU or policy, inviting)
    /// tags are optional, and a body without them is decided with no `g:RequestTag/<k>`
    /// and no `g:TagKeys`.
    public let tagsRequired: Bool
    /// True for the calls the OU management guide gives the organization owner by role
    /// (seeing and editing the profile, changing the owner): the owner is allowed when no
    /// statement decides (implicit deny); an explicit Deny still refuses. So the rights move
    /// with an ownership transfer, as the guide says, without policies moving with them.
    public let ownerRights: Bool
    /// Set when Gatehouse answers the call itself instead of forwarding it.
    public let handler: BuiltInEndpoint?
    /// The documented format of each path parameter (`IdentifierFormat`): a call whose
    /// parameter does not fit is refused before anything is looked up with it.
    public let formats: [String: IdentifierFormat]

    /// Whether the call carries `g:ResourceTag/<k>` (the target account's tags), and
    /// `g:RequestTag/<k>` or `g:TagKeys` (read from its body): asked on every call.
    public let carriesResourceTags: Bool
    public let carriesRequestTags: Bool
    /// Whether the call carries `organizations:ServicePrincipal` (from the body's or the
    /// query's `service_principal`).
    public let carriesServicePrincipal: Bool

    /// The query parameters and body members the resource names (`query:<name>`,
    /// `body:<name>`): each must be there once, in its documented format, or the call is
    /// refused (400) rather than authorized on a URN with a hole in it.
    public let queryReferences: [String]
    public let bodyReferences: [String]

    /// The value naming the resource whose tags are `g:ResourceTag/<k>`: the last path
    /// parameter, query parameter or body member in the resource template.
    public let tagSubject: String?

    /// The resource template split once into literal text and placeholders, so building a
    /// URN on every call is concatenation.
    enum ResourcePart: Sendable {
        case text(String)
        case placeholder(String)
        /// The URN resource type of a value (`{type_of:<value>}`).
        case typeOf(String)
    }

    let resourceParts: [ResourcePart]
    /// The template's literal bytes and placeholder count, to size a URN before building it.
    let resourceTextBytes: Int
    let resourcePlaceholders: Int

    public init(
        method: String, path: String, segments: [Segment], action: String, resource: String, callers: CallerRule, context: [String],
        handler: BuiltInEndpoint? = nil, formats: [String: IdentifierFormat] = [:], identityPolicy: Bool = true, tagsRequired: Bool = false,
        ownerRights: Bool = false
    ) {
        self.handler = handler
        self.identityPolicy = identityPolicy
        self.tagsRequired = tagsRequired
        self.ownerRights = ownerRights
        let parts = Self.parts(of: resource)
        var formats = formats
        for case .parameter(let name) in segments where formats[name] == nil { formats[name] = IdentifierFormat.forParameter(named: name) }
        for name in Self.references(in: parts) where Self.isReference(name) && formats[name] == nil {
            formats[name] = IdentifierFormat.forParameter(named: Self.referencedField(name))
        }
        self.formats = formats
        self.method = method
        self.path = path
        self.segments = segments
        self.action = action
        self.resource = resource
        self.callers = callers
        self.context = context
        carriesResourceTags = context.contains("g:ResourceTag")
        carriesRequestTags = context.contains("g:RequestTag") || context.contains("g:TagKeys")
        carriesServicePrincipal = context.contains("organizations:ServicePrincipal")
        resourceParts = parts
        var textBytes = 0
        var placeholders = 0
        for part in parts {
            switch part {
            case .text(let text): textBytes += text.utf8.count
            case .placeholder, .typeOf: placeholders += 1
            }
        }
        resourceTextBytes = textBytes
        resourcePlaceholders = placeholders
        var parameterNames = Set<String>()
        for case .parameter(let name) in segments { parameterNames.insert(name) }
        var subject: String?
        var queryReferences: [String] = []
        var bodyReferences: [String] = []
        for name in Self.references(in: parts) {
            if name.hasPrefix("query:") && !queryReferences.contains(name) { queryReferences.append(name) }
            if name.hasPrefix("body:") && !bodyReferences.contains(name) { bodyReferences.append(name) }
        }
        for case .placeholder(let name) in parts where parameterNames.contains(name) || Self.isReference(name) { subject = name }
        self.queryReferences = queryReferences
        self.bodyReferences = bodyReferences
        tagSubject = subject
    }

    /// Whether a value is one the resource names from outside the path (`query:`, `body:`).
    static func isReference(_ name: String) -> Bool { name.hasPrefix("query:") || name.hasPrefix("body:") }

    /// The URN resource type a value names: for a tag API's `resource_type`
    /// (`organizations:accounts` and so on) its type; for any other ID the type its
    /// documented form says (`ou-`, `r-`, `p-`, `h-`), else an account (account IDs have no
    /// prefix). Gatehouse's reading where the reference shows only examples: a type's URN
    /// is `organizations::<management account>:<type>:<organization>/<id>`, as the account
    /// and OU examples are.
    public static func resourceType(of value: String, format: IdentifierFormat?) -> String {
        if format == .resourceType {
            switch value {
            case "organizations:accounts": return "account"
            case "organizations:ous": return "ou"
            case "organizations:roots": return "root"
            case "organizations:policies": return "policy"
            default: return "unknown"
            }
        }
        if value.hasPrefix("ou-") { return "ou" }
        if value.hasPrefix("r-") { return "root" }
        if value.hasPrefix("p-") { return "policy" }
        if value.hasPrefix("h-") { return "handshake" }
        return "account"
    }

    /// A resource template split into literal text and placeholders (`{type_of:<value>}`
    /// as `.typeOf`). A `{` without its `}` stays in the text (the catalog reader refuses it).
    static func parts(of resource: String) -> [ResourcePart] {
        var parts: [ResourcePart] = []
        var rest = Substring(resource)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            if open > rest.startIndex { parts.append(.text(String(rest[..<open]))) }
            let name = String(rest[rest.index(after: open)..<close])
            parts.append(name.hasPrefix("type_of:") ? .typeOf(String(name.dropFirst("type_of:".count))) : .placeholder(name))
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        return parts
    }

    /// The values a resource template names, in order (`type_of:` taken off).
    static func references(in parts: [ResourcePart]) -> [String] {
        parts.compactMap { part in
            switch part {
            case .text: nil
            case .placeholder(let name), .typeOf(let name): name
            }
        }
    }

    /// A query or body reference's field: `root_id` of `query:root_id`.
    static func referencedField(_ reference: String) -> String { String(reference.drop { $0 != ":" }.dropFirst()) }

    /// The values the route reads besides the organization's IDs: path parameters, then
    /// the query's and the body's (each checked against its format).
    public var namedValues: [String] { parameters + queryReferences + bodyReferences }

    public var parameters: [String] {
        segments.compactMap {
            if case .parameter(let name) = $0 { return name }
            return nil
        }
    }

    /// Whether the call can carry the condition key (lowercased), for generating requests.
    public func carries(_ normalizedKey: String) -> Bool {
        for family in context {
            let lowered = family.lowercased()
            if normalizedKey == lowered || normalizedKey.hasPrefix(lowered + "/") { return true }
        }
        let collected = ["g:resourcetag", "g:requesttag", "g:tagkeys", "organizations:serviceprincipal"]
        return !collected.contains { normalizedKey == $0 || normalizedKey.hasPrefix($0 + "/") }
    }

    /// The first path parameter that does not have its documented format, if any.
    public func malformedParameter(in parameters: [String: String]) -> (name: String, value: String, format: IdentifierFormat)? {
        for name in namedValues {
            // A parameter without a format cannot be checked, so it is never accepted (the
            // catalog refuses such a route on load; this guards a route built in code).
            guard let value = parameters[name] else { continue }
            guard let format = formats[name] else { return (name, value, .account) }
            if !format.accepts(value) { return (name, value, format) }
        }
        return nil
    }

    /// The resource URN for path parameters and the organization; `*` stays `*`.
    public func resourceURN(parameters: [String: String], organizationId: String, managementAccountId: String) -> String {
        // Sized once (path parameters guessed generously): appending part by part grew the
        // string two or three times a call.
        var urn = ""
        urn.reserveCapacity(resourceTextBytes + resourcePlaceholders * max(64, organizationId.utf8.count, managementAccountId.utf8.count))
        for part in resourceParts {
            switch part {
            case .text(let text): urn += text
            case .placeholder("organization_id"): urn += organizationId
            case .placeholder("management_account_id"): urn += managementAccountId
            case .placeholder(let name): urn += parameters[name] ?? "{\(name)}"
            case .typeOf(let name): urn += parameters[name].map { Self.resourceType(of: $0, format: formats[name]) } ?? "{type_of:\(name)}"
            }
        }
        return urn
    }

    /// How two routes' templates relate: whether one path can match both, and if so which
    /// is more specific (a literal segment where the other has a parameter).
    enum Overlap: Equatable {
        case disjoint
        /// Every path matching one matches the other.
        case same
        case moreSpecific
        case lessSpecific
        /// Each is more specific somewhere (`/a/{x}/b` and `/a/c/{y}`): neither should win.
        case ambiguous
    }

    func overlap(with other: Route) -> Overlap {
        guard method == other.method, segments.count == other.segments.count else { return .disjoint }
        var literalHere = false
        var literalThere = false
        for (mine, theirs) in zip(segments, other.segments) {
            switch (mine, theirs) {
            case (.literal(let a), .literal(let b)): if a != b { return .disjoint }
            case (.literal(let text), .parameter(let name)):
                if !other.mayMatch(text, parameter: name) { return .disjoint }
                literalHere = true
            case (.parameter(let name), .literal(let text)):
                if !mayMatch(text, parameter: name) { return .disjoint }
                literalThere = true
            case (.parameter, .parameter): break
            }
        }
        switch (literalHere, literalThere) {
        case (false, false): return .same
        case (true, false): return .moreSpecific
        case (false, true): return .lessSpecific
        case (true, true): return .ambiguous
        }
    }

    /// A path both routes match (literals from either, `x` for parameters both have).
    func sharedPath(with other: Route) -> String {
        zip(segments, other.segments).map { mine, theirs in
            switch (mine, theirs) {
            case (.literal(let text), _), (_, .literal(let text)): "/" + text
            default: "/x"
            }
        }.joined()
    }

    /// Whether a path segment can be this parameter: a parameter of a closed set of values
    /// (a tag API's `resource_type`) matches only those, so `/v1/organizations/accounts/...`
    /// is never read as a resource type; any other value matches, and its format is checked
    /// once the route is chosen (a 400 that names the format).
    func mayMatch(_ value: String, parameter name: String) -> Bool {
        formats[name] != .resourceType || IdentifierFormat.resourceType.accepts(value)
    }

    /// The path parameters when `path` (already split on `/`) is a call of this route.
    public func match(method: String, segments pathSegments: [String]) -> [String: String]? {
        guard method == self.method, pathSegments.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, value) in zip(segments, pathSegments) {
            switch segment {
            case .literal(let text): if text != value { return nil }
            case .parameter(let name):
                guard !value.isEmpty, mayMatch(value, parameter: name) else { return nil }
                parameters[name] = value
            }
        }
        return parameters
    }
}

/// The route catalog (`samples/catalog.json`): every API the gateway lets through. A call
/// that matches no route is refused (fail closed). A route with a `handler` (`profile.get`,
/// `profile.update`) is answered by Gatehouse itself instead of being forwarded.
///
/// ```json
/// {"routes": [{"method": "PATCH", "path": "/v1/organizations/accounts/{account_id}",
///              "action": "organizations:accounts:update",
///              "resource": "organizations::{management_account_id}:account:{organization_id}/{account_id}",
///              "callers": "management", "context": ["g:ResourceTag"]}]}
/// ```
public struct RouteCatalog: Sendable {
    /// The routes in the catalog's order.
    public let routes: [Route]
    /// The routes in the order calls are matched (a literal segment before a parameter at
    /// the first place they differ, so `/accounts/summary` wins over `/accounts/{id}`
    /// wherever it is listed; overlaps where neither is more specific are refused on load),
    /// filed by method and segment count, the two things a route needs equal: a call is
    /// compared with the few routes of its shape, not the whole service's.
    let candidates: [Shape: [Route]]

    struct Shape: Hashable {
        var method: String
        var segments: Int
    }

    public init(routes: [Route]) {
        self.routes = routes
        let matchOrder = routes.enumerated().sorted { first, second in
            for (a, b) in zip(first.element.segments, second.element.segments) {
                switch (a, b) {
                case (.literal, .parameter): return true
                case (.parameter, .literal): return false
                default: continue
                }
            }
            return first.offset < second.offset
        }.map(\.element)
        candidates = Dictionary(grouping: matchOrder) { Shape(method: $0.method, segments: $0.segments.count) }
    }

    /// The route and its path parameters for a call, or nil (the call is refused). The path
    /// is checked as a `RequestTarget` first: an ambiguous path matches nothing.
    public func match(method: String, path: String) -> (route: Route, parameters: [String: String])? {
        guard case .success(let target) = RequestTarget.parse(path) else { return nil }
        return match(method: method, target: target)
    }

    /// Reads and validates a catalog file; every problem is reported with its place (GH4002).
    public static func load(_ file: String) throws(PolicyLoadError) -> RouteCatalog {
        let (bytes, json) = try DiagnosticCollector.readJSON(file, code: .badRouteCatalog)
        var collector = DiagnosticCollector()
        let catalog = read(json, into: &collector)
        try collector.check(file: file, bytes: bytes)
        return catalog
    }

    static let methods: Set<String> = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    static let contextFamilies: Set<String> = ["g:ResourceTag", "g:RequestTag", "g:TagKeys", "organizations:ServicePrincipal"]

    static func read(_ json: JSONValue, into collector: inout DiagnosticCollector) -> RouteCatalog {
        func report(_ message: String, at path: JSONPath, atKey: Bool = false) {
            collector.report(.badRouteCatalog, message, at: path, atKey: atKey)
        }
        guard case .object(let top) = json, case .array(let items)? = json["routes"] else {
            report("a route catalog is an object with a list of routes", at: .root)
            return RouteCatalog(routes: [])
        }
        for (key, _) in top where key != "routes" {
            report("unknown member \(JSONWriter.quoted(key)); a catalog has routes", at: JSONPath.root.appending(key), atKey: true)
        }
        var routes: [Route] = []
        for (index, item) in items.enumerated() {
            let path = JSONPath([.key("routes"), .index(index)])
            guard case .object(let members) = item else {
                report("a route is an object {method, path, action, resource, callers, context}", at: path)
                continue
            }
            let known: Set<String> = [
                "method", "path", "action", "resource", "callers", "context", "handler", "formats", "identity_policy", "operation", "note",
                "tags_required", "owner_rights",
            ]
            for (key, _) in members where !known.contains(key) {
                report(
                    "unknown route member \(JSONWriter.quoted(key)); allowed: \(known.sorted().joined(separator: ", "))", at: path.appending(key),
                    atKey: true)
            }
            func text(_ key: String) -> String? {
                guard case .string(let value)? = item[key], !value.isEmpty else {
                    report("\(key) must be a non-empty string", at: item[key] == nil ? path : path.appending(key))
                    return nil
                }
                return value
            }
            /// A true-or-false member, `absent` when not given.
            func flag(_ key: String, absent: Bool) -> Bool {
                switch item[key] {
                case nil: return absent
                case .bool(let value)?: return value
                default:
                    report("\(key) must be true or false", at: path.appending(key))
                    return absent
                }
            }
            // An operation whose reference says it needs no identity-policy permission has no
            // action: `"identity_policy": false` says so, and then `action` must be absent.
            let identityPolicy = flag("identity_policy", absent: true)
            let tagsRequired = flag("tags_required", absent: false)
            let ownerRights = flag("owner_rights", absent: false)
            if ownerRights && !identityPolicy {
                report("owner_rights widens what policies decide, so the route needs \"identity_policy\": true", at: path.appending("owner_rights"))
            }
            for key in ["operation", "note"] {
                switch item[key] {
                case nil, .string?: break
                default: report("\(key) must be a string", at: path.appending(key))
                }
            }
            let action: String?
            if identityPolicy {
                action = text("action")
            } else if item["action"] != nil {
                report("a route with \"identity_policy\": false is decided without policies, so it names no action", at: path.appending("action"))
                action = nil
            } else {
                action = ""
            }
            guard let method = text("method"), let template = text("path"), let action, let resource = text("resource"),
                let callersText = text("callers")
            else { continue }
            let resourceParts = Route.parts(of: resource)
            if !methods.contains(method) { report("method must be one of \(methods.sorted().joined(separator: ", "))", at: path.appending("method")) }
            guard let callers = CallerRule(rawValue: callersText) else {
                report("callers must be management, management_or_delegated or member", at: path.appending("callers"))
                continue
            }
            guard template.hasPrefix("/") else {
                report("path must start with /", at: path.appending("path"))
                continue
            }
            var segments: [Route.Segment] = []
            for piece in template.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
                if piece.hasPrefix("{") && piece.hasSuffix("}") && piece.count > 2 {
                    let name = String(piece.dropFirst().dropLast())
                    if segments.contains(.parameter(name)) { report("parameter {\(name)} appears twice", at: path.appending("path")) }
                    segments.append(.parameter(name))
                } else if piece.isEmpty || piece.contains("{") || piece.contains("}") || piece == "." || piece == ".." {
                    report(
                        "path segments are literals or whole {parameters}; \(JSONWriter.quoted(String(piece))) is neither", at: path.appending("path")
                    )
                } else {
                    segments.append(.literal(String(piece)))
                }
            }
            var context: [String] = []
            if let raw = item["context"] {
                if case .array(let keys) = raw {
                    for (offset, key) in keys.enumerated() {
                        if case .string(let family) = key, contextFamilies.contains(family) {
                            context.append(family)
                        } else {
                            report(
                                "context lists condition-key families to collect: \(contextFamilies.sorted().joined(separator: ", "))",
                                at: path.appending("context").appending(offset))
                        }
                    }
                } else {
                    report("context must be a list", at: path.appending("context"))
                }
            }
            var handler: BuiltInEndpoint?
            if let raw = item["handler"] {
                if case .string(let name) = raw, let known = BuiltInEndpoint(rawValue: name) {
                    handler = known
                } else {
                    report(
                        "handler names an API Gatehouse serves itself: \(BuiltInEndpoint.allCases.map(\.rawValue).joined(separator: ", "))",
                        at: path.appending("handler"))
                }
            }
            // Every path parameter has a documented ID format: by its name, or named here.
            var formats: [String: IdentifierFormat] = [:]
            if let raw = item["formats"] {
                if case .object(let members) = raw {
                    for (name, value) in members {
                        guard segments.contains(.parameter(name)) || (Route.isReference(name) && Route.references(in: resourceParts).contains(name))
                        else {
                            report(
                                "formats names {\(name)}, which is not a parameter of the path", at: path.appending("formats").appending(name),
                                atKey: true)
                            continue
                        }
                        guard case .string(let text) = value, let format = IdentifierFormat(rawValue: text) else {
                            report(
                                "a format is one of \(IdentifierFormat.allCases.map(\.rawValue).joined(separator: ", "))",
                                at: path.appending("formats").appending(name))
                            continue
                        }
                        formats[name] = format
                    }
                } else {
                    report("formats must be an object of path parameter -> ID format", at: path.appending("formats"))
                }
            }
            for case .parameter(let name) in segments where formats[name] == nil && IdentifierFormat.forParameter(named: name) == nil {
                report(
                    "path parameter {\(name)} has no documented ID format; name one in formats (\(IdentifierFormat.allCases.map(\.rawValue).joined(separator: ", ")))",
                    at: path.appending("path"))
            }
            for name in Route.references(in: resourceParts) where Route.isReference(name) && formats[name] == nil {
                if IdentifierFormat.forParameter(named: Route.referencedField(name)) == nil {
                    report(
                        "{\(name)} has no documented ID format; name one in formats (\(IdentifierFormat.allCases.map(\.rawValue).joined(separator: ", ")))",
                        at: path.appending("resource"))
                }
            }
            let route = Route(
                method: method, path: template, segments: segments, action: action, resource: resource, callers: callers, context: context,
                handler: handler, formats: formats, identityPolicy: identityPolicy, tagsRequired: tagsRequired, ownerRights: ownerRights)
            // Placeholders in the resource must be known, so no URN is built with a hole in it.
            for name in Route.references(in: resourceParts) {
                let referenceName = Route.referencedField(name)
                if Route.isReference(name) {
                    if referenceName.isEmpty || !referenceName.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                        report("{\(name)} names no query parameter or body member", at: path.appending("resource"))
                    }
                } else if !route.parameters.contains(name) && name != "organization_id" && name != "management_account_id" {
                    report(
                        "resource placeholder {\(name)} is neither a path parameter, query:<name>, body:<name>, organization_id nor management_account_id",
                        at: path.appending("resource"))
                }
            }
            for case .text(let text) in resourceParts where text.contains("{") { report("unclosed { in resource", at: path.appending("resource")) }
            if context.contains("g:ResourceTag") && route.tagSubject == nil {
                report("a route with g:ResourceTag needs a path parameter in its resource, naming the account", at: path.appending("context"))
            }
            for (other, earlier) in routes.enumerated() {
                switch route.overlap(with: earlier) {
                case .same:
                    report("\(method) \(template) is listed twice (also as routes[\(other)], \(earlier.path))", at: path)
                case .ambiguous:
                    report(
                        "\(method) \(template) and routes[\(other)] (\(earlier.path)) both match paths such as \(route.sharedPath(with: earlier)), "
                            + "and neither is more specific; which applied would depend on their order",
                        at: path.appending("path"))
                case .disjoint, .moreSpecific, .lessSpecific: continue
                }
            }
            routes.append(route)
        }
        if routes.isEmpty && collector.isEmpty { report("the catalog has no routes; every call would be refused", at: .root) }
        return RouteCatalog(routes: routes)
    }
}

extension RouteCatalog {
    /// The route and parameters for a checked request target (decoded segments), or nil.
    public func match(method: String, target: RequestTarget) -> (route: Route, parameters: [String: String])? {
        for route in candidates[Shape(method: method, segments: target.segments.count)] ?? [] {
            if let parameters = route.match(method: method, segments: target.segments) { return (route, parameters) }
        }
        return nil
    }
}

extension DiagnosticCode {
    /// A route catalog that cannot be loaded.
    public static let badRouteCatalog = DiagnosticCode("GH4002", title: "Invalid route catalog")
}
