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
    public var takesRequestTags: Bool
    /// Service-specific condition keys (lowercased), beyond the global ones.
    public var serviceKeys: [String]

    public init(_ name: String, _ accessLevel: AccessLevel, resourceTypes: [String] = [], takesRequestTags: Bool = false, serviceKeys: [String] = [])
    {
        self.name = name
        self.accessLevel = accessLevel
        self.resourceTypes = resourceTypes
        self.takesRequestTags = takesRequestTags
        self.serviceKeys = serviceKeys
    }

    /// Whether a request for this action can carry the condition key (lowercased).
    public func canCarry(_ normalizedKey: String) -> Bool {
        if normalizedKey.hasPrefix("g:resourcetag/") { return !resourceTypes.isEmpty }
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

    /// The `organizations` service, from Huawei Cloud's "Actions" tables for Organizations
    /// (API reference, Permissions and Supported Actions) and the account API's table.
    public static let organizations: ServiceCatalog = {
        let tagged = ["account", "ou", "root", "policy"]
        let actions: [ServiceAction] = [
            ServiceAction("organizations:organizations:create", .write),
            ServiceAction("organizations:organizations:get", .read),
            ServiceAction("organizations:organizations:delete", .write),
            ServiceAction("organizations:organizations:leave", .write),
            ServiceAction("organizations:roots:list", .list),
            ServiceAction("organizations:ous:create", .write, resourceTypes: ["ou"], takesRequestTags: true),
            ServiceAction("organizations:ous:list", .list),
            ServiceAction("organizations:ous:get", .read, resourceTypes: ["ou"]),
            ServiceAction("organizations:ous:update", .write, resourceTypes: ["ou"]),
            ServiceAction("organizations:ous:delete", .write, resourceTypes: ["ou"]),
            ServiceAction("organizations:accounts:create", .write, resourceTypes: ["account"], takesRequestTags: true),
            ServiceAction("organizations:accounts:list", .list),
            ServiceAction("organizations:accounts:get", .read, resourceTypes: ["account"]),
            ServiceAction("organizations:accounts:update", .write, resourceTypes: ["account"]),
            ServiceAction("organizations:accounts:close", .write, resourceTypes: ["account"]),
            ServiceAction("organizations:accounts:remove", .write, resourceTypes: ["account"]),
            ServiceAction("organizations:accounts:move", .write, resourceTypes: ["account"]),
            ServiceAction("organizations:accounts:invite", .write, resourceTypes: ["account"], takesRequestTags: true),
            ServiceAction("organizations:createAccountStatuses:list", .list),
            ServiceAction("organizations:createAccountStatuses:get", .read),
            ServiceAction("organizations:closeAccountStatuses:list", .list),
            ServiceAction("organizations:handshakes:get", .read),
            ServiceAction("organizations:handshakes:accept", .write),
            ServiceAction("organizations:handshakes:decline", .write),
            ServiceAction("organizations:handshakes:cancel", .write),
            ServiceAction("organizations:receivedHandshakes:list", .list),
            ServiceAction("organizations:handshakes:list", .list),
            ServiceAction("organizations:policies:create", .write, resourceTypes: ["policy"], takesRequestTags: true),
            ServiceAction("organizations:policies:list", .list),
            ServiceAction("organizations:policies:get", .read, resourceTypes: ["policy"]),
            ServiceAction("organizations:policies:update", .write, resourceTypes: ["policy"]),
            ServiceAction("organizations:policies:delete", .write, resourceTypes: ["policy"]),
            ServiceAction("organizations:policies:enable", .write, resourceTypes: ["root"]),
            ServiceAction("organizations:policies:disable", .write, resourceTypes: ["root"]),
            ServiceAction("organizations:policies:attach", .write, resourceTypes: ["policy", "account", "ou", "root"]),
            ServiceAction("organizations:policies:detach", .write, resourceTypes: ["policy", "account", "ou", "root"]),
            ServiceAction("organizations:entities:list", .list),
            ServiceAction("organizations:effectivePolicies:list", .list),
            ServiceAction("organizations:delegatedAdministrators:register", .write),
            ServiceAction("organizations:delegatedAdministrators:deregister", .write),
            ServiceAction("organizations:delegatedAdministrators:list", .list),
            ServiceAction("organizations:delegatedServices:list", .list),
            ServiceAction("organizations:trustedServices:enable", .write),
            ServiceAction("organizations:trustedServices:disable", .write),
            ServiceAction("organizations:trustedServices:list", .list),
            ServiceAction("organizations:services:list", .list),
            ServiceAction("organizations:tagPolicyServices:list", .list),
            ServiceAction("organizations:quotas:list", .list),
            ServiceAction("organizations:resources:tag", .tagging, resourceTypes: tagged, takesRequestTags: true),
            ServiceAction("organizations:resources:untag", .tagging, resourceTypes: tagged, takesRequestTags: true),
            ServiceAction("organizations:resources:listTags", .read, resourceTypes: tagged),
            ServiceAction("organizations:tags:list", .list),
            ServiceAction("organizations:resourceInstances:list", .list),
            ServiceAction("organizations:resourceInstances:count", .list),
            // Gatehouse's own management API (the organization profile and ownership transfer).
            ServiceAction("organizations:profile:get", .read),
            ServiceAction("organizations:profile:update", .write),
            ServiceAction("organizations:owner:transfer", .write),
        ]
        return ServiceCatalog(service: "organizations", actions: actions)
    }()
}
