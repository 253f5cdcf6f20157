/// The JSON shapes of Gatehouse's outputs. They are contracts: `eval --format json` prints
/// `Decision.json`, and scripts and the audit log read these fields.
extension StatementRef {
    /// `{"policy", "sid", "effect"}`; `sid` is `Statement[i]` for a statement without one.
    public var json: JSONValue {
        .object([("policy", .string(policy)), ("sid", .string(displayName)), ("effect", .string(effect.rawValue))])
    }
}

extension Decision {
    /// `{"decision": "allow"|"deny", "reason": ..., "statements": [...]}`.
    public var json: JSONValue {
        .object([
            ("decision", .string(isAllowed ? "allow" : "deny")),
            ("reason", .string(reason.rawValue)),
            ("statements", .array(statements.map(\.json))),
        ])
    }
}

extension Explanation {
    /// The decision's fields plus `trace`: one entry per statement of the set.
    public var json: JSONValue {
        guard case .object(var members) = decision.json else { return decision.json }
        members.append(("trace", .array(statements.map(\.json))))
        return .object(members)
    }
}

extension Explanation.StatementTrace {
    public var json: JSONValue {
        var action: [(key: String, value: JSONValue)] = [("matched", .bool(actionMatched)), ("clause", .string(notAction ? "NotAction" : "Action"))]
        if let actionPattern { action.append(("pattern", .string(actionPattern))) }
        var resource: [(key: String, value: JSONValue)] = [("matched", .bool(resourceMatched)), ("clause", .string(resourceClause))]
        if let resourcePattern { resource.append(("pattern", .string(resourcePattern))) }
        return .object([
            ("policy", .string(statement.policy)),
            ("sid", .string(statement.displayName)),
            ("effect", .string(statement.effect.rawValue)),
            ("applies", .bool(applies)),
            ("action", .object(action)),
            ("resource", .object(resource)),
            ("conditions", .array(conditions.map(\.json))),
        ])
    }
}

extension Explanation.ConditionTrace {
    /// `{"operator", "key", "request_values", "policy_values", "substituted_values"?,
    /// "spellings"?, "outcome"}`; `substituted_values` only when a value has policy variables,
    /// `spellings` (`[{"key", "values", "outcome"}]`) only for a key carried in several.
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("operator", .string(operatorName)),
            ("key", .string(key)),
            ("request_values", requestValues.map { .array($0.map(JSONValue.string)) } ?? .null),
            ("policy_values", .array(policyValues.map(JSONValue.string))),
        ]
        if let substitutedValues { members.append(("substituted_values", .array(substitutedValues.map(JSONValue.string)))) }
        if let spellings {
            members.append(
                (
                    "spellings",
                    .array(
                        spellings.map {
                            .object([
                                ("key", .string($0.key)), ("values", .array($0.values.map(JSONValue.string))),
                                ("outcome", .string($0.outcome.rawValue)),
                            ])
                        })
                ))
        }
        members.append(("outcome", .string(outcome.rawValue)))
        return .object(members)
    }
}

extension Diagnostic {
    /// `{"file", "line", "column", "severity", "code", "message", "hint"?, "path"?}`.
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("file", .string(location.file)),
            ("line", location.line.map { .integer(Int64($0)) } ?? .null),
            ("column", location.column.map { .integer(Int64($0)) } ?? .null),
            ("severity", .string(severity.rawValue)),
            ("code", .string(code.rawValue)),
            ("message", .string(message)),
        ]
        if let hint { members.append(("hint", .string(hint))) }
        if let path = location.path { members.append(("path", .string(path.description))) }
        return .object(members)
    }
}
