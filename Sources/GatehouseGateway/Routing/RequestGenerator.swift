import GatehouseDirectory
import GatehousePolicy

/// Generates the requests a policy change should be judged on, without a request log: every
/// directory user, on every route their account may call, on every account, with the
/// condition values the policies mention (and each key absent). Used by `gatehouse diff`.
///
/// Values per key: tag keys take the values the policies name plus the account's own; IP
/// keys take one address inside each network named and one outside them all; booleans
/// both values; numbers and dates the values named and one either side; other strings the
/// values named, with `*`/`?` in patterns filled in. The product is walked in a fixed
/// order, so the same inputs give the same requests, and stops at `limit`.
public struct RequestGenerator: Sendable {
    public var catalog: RouteCatalog
    public var directory: DirectorySeed
    /// Values for each condition key (lowercased): what the policies mention; nil is "absent".
    public private(set) var values: [String: [ContextValue?]] = [:]
    public var limit: Int

    public init(catalog: RouteCatalog, directory: DirectorySeed, documents: [PolicyDocument], limit: Int = 1_000_000) {
        self.catalog = catalog
        self.directory = directory
        self.limit = limit
        var mentioned: [String: [ContextValue]] = [:]
        for document in documents {
            for statement in document.statements {
                for condition in statement.conditions where !Self.fromPrincipal(condition.normalizedKey) {
                    mentioned[condition.normalizedKey, default: []].append(contentsOf: Self.samples(condition))
                }
            }
        }
        for (key, list) in mentioned {
            var seen = Set<ContextValue>()
            values[key] = list.filter { seen.insert($0).inserted }.sorted { $0.text < $1.text } + [nil]
        }
    }

    /// Keys the gateway fills from the caller (the principal and the directory), never
    /// varied: each request carries the user's own values.
    static func fromPrincipal(_ key: String) -> Bool {
        ["g:principalurn", "g:principalid", "g:principalaccount"].contains(key) || key.hasPrefix("g:principaltag/")
            || DirectorySeed.callerKeyNames.contains(key)
    }

    /// Values that make a condition true and false, from its own policy values.
    static func samples(_ condition: Condition) -> [ContextValue] {
        switch condition.values {
        case .strings(let texts): return texts.map { .string($0) }
        case .foldedStrings: return condition.rawValues.map { .string($0) }
        case .patterns: return condition.rawValues.map { .string(String($0.map { $0 == "*" || $0 == "?" ? "x" : $0 })) }
        case .numbers(let numbers):
            return numbers.flatMap { number -> [ContextValue] in
                guard case .integer(let value) = number else { return [.number(number)] }
                return [.number(.integer(value &- 1)), .number(number), .number(.integer(value &+ 1))]
            }
        case .dates(let times):
            return times.flatMap { time in [-1.0, 0, 1].map { ContextValue.number(.decimal(time.secondsSinceEpoch + $0)) } }
        case .bools: return [.bool(true), .bool(false)]
        case .networks(let networks):
            // One address inside each network; one outside all of them, of each family.
            var result = networks.map { ContextValue.string($0.text.split(separator: "/").first.map(String.init) ?? $0.text) }
            for outside in ["192.0.2.1", "198.18.0.1", "2001:db8:ffff::1", "fd00::1"]
            where !networks.contains(where: { network in IPAddress(outside).map(network.contains) ?? true }) {
                result.append(.string(outside))
            }
            return result
        }
    }

    /// Whether the user's account may call the route at all (the gateway refuses the rest
    /// before any policy is evaluated, so their decisions cannot change).
    public func mayCall(_ user: DirectorySeed.User, _ route: Route) -> Bool {
        switch route.callers {
        case .member: return directory.account(user.accountId) != nil
        case .management: return user.accountId == directory.organization.managementAccountId
        case .managementOrDelegated:
            return user.accountId == directory.organization.managementAccountId || directory.delegatedAdministrators.contains(user.accountId)
        }
    }

    /// Calls `body` with each generated request (and its user); returns how many, and
    /// whether `limit` cut the generation short.
    @discardableResult
    public func generate(_ body: (DirectorySeed.User, AuthorizationRequest) -> Void) -> (count: Int, truncated: Bool) {
        var count = 0
        let organization = directory.organization
        for user in directory.users where !user.disabled {
            let principal = directory.principal(for: user)
            let callerKeys = Dictionary(directory.callerKeys(for: user).map { ($0.key, $0.values) }, uniquingKeysWith: { first, _ in first })
            // A route decided without policies (`identity_policy: false`) has no decision to compare.
            for route in catalog.routes where route.identityPolicy && mayCall(user, route) {
                let keys = values.keys.filter { route.carries($0) && !(route.resource == "*" && $0.hasPrefix("g:resourcetag/")) }.sorted()
                let targets: [DirectorySeed.Account?] = route.namedValues.isEmpty ? [nil] : directory.accounts.map { $0 }
                for target in targets {
                    let resource = route.resourceURN(
                        parameters: Dictionary(uniqueKeysWithValues: route.namedValues.map { ($0, target?.id ?? "") }), in: organization)
                    // The account's own tags are more choices for each tag key: every tag whose
                    // key folds to it (keys may differ only in case), in key order, so the
                    // generated requests are the same in every process.
                    let dimensions: [(key: String, choices: [ContextValue?])] = keys.map { key in
                        var choices = values[key] ?? [nil]
                        if let target, key.hasPrefix("g:resourcetag/") {
                            let own = target.tags.filter { ResourceTags.contextKey($0.key) == key }.sorted { $0.key < $1.key }
                            for tag in own.reversed() where !choices.contains(.string(tag.value)) { choices.insert(.string(tag.value), at: 0) }
                        }
                        return (key, choices)
                    }
                    var odometer = Array(repeating: 0, count: dimensions.count)
                    while true {
                        guard count < limit else { return (count, true) }
                        var context = callerKeys
                        for (index, dimension) in dimensions.enumerated() {
                            if let value = dimension.choices[odometer[index]] { context[dimension.key] = [value] }
                        }
                        body(user, AuthorizationRequest(principal: principal, action: route.action, resource: resource, context: context))
                        count += 1
                        var position = dimensions.count - 1
                        while position >= 0 {
                            odometer[position] += 1
                            if odometer[position] < dimensions[position].choices.count { break }
                            odometer[position] = 0
                            position -= 1
                        }
                        if position < 0 { break }
                    }
                }
            }
        }
        return (count, false)
    }
}
