/// How much an action can do, as Huawei's action tables classify it.
public enum AccessLevel: String, Sendable {
    case list, read, write, tagging
}

/// One action of a service: its name, access level, resource types (empty: the action has
/// no resource-level permission and `Resource` must cover `*`) and whether tag-carrying
/// requests may use `g:RequestTag/<k>` and `g:TagKeys`.
public struct ServiceAction: Sendable, Hashable {
    public var name: String
    public var accessLevel: AccessLevel
    public var resourceTypes: [String]
    /// Whether its requests carry `g:ResourceTag/<k>`: documented for it or its resource
    /// types (false for the handshake actions, whose resource has no tags).
    public var takesResourceTags: Bool
    public var takesRequestTags: Bool
    /// Service-specific condition keys (lowercased), beyond the global ones.
    public var serviceKeys: [String]

    public init(
        _ name: String, _ accessLevel: AccessLevel, resourceTypes: [String] = [], takesResourceTags: Bool = true, takesRequestTags: Bool = false,
        serviceKeys: [String] = []
    ) {
        self.name = name
        self.accessLevel = accessLevel
        self.resourceTypes = resourceTypes
        self.takesResourceTags = takesResourceTags
        self.takesRequestTags = takesRequestTags
        self.serviceKeys = serviceKeys
    }

    /// Whether a request for this action can carry the condition key (lowercased).
    public func canCarry(_ normalizedKey: String) -> Bool {
        if normalizedKey.hasPrefix("g:resourcetag/") { return !resourceTypes.isEmpty && takesResourceTags }
        if normalizedKey.hasPrefix("g:requesttag/") || normalizedKey == "g:tagkeys" { return takesRequestTags }
        if normalizedKey.hasPrefix("g:") { return true }
        return serviceKeys.contains(normalizedKey)
    }
}

/// The actions of one service, for lint: which names exist, what they act on, which keys
/// their requests carry.
public struct ServiceCatalog: Sendable {
    public var service: String
    public var actions: [ServiceAction]

    /// The catalog actions a (case-insensitive) action pattern matches.
    public func actions(matching pattern: String) -> [ServiceAction] {
        let wildcard = Wildcard(pattern, caseInsensitive: true)
        return actions.filter { wildcard.matches($0.name.lowercased()) }
    }

    /// Whether the pattern is about this service (its literal service part is this one).
    public func covers(_ pattern: String) -> Bool {
        pattern.lowercased().hasPrefix(service + ":")
    }

    /// Catalogs Gatehouse knows, by service name.
    public static let known: [String: ServiceCatalog] = [organizations.service: organizations]

    /// The `organizations` service: every action of Huawei Cloud's Organizations API as its
    /// reference documents it (`organizationsActions`, generated from the operation catalog
    /// by scripts/service-catalog.py), and Gatehouse's own management API (the organization
    /// profile and the ownership transfer).
    public static let organizations = ServiceCatalog(
        service: "organizations",
        actions: organizationsActions + [
            ServiceAction("organizations:profile:get", .read),
            ServiceAction("organizations:profile:update", .write),
            ServiceAction("organizations:owner:transfer", .write),
        ])
}
