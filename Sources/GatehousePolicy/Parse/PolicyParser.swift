/// Limits for one policy document. The defaults are generous for hand-written policies and
/// small enough that a hostile file is refused quickly.
public struct PolicyLimits: Sendable, Equatable {
    public var json: JSONLimits
    /// Most statements accepted in one document.
    public var maxStatements: Int

    public init(json: JSONLimits = JSONLimits(), maxStatements: Int = 20_000) {
        self.json = json
        self.maxStatements = maxStatements
    }
}

/// Turns policy text into a validated `PolicyDocument`, or reports every error in it with
/// its file, line, column and JSON path. A document with any error is rejected whole.
public enum PolicyParser {
    public static func parse(
        bytes: [UInt8], name: String, file: String, limits: PolicyLimits = PolicyLimits()
    ) throws(PolicyLoadError) -> PolicyDocument {
        try parseKeepingJSON(bytes: bytes, name: name, file: file, limits: limits).document
    }

    /// As `parse`, also returning the JSON tree, for checks that look at the text's shape
    /// (lint's empty blocks, `fmt`).
    public static func parseKeepingJSON(
        bytes: [UInt8], name: String, file: String, limits: PolicyLimits = PolicyLimits()
    ) throws(PolicyLoadError) -> (document: PolicyDocument, json: JSONValue) {
        let json: JSONValue
        do {
            json = try JSONLoader.parse(bytes, limits: limits.json)
        } catch {
            let code: DiagnosticCode
            var hint: String?
            switch error.kind {
            case .syntax:
                code = .syntax
                if JSONLoader.hasBOM(Array(bytes.dropFirst(3))) { hint = "the file starts with two byte-order marks" }
            case .tooLarge:
                code = .documentTooLarge
                hint = "raise the limit with --max-document-bytes if this document is meant to be this large"
            case .tooDeep:
                code = .nestingTooDeep
                hint = "policy documents nest at most 6 levels; raise --max-depth only for unusual documents"
            }
            throw PolicyLoadError([
                Diagnostic(code, error.message, hint: hint, at: SourceLocation(file: file, line: error.line, column: error.column))
            ])
        }
        var builder = DocumentBuilder(limits: limits)
        let statements = builder.document(json)
        if !builder.problems.isEmpty {
            let locator = SourceLocator(bytes: bytes)
            throw PolicyLoadError(builder.problems.map { $0.diagnostic(file: file, locator: locator) })
        }
        let significant = bytes.reduce(0) { count, byte in
            count + ((byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 || byte & 0xC0 == 0x80) ? 0 : 1)
        }
        return (PolicyDocument(name: name, file: file, statements: statements, significantCharacters: significant), json)
    }
}

/// A problem found while building the model, before its line and column are known.
struct Problem {
    var code: DiagnosticCode
    var message: String
    var hint: String?
    var path: JSONPath
    /// Point at the member name rather than its value (unknown or misplaced elements).
    var atKey = false

    func diagnostic(file: String, locator: SourceLocator) -> Diagnostic {
        let position = atKey ? locator.keyPosition(of: path) : locator.position(of: path)
        return Diagnostic(code, message, hint: hint, at: SourceLocation(file: file, line: position?.line, column: position?.column, path: path))
    }
}

struct DocumentBuilder {
    let limits: PolicyLimits
    var problems: [Problem] = []
    /// Parsed operator names: a large policy repeats a handful of operators thousands of times.
    var operatorCache: [String: Result<ConditionOperator, ConditionOperator.ParseFailure>] = [:]

    init(limits: PolicyLimits) { self.limits = limits }

    mutating func report(_ code: DiagnosticCode, _ message: String, hint: String? = nil, at path: JSONPath, atKey: Bool = false) {
        problems.append(Problem(code: code, message: message, hint: hint, path: path, atKey: atKey))
    }

