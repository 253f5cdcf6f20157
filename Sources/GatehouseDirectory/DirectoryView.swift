import Foundation
import GatehousePolicy

/// What the directory keeps about one token (never the token itself).
struct TokenRecord: Sendable {
    var userName: String
    var expiresAt: Double
    var revoked: Bool
    var generation: Int
    var mfa: Bool

    /// Why the token no longer authenticates, or nil when it does. One rule for the store
    /// and for the gateway's in-memory view, so both refuse the same tokens.
    func rejection(now: Date, userGeneration: Int?, userDisabled: Bool) -> TokenRejection? {
        guard let userGeneration else { return .unknown }
        if revoked { return .revoked }
        if generation != userGeneration { return .sessionEnded }
        if userDisabled { return .userDisabled }
        if now.timeIntervalSince1970 >= expiresAt { return .expired }
        return nil
    }
}

/// An authenticated caller: the user, the principal they act as, the policies attached to
/// them (directly and through groups) and what the login proved.
public struct Session: Sendable {
    public var user: DirectorySeed.User
    public var principal: Principal
    public var policies: [String]
    public var mfa: Bool
}

/// An immutable, in-memory copy of the directory: the gateway authenticates every call
/// against it without touching SQLite, and swaps in a new view when the file changes.
public struct DirectoryView: Sendable {
    public let seed: DirectorySeed
    let tokens: [String: TokenRecord]
    let sessionGenerations: [String: Int]
    let users: [String: (user: DirectorySeed.User, principal: Principal, policies: [String])]
    let delegated: Set<String>
    let accounts: Set<String>

    init(seed: DirectorySeed, tokens: [String: TokenRecord], sessionGenerations: [String: Int]) {
        self.seed = seed
        self.tokens = tokens
        self.sessionGenerations = sessionGenerations
        var users: [String: (user: DirectorySeed.User, principal: Principal, policies: [String])] = [:]
        for user in seed.users { users[user.name] = (user, seed.principal(for: user), seed.policies(for: user)) }
        self.users = users
        self.delegated = Set(seed.delegatedAdministrators)
        self.accounts = Set(seed.accounts.map(\.id))
    }

    /// The session a token opens, or why it is refused.
    public func authenticate(_ token: String, now: Date = Date()) -> Result<Session, TokenRejection> {
        guard let record = tokens[DirectoryStore.hash(token)], let entry = users[record.userName] else { return .failure(.unknown) }
        if let rejection = record.rejection(now: now, userGeneration: sessionGenerations[record.userName], userDisabled: entry.user.disabled) {
            return .failure(rejection)
        }
        return .success(Session(user: entry.user, principal: entry.principal, policies: entry.policies, mfa: record.mfa))
    }

    public var organization: DirectorySeed.Organization { seed.organization }

    /// Whether an account is registered as a delegated administrator.
    public func isDelegatedAdministrator(_ accountId: String) -> Bool { delegated.contains(accountId) }

    /// Whether an account belongs to the organization.
    public func isMember(_ accountId: String) -> Bool { accounts.contains(accountId) }
}
