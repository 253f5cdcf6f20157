/// The result of linting some files: every finding, errors and warnings alike.
public struct LintReport: Sendable {
    public var files: [String]
    public var findings: [Diagnostic]

    public var errorCount: Int { findings.filter { $0.severity == .error }.count }
    public var warningCount: Int { findings.count - errorCount }
}

/// Checks policy documents beyond validity: too-permissive grants, actions and keys the
/// service does not have, duplicate and shadowed statements. Invalid documents report
/// their errors; valid ones their warnings and suggestions.
public struct Linter: Sendable {
    public var limits: PolicyLimits
    public var catalogs: [String: ServiceCatalog]
    /// Huawei IAM's size quota for a custom policy, characters without white space.
    public var quotaCharacters = 6_144

    public init(limits: PolicyLimits = PolicyLimits(), catalogs: [String: ServiceCatalog] = ServiceCatalog.known) {
        self.limits = limits
        self.catalogs = catalogs
    }

    /// Lints files and directories (as `PolicyFiles.expand` finds them).
    public func lint(paths: [String]) -> LintReport {
        let files: [String]
        do {
            files = try PolicyFiles.expand(paths)
        } catch {
            return LintReport(files: paths, findings: error.diagnostics)
        }
        var findings: [Diagnostic] = []
        var names: [String: String] = [:]
        for file in files {
            let name = PolicyFiles.policyName(of: file)
            if let other = names[name] {
                findings.append(PolicyFiles.duplicateName(name, file: file, other: other))
            }
            names[name] = file
            do {
                let bytes = try PolicyFiles.read(file, maxBytes: limits.json.maxBytes)
                findings.append(contentsOf: lint(bytes: bytes, name: name, file: file))
            } catch {
                findings.append(error)
            }
        }
        return LintReport(files: files, findings: findings)
    }

    /// Lints one document's text.
    public func lint(bytes: [UInt8], name: String, file: String) -> [Diagnostic] {
        let parsed: (document: PolicyDocument, json: JSONValue)
        do {
            parsed = try PolicyParser.parseKeepingJSON(bytes: bytes, name: name, file: file, limits: limits)
        } catch {
            return error.diagnostics
        }
        var checks = DocumentChecks(linter: self, document: parsed.document, json: parsed.json)
        checks.run()
        let locator = SourceLocator(bytes: bytes)
        return checks.problems.map { $0.diagnostic(file: file, locator: locator) }
    }
}

/// The checks of one valid document.
struct DocumentChecks {
    let linter: Linter
    let document: PolicyDocument
    let json: JSONValue
    var problems: [Problem] = []
    /// "Did you mean" hints left for this document: each costs an edit distance against the
    /// whole catalog, and past the first hundred unknown names (a generated file) a person
    /// reading the findings gains nothing from more.
    var hintsLeft = 100

    mutating func report(_ code: DiagnosticCode, _ message: String, hint: String? = nil, at path: JSONPath, atKey: Bool = false) {
        problems.append(Problem(code: code, message: message, hint: hint, path: path, atKey: atKey))
    }

