/// Finds the statements of a document that another statement shadows, in about linear time.
///
/// A statement S is shadowed by another statement O of the same effect when O has no
/// conditions (or the very same ones) and provably covers all S's actions and resources:
/// removing S would change no decision. Comparing every pair made `gatehouse lint` of a
/// 10,000-statement document take over ten minutes, so O is looked for only among
/// candidates the indexes give: statements whose conditions allow it (same effect, none or
/// the same), then those with an action pattern that matches a *witness* of S's first
/// action (its text with `*` dropped and `?` made a letter: a pattern that covers S's must
/// match it), or those with a resource pattern matching a witness of S's first resource,
/// whichever are fewer (`PatternIndex`). Candidates are tried in document order and the
/// first that covers S is the one reported.
///
/// Documents built to defeat the indexes (thousands of patterns that all match one another's
/// witnesses without covering them) would still take quadratic time, so the work is
/// bounded (`budget`): past it, the statements not yet checked are left unchecked and the
/// caller says so.
struct ShadowFinder {
    /// A statement as the search needs it; `actions` is nil for `NotAction`.
    struct Entry {
        var effect: Effect
        var actions: Patterns?
        var resources: ResourceClause
        var resourcePatterns: Patterns
        var coversAllResources: Bool
        var signature: [String]
    }

    /// A list of patterns split for coverage questions: a literal is covered by the same
    /// literal (a set lookup) or by a wildcard; only wildcards need `Wildcard.covers`.
    struct Patterns {
        var all: [Wildcard]
        var literals: Set<String>
        var wildcards: [Wildcard]

        init(_ patterns: [Wildcard]) {
            all = patterns
            literals = Set(patterns.filter(\.isLiteral).map(\.pattern))
            wildcards = patterns.filter { !$0.isLiteral }
        }

        /// Whether every pattern of `narrow` is covered by one of these; `work` grows by what
        /// the comparisons cost (a unit for every 16 bytes matched, for every 64 cells of
        /// `Wildcard.covers`' table), for the search's budget.
        func cover(_ narrow: Patterns, work: inout Int) -> Bool {
            narrow.all.allSatisfy { subject in
                work += 1
                if subject.isLiteral, literals.contains(subject.pattern) { return true }
                // A pattern that covers another matches its witness: a cheap test first.
                let witness = ShadowFinder.witness(subject.pattern)
                return wildcards.contains { wide in
                    let wideBytes = wide.pattern.utf8.count
                    work += 1 + (wideBytes + witness.count) / 16
                    guard witness.withUnsafeBufferPointer({ wide.matches(utf8: $0) }) else { return false }
                    work += wideBytes * subject.pattern.utf8.count / 64
                    return wide.covers(subject)
                }
            }
        }
    }

    /// The statements that may shadow others, for one effect and one set of conditions.
    struct Group {
        var actions = PatternIndex()
        var resources = PatternIndex()
        var coverAllResources: [Int32] = []
        var notResources: [Int32] = []
    }

    struct GroupKey: Hashable {
        var effect: Effect
        var signature: [String]
    }

    let entries: [Entry]
    private let groups: [GroupKey: Group]
    /// Units of work the search may spend: a unit for each candidate considered, for every 16
    /// bytes hashed or matched, for every 64 cells of `Wildcard.covers`' table. Documents of
    /// ordinary shapes spend 12 to 85 units a statement (10,000 statements: 120,000 to
    /// 830,000); three million bound a hostile one (long random wildcards that match one
    /// another's text) to a few tenths of a second in a release build.
    let budget: Int

    init(_ statements: [Statement], budget: Int = 3_000_000) {
        self.budget = budget
        var entries: [Entry] = []
        entries.reserveCapacity(statements.count)
        var groups: [GroupKey: Group] = [:]
        for (id, statement) in statements.enumerated() {
            let signature = Self.conditionSignature(statement)
            // A statement with policy variables in its resources is left out on both sides:
            // what its patterns cover depends on each request, so nothing is proved about it.
            let variables: Bool
            switch statement.resources {
            case .all: variables = false
            case .resource(let list), .notResource(let list): variables = list.contains { $0.contains("${") }
            }
            let actions: Patterns? =
                if !variables, case .action(let patterns) = statement.actions {
                    Patterns(patterns.map { Wildcard($0, caseInsensitive: true) })
                } else { nil }
            let resourcePatterns: [Wildcard]
            switch statement.resources {
            case .all: resourcePatterns = []
            case .resource(let list), .notResource(let list): resourcePatterns = list.map { Wildcard($0) }
            }
            let coversAll = Self.coversAllResources(statement.resources)
            entries.append(
                Entry(
                    effect: statement.effect, actions: actions, resources: statement.resources, resourcePatterns: Patterns(resourcePatterns),
                    coversAllResources: coversAll, signature: signature))
            // Only an Action statement can shadow (NotAction coverage is not proved).
            guard let actions else { continue }
            let key = GroupKey(effect: statement.effect, signature: signature)
            var group = groups.removeValue(forKey: key) ?? Group()
            for pattern in actions.all { group.actions.insert(pattern, statement: Int32(id)) }
            if coversAll {
                group.coverAllResources.append(Int32(id))
            } else if case .notResource = statement.resources {
                group.notResources.append(Int32(id))
            } else {
                for pattern in resourcePatterns { group.resources.insert(pattern, statement: Int32(id)) }
            }
            groups[key] = group
        }
        self.entries = entries
        self.groups = groups.mapValues { group in
            var group = group
            group.actions.finish()
            group.resources.finish()
            return group
        }
    }

