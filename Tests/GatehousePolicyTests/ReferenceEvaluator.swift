import Foundation

@testable import GatehousePolicy

/// A small, obviously-correct evaluator written straight from the policy-language text,
/// sharing nothing with the compiled one but the parsed model: its own glob matcher, its
/// own comparisons, its own three-valued logic. Property tests hold the two to the same
/// answers (Cedar's differential testing, in miniature).
///
/// Keys that differ only in case are readings of one key: a condition counts for a Deny when
/// it holds for some reading, for an Allow when it holds for every one. The reference reads
/// them from the context as written (`context`), not from the request's own grouping.
enum ReferenceEvaluator {
    static func evaluate(
        _ documents: [PolicyDocument], _ request: AuthorizationRequest, context: [(key: String, values: [ContextValue])]? = nil
    )
        -> Decision
    {
        let context = context ?? request.explicitContext.map { ($0.key, $0.value) }
        var denies: [StatementRef] = []
        var allows: [StatementRef] = []
        for document in documents {
            for statement in document.statements where applies(statement, request, context) {
                let ref = StatementRef(policy: document.name, sid: statement.sid, index: statement.index, effect: statement.effect)
                if statement.effect == .deny { denies.append(ref) } else { allows.append(ref) }
            }
        }
        if !denies.isEmpty { return Decision(reason: .explicitDeny, statements: denies) }
        if !allows.isEmpty { return Decision(reason: .explicitAllow, statements: allows) }
        return Decision(reason: .implicitDeny, statements: [])
    }

    /// Every reading of a key: the context's spellings of it, else the principal's.
    static func readings(_ key: String, _ request: AuthorizationRequest, _ context: [(key: String, values: [ContextValue])]) -> [[ContextValue]] {
        let wanted = key.lowercased()
        let given = context.filter { $0.key.lowercased() == wanted }.map(\.values).filter { !$0.isEmpty }
        if !given.isEmpty || context.contains(where: { $0.key.lowercased() == wanted }) { return given }
        switch wanted {
        case "g:principalurn": return request.principal.urn.map { [[.string($0)]] } ?? []
        case "g:principalaccount": return request.principal.accountId.map { [[.string($0)]] } ?? []
        case "g:principalid": return request.principal.id.map { [[.string($0)]] } ?? []
        default:
            guard wanted.hasPrefix("g:principaltag/") else { return [] }
            let tagKey = wanted.dropFirst("g:principaltag/".count)
            return request.principal.tags.filter { $0.key.lowercased()[...] == tagKey }.map { [.string($0.value)] }
        }
    }

    static func applies(_ statement: Statement, _ request: AuthorizationRequest, _ context: [(key: String, values: [ContextValue])]) -> Bool {
        let action = request.action.lowercased()
        let actionMatch: Bool
        switch statement.actions {
        case .action(let patterns): actionMatch = patterns.contains { glob($0.lowercased(), action) }
        case .notAction(let patterns): actionMatch = !patterns.contains { glob($0.lowercased(), action) }
        }
        let resourceMatch: Bool
        switch statement.resources {
        case .all: resourceMatch = true
        case .resource(let patterns):
            resourceMatch = patterns.contains { pattern in substitute(pattern, request, context).map { glob(pieces: $0, request.resource) } ?? false }
        case .notResource(let patterns):
            let substituted = patterns.map { substitute($0, request, context) }
            if substituted.contains(where: { $0.map { glob(pieces: $0, request.resource) } ?? false }) {
                resourceMatch = false
            } else {
                // A pattern that cannot be substituted would widen the statement: fail closed.
                resourceMatch = substituted.contains { $0 == nil } ? statement.effect == .deny : true
            }
        }
        guard actionMatch && resourceMatch else { return false }
        // nil is "indeterminate".
        var all: Bool? = true
        for written in statement.conditions {
            var condition = written
            var pieces: [[Piece]]?
            if case .string = written.op.test, written.rawValues.contains(where: { $0.contains("${") }) {
                // Policy variables: each value substituted; a value that cannot be is left
                // out, unless the operator is negated (then the condition is indeterminate).
                let substituted = written.rawValues.map { substitute($0, request, context) }
                if written.op.negated && substituted.contains(where: { $0 == nil }) {
                    if all == true { all = nil }
                    continue
                }
                pieces = substituted.compactMap { $0 }
                condition.rawValues = pieces!.map { $0.map(\.text).joined() }
            }
            let each = readings(condition.key, request, context).map { holds(condition, $0, pieces: pieces) }
            let result: Bool?
            if each.isEmpty {
                result = holds(condition, nil, pieces: pieces)
            } else if statement.effect == .deny {
                result = each.contains(true) ? true : (each.contains(nil) ? nil : false)
            } else {
                result = each.contains(false) ? false : (each.contains(nil) ? nil : true)
            }
            if result == false { all = false; break }
            if result == nil { all = nil }
        }
        return statement.effect == .allow ? all == true : all != false
    }

