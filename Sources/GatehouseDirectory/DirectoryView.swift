import Foundation
import GatehousePolicy
import GatehouseSigning
import Synchronization

/// Numbers views, so what was learnt from one is never used with another.
private let viewCount = Atomic<UInt64>(0)

/// What the directory keeps about one token (never the token itself).
struct TokenRecord: Sendable {
    var userName: String
    var issuedAt: Double
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

/// The kind of credential a call authenticated with (the audit line's `credential`).
public enum CredentialKind: String, Sendable {
    /// A Gatehouse token (`X-Auth-Token`, `Authorization: Bearer`).
    case token
    /// A permanent access key's AK/SK signature.
    case accessKey = "access_key"
    /// A temporary access key's AK/SK signature with its `X-Security-Token`.
    case temporaryAccessKey = "temporary_access_key"
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
    /// The caller's keys from the directory (`DirectorySeed.callerKeys(for:)`), made once per view.
    public let callerKeys: [(key: String, values: [ContextValue])]
    public let mfa: Bool
    public let credential: CredentialKind
    /// The access key ID, for calls signed with one.
    public let accessKey: String?
    /// When the credential was issued (seconds since 1970): the token's or the temporary
    /// credentials' issue, a permanent access key's creation (`g:TokenIssueTime`).
    public let issuedAt: Double

    init(
        user: DirectorySeed.User, principal: Principal, policies: [String], callerKeys: [(key: String, values: [ContextValue])], mfa: Bool,
        credential: CredentialKind = .token, accessKey: String? = nil, issuedAt: Double = 0
    ) {
        self.user = user
        self.principal = principal
        self.policies = policies
        self.callerKeys = callerKeys
        self.mfa = mfa
        self.credential = credential
        self.accessKey = accessKey
        self.issuedAt = issuedAt
    }
}

/// An access key the directory knows and whose secret the gateway could open: enough to
/// verify a signature, not yet a session (`DirectoryView.session(for:securityToken:now:)`).
/// Immutable, and a class: it is looked up on every signed call, and as a struct each
/// lookup retained its record's strings and the session one by one.
public final class AccessKeyCredential: Sendable {
    public let accessKey: String
    /// The opened secret (`DirectoryView.accessKey` hands out only keys whose secret opened).
    public var secretKey: String { record.secretKey ?? "" }
    /// Whether the key is temporary (and so needs its security token).
    public var isTemporary: Bool { record.temporary != nil }
    /// The secret ready to verify with, made once per view and shared by every connection
    /// and thread (its keyed states stay warm, instead of one copy per connection).
    public let signingKey: RequestSigning.SigningKey
    let record: AccessKeyRecord
    let session: Session?

    init(accessKey: String, record: AccessKeyRecord, session: Session?) {
        self.accessKey = accessKey
        self.record = record
        self.session = session
        signingKey = RequestSigning.SigningKey(secretKey: record.secretKey ?? "")
    }
}

/// An immutable, in-memory copy of the directory: the gateway authenticates every call
/// against it without touching SQLite, and swaps in a new view when the file changes.
/// A class, so handing the current view to each call is one retain, not one per table.
public final class DirectoryView: Sendable {
    typealias UserEntry = (
        user: DirectorySeed.User, principal: Principal, policies: [String], callerKeys: [(key: String, values: [ContextValue])]
    )

    public let seed: DirectorySeed
    /// Unique to this view (see `RememberedSession`).
    public let identity: UInt64
    let tokens: [String: TokenRecord]
    let sessionGenerations: [String: Int]
    let users: [String: UserEntry]
    let delegated: Set<String>
    let accounts: Set<String>
    /// Access keys by ID, each with its session made once per view.
    let accessKeys: [String: AccessKeyCredential]
    /// How many access keys' secrets the key-encryption key at hand could not open (the
    /// gateway warns; calls signed with them are refused).
    public let unreadableAccessKeys: Int

    init(
        seed: DirectorySeed, tokens: [String: TokenRecord], sessionGenerations: [String: Int], accessKeys: [String: AccessKeyRecord] = [:],
        unreadableAccessKeys: Int = 0
    ) {
        self.seed = seed
        self.identity = viewCount.add(1, ordering: .relaxed).newValue
        self.tokens = tokens
        self.sessionGenerations = sessionGenerations
        var users: [String: UserEntry] = [:]
        for user in seed.users {
            users[user.name] = (user, seed.principal(for: user), seed.policies(for: user), seed.callerKeys(for: user))
        }
        self.users = users
        self.delegated = Set(seed.delegatedAdministrators)
        self.accounts = Set(seed.accounts.map(\.id))
        var credentials: [String: AccessKeyCredential] = [:]
        for (accessKey, record) in accessKeys {
            let session = users[record.userName].map { entry in
                Session(
                    user: entry.user, principal: entry.principal, policies: entry.policies, callerKeys: entry.callerKeys,
                    mfa: record.temporary?.mfa ?? false,
                    credential: record.temporary == nil ? .accessKey : .temporaryAccessKey, accessKey: accessKey, issuedAt: record.createdAt)
            }
            credentials[accessKey] = AccessKeyCredential(accessKey: accessKey, record: record, session: session)
        }
        self.accessKeys = credentials
        self.unreadableAccessKeys = unreadableAccessKeys
    }

    /// The access key a signed call names, with its secret, or why there is none to verify with.
    public func accessKey(_ accessKey: String) -> Result<AccessKeyCredential, AccessKeyRejection> {
        guard let credential = accessKeys[accessKey], credential.session != nil else { return .failure(.unknown) }
        guard credential.record.secretKey != nil else { return .failure(.unreadable) }
        return .success(credential)
    }

    /// The session of an access key whose signature held, or why it does not authenticate:
    /// a temporary key needs its own security token (compared by hash) and a live session;
    /// a permanent key takes no security token; either needs to be active and its user
    /// enabled. Call only after the signature was verified, so a caller who lacks the
    /// secret learns nothing about the key's state.
    public func session(for credential: AccessKeyCredential, securityToken: String?, now: Date) -> Result<Session, AccessKeyRejection> {
        let record = credential.record
        guard let session = credential.session, let generation = sessionGenerations[record.userName] else { return .failure(.unknown) }
        if let temporary = record.temporary {
            guard let securityToken, !securityToken.isEmpty else { return .failure(.securityTokenMissing) }
            guard RememberedSession.constantTimeEquals(Array(DirectoryStore.hash(securityToken).utf8), Array(temporary.securityTokenHash.utf8)) else {
                return .failure(.securityTokenMismatch)
            }
            if temporary.generation != generation { return .failure(.sessionEnded) }
        } else if securityToken != nil {
            return .failure(.securityTokenUnexpected)
        }
        if !record.active { return .failure(.inactive) }
        if session.user.disabled { return .failure(.userDisabled) }
        if let temporary = record.temporary, now.timeIntervalSince1970 >= temporary.expiresAt { return .failure(.expired) }
        return .success(session)
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
        let session = Session(
            user: entry.user, principal: entry.principal, policies: entry.policies, callerKeys: entry.callerKeys, mfa: record.mfa,
            issuedAt: record.issuedAt)
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
        return candidate.withUTF8 { bytes in Self.constantTimeEquals(bytes, token) }
    }

    /// Whether two byte strings are equal, in time that depends only on their lengths.
    static func constantTimeEquals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for (left, right) in zip(lhs, rhs) { difference |= left ^ right }
        return difference == 0
    }
}
