/// Reads the request contract of `gatehouse eval`:
/// `{"principal": {"urn", "account_id", "id", "tags"}, "action", "resource", "context"}`.
/// Unknown members are refused, so a misspelt field never silently drops a value.
public enum RequestParser {
    public static func parse(
        bytes: [UInt8], source: String, limits: JSONLimits = JSONLimits(maxBytes: 1 << 20)
    ) throws(PolicyLoadError) -> AuthorizationRequest {
        let json: JSONValue
        do {
            json = try JSONLoader.parse(bytes, limits: limits)
        } catch {
            throw PolicyLoadError([
                Diagnostic(.badRequest, "invalid JSON: \(error.message)", at: SourceLocation(file: source, line: error.line, column: error.column))
            ])
        }
        do {
            return try request(json)
        } catch {
            let position = SourceLocator(bytes: bytes).position(of: error.path)
            throw PolicyLoadError([
                Diagnostic(
                    .badRequest, error.message, at: SourceLocation(file: source, line: position?.line, column: position?.column, path: error.path))
            ])
        }
    }

    struct Failure: Error {
        var message: String
        var path: JSONPath
    }

    static func request(_ json: JSONValue) throws(Failure) -> AuthorizationRequest {
        guard case .object(let members) = json else {
            throw Failure(message: "a request must be a JSON object, found \(json.kindName)", path: .root)
        }
        var principal = Principal()
        var action: String?
        var resource: String?
        var context: [(key: String, values: [ContextValue])] = []
        for (key, value) in members {
            let path = JSONPath.root.appending(key)
            switch key {
            case "principal": principal = try parsePrincipal(value, at: path)
            case "action": action = try nonEmptyString(value, "action", at: path)
            case "resource": resource = try nonEmptyString(value, "resource", at: path)
            case "context": context = try parseContext(value, at: path)
            default:
                throw Failure(
                    message: "unknown request member \(JSONWriter.quoted(key)); a request has principal, action, resource and context", path: path)
            }
        }
        guard let action else { throw Failure(message: "the request has no \"action\"", path: .root) }
        guard let resource else {
            throw Failure(message: "the request has no \"resource\" (use \"*\" for actions without a resource type)", path: .root)
        }
        var request = AuthorizationRequest(principal: principal, action: action, resource: resource)
        for (key, values) in context { request.addContext(key, values) }
        return request
    }

    static func nonEmptyString(_ value: JSONValue, _ name: String, at path: JSONPath) throws(Failure) -> String {
        guard case .string(let text) = value else { throw Failure(message: "\(name) must be a string, found \(value.kindName)", path: path) }
        guard !text.isEmpty else { throw Failure(message: "\(name) is an empty string", path: path) }
        return text
    }

    static func parsePrincipal(_ value: JSONValue, at path: JSONPath) throws(Failure) -> Principal {
        guard case .object(let members) = value else { throw Failure(message: "principal must be an object, found \(value.kindName)", path: path) }
        var principal = Principal()
        for (key, member) in members {
            let memberPath = path.appending(key)
            switch key {
            case "urn": principal.urn = try nonEmptyString(member, "principal.urn", at: memberPath)
            case "account_id": principal.accountId = try nonEmptyString(member, "principal.account_id", at: memberPath)
            case "id": principal.id = try nonEmptyString(member, "principal.id", at: memberPath)
            case "tags":
                guard case .object(let tags) = member else {
                    throw Failure(message: "principal.tags must be an object of tag key -> value, found \(member.kindName)", path: memberPath)
                }
                for (tagKey, tagValue) in tags {
                    guard case .string(let text) = tagValue else {
                        throw Failure(message: "tag values are strings, found \(tagValue.kindName)", path: memberPath.appending(tagKey))
                    }
                    principal.tags[tagKey] = text
                }
            default:
                throw Failure(
                    message: "unknown principal member \(JSONWriter.quoted(key)); a principal has urn, account_id, id and tags", path: memberPath)
            }
        }
        return principal
    }

    /// The context object: key -> value or list of values. Keys that differ only in case
    /// are readings of one key (`AuthorizationRequest`), kept in the order written.
    static func parseContext(_ value: JSONValue, at path: JSONPath) throws(Failure) -> [(key: String, values: [ContextValue])] {
        guard case .object(let members) = value else {
            throw Failure(message: "context must be an object of condition key -> value, found \(value.kindName)", path: path)
        }
        var context: [(key: String, values: [ContextValue])] = []
        for (key, member) in members {
            let memberPath = path.appending(key)
            guard !key.isEmpty else { throw Failure(message: "context keys cannot be empty", path: memberPath) }
            switch member {
            case .array(let items):
                context.append(
                    (
                        key,
                        try items.enumerated().map { offset, item throws(Failure) in
                            try scalar(item, at: memberPath.appending(offset))
                        }
                    ))
            default:
                context.append((key, [try scalar(member, at: memberPath)]))
            }
        }
        return context
    }

    static func scalar(_ value: JSONValue, at path: JSONPath) throws(Failure) -> ContextValue {
        switch value {
        case .string(let text): return .string(text)
        case .integer(let integer): return .number(.integer(integer))
        case .real(let real): return .number(.decimal(real))
        case .bool(let bool): return .bool(bool)
        default: throw Failure(message: "context values are strings, numbers, booleans or lists of them; found \(value.kindName)", path: path)
        }
    }
}