    /// A piece of a substituted value: text as written (its `*` and `?` are wildcards) or a
    /// literal (an escape or a substituted value, matching only itself).
    struct Piece: Equatable {
        var text: String
        var literal: Bool
    }

    /// Policy variables, written again from Huawei IAM's "Policy Variables" rules with a
    /// regular expression (the engine scans bytes): `${key}` is the key's one value (any
    /// reading with exactly one value), else `${key, 'default'}`'s default; `${*}`, `${?}`
    /// and `${$}` are those characters; nil when a variable has neither value nor default.
    static func substitute(_ value: String, _ request: AuthorizationRequest, _ context: [(key: String, values: [ContextValue])]) -> [Piece]? {
        let expression = try! NSRegularExpression(pattern: #"\$\{\s*([^,}]*?)\s*(?:,\s*'([^']*)'\s*)?\}"#)
        let text = value as NSString
        var pieces: [Piece] = []
        var last = 0
        for match in expression.matches(in: value, range: NSRange(location: 0, length: text.length)) {
            if match.range.location > last {
                pieces.append(Piece(text: text.substring(with: NSRange(location: last, length: match.range.location - last)), literal: false))
            }
            last = match.range.location + match.range.length
            let key = text.substring(with: match.range(at: 1))
            let fallback = match.range(at: 2).location == NSNotFound ? nil : text.substring(with: match.range(at: 2))
            if fallback == nil, ["*", "?", "$"].contains(key) {
                pieces.append(Piece(text: key, literal: true))
                continue
            }
            let found = readings(key, request, context)
            // The keys Huawei documents as multi-valued never substitute, whatever a request carries.
            let multiValued = ["g:tagkeys", "g:calledvia"].contains(key.lowercased())
            if !multiValued, found.count == 1, found[0].count == 1 {
                let one: String
                switch found[0][0] {
                case .string(let s): one = s
                case .bool(let b): one = b ? "true" : "false"
                case .number(let n): one = n.description
                }
                pieces.append(Piece(text: one, literal: true))
            } else if let fallback {
                pieces.append(Piece(text: fallback, literal: true))
            } else {
                return nil
            }
        }
        if last < text.length { pieces.append(Piece(text: text.substring(from: last), literal: false)) }
        return pieces
    }

    /// `glob` over pieces: wildcards only in written text.
    static func glob(pieces: [Piece], _ text: String) -> Bool {
        enum Token: Equatable {
            case star, one
            case scalar(Unicode.Scalar)
        }
        var tokens: [Token] = []
        for piece in pieces {
            for scalar in piece.text.unicodeScalars {
                if !piece.literal && scalar == "*" {
                    tokens.append(.star)
                } else if !piece.literal && scalar == "?" {
                    tokens.append(.one)
                } else {
                    tokens.append(.scalar(scalar))
                }
            }
        }
        func go(_ p: ArraySlice<Token>, _ t: Substring.UnicodeScalarView) -> Bool {
            guard let first = p.first else { return t.isEmpty }
            if first == .star { return go(p.dropFirst(), t) || (!t.isEmpty && go(p, t.dropFirst())) }
            guard let head = t.first else { return false }
            return (first == .one || first == .scalar(head)) && go(p.dropFirst(), t.dropFirst())
        }
        return go(tokens[...], Substring(text).unicodeScalars)
    }

    /// Recursive glob on Unicode scalars: `*` any run, `?` one character.
    static func glob(_ pattern: String, _ text: String) -> Bool { glob(pieces: [Piece(text: pattern, literal: false)], text) }

    static func holds(_ condition: Condition, _ values: [ContextValue]?, pieces: [[Piece]]? = nil) -> Bool? {
        let op = condition.op
        if op.test == .null {
            guard case .bools(let wanted) = condition.values else { return false }
            return wanted.contains { $0 == (values == nil) }
        }
        guard let values else {
            if op.ifExists { return true }
            if op.qualifier == .forAllValues { return true }
            if op.qualifier == .forAnyValue { return false }
            return op.negated
        }
        // m(r): does r match some policy value (positive form)? nil: unreadable.
        let matches: [Bool?] = values.map { matchesAny(condition, $0, pieces: pieces) }
        func not(_ b: Bool?) -> Bool? { b.map { !$0 } }
        func any(_ list: [Bool?]) -> Bool? { list.contains(true) ? true : (list.contains(nil) ? nil : false) }
        func every(_ list: [Bool?]) -> Bool? { list.contains(false) ? false : (list.contains(nil) ? nil : true) }
        switch op.qualifier {
        case nil: return op.negated ? not(any(matches)) : any(matches)
        case .forAnyValue: return any(op.negated ? matches.map(not) : matches)
        case .forAllValues: return every(op.negated ? matches.map(not) : matches)
        }
    }

    static func matchesAny(_ condition: Condition, _ value: ContextValue, pieces: [[Piece]]? = nil) -> Bool? {
        let text: String
        switch value {
        case .string(let s): text = s
        case .bool(let b): text = b ? "true" : "false"
        case .number(let n): text = n.description
        }
        switch condition.op.test {
        case .string(.equals): return condition.rawValues.contains { Array($0.unicodeScalars) == Array(text.unicodeScalars) }
        case .string(.equalsIgnoreCase): return condition.rawValues.contains { $0.lowercased() == text.lowercased() }
        case .string(.like):
            if let pieces { return pieces.contains { glob(pieces: $0, text) } }
            return condition.rawValues.contains { glob($0, text) }
        case .string(.startWith): return condition.rawValues.contains { Array(text.utf8).starts(with: Array($0.utf8)) }
        case .string(.endWith): return condition.rawValues.contains { Array(text.utf8.reversed()).starts(with: Array($0.utf8.reversed())) }
        case .number(let ordering):
            if case .bool = value { return nil }
            guard let number = Double(text), let numbers = condition.rawValues.map({ Double($0) }) as [Double?]? else { return nil }
            return numbers.contains { $0.map { compare(number, $0, ordering) } ?? false }
        case .date(let ordering):
            let seconds: Double?
            switch value {
            case .number(let n): seconds = Double(n.description)
            case .string(let s): seconds = ReferenceParsing.seconds(s)
            case .bool: seconds = nil
            }
            guard let seconds else { return nil }
            return condition.rawValues.contains { ReferenceParsing.seconds($0).map { compare(seconds, $0, ordering) } ?? false }
        case .bool:
            let lowered = text.lowercased()
            guard lowered == "true" || lowered == "false" else { return nil }
            return condition.rawValues.contains { $0.lowercased() == lowered }
        case .ipAddress:
            guard case .string = value, let address = ReferenceParsing.address(text) else { return nil }
            return condition.rawValues.contains { ReferenceParsing.network($0)?.contains(address) ?? false }
        case .null:
            return nil
        }
    }

    static func compare(_ a: Double, _ b: Double, _ ordering: ConditionTest.Ordering) -> Bool {
        switch ordering {
        case .equals: a == b
        case .lessThan: a < b
        case .lessThanEquals: a <= b
        case .greaterThan: a > b
        case .greaterThanEquals: a >= b
        }
    }
}

/// The reference's own readings of dates and addresses, independent of the engine's
/// hand-written parsers (`Timestamp`, `IPAddress`, `CIDR`): Foundation's ISO 8601 formatter
/// and the C library's `inet_pton`, so a bug on either side shows up as a disagreement
/// instead of being shared.
enum ReferenceParsing {
    /// Epoch seconds (a plain decimal number) or an ISO 8601 date or date-time in UTC or
    /// with an offset.
    static func seconds(_ text: String) -> Double? {
        if !text.isEmpty, text.allSatisfy({ "0123456789.-".contains($0) }), let number = Double(text) { return number }
        let optionSets: [ISO8601DateFormatter.Options] = [
            [.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds], [.withFullDate, .withDashSeparatorInDate],
        ]
        for options in optionSets {
            let formatter = ISO8601DateFormatter()
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        }
        return nil
    }

