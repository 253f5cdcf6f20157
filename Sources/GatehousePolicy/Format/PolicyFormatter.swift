/// The one canonical layout of a policy document, so reviews show only real changes.
///
/// - Members in a fixed order: `Version`, `Statement`; in a statement `Sid`, `Effect`,
///   `Action`/`NotAction`, `Resource`/`NotResource`, `Condition`.
/// - Condition operators sorted by name, keys by name (case-insensitively, as they match).
/// - Every place that takes a list holds a list: a lone string or value becomes `[value]`.
/// - Two-space indentation; objects one member per line; a list of values on one line when
///   it fits in `width` columns, else one value per line; a final newline.
///
/// Every value is kept as it was (numbers as numbers, strings byte for byte), and formatting
/// a formatted document changes nothing.
public enum PolicyFormatter {
    public static let width = 100

    /// The canonical text of a valid document; an invalid one is refused with its diagnostics.
    public static func format(bytes: [UInt8], file: String, limits: PolicyLimits = PolicyLimits()) throws(PolicyLoadError) -> String {
        let parsed = try PolicyParser.parseKeepingJSON(bytes: bytes, name: PolicyFiles.policyName(of: file), file: file, limits: limits)
        return render(canonical(parsed.json)) + "\n"
    }

    static let statementOrder = ["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"]
    static let listElements: Set<String> = ["Action", "NotAction", "Resource", "NotResource"]

    /// Reorders and wraps a valid document's JSON; the parser has already checked its shape.
    static func canonical(_ document: JSONValue) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        if let version = document["Version"] { members.append(("Version", version)) }
        if case .array(let statements)? = document["Statement"] {
            members.append(("Statement", .array(statements.map(canonicalStatement))))
        }
        return .object(members)
    }

    static func canonicalStatement(_ statement: JSONValue) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        for key in statementOrder {
            guard let value = statement[key] else { continue }
            switch key {
            case _ where listElements.contains(key): members.append((key, asList(value)))
            case "Condition": members.append((key, canonicalCondition(value)))
            default: members.append((key, value))
            }
        }
        return .object(members)
    }

    static func canonicalCondition(_ condition: JSONValue) -> JSONValue {
        guard case .object(let operators) = condition else { return condition }
        return .object(
            operators.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { name, block in
                guard case .object(let keys) = block else { return (name, block) }
                let sortedKeys = keys.sorted { a, b in
                    let (x, y) = (a.key.lowercased(), b.key.lowercased())
                    return x == y ? a.key.utf8.lexicographicallyPrecedes(b.key.utf8) : x.utf8.lexicographicallyPrecedes(y.utf8)
                }
                return (name, .object(sortedKeys.map { ($0.key, asList($0.value)) }))
            })
    }

    static func asList(_ value: JSONValue) -> JSONValue {
        if case .array = value { return value }
        return .array([value])
    }

    static func render(_ value: JSONValue) -> String {
        var out = ""
        write(value, into: &out, indent: 0, column: 0)
        return out
    }

    /// `column` is where the value starts on its line, to decide whether a list fits inline.
    static func write(_ value: JSONValue, into out: inout String, indent: Int, column: Int) {
        switch value {
        case .object(let members):
            if members.isEmpty {
                out += "{}"
                return
            }
            out += "{\n"
            for (offset, member) in members.enumerated() {
                let prefix = String(repeating: " ", count: indent + 2) + JSONWriter.quoted(member.key) + ": "
                out += prefix
                write(member.value, into: &out, indent: indent + 2, column: prefix.count)
                out += offset == members.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        case .array(let items):
            if items.isEmpty {
                out += "[]"
                return
            }
            let scalars = items.allSatisfy {
                switch $0 {
                case .object, .array: false
                default: true
                }
            }
            if scalars {
                let inline = "[" + items.map(JSONWriter.compact).joined(separator: ", ") + "]"
                // +1 for the comma that may follow.
                if column + inline.count + 1 <= width {
                    out += inline
                    return
                }
            }
            out += "[\n"
            for (offset, item) in items.enumerated() {
                out += String(repeating: " ", count: indent + 2)
                write(item, into: &out, indent: indent + 2, column: indent + 2)
                out += offset == items.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: " ", count: indent) + "]"
        default:
            out += JSONWriter.compact(value)
        }
    }
}
