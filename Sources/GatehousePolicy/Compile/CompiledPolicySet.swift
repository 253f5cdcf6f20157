/// A policy set compiled for fast evaluation: statements indexed by action, wildcard
/// patterns precompiled, condition values already parsed.
///
/// It is immutable and `Sendable`, so a server can build a new one off to the side and
/// swap it in atomically; a per-request evaluation touches only the statements whose
/// action patterns can match the requested action (plus any `NotAction` statements).
public struct CompiledPolicySet: Sendable {
    struct CompiledStatement: Sendable {
        var ref: StatementRef
        var actionPatterns: [Wildcard]
        var notAction: Bool
        var resources: ResourceMatcher
        var conditions: [Condition]
    }

    enum ResourceMatcher: Sendable {
        case all
        case any([Wildcard])
        case none([Wildcard])

        /// Whether the resource is covered, without naming the pattern (the hot path).
        @inline(__always)
        func covers(_ resource: UnsafeBufferPointer<UInt8>) -> Bool {
            switch self {
            case .all: return true
            case .any(let patterns): return patterns.contains { $0.matches(utf8: resource) }
            case .none(let patterns): return !patterns.contains { $0.matches(utf8: resource) }
            }
        }

        func matches(_ resource: UnsafeBufferPointer<UInt8>) -> (Bool, Wildcard?) {
            switch self {
            case .all: return (true, nil)
            case .any(let patterns):
                let hit = patterns.first { $0.matches(utf8: resource) }
                return (hit != nil, hit)
            case .none(let patterns):
                let hit = patterns.first { $0.matches(utf8: resource) }
                return (hit == nil, hit)
            }
        }
    }

    /// The compiled parts, behind one reference: a set is handed from cache to connection to
    /// pending decision on every call, and one retain is cheaper than one per part.
    private final class Storage: Sendable {
        let statements: [CompiledStatement]
        let trie: ActionTrie
        /// `NotAction` statements: they can apply to any action, so every request checks them.
        let unindexed: [Int32]
        /// The names of the policies in the set, in the order given.
        let policyNames: [String]
        /// Every condition key (lowercased) some statement tests.
        let testedKeys: Set<String>

        init(statements: [CompiledStatement], trie: ActionTrie, unindexed: [Int32], policyNames: [String], testedKeys: Set<String>) {
            self.statements = statements
            self.trie = trie
            self.unindexed = unindexed
            self.policyNames = policyNames
            self.testedKeys = testedKeys
        }
    }

    private let storage: Storage
    var statements: [CompiledStatement] { storage.statements }
    var trie: ActionTrie { storage.trie }
    var unindexed: [Int32] { storage.unindexed }
    /// The names of the policies in the set, in the order given.
    public var policyNames: [String] { storage.policyNames }
    var testedKeys: Set<String> { storage.testedKeys }

    public var statementCount: Int { statements.count }

    /// Whether both are the same compiled set (not merely equal policies): for callers that
    /// remember an answer about a set.
    public func isSame(as other: CompiledPolicySet) -> Bool { storage === other.storage }

    /// Compiles documents; their order (and statement order) only affects the order in
    /// which deciding statements are listed, never the decision.
    public init(_ documents: [PolicyDocument]) {
        var statements: [CompiledStatement] = []
        var trie = ActionTrie.Builder()
        var unindexed: [Int32] = []
        for document in documents {
            for statement in document.statements {
                let id = Int32(statements.count)
                let patterns = statement.actions.patterns.map { Wildcard($0, caseInsensitive: true) }
                let notAction: Bool
                switch statement.actions {
                case .action:
                    notAction = false
                    // A statement naming the same action twice is indexed once.
                    var seen = Set<String>()
                    for pattern in patterns where seen.insert(pattern.pattern).inserted { trie.insert(pattern, statement: id) }
                case .notAction:
                    notAction = true
                    unindexed.append(id)
                }
                let resources: ResourceMatcher
                switch statement.resources {
                case .all: resources = .all
                case .resource(let list): resources = list.contains("*") ? .all : .any(list.map { Wildcard($0) })
                case .notResource(let list): resources = .none(list.map { Wildcard($0) })
                }
                statements.append(
                    CompiledStatement(
                        ref: StatementRef(policy: document.name, sid: statement.namingSid, index: statement.index, effect: statement.effect),
                        actionPatterns: patterns, notAction: notAction, resources: resources, conditions: statement.conditions))
            }
        }
        storage = Storage(
            statements: statements, trie: trie.freeze(), unindexed: unindexed, policyNames: documents.map(\.name),
            testedKeys: Set(statements.flatMap { $0.conditions.map(\.normalizedKey) }))
    }

    /// Whether any statement tests this condition key (lowercased). A key none tests cannot
    /// change a decision, so a caller need not work out its value.
    public func tests(_ normalizedKey: String) -> Bool { testedKeys.contains(normalizedKey) }