    /// An address as 16 bytes, IPv4 written IPv4-mapped (`::ffff:a.b.c.d`).
    static func address(_ text: String) -> [UInt8]? {
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        var v4 = in_addr()
        guard inet_pton(AF_INET, text, &v4) == 1 else { return nil }
        return Array(repeating: 0, count: 10) + [0xFF, 0xFF] + withUnsafeBytes(of: &v4) { Array($0) }
    }

    struct Network {
        var bytes: [UInt8]
        /// Over the 128 bits (an IPv4 prefix `n` is `96 + n`).
        var prefix: Int

        func contains(_ address: [UInt8]) -> Bool {
            (0..<prefix).allSatisfy { bit in
                let mask = UInt8(0x80) >> UInt8(bit % 8)
                return address[bit / 8] & mask == bytes[bit / 8] & mask
            }
        }
    }

    /// `a.b.c.d/n`, `x::/n`, or a bare address (one host).
    static func network(_ text: String) -> Network? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), let bytes = address(parts[0]) else { return nil }
        let isIPv4 = !parts[0].contains(":")
        let width = isIPv4 ? 32 : 128
        var length = width
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber), let parsed = Int(parts[1]),
                parsed <= width
            else { return nil }
            length = parsed
        }
        return Network(bytes: bytes, prefix: isIPv4 ? 96 + length : length)
    }
}