    /// For each statement in order, the statement that shadows it (lowest index), if any;
    /// `checked` is how many statements were examined before the budget ran out (all of
    /// them, normally).
    func find() -> (shadowedBy: [Int?], checked: Int, spent: Int) {
        var result = [Int?](repeating: nil, count: entries.count)
        var spent = 0
        for (i, entry) in entries.enumerated() {
            guard spent <= budget else { return (result, i, spent) }
            guard let actions = entry.actions, let firstAction = actions.all.first else { continue }
            // Sorted lists of candidate statements, from the groups S's conditions allow.
            var lists: [[Int32]] = []
            var keys = [GroupKey(effect: entry.effect, signature: [])]
            if !entry.signature.isEmpty { keys.append(GroupKey(effect: entry.effect, signature: entry.signature)) }
            for key in keys {
                guard let group = groups[key] else { continue }
                var byAction: [[Int32]] = []
                group.actions.forEachMatch(of: Self.witness(firstAction.pattern), work: &spent) { byAction.append(group.actions.statements[$0]) }
                let byResource = resourceCandidates(group, entry, work: &spent)
                let actionCount = byAction.reduce(0) { $0 + $1.count }
                let resourceCount = byResource.reduce(0) { $0 + $1.count }
                spent += byAction.count + byResource.count
                lists += actionCount <= resourceCount ? byAction : byResource
            }
            lists.removeAll { $0.isEmpty }
            let candidates: [Int32]
            if lists.count == 1 {
                candidates = lists[0]
            } else {
                candidates = lists.joined().sorted()
                spent += candidates.count
            }
            var previous: Int32 = -1
            for candidate in candidates where candidate != previous {
                // A statement whose candidates outrun the budget is left unchecked with the rest.
                guard spent <= budget else { return (result, i, spent) }
                previous = candidate
                let j = Int(candidate)
                guard j != i else { continue }
                spent += 1
                let other = entries[j]
                guard let otherActions = other.actions, otherActions.cover(actions, work: &spent), Self.covers(other, entry, work: &spent)
                else { continue }
                // Two identical statements shadow each other; report only the later one.
                if i < j, actions.cover(otherActions, work: &spent), Self.covers(entry, other, work: &spent), other.signature == entry.signature {
                    continue
                }
                result[i] = j
                break
            }
        }
        return (result, entries.count, spent)
    }

    /// Statements whose resources may cover the entry's, as sorted lists.
    private func resourceCandidates(_ group: Group, _ entry: Entry, work: inout Int) -> [[Int32]] {
        if entry.coversAllResources { return [group.coverAllResources] }
        switch entry.resources {
        case .notResource: return [group.coverAllResources, group.notResources]
        case .all: return [group.coverAllResources]
        case .resource:
            var lists = [group.coverAllResources]
            if let first = entry.resourcePatterns.all.first {
                group.resources.forEachMatch(of: Self.witness(first.pattern), work: &work) { lists.append(group.resources.statements[$0]) }
            }
            return lists
        }
    }

    /// A string every pattern that covers `pattern` must match: `*` dropped, `?` made `a`.
    static func witness(_ pattern: String) -> [UInt8] {
        pattern.utf8.compactMap { byte in
            switch byte {
            case UInt8(ascii: "*"): nil
            case UInt8(ascii: "?"): UInt8(ascii: "a")
            default: byte
            }
        }
    }

    /// Whether `wide`'s resources cover `narrow`'s.
    static func covers(_ wide: Entry, _ narrow: Entry, work: inout Int) -> Bool {
        if wide.coversAllResources { return true }
        switch (wide.resources, narrow.resources) {
        case (.resource, .resource): return wide.resourcePatterns.cover(narrow.resourcePatterns, work: &work)
        case (.notResource, .notResource): return narrow.resourcePatterns.cover(wide.resourcePatterns, work: &work)
        default: return false
        }
    }

    static func coversAllResources(_ clause: ResourceClause) -> Bool {
        switch clause {
        case .all: true
        case .resource(let list): list.contains { $0.utf8.allSatisfy { $0 == UInt8(ascii: "*") } }
        case .notResource: false
        }
    }

    static func conditionSignature(_ statement: Statement) -> [String] {
        statement.conditions.map { "\($0.op)|\($0.normalizedKey)|\($0.rawValues.sorted().joined(separator: "\u{1F}"))" }.sorted()
    }
}