    mutating func document(_ json: JSONValue) -> [Statement] {
        guard case .object(let members) = json else {
            report(
                .notAnObject, "a policy document must be a JSON object, found \(json.kindName)", hint: #"{"Version": "5.0", "Statement": [...]}"#,
                at: .root)
            return []
        }
        var statements: [Statement] = []
        var sawVersion = false
        var sawStatement = false
        for (key, value) in members {
            let path = JSONPath.root.appending(key)
            switch key {
            case "Version":
                sawVersion = true
                if case .string(let version) = value {
                    if version != "5.0" {
                        report(.badVersion, "unsupported Version \(JSONWriter.quoted(version)); identity policies use \"5.0\"", at: path)
                    }
                } else {
                    report(.wrongType, "Version must be the string \"5.0\", found \(value.kindName)", at: path)
                }
            case "Statement":
                sawStatement = true
                statements = statementList(value, at: path)
            case "Principal", "NotPrincipal":
                report(
                    .principalNotAllowed,
                    "\(key) belongs to resource and trust policies; an identity policy applies to the principals it is attached to",
                    hint: "remove \(key)", at: path, atKey: true)
            default:
                report(
                    .unknownElement, "unknown element \(JSONWriter.quoted(key)); a policy document has Version and Statement",
                    hint: suggestion(key, ["Version", "Statement"]), at: path, atKey: true)
            }
        }
        if !sawVersion { report(.badVersion, "Version is missing; identity policies use \"5.0\"", hint: #"add "Version": "5.0""#, at: .root) }
        if !sawStatement { report(.badStatementList, "Statement is missing; a policy needs at least one statement", at: .root) }
        return statements
    }

    mutating func statementList(_ value: JSONValue, at path: JSONPath) -> [Statement] {
        guard case .array(let items) = value else {
            let hint = if case .object = value { "wrap the statement in [ ]: Statement is always a list" } else { String?.none }
            report(.badStatementList, "Statement must be a list of statements, found \(value.kindName)", hint: hint, at: path)
            return []
        }
        guard !items.isEmpty else {
            report(.badStatementList, "Statement is empty; a policy needs at least one statement", at: path)
            return []
        }
        guard items.count <= limits.maxStatements else {
            report(
                .tooManyStatements, "\(items.count) statements, more than the limit of \(limits.maxStatements)",
                hint: "raise the limit with --max-statements, or split the policy", at: path)
            return []
        }
        return statements(items[...], at: path)
    }

    /// Builds the statements of a slice of the `Statement` list (indices are the slice's own).
    mutating func statements(_ items: ArraySlice<JSONValue>, at path: JSONPath) -> [Statement] {
        var statements: [Statement] = []
        statements.reserveCapacity(items.count)
        for index in items.indices {
            if let statement = statement(items[index], index: index, at: path.appending(index)) { statements.append(statement) }
        }
        return statements
    }

    mutating func statement(_ value: JSONValue, index: Int, at path: @autoclosure () -> JSONPath) -> Statement? {
        guard case .object(let members) = value else {
            report(.badStatementList, "each statement must be an object, found \(value.kindName)", at: path())
            return nil
        }
        let before = problems.count
        var sid: String?
        var effect: Effect?
        var action: [String]?
        var notAction: [String]?
        var resource: [String]?
        var notResource: [String]?
        var conditions: [Condition] = []
        let known = ["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"]
        for (key, member) in members {
            // Paths are built only when something is reported: most documents have no errors.
            func memberPath() -> JSONPath { path().appending(key) }
            switch key {
            case "Sid":
                if case .string(let text) = member {
                    // An empty Sid is valid in the language (lint: GH2020); decisions then
                    // name the statement by its index.
                    sid = text
                } else {
                    report(.wrongType, "Sid must be a string, found \(member.kindName)", at: memberPath())
                }
            case "Effect":
                if case .string(let text) = member, let parsed = Effect(rawValue: text) {
                    effect = parsed
                } else if case .string(let text) = member {
                    let hint = Effect(rawValue: text.prefix(1).uppercased() + text.dropFirst().lowercased()).map {
                        "write \(JSONWriter.quoted($0.rawValue)): Effect is case-sensitive"
                    }
                    report(.badEffect, "Effect must be \"Allow\" or \"Deny\", found \(JSONWriter.quoted(text))", hint: hint, at: memberPath())
                } else {
                    report(.wrongType, "Effect must be the string \"Allow\" or \"Deny\", found \(member.kindName)", at: memberPath())
                }
            case "Action", "NotAction":
                let list = stringList(member, element: key, at: memberPath())
                for item in list { checkAction(item.text, at: item.index.map { memberPath().appending($0) } ?? memberPath()) }
                if key == "Action" { action = list.map(\.text) } else { notAction = list.map(\.text) }
            case "Resource", "NotResource":
                let list = stringList(member, element: key, at: memberPath())
                for item in list { checkResource(item.text, at: item.index.map { memberPath().appending($0) } ?? memberPath()) }
                if key == "Resource" { resource = list.map(\.text) } else { notResource = list.map(\.text) }
            case "Condition":
                conditions = conditionBlock(member, at: memberPath())
            case "Principal", "NotPrincipal":
                report(
                    .principalNotAllowed,
                    "\(key) belongs to resource and trust policies; an identity policy applies to the principals it is attached to",
                    hint: "remove \(key)", at: memberPath(), atKey: true)
            default:
                report(
                    .unknownElement, "unknown statement element \(JSONWriter.quoted(key)); allowed: \(known.joined(separator: ", "))",
                    hint: suggestion(key, known), at: memberPath(), atKey: true)
            }
        }
        if effect == nil && !members.contains(where: { $0.key == "Effect" }) {
            report(.badEffect, "Effect is missing; each statement is \"Allow\" or \"Deny\"", at: path())
        }
        let actions: ActionClause
        switch (action, notAction) {
        case (let list?, nil): actions = .action(list)
        case (nil, let list?): actions = .notAction(list)
        case (.some, .some):
            report(.actionClause, "a statement has Action or NotAction, not both", at: path().appending("NotAction"), atKey: true)
            actions = .action([])
        case (nil, nil):
            if !members.contains(where: { $0.key == "Action" || $0.key == "NotAction" }) {
                report(
                    .actionClause, "Action is missing; a statement needs Action or NotAction",
                    hint: #"e.g. "Action": ["organizations:accounts:update"]"#, at: path())
            }
            actions = .action([])
        }
        let resources: ResourceClause
        switch (resource, notResource) {
        case (let list?, nil): resources = .resource(list)
        case (nil, let list?): resources = .notResource(list)
        case (.some, .some):
            report(.resourceClause, "a statement has Resource or NotResource, not both", at: path().appending("NotResource"), atKey: true)
            resources = .all
        case (nil, nil): resources = .all
        }
        guard problems.count == before, let effect else { return nil }
        return Statement(sid: sid, effect: effect, actions: actions, resources: resources, conditions: conditions, index: index)
    }

    /// A string or a non-empty list of non-empty strings.
    mutating func stringList(_ value: JSONValue, element: String, at path: @autoclosure () -> JSONPath) -> [(text: String, index: Int?)] {
        // An item's index (nil for a lone string) rather than its path, which is built only if reported.
        switch value {
        case .string(let text):
            if text.isEmpty { report(.emptyString, "\(element) is an empty string", at: path()) }
            return [(text, nil)]
        case .array(let items):
            if items.isEmpty { report(.wrongType, "\(element) is an empty list; name at least one", at: path()) }
            var result: [(String, Int?)] = []
            result.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                if case .string(let text) = item {
                    if text.isEmpty { report(.emptyString, "\(element) has an empty string", at: path().appending(index)) }
                    result.append((text, index))
                } else {
                    report(.wrongType, "\(element) entries must be strings, found \(item.kindName)", at: path().appending(index))
                }
            }
            return result
        default:
            report(.wrongType, "\(element) must be a string or a list of strings, found \(value.kindName)", at: path())
            return []
        }
    }

    mutating func checkAction(_ text: String, at path: @autoclosure () -> JSONPath) {
        guard !text.isEmpty, text != "*" else { return }
        // Byte checks rather than Unicode properties: this runs for every action of every
        // statement, and the characters actions may use are all ASCII.
        var segments = 1
        var segmentLength = 0
        var wellFormed = true
        for byte in text.utf8 {
            if byte == UInt8(ascii: ":") {
                if segmentLength == 0 { wellFormed = false }
                segments += 1
                segmentLength = 0
            } else if isNameByte(byte) || byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?") {
                segmentLength += 1
            } else {
                wellFormed = false
            }
        }
        if !wellFormed || segments < 2 || segmentLength == 0 {
            report(
                .malformedAction,
                "malformed action \(JSONWriter.quoted(text)): actions are service:resource-type:operation, with * and ? as wildcards",
                hint: #"e.g. "organizations:accounts:update" or "organizations:accounts:*""#, at: path())
        }
    }

    mutating func checkResource(_ text: String, at path: @autoclosure () -> JSONPath) {
        guard !text.isEmpty, text != "*" else { return }
        switch PolicyTemplate.parse(text) {
        case .failure(let error):
            report(
                .malformedPolicyVariable, "resource \(JSONWriter.quoted(text)): \(error)", hint: "e.g. ${g:UserName} or ${g:UserName, 'anonymous'}",
                at: path())
            return
        case .success(let template?):
            // Huawei IAM: a variable in a resource only in its fifth part, the path.
            let before = text.range(of: "${").map { text[..<$0.lowerBound] } ?? Substring(text)
            if before.utf8.filter({ $0 == UInt8(ascii: ":") }).count < 4 {
                report(
                    .malformedResource,
                    "resource \(JSONWriter.quoted(text)): a policy variable may stand only in the URN's path, after the fourth colon",
                    hint: "e.g. \"organizations::*:account:${g:UserName}\"", at: path())
                return
            }
            // The URN's shape, with each variable as one placeholder character.
            let shape = template.parts.map {
                switch $0 {
                case .text(let part), .literal(let part): part
                case .variable: "x"
                }
            }.joined()
            checkURN(shape, as: text, at: path())
        case .success(nil):
            checkURN(text, as: text, at: path())
        }
    }

    /// The URN checks of `checkResource` on `text` (a resource, its variables replaced),
    /// reported as `written`.
    mutating func checkURN(_ text: String, as written: String, at path: @autoclosure () -> JSONPath) {
        // service:region:account-id:type:path, counted in one pass over the bytes; the path
        // may hold further colons.
        var lengths = (service: 0, type: 0, path: 0)
        var colons = 0
        var control = false
        var nonASCII = false
        for byte in text.utf8 {
            if byte < 0x20 || byte == 0x7F { control = true }
            if byte >= 0x80 { nonASCII = true }
            if byte == UInt8(ascii: ":") && colons < 4 {
                colons += 1
            } else if colons == 0 {
                lengths.service += 1
            } else if colons == 3 {
                lengths.type += 1
            } else if colons == 4 {
                lengths.path += 1
            }
        }
        let whitespace = text.utf8.contains(0x20) || (nonASCII && text.unicodeScalars.contains { $0.properties.isWhitespace })
        if control || whitespace {
            report(
                .malformedResource, "resource \(JSONWriter.quoted(written)) contains \(control ? "a control character" : "white space")", at: path())
        } else if colons < 4 || lengths.service == 0 || lengths.type == 0 || lengths.path == 0 {
            report(
                .malformedResource, "malformed resource URN \(JSONWriter.quoted(written)): URNs are service:region:account-id:type:path",
                hint: #"e.g. "organizations::*:account:*", or "*" for every resource"#, at: path())
        }
    }

    mutating func conditionBlock(_ value: JSONValue, at path: @autoclosure () -> JSONPath) -> [Condition] {
        guard case .object(let operators) = value else {
            report(
                .badConditionBlock, "Condition must be an object of operator -> {key: values}, found \(value.kindName)",
                hint: #"e.g. "Condition": {"StringEquals": {"g:ResourceTag/env": "dev"}}"#, at: path())
            return []
        }
        var conditions: [Condition] = []
        for (name, block) in operators {
            func operatorPath() -> JSONPath { path().appending(name) }
            let op: ConditionOperator
            let parsed = operatorCache[name] ?? ConditionOperator.parse(name)
            operatorCache[name] = parsed
            switch parsed {
            case .success(let parsed): op = parsed
            case .failure(.unknownQualifier(let qualifier)):
                report(
                    .unknownQualifier,
                    "unknown qualifier \(JSONWriter.quoted(qualifier)) in \(JSONWriter.quoted(name)); qualifiers are ForAnyValue: and ForAllValues:",
                    hint: suggestion(qualifier, SetQualifier.allCases.map(\.rawValue)), at: operatorPath(), atKey: true)
                continue
            case .failure(.unknownOperator(let base)):
                let hint = ConditionOperator.suggestion(for: base).map { "did you mean \(JSONWriter.quoted($0))?" }
                report(
                    .unknownOperator, "unknown condition operator \(JSONWriter.quoted(base))",
                    hint: hint ?? "see docs/POLICY-LANGUAGE.md for the operators", at: operatorPath(), atKey: true)
                continue
            case .failure(.ifExistsOnNull):
                report(.unknownOperator, "Null takes no IfExists suffix: it already tests whether the key exists", at: operatorPath(), atKey: true)
                continue
            case .failure(.qualifierOnNull):
                report(.unknownQualifier, "Null takes no ForAnyValue:/ForAllValues: qualifier", at: operatorPath(), atKey: true)
                continue
            }
            guard case .object(let keys) = block else {
                report(
                    .badConditionBlock, "\(name) must map condition keys to values, found \(block.kindName)",
                    hint: "e.g. \"\(name)\": {\"g:ResourceTag/env\": \"dev\"}", at: operatorPath())
                continue
            }
            var seen: [String: String] = [:]
            for (key, rawValues) in keys {
                func keyPath() -> JSONPath { operatorPath().appending(key) }
                let normalized = ConditionKeyFolding.fold(key)
                guard checkKey(key, normalized: normalized, at: keyPath()) else { continue }
                if let earlier = seen[normalized] {
                    report(
                        .duplicateConditionKey,
                        "\(JSONWriter.quoted(key)) repeats \(JSONWriter.quoted(earlier)) in \(name): condition keys are case-insensitive",
                        hint: "merge their values into one list", at: keyPath(), atKey: true)
                    continue
                }
                seen[normalized] = key
                if let condition = condition(op, name: name, key: key, normalizedKey: normalized, rawValues, at: keyPath()) {
                    conditions.append(condition)
                }
            }
        }
        return conditions
    }

    /// Keys are `service:name`; a tagged global key needs a tag key of 1-128 characters. A
    /// `g:` key on no list loads (Huawei adds keys, and a real policy must not become
    /// unloadable for using one): lint warns about it (GH2018, GH2019).
    mutating func checkKey(_ key: String, normalized lowered: String, at path: @autoclosure () -> JSONPath) -> Bool {
        if lowered.hasPrefix("g:") {
            if GlobalConditionKeys.plain[lowered] != nil { return true }
            if let prefix = GlobalConditionKeys.taggedPrefixes.first(where: { lowered.hasPrefix($0) }) {
                // The prefix is ASCII, so its UTF-8 length locates the tag key.
                let tagKey = Substring(key.utf8.dropFirst(prefix.utf8.count))
                if tagKey.isEmpty || (tagKey.utf8.count > 128 && tagKey.count > 128) {
                    report(.badConditionKey, "\(JSONWriter.quoted(key)) needs a tag key of 1 to 128 characters after the /", at: path(), atKey: true)
                    return false
                }
                return true
            }
        }
        let parts = key.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let wellFormed =
            parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && parts[0].unicodeScalars.allSatisfy { isNameScalar($0) }
            && !key.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 }
        if !wellFormed {
            report(
                .badConditionKey, "malformed condition key \(JSONWriter.quoted(key)): keys are service:name, e.g. g:ResourceTag/env", at: path(),
                atKey: true)
        }
        return wellFormed
    }

    mutating func condition(
        _ op: ConditionOperator, name: String, key: String, normalizedKey: String, _ raw: JSONValue, at path: @autoclosure () -> JSONPath
    ) -> Condition? {
        var items: [(JSONValue, Int?)] = []
        switch raw {
        case .array(let list):
            if list.isEmpty {
                report(.badConditionValue, "\(key) under \(name) has an empty list of values; give at least one", at: path())
                return nil
            }
            items = list.enumerated().map { ($1, $0) }
        default:
            items = [(raw, nil)]
        }
        let before = problems.count
        var texts: [String] = []
        func itemPath(_ index: Int?) -> JSONPath { index.map { path().appending($0) } ?? path() }
        for (item, index) in items {
            switch item {
            case .string(let text): texts.append(text)
            case .integer(let integer): texts.append(String(integer))
            case .real(let real): texts.append(String(real))
            case .bool(let bool): texts.append(bool ? "true" : "false")
            default:
                report(.wrongType, "condition values must be strings, numbers or booleans, found \(item.kindName)", at: itemPath(index))
            }
        }
        guard problems.count == before else { return nil }
        func typed<T>(_ what: String, example: String, _ parse: (String, JSONValue) -> T?) -> [T]? {
            var values: [T] = []
            for (offset, text) in texts.enumerated() {
                if let value = parse(text, items[offset].0) {
                    values.append(value)
                } else {
                    report(
                        .badConditionValue, "\(name) needs \(what), found \(JSONWriter.quoted(text))", hint: "e.g. \(example)",
                        at: itemPath(items[offset].1))
                }
            }
            return problems.count == before ? values : nil
        }
        // Policy variables, in the string operators' values (Huawei IAM: "Policy Variables").
        var templates: [PolicyTemplate?]?
        if case .string = op.test, texts.contains(where: { $0.contains("${") }) {
            var parsed: [PolicyTemplate?] = []
            for (offset, text) in texts.enumerated() {
                switch PolicyTemplate.parse(text) {
                case .success(let template): parsed.append(template)
                case .failure(let error):
                    report(
                        .malformedPolicyVariable, "\(JSONWriter.quoted(text)): \(error)", hint: "e.g. ${g:UserName} or ${g:UserName, 'anonymous'}",
                        at: itemPath(items[offset].1))
                }
            }
            guard problems.count == before else { return nil }
            templates = parsed
        }
        let values: ConditionValues?
        switch op.test {
        case .string(.equalsIgnoreCase): values = .foldedStrings(texts.map { $0.lowercased() })
        case .string(.like): values = .patterns(texts.map { Wildcard($0) })
        case .string: values = .strings(texts)
        case .number:
            values = typed("a number", example: "10 or \"2.5\"") { text, json in
                if case .bool = json { return nil }
                return NumberValue(text: text)
            }.map(ConditionValues.numbers)
        case .date:
            values = typed("an ISO-8601 date or epoch seconds", example: "\"2026-01-31T00:00:00Z\" or 1769817600") { text, json in
                if case .bool = json { return nil }
                return Timestamp(text: text)
            }.map(ConditionValues.dates)
        case .bool, .null:
            values = typed("true or false", example: "true or \"false\"") { text, _ in
                switch text.lowercased() {
                case "true": true
                case "false": false
                default: nil
                }
            }.map(ConditionValues.bools)
        case .ipAddress:
            values = typed("an IPv4 or IPv6 address or CIDR block", example: "\"203.0.113.0/24\" or \"2001:db8::/32\"") { text, json in
                guard case .string = json else { return nil }
                return CIDR(text)
            }.map(ConditionValues.networks)
        }
        guard let values else { return nil }
        return Condition(op: op, key: key, normalizedKey: normalizedKey, values: values, rawValues: texts, templates: templates)
    }

    func suggestion(_ word: String, _ candidates: [String]) -> String? {
        closest(to: word, among: candidates).map { "did you mean \(JSONWriter.quoted($0))?" }
    }
}

func isNameByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
        UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
        return true
    default: return false
    }
}

func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar {
    case "a"..."z", "A"..."Z", "0"..."9", "-", "_", ".": return true
    default: return false
    }
}
