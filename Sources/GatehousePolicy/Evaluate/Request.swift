/// One value of a request's condition context.
public enum ContextValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case number(NumberValue)
    case bool(Bool)

    /// The value as text, for the string operators (`true`, `42`, `2.5`).
    public var text: String {
        switch self {
        case .string(let string): string
        case .number(let number): number.description
        case .bool(let bool): bool ? "true" : "false"
        }
    }

    public var description: String { text }
}

/// Who is asking: the principal's URN, account and tags.
public struct Principal: Sendable, Hashable {
    public var urn: String?
    public var accountId: String?
    public var id: String?
    /// Tag key (as stored) -> value. Two keys may differ only in case (`status`, `Status`):
    /// both are readings of `g:PrincipalTag/status` (see `AuthorizationRequest`).
    public var tags: [String: String] {
        didSet { hasTagKeysDifferingInCase = Self.differInCase(tags.keys) }
    }
    /// Whether two tag keys fold to one condition key, worked out when the tags are set, so a
    /// lookup need not ask every time.
    public private(set) var hasTagKeysDifferingInCase: Bool

    public init(urn: String? = nil, accountId: String? = nil, id: String? = nil, tags: [String: String] = [:]) {
        self.urn = urn
        self.accountId = accountId
        self.id = id
        self.tags = tags
        hasTagKeysDifferingInCase = Self.differInCase(tags.keys)
    }

    private static func differInCase(_ keys: some Collection<String>) -> Bool {
        guard keys.count > 1 else { return false }
        var folded = Set<String>()
        return keys.contains { !folded.insert(ConditionKeyFolding.fold($0)).inserted }
    }
}

/// How condition keys are folded: one function for every place that compares key names
/// (policy conditions, request context, resource, request and principal tags), so no two
/// places can disagree about which keys are the same.
public enum ConditionKeyFolding {
    /// Unicode default lowercasing, locale-independent. A key that is lowercase ASCII already
    /// (as the gateway's own are) is returned as is, without the allocation `lowercased()`
    /// makes.
    public static func fold(_ key: String) -> String {
        key.utf8.allSatisfy({ $0 < 0x80 && !(0x41...0x5A).contains($0) }) ? key : key.lowercased()
    }
}

/// One spelling of a condition key as the request carries it, with that spelling's values.
/// A key carried in several spellings (tags `protected` and `Protected`; the same tag key
/// twice in a tagging body) keeps each one apart: see `AuthorizationRequest`.
public struct KeySpelling: Sendable, Hashable {
    /// The key as written (for a tag: `g:ResourceTag/` and the tag key as stored).
    public var key: String
    public var values: [ContextValue]

    public init(key: String, values: [ContextValue]) {
        self.key = key
        self.values = values
    }
}

/// A request to authorize: principal, action, resource and condition context.
///
/// Context keys are case-insensitive and stored folded (`ConditionKeyFolding`); a key with
/// an empty list of values counts as absent. `g:PrincipalUrn`, `g:PrincipalAccount`,
/// `g:PrincipalId` and `g:PrincipalTag/<k>` are read from `principal` unless the context
/// names them.
///
/// **Keys that differ only in case** (Gatehouse rule, the same for context keys and for
/// resource, request and principal tags, in the gateway and in every CLI command): each
/// spelling is one *reading* of the key, and a condition on the key is evaluated against
/// every reading. It counts for a `Deny` when it holds for **any** reading, and for an
/// `Allow` only when it holds for **every** reading, so no choice among spellings can
/// switch off a Deny or switch on an Allow. The result does not depend on the order of the
/// spellings, so it is the same in every process.
public struct AuthorizationRequest: Sendable {
    public var principal: Principal
    public var action: String
    public var resource: String
    /// The keys set explicitly (folded); for a key with several spellings, all their values.
    /// The principal's keys are looked up in `principal` when a condition asks, not copied in
    /// for every request.
    public private(set) var explicitContext: [String: [ContextValue]]
    /// The keys set in more than one spelling, each spelling apart (empty in nearly every
    /// request, so evaluation checks it with one test).
    public private(set) var spelledContext: [String: [KeySpelling]] = [:]
    /// How `addContext` first spelled a key, where that differs from the folded key (for
    /// `spelledContext`, should a second spelling come).
    private var firstSpellings: [String: String] = [:]
    /// `action` lowercased once, since actions match case-insensitively.
    public let normalizedAction: String

