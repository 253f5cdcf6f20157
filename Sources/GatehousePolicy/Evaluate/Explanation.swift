/// Why a request got its decision, statement by statement: whether the action, the
/// resource and each condition matched, with the values compared. The CLI's `explain`
/// prints it and the gateway's audit log can carry it.
public struct Explanation: Sendable {
    public struct ConditionTrace: Sendable {
        public var operatorName: String
        public var key: String
        /// The request's values for the key; nil when the key is absent.
        public var requestValues: [String]?
        public var policyValues: [String]
        /// The policy values with their policy variables substituted from the request (a
        /// value that could not be is left out); nil when no value has a variable.
        public var substitutedValues: [String]?
        /// For a key the request carries in several spellings: each spelling with its values
        /// and outcome; `outcome` combines them (any for a Deny, all for an Allow). Nil otherwise.
        public var spellings: [SpellingTrace]?
        public var outcome: ConditionOutcome
    }

    public struct SpellingTrace: Sendable {
        public var key: String
        public var values: [String]
        public var outcome: ConditionOutcome
    }

    public struct StatementTrace: Sendable {
        public var statement: StatementRef
        public var actionMatched: Bool
        /// The pattern that matched (for `NotAction`: the one that excluded the action).
        public var actionPattern: String?
        public var notAction: Bool
        public var resourceMatched: Bool
        public var resourcePattern: String?
        public var resourceClause: String
        public var conditions: [ConditionTrace]
        /// True when action, resource and conditions all hold (for a Deny: no condition is false).
        public var applies: Bool
    }

    public var decision: Decision
    public var statements: [StatementTrace]
}

extension CompiledPolicySet {
    /// Evaluates every statement of the set, not just the indexed candidates, and records
    /// what matched. The decision is the one `evaluate` gives (tests hold them to that).
    public func explain(_ request: AuthorizationRequest) -> Explanation {
        var traces: [Explanation.StatementTrace] = []
        var action = request.normalizedAction
        var resource = request.resource
        action.withUTF8 { actionBytes in
            resource.withUTF8 { resourceBytes in
                for statement in statements {
                    let hit = statement.actionPatterns.first { $0.matches(utf8: actionBytes) }
                    let actionMatched = statement.notAction ? hit == nil : hit != nil
                    let (resourceMatched, resourcePattern) = statement.resources.matches(resourceBytes, request, statement.ref.effect)
                    var outcome = ConditionOutcome.satisfied
                    let conditions = statement.conditions.map { condition in
                        let values = request.value(normalizedKey: condition.normalizedKey)
                        let result = request.outcome(of: condition, for: statement.ref.effect)
                        outcome = outcome && result
                        let spellings = request.spellings(normalizedKey: condition.normalizedKey)?.map {
                            Explanation.SpellingTrace(key: $0.key, values: $0.values.map(\.text), outcome: condition.evaluate($0.values))
                        }
                        return Explanation.ConditionTrace(
                            operatorName: condition.op.description, key: condition.key,
                            requestValues: values.flatMap { $0.isEmpty ? nil : $0.map(\.text) },
                            policyValues: condition.rawValues, substitutedValues: condition.substitutedValues(in: request), spellings: spellings,
                            outcome: result)
                    }
                    let conditionsHold = statement.ref.effect == .deny ? outcome != .notSatisfied : outcome == .satisfied
                    let clause: String
                    switch statement.resources {
                    case .all: clause = "Resource"
                    case .any, .anySubstituted: clause = "Resource"
                    case .none, .noneSubstituted: clause = "NotResource"
                    }
                    traces.append(
                        Explanation.StatementTrace(
                            statement: statement.ref, actionMatched: actionMatched, actionPattern: hit?.pattern,
                            notAction: statement.notAction, resourceMatched: resourceMatched,
                            resourcePattern: resourcePattern?.pattern ?? (resourceMatched ? "*" : nil), resourceClause: clause,
                            conditions: conditions, applies: actionMatched && resourceMatched && conditionsHold))
                }
            }
        }
        let applying = traces.filter(\.applies).map(\.statement)
        let denies = applying.filter { $0.effect == .deny }
        let allows = applying.filter { $0.effect == .allow }
        let decision =
            !denies.isEmpty
            ? Decision(reason: .explicitDeny, statements: denies)
            : (!allows.isEmpty ? Decision(reason: .explicitAllow, statements: allows) : Decision(reason: .implicitDeny, statements: []))
        return Explanation(decision: decision, statements: traces)
    }
}
