/// `ForAnyValue:` or `ForAllValues:`, for keys that carry several values.
public enum SetQualifier: String, Sendable, Hashable, CaseIterable {
    case forAnyValue = "ForAnyValue"
    case forAllValues = "ForAllValues"
}

/// What an operator compares.
public enum ConditionTest: Sendable, Hashable {
    public enum StringTest: Sendable, Hashable {
        case equals, equalsIgnoreCase, like, startWith, endWith
    }

    public enum Ordering: Sendable, Hashable {
        case equals, lessThan, lessThanEquals, greaterThan, greaterThanEquals
    }

    case string(StringTest)
    case number(Ordering)
    case date(Ordering)
    case bool
    case ipAddress
    case null
}

/// A parsed condition operator such as `ForAllValues:StringNotEqualsIfExists`.
public struct ConditionOperator: Sendable, Hashable, CustomStringConvertible {
    public var qualifier: SetQualifier?
    public var test: ConditionTest
    /// The `Not` operators: true when none of the policy values matches.
    public var negated: Bool
    public var ifExists: Bool
    /// The base name without qualifier and suffix, e.g. `StringNotEquals`.
    public var baseName: String

    public var description: String {
        (qualifier.map { $0.rawValue + ":" } ?? "") + baseName + (ifExists ? "IfExists" : "")
    }

    /// Every base operator name and what it means.
    public static let baseOperators: [String: (test: ConditionTest, negated: Bool)] = [
        "StringEquals": (.string(.equals), false),
        "StringNotEquals": (.string(.equals), true),
        "StringEqualsIgnoreCase": (.string(.equalsIgnoreCase), false),
        "StringNotEqualsIgnoreCase": (.string(.equalsIgnoreCase), true),
        "StringLike": (.string(.like), false),
        "StringNotLike": (.string(.like), true),
        "StringMatch": (.string(.like), false),
        "StringNotMatch": (.string(.like), true),
        "StringStartWith": (.string(.startWith), false),
        "StringNotStartWith": (.string(.startWith), true),
        "StringEndWith": (.string(.endWith), false),
        "StringNotEndWith": (.string(.endWith), true),
        "NumberEquals": (.number(.equals), false),
        "NumberNotEquals": (.number(.equals), true),
        "NumberLessThan": (.number(.lessThan), false),
        "NumberLessThanEquals": (.number(.lessThanEquals), false),
        "NumberGreaterThan": (.number(.greaterThan), false),
        "NumberGreaterThanEquals": (.number(.greaterThanEquals), false),
        "DateEquals": (.date(.equals), false),
        "DateNotEquals": (.date(.equals), true),
        "DateLessThan": (.date(.lessThan), false),
        "DateLessThanEquals": (.date(.lessThanEquals), false),
        "DateGreaterThan": (.date(.greaterThan), false),
        "DateGreaterThanEquals": (.date(.greaterThanEquals), false),
        "Bool": (.bool, false),
        "IpAddress": (.ipAddress, false),
        "NotIpAddress": (.ipAddress, true),
        "Null": (.null, false),
    ]

    /// Why an operator name was refused.
    public enum ParseFailure: Error, Sendable, Equatable {
        case unknownQualifier(String)
        case unknownOperator(String)
        case ifExistsOnNull
        case qualifierOnNull
    }

    /// Parses `[Qualifier:]BaseName[IfExists]`. Names are case-sensitive, as in the
    /// documents they come from; `suggestion(for:)` helps with near misses.
    public static func parse(_ name: String) -> Result<ConditionOperator, ParseFailure> {
        var rest = Substring(name)
        var qualifier: SetQualifier?
        if let colon = rest.firstIndex(of: ":") {
            let prefix = String(rest[..<colon])
            guard let parsed = SetQualifier(rawValue: prefix) else { return .failure(.unknownQualifier(prefix)) }
            qualifier = parsed
            rest = rest[rest.index(after: colon)...]
        }
        var ifExists = false
        var base = String(rest)
        if baseOperators[base] == nil, base.hasSuffix("IfExists") {
            base = String(base.dropLast("IfExists".count))
            ifExists = true
        }
        guard let entry = baseOperators[base] else { return .failure(.unknownOperator(String(rest))) }
        if entry.test == .null {
            if ifExists { return .failure(.ifExistsOnNull) }
            if qualifier != nil { return .failure(.qualifierOnNull) }
        }
        return .success(ConditionOperator(qualifier: qualifier, test: entry.test, negated: entry.negated, ifExists: ifExists, baseName: base))
    }

    /// The closest known operator name to a misspelt one, if any is close.
    public static func suggestion(for name: String) -> String? {
        let lowered = name.lowercased()
        var candidates: [String] = []
        for base in baseOperators.keys {
            candidates.append(base)
            if base != "Null" { candidates.append(base + "IfExists") }
        }
        if let exact = candidates.first(where: { $0.lowercased() == lowered }) { return exact }
        return closest(to: name, among: candidates)
    }
}

/// The candidate within a small edit distance of `word`, for "did you mean" hints.
/// The candidate nearest to a mistyped word, for a "did you mean" hint: within an edit
/// distance of a quarter of the word's length (at least 2), case ignored. Hostile inputs
/// (thousands of long unknown names) cost little: a candidate whose length alone puts it out
/// of reach is skipped, the distance is computed only near the diagonal and given up as
/// soon as it exceeds the limit, and a word longer than any name could plausibly be gets
/// no hint at all.
func closest(to word: String, among candidates: [String]) -> String? {
    let target = Array(word.lowercased().unicodeScalars)
    guard target.count <= 128 else { return nil }
    let limit = max(2, target.count / 4)
    var best: (String, Int)?
    for candidate in candidates {
        let other = Array(candidate.lowercased().unicodeScalars)
        guard abs(other.count - target.count) <= min(limit, (best?.1 ?? .max) - 1) else { continue }
        if let distance = editDistance(target, other, atMost: min(limit, (best?.1 ?? .max) - 1)) { best = (candidate, distance) }
    }
    return best?.0
}

/// The Levenshtein distance between two strings when it is at most `limit`, else nil. Only
/// cells within `limit` of the diagonal can stay within it, so only those are computed.
func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], atMost limit: Int) -> Int? {
    guard limit >= 0, abs(a.count - b.count) <= limit else { return nil }
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    let beyond = limit + 1
    var previous = (0...b.count).map { min($0, beyond) }
    var current = Array(repeating: beyond, count: b.count + 1)
    for i in 1...a.count {
        let low = max(1, i - limit)
        let high = min(b.count, i + limit)
        current[0] = min(i, beyond)
        if low > 1 { current[low - 1] = beyond }
        var rowBest = current[0]
        for j in low...high {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost, beyond)
            rowBest = min(rowBest, current[j])
        }
        if high < b.count { current[high + 1] = beyond }
        if rowBest > limit { return nil }
        swap(&previous, &current)
    }
    return previous[b.count] <= limit ? previous[b.count] : nil
}