    /// A request; `context` keys are folded, and keys that differ only in case become
    /// readings of one key (see above), added in sorted order so listings are stable.
    public init(principal: Principal = Principal(), action: String, resource: String, context: [String: [ContextValue]] = [:]) {
        self.principal = principal
        self.action = action
        self.resource = resource
        self.normalizedAction = ConditionKeyFolding.fold(action)
        // (Reserving room for none would still allocate storage, on every gateway call.)
        explicitContext = [:]
        if !context.isEmpty { explicitContext.reserveCapacity(context.count) }
        if context.count > 1 {
            for key in context.keys.sorted() { addContext(key, context[key]!) }
        } else {
            for (key, values) in context { addContext(key, values) }
        }
    }

    /// The whole context, the principal's keys included (for listings; evaluation looks
    /// keys up one by one). A key with several spellings lists all their values.
    public var context: [String: [ContextValue]] {
        var merged: [String: [ContextValue]] = [:]
        for (key, field) in Self.principalFields {
            if let value = principal[keyPath: field] { merged[key] = [.string(value)] }
        }
        for tagKey in principal.tags.keys.sorted() {
            merged[Self.principalTagPrefix + ConditionKeyFolding.fold(tagKey), default: []].append(.string(principal.tags[tagKey]!))
        }
        merged.merge(explicitContext) { _, explicit in explicit }
        return merged
    }

    /// The keys read from the principal (folded), besides `g:principaltag/<k>`: one list
    /// for `context` and for `value(normalizedKey:)`.
    private static let principalFields: [(key: String, field: KeyPath<Principal, String?> & Sendable)] = [
        ("g:principalurn", \.urn), ("g:principalaccount", \.accountId), ("g:principalid", \.id),
    ]
    private static let principalTagPrefix = "g:principaltag/"

    /// The values of a folded key as set, else from the principal; nil when neither has it.
    /// For a key with several spellings, all their values (`spellings(normalizedKey:)` keeps
    /// them apart).
    @inline(__always)
    public func value(normalizedKey key: String) -> [ContextValue]? {
        if let values = explicitContext[key] { return values }
        guard key.hasPrefix("g:principal") else { return nil }
        return principalValue(key)
    }

    private func principalValue(_ key: String) -> [ContextValue]? {
        if let (_, field) = Self.principalFields.first(where: { $0.key == key }) {
            return principal[keyPath: field].map { [.string($0)] }
        }
        guard key.hasPrefix(Self.principalTagPrefix) else { return nil }
        let spellings = principalTagSpellings(key)
        guard !spellings.isEmpty else { return nil }
        return spellings.count == 1 ? spellings[0].values : spellings.flatMap(\.values)
    }

    /// The principal's tags whose keys fold to this `g:principaltag/<k>`, sorted by key.
    private func principalTagSpellings(_ key: String) -> [KeySpelling] {
        let tagKey = key.dropFirst(Self.principalTagPrefix.count)
        return principal.tags.filter { ConditionKeyFolding.fold($0.key)[...] == tagKey }.sorted { $0.key < $1.key }.map {
            KeySpelling(key: "g:PrincipalTag/" + $0.key, values: [.string($0.value)])
        }
    }

    /// The spellings of a folded key when the request carries it in more than one, else nil
    /// (the common case: read `value(normalizedKey:)`).
    @inline(__always)
    public func spellings(normalizedKey key: String) -> [KeySpelling]? {
        if !spelledContext.isEmpty, let spellings = spelledContext[key] { return spellings }
        guard principal.hasTagKeysDifferingInCase, explicitContext[key] == nil, key.hasPrefix(Self.principalTagPrefix) else { return nil }
        let spellings = principalTagSpellings(key)
        return spellings.count > 1 ? spellings : nil
    }