    /// The statements whose actions can match the request, in set order, each once, lent to
    /// `body`. They are gathered in a temporary buffer (on the stack for a set of ordinary
    /// size): this runs on every call, twice when a caller first asks `testsConditionKey`.
    @inline(__always)
    func withCandidates<Result>(forAction normalizedAction: String, _ body: (UnsafeBufferPointer<Int32>) -> Result) -> Result {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: trie.entryCount + unindexed.count) { buffer in
            var count = 0
            var action = normalizedAction
            action.withUTF8 { bytes in
                trie.collect(bytes) { id in
                    buffer[count] = id
                    count += 1
                }
                for id in unindexed where !statements[Int(id)].actionPatterns.contains(where: { $0.matches(utf8: bytes) }) {
                    buffer[count] = id
                    count += 1
                }
            }
            var found = UnsafeMutableBufferPointer(rebasing: buffer[..<count])
            // Usually already in order (one pattern per statement, visited in set order).
            if count > 1, zip(found, found.dropFirst()).contains(where: { $0 >= $1 }) {
                found.sort()
                var kept = 1
                for index in 1..<count where found[index] != found[kept - 1] {
                    found[kept] = found[index]
                    kept += 1
                }
                found = UnsafeMutableBufferPointer(rebasing: found[..<kept])
            }
            return body(UnsafeBufferPointer(found))
        }
    }

    /// Decides a request: an applying Deny wins, else an applying Allow allows, else the
    /// request is implicitly denied.
    public func evaluate(_ request: AuthorizationRequest) -> Decision {
        var resource = request.resource
        // Statements are read through borrowed buffers and deciders collected as indices
        // (in temporary buffers, like the candidates): copying a statement out of the array
        // would retain and release each of its strings and arrays, which costs more than
        // the matching itself.
        return withCandidates(forAction: request.normalizedAction) { candidates in
            resource.withUTF8 { resourceBytes in
                statements.withUnsafeBufferPointer { statements in
                    withUnsafeTemporaryAllocation(of: Int32.self, capacity: 2 * candidates.count) { deciders in
                        // Denies fill the buffer's first half, allows its second.
                        var denies = 0
                        var allows = 0
                        for id in candidates {
                            let effect = statements[Int(id)].ref.effect
                            if effect == .allow, denies > 0 { continue }  // cannot change the outcome
                            guard statements[Int(id)].resources.covers(resourceBytes) else { continue }
                            let outcome = Self.conditionsOutcome(statements[Int(id)].conditions, request, effect)
                            switch effect {
                            case .deny where outcome != .notSatisfied:
                                deciders[denies] = id
                                denies += 1
                            case .allow where outcome == .satisfied:
                                deciders[candidates.count + allows] = id
                                allows += 1
                            default: break
                            }
                        }
                        func refs(_ range: Range<Int>) -> [StatementRef] { deciders[range].map { statements[Int($0)].ref } }
                        if denies > 0 { return Decision(reason: .explicitDeny, statements: refs(0..<denies)) }
                        if allows > 0 {
                            return Decision(reason: .explicitAllow, statements: refs(candidates.count..<candidates.count + allows))
                        }
                        return Decision(reason: .implicitDeny, statements: [])
                    }
                }
            }
        }
    }

    /// The Kleene AND of a statement's conditions, stopping at the first that fails. The
    /// effect says how a key in several spellings counts (`AuthorizationRequest`).
    @inline(__always)
    static func conditionsOutcome(_ conditions: [Condition], _ request: AuthorizationRequest, _ effect: Effect) -> ConditionOutcome {
        conditions.withUnsafeBufferPointer { conditions in
            var outcome = ConditionOutcome.satisfied
            for index in conditions.indices {
                outcome = outcome && request.outcome(of: conditions[index], for: effect)
                if outcome == .notSatisfied { break }
            }
            return outcome
        }
    }

    /// The condition keys (lowercased) that statements able to apply to this action and
    /// resource test, so a caller can gather costly context (such as resource tags) only
    /// when a policy needs it.
    public func conditionKeys(for request: AuthorizationRequest) -> Set<String> {
        var keys = Set<String>()
        _ = testsConditionKey(for: request) { key in
            keys.insert(key)
            return false
        }
        return keys
    }

    /// Whether a statement able to apply to this action and resource tests a condition key
    /// (lowercased) that `predicate` accepts; stops at the first. For the gateway's every
    /// call, where building `conditionKeys`' set would cost more than the question.
    public func testsConditionKey(for request: AuthorizationRequest, where predicate: (String) -> Bool) -> Bool {
        var resource = request.resource
        return withCandidates(forAction: request.normalizedAction) { candidates in
            resource.withUTF8 { resourceBytes in
                for id in candidates where statements[Int(id)].resources.covers(resourceBytes) {
                    for condition in statements[Int(id)].conditions where predicate(condition.normalizedKey) { return true }
                }
                return false
            }
        }
    }
}
