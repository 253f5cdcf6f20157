import Foundation
import GatehouseDirectory
import GatehousePolicy
import GatehouseSigning

/// What one client connection's last call found, reused by its next while still valid: a
/// client sends the same token, and so needs the same policy set, call after call.
public struct ConnectionCache: Sendable {
    /// The last session (see `RememberedSession`).
    var session: RememberedSession?
    /// The last call's method and target as resolved in a directory view (`RouteMatch`).
    private var lastRouteMatch: (method: String, target: String, view: UInt64, routeMatch: RouteMatch)?
    /// Whether statements of a set that could apply to a route match's action and resource
    /// test resource tags, as last asked. The set and match are held, so comparing them
    /// by identity cannot mistake a new one for them.
    private var lastTagQuestion: (set: CompiledPolicySet, routeMatch: RouteMatch, answer: Bool)?
    /// The last compiled set, for these attached policies in this snapshot, with the global
    /// keys it tests. The snapshot is held (and compared by identity) so a reloaded set is
    /// never mistaken for it.
    private var lastSet: (snapshot: PolicySnapshot, names: [String], set: CompiledPolicySet, globals: GlobalKeys)?
    /// The last `Authorization` up to its signature, parsed.
    var authorizations = RequestSigning.AuthorizationMemory()

    public init() {}

    /// `policies.policySet(for:)` and the global keys the set tests, without the snapshot's
    /// lock and the hashing when the connection's last call used the same set.
    mutating func policySet(for names: [String], in policies: PolicySnapshot) -> Result<(CompiledPolicySet, GlobalKeys), MissingPolicy> {
        if let last = lastSet, last.snapshot === policies, last.names == names { return .success((last.set, last.globals)) }
        switch policies.policySet(for: names) {
        case .failure(let missing): return .failure(missing)
        case .success(let set):
            let globals = GlobalKeys(testedBy: set)
            lastSet = (policies, names, set, globals)
            return .success((set, globals))
        }
    }
}

extension ConnectionCache {
    /// The route match of this method and target in this directory view: the last call's when
    /// it had the same, else `match()`'s, remembered for the next.
    mutating func routeMatch(method: String, target: String, in directory: DirectoryView, _ match: () -> RouteMatch) -> RouteMatch {
        if let last = lastRouteMatch, last.view == directory.identity, last.method == method, last.target == target {
            return last.routeMatch
        }
        let routeMatch = match()
        lastRouteMatch = (method, target, directory.identity, routeMatch)
        return routeMatch
    }

    /// `ask()`'s answer about resource tags for this set and route match, asked once while
    /// the connection's calls keep to them.
    mutating func testsResourceTags(_ set: CompiledPolicySet, _ routeMatch: RouteMatch, _ ask: () -> Bool) -> Bool {
        if let last = lastTagQuestion, last.routeMatch === routeMatch, last.set.isSame(as: set) { return last.answer }
        let answer = ask()
        lastTagQuestion = (set, routeMatch, answer)
        return answer
    }
}
