/// How serious a finding is, in the four levels of the Huawei and AWS access analyzers.
public enum Severity: String, Sendable, Comparable, CaseIterable {
    /// Part of the policy cannot work; the document is rejected.
    case error
    /// The policy works but allows more than it probably should.
    case securityWarning = "security_warning"
    /// Likely a mistake: a key that never occurs, a duplicate or shadowed statement.
    case warning
    /// Style: duplicate values, statements that could merge.
    case suggestion

    private var rank: Int {
        switch self {
        case .error: 0
        case .securityWarning: 1
        case .warning: 2
        case .suggestion: 3
        }
    }

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// Where a diagnostic points: the file, the line and column when known, and the JSON path.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var path: JSONPath?

    public init(file: String, line: Int? = nil, column: Int? = nil, path: JSONPath? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
    }

    /// `file:line:column`, the form editors and CI systems jump to.
    public var description: String {
        var text = file
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        return text
    }
}

/// One problem found in a policy document (or a request): a stable code, a message a
/// person understands, an optional hint, and where it is.
public struct Diagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: DiagnosticCode
    public var severity: Severity
    public var message: String
    public var hint: String?
    public var location: SourceLocation

    public init(_ code: DiagnosticCode, _ message: String, hint: String? = nil, at location: SourceLocation, severity: Severity? = nil) {
        self.code = code
        self.severity = severity ?? code.severity
        self.message = message
        self.hint = hint
        self.location = location
    }

    /// `file:line:col: error GH1021: message (at /Statement/0/Effect); hint`
    public var description: String {
        var text = "\(location): \(severity.rawValue) \(code.rawValue): \(message)"
        if let path = location.path, !path.components.isEmpty { text += " (at \(path))" }
        if let hint { text += "\n  hint: \(hint)" }
        return text
    }
}

/// A document (or request) that could not be accepted, with every error found in it.
public struct PolicyLoadError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }

    /// The first `limit` diagnostics, each cut to `maxCharacters`, and how many more there
    /// were: for a log line or a status page, which a hostile file could otherwise fill with
    /// megabytes of findings.
    public func summary(limit: Int = 20, maxCharacters: Int = 400) -> String {
        var lines = diagnostics.prefix(limit).map { diagnostic in
            let text = diagnostic.description
            return text.count > maxCharacters ? String(text.prefix(maxCharacters)) + "..." : text
        }
        if diagnostics.count > limit { lines.append("... and \(diagnostics.count - limit) more") }
        return lines.joined(separator: "\n")
    }
}

/// A stable diagnostic code (`GH1001`), with the severity of its findings and a short title
/// (the SARIF rule description). The engine's codes are below: `GH1xxx` errors that reject
/// a document, `GH2xxx` lint findings, `GH3xxx` requests and policy tests. Modules that read
/// files of their own add codes in extensions, as `static let`s (`GH4xxx`: the directory
/// seed in GatehouseDirectory, the route catalog and the gateway configuration in
/// GatehouseGateway), so the engine knows nothing of them.
public struct DiagnosticCode: Sendable, Hashable, CustomStringConvertible {
    /// `GH1001`.
    public let rawValue: String
    public let severity: Severity
    public let title: String

    public init(_ rawValue: String, severity: Severity = .error, title: String) {
        self.rawValue = rawValue
        self.severity = severity
        self.title = title
    }

