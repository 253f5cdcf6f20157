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
    public var tags: [String: String]

    public init(urn: String? = nil, accountId: String? = nil, id: String? = nil, tags: [String: String] = [:]) {
        self.urn = urn
        self.accountId = accountId
        self.id = id
        self.tags = tags
    }
}

/// A request to authorize: principal, action, resource and condition context.
///
/// Context keys are case-insensitive and stored lowercased; a key with an empty list of
/// values counts as absent. `g:PrincipalUrn`, `g:PrincipalAccount`, `g:PrincipalId` and
/// `g:PrincipalTag/<k>` are read from `principal` unless the context names them.
public struct AuthorizationRequest: Sendable {
    public var principal: Principal
    public var action: String
    public var resource: String
    /// The keys set explicitly (lowercased); the principal's keys are looked up in
    /// `principal` when a condition asks, not copied in for every request.
    public private(set) var explicitContext: [String: [ContextValue]]
    /// `action` lowercased once, since actions match case-insensitively.
    public let normalizedAction: String

    public init(principal: Principal = Principal(), action: String, resource: String, context: [String: [ContextValue]] = [:]) {
        self.principal = principal
        self.action = action
        self.resource = resource
        self.normalizedAction = Self.lowercasedKey(action)
        // (Reserving room for none would still allocate storage, on every gateway call.)
        var explicit: [String: [ContextValue]] = [:]
        if !context.isEmpty { explicit.reserveCapacity(context.count) }
        for (key, values) in context { explicit[Self.lowercasedKey(key)] = values }
        self.explicitContext = explicit
    }

    /// The whole context, the principal's keys included (for listings; evaluation looks
    /// keys up one by one with `value(normalizedKey:)`).
    public var context: [String: [ContextValue]] {
        var merged: [String: [ContextValue]] = [:]
        for (key, field) in Self.principalFields {
            if let value = principal[keyPath: field] { merged[key] = [.string(value)] }
        }
        for (tagKey, value) in principal.tags { merged[Self.principalTagPrefix + Self.lowercasedKey(tagKey)] = [.string(value)] }
        merged.merge(explicitContext) { _, explicit in explicit }
        return merged
    }

    /// The keys read from the principal (lowercased), besides `g:principaltag/<k>`: one list
    /// for `context` and for `value(normalizedKey:)`.
    private static let principalFields: [(key: String, field: KeyPath<Principal, String?> & Sendable)] = [
        ("g:principalurn", \.urn), ("g:principalaccount", \.accountId), ("g:principalid", \.id),
    ]
    private static let principalTagPrefix = "g:principaltag/"

    /// The values of a lowercased key as set, else from the principal; nil when neither has it.
    @inline(__always)
    public func value(normalizedKey key: String) -> [ContextValue]? {
        if let values = explicitContext[key] { return values }
        guard key.hasPrefix("g:principal") else { return nil }
        return principalValue(key)
    }

    private func principalValue(_ key: String) -> [ContextValue]? {
        let found: String?
        if let (_, field) = Self.principalFields.first(where: { $0.key == key }) {
            found = principal[keyPath: field]
        } else if key.hasPrefix(Self.principalTagPrefix) {
            let tagKey = key.dropFirst(Self.principalTagPrefix.count)
            found = principal.tags.first { Self.lowercasedKey($0.key)[...] == tagKey }?.value
        } else {
            return nil
        }
        return found.map { [.string($0)] }
    }

    /// The values of a context key (any case), or nil when it is absent or empty.
    public func values(for key: String) -> [ContextValue]? {
        guard let values = value(normalizedKey: Self.lowercasedKey(key)), !values.isEmpty else { return nil }
        return values
    }

    /// Makes room for this many more context keys at once (the dictionary would otherwise
    /// grow, and rehash, as they are set one by one).
    public mutating func reserveContext(_ count: Int) {
        explicitContext.reserveCapacity(explicitContext.count + count)
    }

    /// Sets a context key (any case); an empty list removes it.
    public mutating func setContext(_ key: String, _ values: [ContextValue]) {
        setContext(normalizedKey: Self.lowercasedKey(key), values)
    }

    /// `setContext` for a key known to be lowercase already (a caller's own constant), without
    /// checking it again on every call.
    public mutating func setContext(normalizedKey key: String, _ values: [ContextValue]) {
        assert(key == Self.lowercasedKey(key), "\(key) is not lowercase")
        explicitContext[key] = values.isEmpty ? nil : values
    }

    /// The key lowercased; a key that is already (as the gateway's are) is returned as is,
    /// without the allocation `lowercased()` makes on every call.
    static func lowercasedKey(_ key: String) -> String {
        key.utf8.allSatisfy({ $0 < 0x80 && !(0x41...0x5A).contains($0) }) ? key : key.lowercased()
    }
}
