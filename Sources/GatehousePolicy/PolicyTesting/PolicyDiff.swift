/// The decisions that change between two policy sets over the same requests, grouped the
/// way a reviewer reads them: principal, action, what was acted on, and the transition.
public struct PolicyDiff: Sendable {
    /// One kind of change: who, what, on which resources, from which decision to which.
    public struct Group: Sendable, Hashable {
        public var principal: String
        public var action: String
        public var resource: String
        public var before: DecisionReason
        public var after: DecisionReason

        public var newlyAllowed: Bool { after == .explicitAllow && before != .explicitAllow }
        public var newlyDenied: Bool { before == .explicitAllow && after != .explicitAllow }

        /// `alice: organizations:accounts:update on accounts tagged env=prod: deny -> allow`
        public var description: String {
            func word(_ reason: DecisionReason) -> String { reason == .explicitAllow ? "allow" : "deny" }
            var transition = "\(word(before)) -> \(word(after))"
            if word(before) == word(after) { transition += " (\(before.rawValue) -> \(after.rawValue))" }
            return "\(principal): \(action) on \(resource): \(transition)"
        }
    }

    public private(set) var counts: [Group: Int] = [:]
    /// The first few distinct resources (URNs) of each group, in the order met: a group is
    /// named by the resources' type and tags, and a policy that tells resources apart by URN
    /// puts different ones under one name.
    public private(set) var examples: [Group: [String]] = [:]
    /// The groups with more distinct resources than their examples.
    public private(set) var moreResources: Set<Group> = []
    public private(set) var requests = 0
    /// How many resources a group keeps as examples.
    public static let examplesPerGroup = 3

    public init() {}

    /// Records one request's decisions under the old and the new set.
    public mutating func add(_ request: AuthorizationRequest, before: Decision, after: Decision) {
        add(
            principal: Self.principalName(request.principal), action: request.action, resource: request.resource,
            described: Self.resourceDescription(request), before: before.reason, after: after.reason)
    }

    /// Records one call's two decisions, given as parts (`gatehouse audit summarize`, from
    /// audit lines): `principal` as shown, `described` the resource's group name.
    public mutating func add(principal: String, action: String, resource: String, described: String, before: DecisionReason, after: DecisionReason) {
        requests += 1
        guard before != after else { return }
        let group = Group(principal: principal, action: action, resource: described, before: before, after: after)
        counts[group, default: 0] += 1
        if !examples[group, default: []].contains(resource) {
            if examples[group, default: []].count < Self.examplesPerGroup {
                examples[group, default: []].append(resource)
            } else {
                moreResources.insert(group)
            }
        }
    }

    /// Changed groups, newly allowed first, then by principal, action and resource, each with
    /// its request count and example resources.
    public var groups: [(group: Group, count: Int, examples: [String])] {
        counts.map { ($0.key, $0.value, examples[$0.key] ?? []) }.sorted { a, b in
            if a.group.newlyAllowed != b.group.newlyAllowed { return a.group.newlyAllowed }
            return (a.group.principal, a.group.action, a.group.resource, a.group.before.rawValue, a.group.after.rawValue)
                < (b.group.principal, b.group.action, b.group.resource, b.group.before.rawValue, b.group.after.rawValue)
        }
    }

    public var changed: Int { counts.values.reduce(0, +) }
    public var newlyAllowed: Int { counts.filter { $0.key.newlyAllowed }.map(\.value).reduce(0, +) }
    public var newlyDenied: Int { counts.filter { $0.key.newlyDenied }.map(\.value).reduce(0, +) }

    /// `alice` for `iam::…:user:alice`; the URN itself for other shapes.
    static func principalName(_ principal: Principal) -> String {
        guard let urn = principal.urn else { return principal.id ?? "(no principal)" }
        return principalName(urn: urn)
    }

    /// `alice` for `iam::…:user:alice`; the URN itself for other shapes.
    public static func principalName(urn: String) -> String {
        if let range = urn.firstRange(of: ":user:") { return String(urn[range.upperBound...]) }
        return urn
    }

    /// `accounts` for an account's URN: the resource type, plural; `*` and other shapes as
    /// they are.
    public static func resourceType(of urn: String) -> String {
        let parts = urn.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5 else { return urn }
        return parts[3].hasSuffix("s") ? String(parts[3]) : parts[3] + "s"
    }

    /// `accounts tagged env=prod` from the URN's type and the request's resource tags;
    /// `accounts without tags`; `*` for actions without a resource type.
    static func resourceDescription(_ request: AuthorizationRequest) -> String {
        let type = resourceType(of: request.resource)
        guard type != request.resource else { return request.resource }
        let prefix = "g:resourcetag/"
        // Resource tags are always set explicitly; the principal's keys need not be merged in.
        let tags = request.explicitContext.compactMap { key, values -> String? in
            guard key.hasPrefix(prefix), !values.isEmpty else { return nil }
            // Sorted, so requests whose spellings came in another order group together.
            return String(key.dropFirst(prefix.count)) + "=" + values.map(\.text).sorted().joined(separator: "|")
        }.sorted()
        return tags.isEmpty ? "\(type) without tags" : "\(type) tagged \(tags.joined(separator: ", "))"
    }
}