    public static func == (lhs: DiagnosticCode, rhs: DiagnosticCode) -> Bool { lhs.rawValue == rhs.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
    public var description: String { rawValue }

    public static let syntax = DiagnosticCode("GH1001", title: "JSON syntax error")
    public static let documentTooLarge = DiagnosticCode("GH1002", title: "Document larger than the configured limit")
    public static let nestingTooDeep = DiagnosticCode("GH1003", title: "Nesting deeper than the configured limit")
    public static let tooManyStatements = DiagnosticCode("GH1004", title: "More statements than the configured limit")
    public static let unreadableFile = DiagnosticCode("GH1005", title: "File cannot be read")
    public static let notAnObject = DiagnosticCode("GH1010", title: "Policy document is not a JSON object")
    public static let badVersion = DiagnosticCode("GH1011", title: "Missing or unsupported Version")
    public static let unknownElement = DiagnosticCode("GH1012", title: "Unknown element")
    public static let principalNotAllowed = DiagnosticCode("GH1013", title: "Principal in an identity policy")
    public static let badStatementList = DiagnosticCode("GH1020", title: "Missing, empty or malformed Statement")
    public static let badEffect = DiagnosticCode("GH1021", title: "Effect is not Allow or Deny")
    public static let actionClause = DiagnosticCode("GH1022", title: "Action and NotAction: exactly one is required")
    public static let resourceClause = DiagnosticCode("GH1023", title: "Resource and NotResource together")
    public static let wrongType = DiagnosticCode("GH1024", title: "Value of the wrong type")
    public static let emptyString = DiagnosticCode("GH1025", title: "Empty string where a name is needed")
    public static let malformedAction = DiagnosticCode("GH1026", title: "Malformed action")
    public static let malformedResource = DiagnosticCode("GH1027", title: "Malformed resource URN")
    public static let badConditionBlock = DiagnosticCode("GH1030", title: "Malformed Condition block")
    public static let unknownOperator = DiagnosticCode("GH1031", title: "Unknown condition operator")
    public static let unknownQualifier = DiagnosticCode("GH1032", title: "Unknown condition qualifier")
    public static let badConditionValue = DiagnosticCode("GH1033", title: "Value the operator cannot take")
    public static let badConditionKey = DiagnosticCode("GH1034", title: "Malformed or unknown condition key")
    public static let duplicateConditionKey = DiagnosticCode("GH1035", title: "Condition key repeated in one operator block")
    public static let duplicateName = DiagnosticCode("GH1036", title: "Two policies with the same name")
    public static let malformedPolicyVariable = DiagnosticCode("GH1037", title: "Malformed policy variable")
    public static let allowAllOnAll = DiagnosticCode("GH2001", severity: .securityWarning, title: "Allow of every action on every resource")
    public static let permissiveNegation = DiagnosticCode("GH2002", severity: .securityWarning, title: "Allow with NotAction or NotResource")
    public static let forAllValuesWithAllow = DiagnosticCode(
        "GH2003", severity: .securityWarning, title: "ForAllValues with Allow holds when the key is absent")
    public static let unknownAction = DiagnosticCode("GH2004", severity: .error, title: "Action unknown to the service")
    public static let keyNeverPresent = DiagnosticCode("GH2005", severity: .warning, title: "Condition key never present for these actions")
    public static let duplicateSid = DiagnosticCode("GH2006", severity: .warning, title: "Duplicate Sid")
    public static let shadowedStatement = DiagnosticCode("GH2007", severity: .warning, title: "Statement shadowed by another")
    public static let emptyCondition = DiagnosticCode("GH2008", severity: .warning, title: "Empty condition")
    public static let overQuota = DiagnosticCode("GH2009", severity: .warning, title: "Beyond Huawei IAM's policy size quota")
    public static let qualifierMismatch = DiagnosticCode("GH2010", severity: .warning, title: "Set qualifier and key arity do not fit")
    public static let wildcardOnSensitiveKey = DiagnosticCode("GH2011", severity: .securityWarning, title: "Wildcard on a sensitive key")
    public static let duplicateValue = DiagnosticCode("GH2012", severity: .suggestion, title: "Duplicate value")
    public static let resourceOfWrongType = DiagnosticCode(
        "GH2022", severity: .warning, title: "Resource of a type none of the statement's actions acts on")
    public static let unknownVariableKey = DiagnosticCode(
        "GH2021", severity: .warning, title: "Policy variable naming a key no request carries")
    public static let multiValuedVariableKey = DiagnosticCode(
        "GH2023", severity: .warning, title: "Policy variable naming a multi-valued key, which is never substituted")
    public static let resourceForUntypedAction = DiagnosticCode(
        "GH2014", severity: .warning, title: "Specific resource for an action without a resource type")
    public static let unusualSid = DiagnosticCode("GH2015", severity: .suggestion, title: "Sid with characters other than letters and digits")
    public static let typeMismatch = DiagnosticCode("GH2016", severity: .warning, title: "Operator of another type than the key's values")
    public static let shadowingIncomplete = DiagnosticCode(
        "GH2017", severity: .suggestion, title: "Shadowed statements not looked for in the whole document")
    public static let emptySid = DiagnosticCode("GH2020", severity: .suggestion, title: "Empty Sid")
    public static let undocumentedGlobalKey = DiagnosticCode("GH2018", severity: .warning, title: "Global condition key on no documented list")
    public static let undocumentedKeyInDeny = DiagnosticCode(
        "GH2019", severity: .securityWarning, title: "Deny on an undocumented global key, which no request may carry")
    public static let badRequest = DiagnosticCode("GH3001", title: "Invalid request")
    public static let badTestFile = DiagnosticCode("GH3002", title: "Invalid policy test file")
    public static let badBinding = DiagnosticCode("GH3003", title: "Request that cannot be decided as the given caller")

    /// Every code the engine defines.
    public static let engineCodes: [DiagnosticCode] = [
        .syntax,
        .documentTooLarge,
        .nestingTooDeep,
        .tooManyStatements,
        .unreadableFile,
        .notAnObject,
        .badVersion,
        .unknownElement,
        .principalNotAllowed,
        .badStatementList,
        .badEffect,
        .actionClause,
        .resourceClause,
        .wrongType,
        .emptyString,
        .malformedAction,
        .malformedResource,
        .badConditionBlock,
        .unknownOperator,
        .unknownQualifier,
        .badConditionValue,
        .badConditionKey,
        .duplicateConditionKey,
        .duplicateName,
        .malformedPolicyVariable,
        .allowAllOnAll,
        .permissiveNegation,
        .forAllValuesWithAllow,
        .unknownAction,
        .keyNeverPresent,
        .duplicateSid,
        .shadowedStatement,
        .emptyCondition,
        .overQuota,
        .qualifierMismatch,
        .wildcardOnSensitiveKey,
        .duplicateValue,
        .resourceForUntypedAction,
        .unusualSid,
        .typeMismatch,
        .shadowingIncomplete,
        .undocumentedGlobalKey,
        .undocumentedKeyInDeny,
        .emptySid,
        .unknownVariableKey,
        .multiValuedVariableKey,
        .resourceOfWrongType,
        .badRequest,
        .badTestFile,
        .badBinding,
    ]
}