    /// The values of a context key (any case), or nil when it is absent or empty.
    public func values(for key: String) -> [ContextValue]? {
        guard let values = value(normalizedKey: ConditionKeyFolding.fold(key)), !values.isEmpty else { return nil }
        return values
    }

    /// How a condition fares against this request, for a statement of this effect: against
    /// the key's one reading, or, for a key in several spellings, against each (any for a
    /// Deny, every one for an Allow; see the type's documentation).
    @inline(__always)
    public func outcome(of condition: Condition, for effect: Effect) -> ConditionOutcome {
        if condition.templates != nil { return outcomeWithVariables(of: condition, for: effect) }
        guard let spellings = spellings(normalizedKey: condition.normalizedKey) else {
            return condition.evaluate(value(normalizedKey: condition.normalizedKey))
        }
        return Self.combine(spellings.map { condition.evaluate($0.values) }, for: effect)
    }

    /// `outcome(of:for:)` for a condition with policy variables: substituted from this
    /// request first. Out of line, to keep the common path's inlined code small.
    @inline(never)
    func outcomeWithVariables(of condition: Condition, for effect: Effect) -> ConditionOutcome {
        guard let substituted = condition.substituted(in: self) else { return .indeterminate }
        return outcome(of: substituted, for: effect)
    }

    /// Kleene OR of the readings' outcomes for a Deny (it applies unless a condition is
    /// false), Kleene AND for an Allow.
    static func combine(_ outcomes: [ConditionOutcome], for effect: Effect) -> ConditionOutcome {
        switch effect {
        case .allow:
            return outcomes.reduce(.satisfied) { $0 && $1 }
        case .deny:
            if outcomes.contains(.satisfied) { return .satisfied }
            return outcomes.contains(.indeterminate) ? .indeterminate : .notSatisfied
        }
    }

    /// Makes room for this many more context keys at once (the dictionary would otherwise
    /// grow, and rehash, as they are set one by one).
    public mutating func reserveContext(_ count: Int) {
        explicitContext.reserveCapacity(explicitContext.count + count)
    }

    /// Sets a context key (any case), replacing whatever the request had for it in any
    /// spelling; an empty list removes it.
    public mutating func setContext(_ key: String, _ values: [ContextValue]) {
        setContext(normalizedKey: ConditionKeyFolding.fold(key), values)
    }

    /// `setContext` for a key known to be folded already (a caller's own constant), without
    /// checking it again on every call.
    public mutating func setContext(normalizedKey key: String, _ values: [ContextValue]) {
        assert(key == ConditionKeyFolding.fold(key), "\(key) is not folded")
        explicitContext[key] = values.isEmpty ? nil : values
        if !spelledContext.isEmpty { spelledContext[key] = nil }
        if !firstSpellings.isEmpty { firstSpellings[key] = nil }
    }

    /// Sets a folded key from its spellings, replacing what the request had for it: one
    /// spelling is `setContext`; several become readings (for callers that group spellings
    /// once, such as the gateway's tag cache).
    public mutating func setContext(normalizedKey key: String, spellings: [KeySpelling]) {
        if spellings.count == 1 { return setContext(normalizedKey: key, spellings[0].values) }
        let spellings = spellings.filter { !$0.values.isEmpty }
        setContext(normalizedKey: key, spellings.flatMap(\.values))
        if spellings.count > 1 { spelledContext[key] = spellings }
    }

    /// Adds one spelling of a key with its values. A key the request already carries (in
    /// any spelling, even the same one) gains a reading: tags `protected=true` and
    /// `Protected=no` make two readings of `g:ResourceTag/protected`. An empty list adds
    /// nothing.
    public mutating func addContext(_ key: String, _ values: [ContextValue]) {
        guard !values.isEmpty else { return }
        let folded = ConditionKeyFolding.fold(key)
        guard let existing = explicitContext[folded] else {
            explicitContext[folded] = values
            if folded != key { firstSpellings[folded] = key }
            return
        }
        if spelledContext[folded] == nil {
            spelledContext[folded] = [KeySpelling(key: firstSpellings[folded] ?? folded, values: existing)]
        }
        spelledContext[folded]!.append(KeySpelling(key: key, values: values))
        explicitContext[folded] = existing + values
    }
}
