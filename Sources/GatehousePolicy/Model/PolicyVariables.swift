/// A `Resource` or string condition value with policy variables, parsed once: Huawei IAM's
/// "Policy Variables" (usermanual-iam, iam_01_0902):
///
/// - `${key}` is replaced by the value of the request's condition key `key` (key names are
///   case-insensitive), `${key, 'default'}` by `default` (case-sensitive, as written) when
///   the key is absent or has several values;
/// - `${*}`, `${?}` and `${$}` stand for the characters `*`, `?` and `$` themselves;
/// - substitution happens once: a substituted value is never read for variables again, and
///   its characters (a `*` in a user name, say) match only themselves;
/// - a variable whose key is absent or multi-valued, without a default, cannot be
///   substituted, and the value holding it matches nothing (`substitute` returns nil).
///
/// Where matching nothing would widen a statement (under `NotResource`, or a negated
/// operator), the engine treats the failure as indeterminate instead: an Allow does not
/// apply and a Deny does (fail closed; see docs/POLICY-LANGUAGE.md).
public struct PolicyTemplate: Sendable, Hashable {
    public enum Part: Sendable, Hashable {
        /// Text as written: in a pattern (`Resource`, `StringLike`), `*` and `?` are wildcards.
        case text(String)
        /// An escape's character, or a substituted value: it matches only itself.
        case literal(String)
        /// `${key}` or `${key, 'default'}`: `key` as written, `normalizedKey` folded.
        case variable(key: String, normalizedKey: String, defaultValue: String?)
    }

    /// The value as written.
    public let text: String
    public let parts: [Part]
    /// The keys the variables name, folded, in order: made once, since the gateway asks on
    /// every call which keys a set's statements read.
    public let normalizedKeys: [String]

    init(text: String, parts: [Part]) {
        self.text = text
        self.parts = parts
        normalizedKeys = parts.compactMap {
            if case .variable(_, let key, _) = $0 { key } else { nil }
        }
    }

    /// Why a `${` does not start a policy variable; `offset` is in UTF-8 bytes from the
    /// value's start.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "\(reason) (at byte \(offset))" }
    }

    /// The value's variables, or nil when it holds none (no `${`).
    public static func parse(_ text: String) -> Result<PolicyTemplate?, ParseError> {
        let bytes = Array(text.utf8)
        guard bytes.indices.contains(where: { bytes[$0] == UInt8(ascii: "$") && $0 + 1 < bytes.count && bytes[$0 + 1] == UInt8(ascii: "{") })
        else { return .success(nil) }
        var parts: [Part] = []
        var literalStart = 0
        var index = 0
        func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "$"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "{") else {
                index += 1
                continue
            }
            if literalStart < index { parts.append(.text(string(literalStart..<index))) }
            let start = index
            var cursor = index + 2
            // The key: everything up to `,` or `}`, trimmed of spaces.
            while cursor < bytes.count, bytes[cursor] != UInt8(ascii: ","), bytes[cursor] != UInt8(ascii: "}") { cursor += 1 }
            guard cursor < bytes.count else { return .failure(ParseError(offset: start, reason: "a policy variable without its closing }")) }
            let key = string((start + 2)..<cursor).trimmingSpaces
            var defaultValue: String?
            if bytes[cursor] == UInt8(ascii: ",") {
                cursor += 1
                while cursor < bytes.count, bytes[cursor] == UInt8(ascii: " ") { cursor += 1 }
                guard cursor < bytes.count, bytes[cursor] == UInt8(ascii: "'") else {
                    return .failure(ParseError(offset: start, reason: "a policy variable's default is written in single quotes: ${key, 'default'}"))
                }
                let valueStart = cursor + 1
                cursor = valueStart
                while cursor < bytes.count, bytes[cursor] != UInt8(ascii: "'") { cursor += 1 }
                guard cursor < bytes.count else {
                    return .failure(ParseError(offset: start, reason: "a policy variable's default without its closing quote"))
                }
                defaultValue = string(valueStart..<cursor)
                cursor += 1
                while cursor < bytes.count, bytes[cursor] == UInt8(ascii: " ") { cursor += 1 }
                guard cursor < bytes.count, bytes[cursor] == UInt8(ascii: "}") else {
                    return .failure(ParseError(offset: start, reason: "a policy variable without its closing } after the default"))
                }
            }
            if defaultValue == nil, key == "*" || key == "?" || key == "$" {
                parts.append(.literal(key))
            } else if key.isEmpty {
                return .failure(ParseError(offset: start, reason: "a policy variable without a key"))
            } else {
                guard !key.utf8.contains(where: { $0 == UInt8(ascii: "$") || $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: " ") }) else {
                    return .failure(ParseError(offset: start, reason: "\"\(key)\" is not a condition key"))
                }
                parts.append(.variable(key: key, normalizedKey: ConditionKeyFolding.fold(key), defaultValue: defaultValue))
            }
            index = cursor + 1
            literalStart = index
        }
        if literalStart < bytes.count { parts.append(.text(string(literalStart..<bytes.count))) }
        return .success(PolicyTemplate(text: text, parts: parts))
    }

    /// The keys the variables name, as written.
    public var keys: [String] {
        parts.compactMap {
            if case .variable(let key, _, _) = $0 { key } else { nil }
        }
    }

    /// The parts with every variable replaced by its value (a `.literal`), or nil when one
    /// cannot be: its key absent or multi-valued, and no default. A key documented as
    /// multi-valued (`g:TagKeys`, `g:CalledVia`) is never substituted, even when a request
    /// carries one value of it (Huawei: "${g:CalledVia}" cannot be replaced).
    public func substitute(_ values: (String) -> [ContextValue]?) -> [Part]? {
        var substituted: [Part] = []
        substituted.reserveCapacity(parts.count)
        for part in parts {
            guard case .variable(_, let key, let defaultValue) = part else {
                substituted.append(part)
                continue
            }
            if let found = values(key), found.count == 1, !GlobalConditionKeys.multiValued.contains(key) {
                substituted.append(.literal(found[0].text))
            } else if let defaultValue {
                substituted.append(.literal(defaultValue))
            } else {
                return nil
            }
        }
        return substituted
    }

    /// The substituted value as plain text (for the operators that take text as it is).
    public func substitutedText(_ values: (String) -> [ContextValue]?) -> String? {
        substitute(values).map { parts in
            parts.map {
                switch $0 {
                case .text(let text), .literal(let text): text
                case .variable: ""
                }
            }.joined()
        }
    }

    /// The substituted value as a pattern: written text keeps its wildcards, escapes and
    /// substituted values match only themselves.
    public func substitutedPattern(_ values: (String) -> [ContextValue]?, caseInsensitive: Bool = false) -> Wildcard? {
        substitute(values).map { parts in
            Wildcard(
                segments: parts.map {
                    switch $0 {
                    case .text(let text): (text, false)
                    case .literal(let text): (text, true)
                    case .variable: ("", true)
                    }
                }, caseInsensitive: caseInsensitive)
        }
    }
}

extension String {
    /// Without leading and trailing spaces (U+0020 only: a key's own characters are kept).
    fileprivate var trimmingSpaces: String {
        let bytes = Array(utf8)
        var start = 0
        var end = bytes.count
        while start < end, bytes[start] == UInt8(ascii: " ") { start += 1 }
        while end > start, bytes[end - 1] == UInt8(ascii: " ") { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
