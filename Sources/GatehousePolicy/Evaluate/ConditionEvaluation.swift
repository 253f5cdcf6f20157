/// The outcome of a condition. `indeterminate` means a request value could not be read
/// the way the operator needs (a number key holding "abc", a source IP that is no
/// address): an Allow with such a condition does not apply, a Deny does (fail closed).
public enum ConditionOutcome: String, Sendable, Hashable {
    case satisfied
    case notSatisfied = "not_satisfied"
    case indeterminate

    init(_ bool: Bool) { self = bool ? .satisfied : .notSatisfied }

    /// Kleene AND.
    static func && (lhs: ConditionOutcome, rhs: @autoclosure () -> ConditionOutcome) -> ConditionOutcome {
        if lhs == .notSatisfied { return .notSatisfied }
        let right = rhs()
        if right == .notSatisfied { return .notSatisfied }
        return lhs == .indeterminate || right == .indeterminate ? .indeterminate : .satisfied
    }

    var negated: ConditionOutcome {
        switch self {
        case .satisfied: .notSatisfied
        case .notSatisfied: .satisfied
        case .indeterminate: .indeterminate
        }
    }
}

extension Condition {
    /// Evaluates this condition against a request's values for its key (nil: absent).
    ///
    /// For request values R and policy values P, with m(r) "r matches some p":
    /// no qualifier: ∃r m(r) (negated: ∀r ¬m(r)); `ForAnyValue`: ∃r m′(r);
    /// `ForAllValues`: ∀r m′(r), where m′ is m, or ¬m for a negated operator.
    /// An absent key: `Null` decides; `IfExists` and `ForAllValues` hold; `ForAnyValue`
    /// fails; otherwise only negated operators hold.
    public func evaluate(_ requestValues: [ContextValue]?) -> ConditionOutcome {
        let present = requestValues.map { !$0.isEmpty } ?? false
        if op.test == .null {
            guard case .bools(let wanted) = values else { return .notSatisfied }
            return ConditionOutcome(wanted.contains { $0 ? !present : present })
        }
        guard present, let requestValues else {
            if op.ifExists { return .satisfied }
            switch op.qualifier {
            case .forAllValues: return .satisfied
            case .forAnyValue: return .notSatisfied
            case nil: return ConditionOutcome(op.negated)
            }
        }
        switch op.qualifier {
        case nil:
            var outcome = ConditionOutcome.notSatisfied
            for value in requestValues {
                let match = matches(value)
                if match == .satisfied {
                    outcome = .satisfied
                    break
                }
                if match == .indeterminate { outcome = .indeterminate }
            }
            return op.negated ? outcome.negated : outcome
        case .forAnyValue:
            var outcome = ConditionOutcome.notSatisfied
            for value in requestValues {
                let match = op.negated ? matches(value).negated : matches(value)
                if match == .satisfied { return .satisfied }
                if match == .indeterminate { outcome = .indeterminate }
            }
            return outcome
        case .forAllValues:
            var outcome = ConditionOutcome.satisfied
            for value in requestValues {
                let match = op.negated ? matches(value).negated : matches(value)
                outcome = outcome && match
                if outcome == .notSatisfied { return outcome }
            }
            return outcome
        }
    }

    /// Whether one request value matches any policy value under the positive form of the
    /// operator; `indeterminate` when the value cannot be read as the operator needs.
    func matches(_ value: ContextValue) -> ConditionOutcome {
        switch values {
        case .strings(let policyValues):
            let text = value.text
            switch op.test {
            case .string(.startWith): return ConditionOutcome(policyValues.contains { text.utf8.starts(with: $0.utf8) })
            case .string(.endWith): return ConditionOutcome(policyValues.contains { text.utf8.reversed().starts(with: $0.utf8.reversed()) })
            default: return ConditionOutcome(policyValues.contains { utf8Equal($0, text) })
            }
        case .foldedStrings(let policyValues):
            let text = value.text.lowercased()
            return ConditionOutcome(policyValues.contains { utf8Equal($0, text) })
        case .patterns(let patterns):
            var text = value.text
            return text.withUTF8 { buffer in ConditionOutcome(patterns.contains { $0.matches(utf8: buffer) }) }
        case .numbers(let policyValues):
            guard case .number(let ordering) = op.test, let number = value.numberValue else { return .indeterminate }
            return ConditionOutcome(policyValues.contains { ordering.holds(NumberValue.compare(number, $0)) })
        case .dates(let policyValues):
            guard case .date(let ordering) = op.test, let time = value.timestampValue else { return .indeterminate }
            return ConditionOutcome(policyValues.contains { ordering.holds(time < $0 ? -1 : (time == $0 ? 0 : 1)) })
        case .bools(let policyValues):
            guard let bool = value.boolValue else { return .indeterminate }
            return ConditionOutcome(policyValues.contains(bool))
        case .networks(let networks):
            guard case .string(let text) = value, let address = IPAddress(text) else { return .indeterminate }
            return ConditionOutcome(networks.contains { $0.contains(address) })
        }
    }
}

extension ConditionTest.Ordering {
    /// Whether `request <op> policy` holds, given their comparison (-1, 0, 1).
    @inline(__always)
    func holds(_ comparison: Int) -> Bool {
        switch self {
        case .equals: comparison == 0
        case .lessThan: comparison < 0
        case .lessThanEquals: comparison <= 0
        case .greaterThan: comparison > 0
        case .greaterThanEquals: comparison >= 0
        }
    }
}

extension ContextValue {
    var numberValue: NumberValue? {
        switch self {
        case .number(let number): number
        case .string(let text): NumberValue(text: text)
        case .bool: nil
        }
    }

    var timestampValue: Timestamp? {
        switch self {
        case .number(.integer(let seconds)): Timestamp(secondsSinceEpoch: Double(seconds))
        case .number(.decimal(let seconds)): Timestamp(secondsSinceEpoch: seconds)
        case .string(let text): Timestamp(text: text)
        case .bool: nil
        }
    }

    var boolValue: Bool? {
        switch self {
        case .bool(let bool): bool
        case .string(let text):
            switch text.lowercased() {
            case "true": true
            case "false": false
            default: nil
            }
        case .number: nil
        }
    }
}

/// Byte-wise equality of two strings' UTF-8, with no Unicode normalization (`==` on String
/// would treat "é" and "e" + combining accent as equal; a policy engine should not).
@inline(__always)
func utf8Equal(_ a: String, _ b: String) -> Bool {
    guard a.utf8.count == b.utf8.count else { return false }
    let contiguous = a.utf8.withContiguousStorageIfAvailable { left in
        b.utf8.withContiguousStorageIfAvailable { right in
            for index in 0..<left.count where left[index] != right[index] { return false }
            return true
        }
    }
    return (contiguous ?? nil) ?? a.utf8.elementsEqual(b.utf8)
}