    mutating func run() {
        if document.significantCharacters > linter.quotaCharacters {
            report(
                .overQuota,
                "the policy has \(document.significantCharacters) characters without white space; Huawei IAM accepts at most \(linter.quotaCharacters) in a custom policy",
                hint: "split it into several policies if it must also load into Huawei IAM", at: .root)
        }
        var sids: [String: Int] = [:]
        for statement in document.statements {
            if statement.sid == "" {
                report(
                    .emptySid, "Sid is empty; decisions and audit logs name this statement Statement[\(statement.index)]",
                    hint: "give the statement a name, or leave Sid out", at: statement.path.appending("Sid"))
            }
            if let sid = statement.namingSid {
                if let first = sids[sid] {
                    report(
                        .duplicateSid,
                        "Sid \(JSONWriter.quoted(sid)) is also used by Statement[\(first)]; decisions and audit logs name statements by Sid",
                        at: statement.path.appending("Sid"))
                } else {
                    sids[sid] = statement.index
                }
                if !sid.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }) {
                    report(
                        .unusualSid,
                        "Sid \(JSONWriter.quoted(sid)) has characters other than ASCII letters and digits, which Huawei and AWS IAM refuse",
                        at: statement.path.appending("Sid"))
                }
            }
            checkPermissiveness(statement)
            checkActions(statement)
            checkConditions(statement)
            checkDuplicates(statement)
            checkEmptyConditions(statement)
        }
        checkShadowing()
    }

    // MARK: too permissive

    mutating func checkPermissiveness(_ statement: Statement) {
        guard statement.effect == .allow else { return }
        if case .action(let actions) = statement.actions, actions.contains(where: { Self.isEverything($0) }),
            ShadowFinder.coversAllResources(statement.resources), statement.conditions.isEmpty
        {
            report(
                .allowAllOnAll, "allows every action on every resource", hint: "name the actions and resources this principal needs",
                at: statement.path)
        }
        if case .notAction = statement.actions {
            report(
                .permissiveNegation, "Allow with NotAction allows every action not listed, including actions added to services later",
                hint: "list the allowed actions in Action instead", at: statement.path.appending("NotAction"), atKey: true)
        }
        if case .notResource = statement.resources {
            report(
                .permissiveNegation, "Allow with NotResource allows every resource not listed, including resources created later",
                hint: "list the allowed resources in Resource instead", at: statement.path.appending("NotResource"), atKey: true)
        }
    }

    /// Whether an action pattern matches every action (`service:type:operation`): `*`,
    /// `*:*:*`, and as well `*:?*` or `?*:*`, since `?` is a wildcard too.
    static func isEverything(_ pattern: String) -> Bool { Wildcard(pattern, caseInsensitive: true).covers(everyAction) }

    private static let everyAction = Wildcard("?*:?*:?*")

    // MARK: actions against the catalog

    /// The catalog actions this statement's `Action` can reach, when every pattern names a
    /// service Gatehouse has a catalog of; nil otherwise (nothing can be said).
    func knownActions(_ statement: Statement) -> [ServiceAction]? {
        guard case .action(let patterns) = statement.actions else { return nil }
        var result: [ServiceAction] = []
        for pattern in patterns {
            guard let catalog = linter.catalogs.values.first(where: { $0.covers(pattern) }) else { return nil }
            result.append(contentsOf: catalog.actions(matching: pattern))
        }
        return result
    }

    mutating func checkActions(_ statement: Statement) {
        let patterns = statement.actions.patterns
        let element = if case .action = statement.actions { "Action" } else { "NotAction" }
        for (offset, pattern) in patterns.enumerated() {
            guard let catalog = linter.catalogs.values.first(where: { $0.covers(pattern) }) else { continue }
            if catalog.actions(matching: pattern).isEmpty {
                var hint: String?
                if hintsLeft > 0 {
                    hintsLeft -= 1
                    hint = closest(to: pattern, among: catalog.actions.map(\.name)).map { "did you mean \(JSONWriter.quoted($0))?" }
                }
                report(
                    .unknownAction, "\(JSONWriter.quoted(pattern)) matches no action of the \(catalog.service) service", hint: hint,
                    at: elementPath(statement, element, offset))
            }
        }
        guard let actions = knownActions(statement), !actions.isEmpty, case .resource(let resources) = statement.resources,
            !ShadowFinder.coversAllResources(statement.resources)
        else { return }
        if actions.allSatisfy({ $0.resourceTypes.isEmpty }) {
            report(
                .resourceForUntypedAction,
                "\(actions.map(\.name).joined(separator: ", ")) \(actions.count == 1 ? "has" : "have") no resource type, so its requests are for resource \"*\", which this Resource does not cover",
                hint: #"use "Resource": "*" for these actions"#, at: statement.path.appending("Resource"))
            return
        }
        // A URN's type (its fourth part) that no action of the statement acts on: the
        // pattern can match none of their requests.
        let types = Set(actions.flatMap(\.resourceTypes))
        for (offset, resource) in resources.enumerated() {
            let parts = resource.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false)
            guard parts.count == 5, !Wildcard.hasWildcard(String(parts[3])), !parts[3].contains("${"), !types.contains(String(parts[3])) else {
                continue
            }
            report(
                .resourceOfWrongType,
                "\(JSONWriter.quoted(resource)) is a resource of type \(parts[3]), which none of \(Self.summarize(actions.map(\.name))) acts on",
                hint: "their resource types: \(types.sorted().joined(separator: ", "))", at: elementPath(statement, "Resource", offset))
        }
    }

    /// The statement's JSON as written, for checks about its shape (lists, empty blocks).
    func statementJSON(_ statement: Statement) -> JSONValue? {
        guard case .array(let items) = json["Statement"], statement.index < items.count else { return nil }
        return items[statement.index]
    }

    /// The path of the `offset`th value of an element, or of the element when it is a lone string.
    func elementPath(_ statement: Statement, _ element: String, _ offset: Int) -> JSONPath {
        let path = statement.path.appending(element)
        if case .array = statementJSON(statement)?[element] { return path.appending(offset) }
        return path
    }

    // MARK: conditions

    mutating func checkConditions(_ statement: Statement) {
        let actions = knownActions(statement)
        for condition in statement.conditions {
            let path = statement.path.appending("Condition").appending(condition.op.description).appending(condition.key)
            let key = condition.normalizedKey
            if let actions, !actions.isEmpty, !actions.contains(where: { $0.canCarry(key) }) {
                report(
                    .keyNeverPresent, "\(condition.key) is never present in requests for \(Self.summarize(actions.map(\.name)))",
                    hint: key.hasPrefix("g:resourcetag/")
                        ? (actions.allSatisfy(\.resourceTypes.isEmpty)
                            ? "these actions have no resource type, so they carry no resource tags"
                            : "their resources (\(Set(actions.flatMap(\.resourceTypes)).sorted().joined(separator: ", "))) have no tags") : nil,
                    at: path, atKey: true)
            }
            if statement.effect == .allow, condition.op.qualifier == .forAllValues {
                report(
                    .forAllValuesWithAllow,
                    "ForAllValues holds when \(condition.key) is absent or empty, so this Allow applies to requests without the key",
                    hint: "add {\"Null\": {\"\(condition.key)\": \"false\"}} or use ForAnyValue", at: path, atKey: true)
            }
            let multiValued = GlobalConditionKeys.multiValued.contains(key)
            if multiValued, condition.op.qualifier == nil, condition.op.test != .null {
                report(
                    .qualifierMismatch, "\(condition.key) can carry several values; say how they combine with ForAnyValue: or ForAllValues:",
                    at: path, atKey: true)
            } else if !multiValued, condition.op.qualifier != nil, key.hasPrefix("g:"), !key.hasPrefix("g:resourcetag/"),
                !key.hasPrefix("g:requesttag/"), !key.hasPrefix("g:principaltag/")
            {
                report(
                    .qualifierMismatch,
                    "\(condition.key) carries one value; the \(condition.op.qualifier!.rawValue): qualifier changes how absence is treated and nothing else",
                    hint: "drop the qualifier", at: path, atKey: true)
            }
            if key.hasPrefix("g:") && !GlobalConditionKeys.isKnown(key) {
                let hint = closest(to: condition.key, among: Self.globalKeyNames).map { "did you mean \(JSONWriter.quoted($0))?" }
                if statement.effect == .deny {
                    report(
                        .undocumentedKeyInDeny,
                        "\(condition.key) is on no documented list of global keys: a request that does not carry it leaves this Deny's condition unmet, so the Deny does not apply",
                        hint: hint, at: path, atKey: true)
                } else {
                    report(.undocumentedGlobalKey, "\(condition.key) is on no documented list of global keys", hint: hint, at: path, atKey: true)
                }
            }
            if let kind = GlobalConditionKeys.valueKind(of: key), condition.op.test != .null, !Self.sameFamily(kind, condition.op.test) {
                report(
                    .typeMismatch,
                    "\(condition.op.baseName) compares \(Self.familyName(condition.op.test)), but \(condition.key) holds \(Self.familyName(kind))",
                    hint: "use an operator for \(Self.familyName(kind))", at: path, atKey: true)
            }
            if statement.effect == .allow, case .string(.like) = condition.op.test,
                ["g:principalurn", "g:principalid", "g:principalaccount", "g:username"].contains(key),
                condition.rawValues.contains(where: Wildcard.hasWildcard)
            {
                report(
                    .wildcardOnSensitiveKey, "a wildcard on \(condition.key) in an Allow can admit principals nobody meant to name",
                    hint: "list the principals with StringEquals", at: path, atKey: true)
            }
            for (offset, template) in (condition.templates ?? []).enumerated() {
                guard let template else { continue }
                checkVariableKeys(template, at: condition.rawValues.count > 1 ? path.appending(offset) : path)
            }
        }
        let resources: [String]
        switch statement.resources {
        case .all: resources = []
        case .resource(let list), .notResource(let list): resources = list
        }
        for value in resources {
            guard let template = (try? PolicyTemplate.parse(value).get()).flatMap({ $0 }) else { continue }
            checkVariableKeys(template, at: statement.path)
        }
    }

    /// A policy variable whose key no request carries, or whose key is multi-valued, can
    /// never be substituted: without a default, its value matches nothing.
    mutating func checkVariableKeys(_ template: PolicyTemplate, at path: JSONPath) {
        for case .variable(let key, let normalizedKey, let defaultValue) in template.parts {
            if GlobalConditionKeys.multiValued.contains(normalizedKey) {
                report(
                    .multiValuedVariableKey,
                    defaultValue == nil
                        ? "${\(key)} names a multi-valued key, which is never substituted: the value holding it matches nothing"
                        : "${\(key)} names a multi-valued key, which is never substituted: the variable is always its default \(JSONWriter.quoted(defaultValue!))",
                    hint: "test the key with a ForAnyValue: or ForAllValues: condition instead", at: path)
                continue
            }
            let known = normalizedKey.hasPrefix("g:") ? GlobalConditionKeys.isKnown(normalizedKey) : normalizedKey.contains(":")
            guard !known else { continue }
            let hint = closest(to: key, among: Self.globalKeyNames).map { "did you mean ${\($0)}?" }
            report(
                .unknownVariableKey,
                defaultValue == nil
                    ? "${\(key)} names a key no documented list has: no request carries it, so the value holding it matches nothing"
                    : "${\(key)} names a key no documented list has: the variable is always its default \(JSONWriter.quoted(defaultValue!))",
                hint: hint, at: path)
        }
    }

    /// Every documented global key as written, tagged ones as `g:ResourceTag/<tag-key>`: what
    /// a misspelt key is compared with for a suggestion.
    static let globalKeyNames = Array(GlobalConditionKeys.plain.values) + GlobalConditionKeys.taggedSpellings.map { $0 + "<tag-key>" }

    static func sameFamily(_ a: ConditionTest, _ b: ConditionTest) -> Bool {
        switch (a, b) {
        case (.string, .string), (.number, .number), (.date, .date), (.bool, .bool), (.ipAddress, .ipAddress), (.null, .null): true
        default: false
        }
    }

    static func familyName(_ test: ConditionTest) -> String {
        switch test {
        case .string: "strings"
        case .number: "numbers"
        case .date: "dates"
        case .bool: "booleans"
        case .ipAddress: "IP addresses"
        case .null: "presence"
        }
    }

    static func summarize(_ names: [String]) -> String {
        names.count <= 3 ? names.joined(separator: ", ") : names.prefix(3).joined(separator: ", ") + " and \(names.count - 3) more"
    }

    // MARK: duplicates and empty blocks

    mutating func checkDuplicates(_ statement: Statement) {
        func duplicates(_ values: [String], caseInsensitive: Bool) -> [String] {
            var seen = Set<String>()
            return values.filter { !seen.insert(caseInsensitive ? $0.lowercased() : $0).inserted }
        }
        for duplicate in duplicates(statement.actions.patterns, caseInsensitive: true) {
            report(
                .duplicateValue, "action \(JSONWriter.quoted(duplicate)) is listed more than once (actions are case-insensitive)", at: statement.path)
        }
        switch statement.resources {
        case .resource(let list), .notResource(let list):
            for duplicate in duplicates(list, caseInsensitive: false) {
                report(.duplicateValue, "resource \(JSONWriter.quoted(duplicate)) is listed more than once", at: statement.path)
            }
        case .all: break
        }
        for condition in statement.conditions {
            for duplicate in duplicates(condition.rawValues, caseInsensitive: false) {
                report(
                    .duplicateValue, "value \(JSONWriter.quoted(duplicate)) is listed more than once for \(condition.key)",
                    at: statement.path.appending("Condition").appending(condition.op.description).appending(condition.key))
            }
        }
    }

    mutating func checkEmptyConditions(_ statement: Statement) {
        guard case .object(let operators) = statementJSON(statement)?["Condition"] else { return }
        let path = statement.path.appending("Condition")
        if operators.isEmpty {
            report(.emptyCondition, "Condition is empty, so it always holds", hint: "remove it", at: path)
        }
        for (name, keys) in operators {
            if case .object(let members) = keys, members.isEmpty {
                report(.emptyCondition, "\(name) tests no keys, so it always holds", hint: "remove it or name a key", at: path.appending(name))
            }
        }
    }

    // MARK: shadowing

    /// A statement is shadowed when an earlier-or-later statement of the same effect, with
    /// no conditions (or the very same ones), provably covers all its actions and resources:
    /// removing it would change no decision. (`ShadowFinder` finds them without comparing
    /// every pair.)
    mutating func checkShadowing() {
        let statements = document.statements
        let (shadowedBy, checked, _) = ShadowFinder(statements).find()
        for (i, other) in shadowedBy.enumerated() {
            guard let other else { continue }
            let statement = statements[i]
            let verb = statement.effect == .allow ? "allows" : "denies"
            report(
                .shadowedStatement,
                "\(statement.displayName) is shadowed by \(statements[other].displayName): every request it \(verb), that statement \(verb) too",
                hint: "remove it, or narrow the other statement", at: statement.path)
        }
        if checked < statements.count {
            report(
                .shadowingIncomplete,
                "shadowed statements were looked for among the first \(checked) of \(statements.count) statements only: too many of their wildcard patterns overlap to compare them all quickly",
                hint: "split the policy, or name actions and resources without wildcards where you can", at: .root)
        }
    }
}
