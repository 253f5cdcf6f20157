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
        /// `Resource` or `NotResource` with policy variables in some pattern: substituted
        /// from each request (off the common path).
        case anySubstituted([ResourcePattern])
        case noneSubstituted([ResourcePattern])

        enum ResourcePattern: Sendable {
            case fixed(Wildcard)
            case template(PolicyTemplate)

            var isTemplate: Bool { if case .template = self { true } else { false } }

            /// The pattern for this request; nil when a variable cannot be substituted.
            func wildcard(_ request: AuthorizationRequest) -> Wildcard? {
                switch self {
                case .fixed(let wildcard): wildcard
                case .template(let template): template.substitutedPattern { request.value(normalizedKey: $0) }
                }
            }
        }

        init(_ clause: ResourceClause) {
            switch clause {
            case .all: self = .all
            case .resource(let list) where list.contains("*"): self = .all
            case .resource(let list):
                let patterns = Self.patterns(list)
                self = patterns.contains(where: \.isTemplate) ? .anySubstituted(patterns) : .any(list.map { Wildcard($0) })
            case .notResource(let list):
                let patterns = Self.patterns(list)
                self = patterns.contains(where: \.isTemplate) ? .noneSubstituted(patterns) : .none(list.map { Wildcard($0) })
            }
        }

        static func patterns(_ list: [String]) -> [ResourcePattern] {
            // The parser refused malformed variables, so a failure here cannot happen; were it
            // to, the text is matched as written.
            list.map { text in (try? PolicyTemplate.parse(text).get()).flatMap { $0 }.map(ResourcePattern.template) ?? .fixed(Wildcard(text)) }
        }

        /// Whether the resource is covered, without naming the pattern (the hot path). A
        /// variable that cannot be substituted matches nothing under `Resource`; under
        /// `NotResource`, where that would widen the statement, it makes the statement
        /// apply only if it is a Deny (fail closed).
        @inline(__always)
        func covers(_ resource: UnsafeBufferPointer<UInt8>, _ request: AuthorizationRequest, _ effect: Effect) -> Bool {
            switch self {
            case .all: return true
            case .any(let patterns): return patterns.contains { $0.matches(utf8: resource) }
            case .none(let patterns): return !patterns.contains { $0.matches(utf8: resource) }
            case .anySubstituted, .noneSubstituted: return substitutedCovers(resource, request, effect)
            }
        }

        /// `covers` for patterns with variables, kept out of line: it would otherwise be
        /// inlined into every evaluation's loop, which measured slower for sets without them.
        @inline(never)
        func substitutedCovers(_ resource: UnsafeBufferPointer<UInt8>, _ request: AuthorizationRequest, _ effect: Effect) -> Bool {
            matches(resource, request, effect).0
        }

        /// Whether the resource may be covered before the context is complete: patterns with
        /// variables may match once their keys are known (a tag, say), so they count.
        func mayCover(_ resource: UnsafeBufferPointer<UInt8>) -> Bool {
            switch self {
            case .all, .anySubstituted, .noneSubstituted: return true
            case .any(let patterns): return patterns.contains { $0.matches(utf8: resource) }
            case .none(let patterns): return !patterns.contains { $0.matches(utf8: resource) }
            }
        }

        /// `covers`, with the pattern that decided (substituted, for an explanation).
        func matches(_ resource: UnsafeBufferPointer<UInt8>, _ request: AuthorizationRequest, _ effect: Effect) -> (Bool, Wildcard?) {
            switch self {
            case .all: return (true, nil)
            case .any(let patterns):
                let hit = patterns.first { $0.matches(utf8: resource) }
                return (hit != nil, hit)
            case .none(let patterns):
                let hit = patterns.first { $0.matches(utf8: resource) }
                return (hit == nil, hit)
            case .anySubstituted(let patterns):
                for pattern in patterns {
                    if let wildcard = pattern.wildcard(request), wildcard.matches(utf8: resource) { return (true, wildcard) }
                }
                return (false, nil)
            case .noneSubstituted(let patterns):
                var unsubstituted = false
                for pattern in patterns {
                    guard let wildcard = pattern.wildcard(request) else {
                        unsubstituted = true
                        continue
                    }
                    if wildcard.matches(utf8: resource) { return (false, wildcard) }
                }
                return (unsubstituted ? effect == .deny : true, nil)
            }
        }

        /// The keys (folded) the patterns' variables name.
        var variableKeys: [String] {
            switch self {
            case .anySubstituted(let patterns), .noneSubstituted(let patterns):
                var keys: [String] = []
                for case .template(let template) in patterns { keys += template.normalizedKeys }
                return keys
            default: return []
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
                let resources = ResourceMatcher(statement.resources)
                statements.append(
                    CompiledStatement(
                        ref: StatementRef(policy: document.name, sid: statement.namingSid, index: statement.index, effect: statement.effect),
                        actionPatterns: patterns, notAction: notAction, resources: resources, conditions: statement.conditions))
            }
        }
        storage = Storage(
            statements: statements, trie: trie.freeze(), unindexed: unindexed, policyNames: documents.map(\.name),
            // Keys policy variables name count as tested: the gateway fills only tested keys.
            testedKeys: Set(
                statements.flatMap { statement in
                    statement.conditions.flatMap { [$0.normalizedKey] + ($0.templates ?? []).flatMap { $0?.normalizedKeys ?? [] } }
                        + statement.resources.variableKeys
                }))
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
                            guard statements[Int(id)].resources.covers(resourceBytes, request, effect) else { continue }
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
                for id in candidates where statements[Int(id)].resources.mayCover(resourceBytes) {
                    for condition in statements[Int(id)].conditions {
                        if predicate(condition.normalizedKey) { return true }
                        // Keys policy variables name are read too (`${g:ResourceTag/owner}`).
                        for case let template? in condition.templates ?? [] where template.normalizedKeys.contains(where: predicate) { return true }
                    }
                    if statements[Int(id)].resources.variableKeys.contains(where: predicate) { return true }
                }
                return false
            }
        }
    }
}
