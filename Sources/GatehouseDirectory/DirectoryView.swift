import Foundation
import GatehousePolicy
import Synchronization

/// Numbers views, so what was learnt from one is never used with another.
private let viewCount = Atomic<UInt64>(0)

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
///
/// Immutable, and a class: a session is handed from the directory to the connection's
/// memory to the call's request context on every call, and as a struct of some fourteen strings and
/// collections each hand-over retained and released every one of them.
public final class Session: Sendable {
    public let user: DirectorySeed.User
    public let principal: Principal
    public let policies: [String]
    public let mfa: Bool

    init(user: DirectorySeed.User, principal: Principal, policies: [String], mfa: Bool) {
        self.user = user
        self.principal = principal
        self.policies = policies
        self.mfa = mfa
    }
}

/// An immutable, in-memory copy of the directory: the gateway authenticates every call
/// against it without touching SQLite, and swaps in a new view when the file changes.
/// A class, so handing the current view to each call is one retain, not one per table.
public final class DirectoryView: Sendable {
    public let seed: DirectorySeed
    /// Unique to this view (see `RememberedSession`).
    public let identity: UInt64
    let tokens: [String: TokenRecord]
    let sessionGenerations: [String: Int]
    let users: [String: (user: DirectorySeed.User, principal: Principal, policies: [String])]
    let delegated: Set<String>
    let accounts: Set<String>

    init(seed: DirectorySeed, tokens: [String: TokenRecord], sessionGenerations: [String: Int]) {
        self.seed = seed
        self.identity = viewCount.add(1, ordering: .relaxed).newValue
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
        var remembered: RememberedSession?
        return authenticate(token, now: now, remembering: &remembered)
    }

    /// `authenticate`, reusing the session `remembered` holds when it is for this token and
    /// this view (a client sends the same token call after call on a connection), else
    /// remembering the one found. Expiry is checked every time.
    public func authenticate(_ token: String, now: Date, remembering remembered: inout RememberedSession?) -> Result<Session, TokenRejection> {
        if let known = remembered, known.view == identity, known.matches(token) {
            return now.timeIntervalSince1970 >= known.expiresAt ? .failure(.expired) : .success(known.session)
        }
        guard let record = tokens[DirectoryStore.hash(token)], let entry = users[record.userName] else { return .failure(.unknown) }
        if let rejection = record.rejection(now: now, userGeneration: sessionGenerations[record.userName], userDisabled: entry.user.disabled) {
            return .failure(rejection)
        }
        let session = Session(user: entry.user, principal: entry.principal, policies: entry.policies, mfa: record.mfa)
        remembered = RememberedSession(token: Array(token.utf8), view: identity, session: session, expiresAt: record.expiresAt)
        return .success(session)
    }

    public var organization: DirectorySeed.Organization { seed.organization }

    /// Whether an account is registered as a delegated administrator.
    public func isDelegatedAdministrator(_ accountId: String) -> Bool { delegated.contains(accountId) }

    /// Whether an account belongs to the organization.
    public func isMember(_ accountId: String) -> Bool { accounts.contains(accountId) }
}

/// The last token one connection authenticated and the session it opened, valid only with
/// the `DirectoryView` it was found in: any change to the directory (a revocation, ended
/// sessions) makes a new view, and with it a fresh lookup. Kept in memory only, for as long
/// as the connection.
public struct RememberedSession: Sendable {
    let token: [UInt8]
    let view: UInt64
    let session: Session
    let expiresAt: Double

    /// Compared in constant time: behind a proxy that shares connections, the next token
    /// may be someone else's.
    func matches(_ candidate: String) -> Bool {
        var candidate = candidate
        return candidate.withUTF8 { bytes in
            guard bytes.count == token.count else { return false }
            var difference: UInt8 = 0
            for index in 0..<bytes.count { difference |= bytes[index] ^ token[index] }
            return difference == 0
        }
    }
}
