/// `Allow` or `Deny`.
public enum Effect: String, Sendable, Hashable {
    case allow = "Allow"
    case deny = "Deny"
}

/// One identity-policy document (`Version` "5.0"), named by its file name without `.json`.
public struct PolicyDocument: Sendable {
    public var name: String
    public var file: String
    public var statements: [Statement]
    /// Characters of the document, whitespace excluded (Huawei's 6,144-character quota counts these).
    public var significantCharacters: Int

    public init(name: String, file: String, statements: [Statement], significantCharacters: Int = 0) {
        self.name = name
        self.file = file
        self.statements = statements
        self.significantCharacters = significantCharacters
    }
}

/// The actions a statement names: `Action` (these) or `NotAction` (all but these).
public enum ActionClause: Sendable, Hashable {
    case action([String])
    case notAction([String])

    public var patterns: [String] {
        switch self {
        case .action(let patterns), .notAction(let patterns): patterns
        }
    }
}

/// The resources a statement names. With neither `Resource` nor `NotResource` the
/// statement applies to every resource (`.all`).
public enum ResourceClause: Sendable, Hashable {
    case all
    case resource([String])
    case notResource([String])
}

/// One statement of a policy, validated: every field has its type and every condition
/// value has been parsed for its operator.
public struct Statement: Sendable {
    public var sid: String?
    public var effect: Effect
    public var actions: ActionClause
    public var resources: ResourceClause
    public var conditions: [Condition]
    /// Position in the document's `Statement` array.
    public var index: Int

    public init(sid: String?, effect: Effect, actions: ActionClause, resources: ResourceClause, conditions: [Condition], index: Int) {
        self.sid = sid
        self.effect = effect
        self.actions = actions
        self.resources = resources
        self.conditions = conditions
        self.index = index
    }

    public var path: JSONPath { JSONPath([.key("Statement"), .index(index)]) }

    /// The Sid, or `Statement[i]` for a statement without one: how decisions name it.
    public var displayName: String { namingSid ?? "Statement[\(index)]" }

    /// The Sid when it names the statement: not when absent or empty.
    public var namingSid: String? { sid.flatMap { $0.isEmpty ? nil : $0 } }
}

/// One `operator: { key: values }` pair of a statement's `Condition`.
public struct Condition: Sendable {
    public var op: ConditionOperator
    /// The key as written; matching uses `normalizedKey` (condition keys are case-insensitive).
    public var key: String
    public var normalizedKey: String
    public var values: ConditionValues
    /// The values as written, for explanations and messages.
    public var rawValues: [String]
    /// For a string operator whose values hold policy variables: each value's variables (nil
    /// for a value without), aligned with `rawValues`; nil when no value has any. `values`
    /// then holds the values as written, and evaluation substitutes (`substituted(in:)`).
    public var templates: [PolicyTemplate?]?

    public init(op: ConditionOperator, key: String, values: ConditionValues, rawValues: [String], templates: [PolicyTemplate?]? = nil) {
        self.init(op: op, key: key, normalizedKey: ConditionKeyFolding.fold(key), values: values, rawValues: rawValues, templates: templates)
    }

    init(op: ConditionOperator, key: String, normalizedKey: String, values: ConditionValues, rawValues: [String], templates: [PolicyTemplate?]? = nil)
    {
        self.op = op
        self.key = key
        self.normalizedKey = normalizedKey
        self.values = values
        self.rawValues = rawValues
        self.templates = templates
    }

    /// This condition with its policy variables substituted from `request`: a value whose
    /// variable cannot be substituted is left out (it matches nothing); nil when leaving it
    /// out would widen the condition (a negated operator), which evaluation takes as
    /// indeterminate (fail closed).
    public func substituted(in request: AuthorizationRequest) -> Condition? {
        guard let templates else { return self }
        let lookup = { (key: String) in request.value(normalizedKey: key) }
        /// The written values with each variable's value substituted, in the order written
        /// (so an explanation reads them as written); nil as above.
        func substitute<Value>(_ written: [Value], _ value: (PolicyTemplate) -> Value?) -> [Value]? {
            var result: [Value] = []
            for (index, template) in templates.enumerated() {
                guard let template else {
                    result.append(written[index])
                    continue
                }
                if let substituted = value(template) {
                    result.append(substituted)
                } else if op.negated {
                    return nil
                }
            }
            return result
        }
        let substituted: ConditionValues
        switch values {
        case .strings(let written):
            guard let texts = substitute(written, { $0.substitutedText(lookup) }) else { return nil }
            substituted = .strings(texts)
        case .foldedStrings(let written):
            guard let texts = substitute(written, { $0.substitutedText(lookup)?.lowercased() }) else { return nil }
            substituted = .foldedStrings(texts)
        case .patterns(let written):
            guard let patterns = substitute(written, { $0.substitutedPattern(lookup) }) else { return nil }
            substituted = .patterns(patterns)
        default:
            // Only string operators take variables (the parser); never hand back `templates`.
            substituted = values
        }
        return Condition(op: op, key: key, normalizedKey: normalizedKey, values: substituted, rawValues: rawValues)
    }

    /// The policy values after substitution, as text, for explanations; nil without variables.
    public func substitutedValues(in request: AuthorizationRequest) -> [String]? {
        guard templates != nil else { return nil }
        guard let substituted = substituted(in: request) else { return [] }
        switch substituted.values {
        case .strings(let texts), .foldedStrings(let texts): return texts
        case .patterns(let patterns): return patterns.map(\.pattern)
        default: return nil
        }
    }
}

/// Policy values of a condition, parsed once for the operator that uses them.
public enum ConditionValues: Sendable {
    case strings([String])
    /// Lowercased, for the `...IgnoreCase` operators.
    case foldedStrings([String])
    case patterns([Wildcard])
    case numbers([NumberValue])
    case dates([Timestamp])
    case bools([Bool])
    case networks([CIDR])
}
