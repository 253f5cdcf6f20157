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

/// Stable diagnostic codes. `GH1xxx` are errors that reject a document; `GH2xxx` are lint
/// findings; `GH3xxx` concern requests.
public enum DiagnosticCode: String, Sendable, CaseIterable {
    case syntax = "GH1001"
    case documentTooLarge = "GH1002"
    case nestingTooDeep = "GH1003"
    case tooManyStatements = "GH1004"
    case unreadableFile = "GH1005"
    case notAnObject = "GH1010"
    case badVersion = "GH1011"
    case unknownElement = "GH1012"
    case principalNotAllowed = "GH1013"
    case badStatementList = "GH1020"
    case badEffect = "GH1021"
    case actionClause = "GH1022"
    case resourceClause = "GH1023"
    case wrongType = "GH1024"
    case emptyString = "GH1025"
    case malformedAction = "GH1026"
    case malformedResource = "GH1027"
    case badConditionBlock = "GH1030"
    case unknownOperator = "GH1031"
    case unknownQualifier = "GH1032"
    case badConditionValue = "GH1033"
    case badConditionKey = "GH1034"
    case duplicateConditionKey = "GH1035"
    case duplicateName = "GH1036"

    case allowAllOnAll = "GH2001"
    case permissiveNegation = "GH2002"
    case forAllValuesWithAllow = "GH2003"
    case unknownAction = "GH2004"
    case keyNeverPresent = "GH2005"
    case duplicateSid = "GH2006"
    case shadowedStatement = "GH2007"
    case emptyCondition = "GH2008"
    case overQuota = "GH2009"
    case qualifierMismatch = "GH2010"
    case wildcardOnSensitiveKey = "GH2011"
    case duplicateValue = "GH2012"
    case policyVariable = "GH2013"
    case resourceForUntypedAction = "GH2014"
    case unusualSid = "GH2015"
    case typeMismatch = "GH2016"
    case shadowingIncomplete = "GH2017"

    case badRequest = "GH3001"
    case badTestFile = "GH3002"
    case badDirectory = "GH4001"
    case badRouteCatalog = "GH4002"
    case badConfig = "GH4003"

    public var severity: Severity {
        switch self {
        case .allowAllOnAll, .permissiveNegation, .forAllValuesWithAllow, .wildcardOnSensitiveKey:
            return .securityWarning
        case .unknownAction, .keyNeverPresent, .duplicateSid, .shadowedStatement, .emptyCondition, .overQuota,
            .qualifierMismatch, .policyVariable, .resourceForUntypedAction, .typeMismatch:
            return .warning
        case .duplicateValue, .unusualSid, .shadowingIncomplete:
            return .suggestion
        default:
            return .error
        }
    }

    /// A short title, used as the SARIF rule description.
    public var title: String {
        switch self {
        case .syntax: "JSON syntax error"
        case .documentTooLarge: "Document larger than the configured limit"
        case .nestingTooDeep: "Nesting deeper than the configured limit"
        case .tooManyStatements: "More statements than the configured limit"
        case .unreadableFile: "File cannot be read"
        case .notAnObject: "Policy document is not a JSON object"
        case .badVersion: "Missing or unsupported Version"
        case .unknownElement: "Unknown element"
        case .principalNotAllowed: "Principal in an identity policy"
        case .badStatementList: "Missing, empty or malformed Statement"
        case .badEffect: "Effect is not Allow or Deny"
        case .actionClause: "Action and NotAction: exactly one is required"
        case .resourceClause: "Resource and NotResource together"
        case .wrongType: "Value of the wrong type"
        case .emptyString: "Empty string where a name is needed"
        case .malformedAction: "Malformed action"
        case .malformedResource: "Malformed resource URN"
        case .badConditionBlock: "Malformed Condition block"
        case .unknownOperator: "Unknown condition operator"
        case .unknownQualifier: "Unknown condition qualifier"
        case .badConditionValue: "Value the operator cannot take"
        case .badConditionKey: "Malformed or unknown condition key"
        case .duplicateConditionKey: "Condition key repeated in one operator block"
        case .duplicateName: "Two policies with the same name"
        case .allowAllOnAll: "Allow of every action on every resource"
        case .permissiveNegation: "Allow with NotAction or NotResource"
        case .forAllValuesWithAllow: "ForAllValues with Allow holds when the key is absent"
        case .unknownAction: "Action unknown to the service"
        case .keyNeverPresent: "Condition key never present for these actions"
        case .duplicateSid: "Duplicate Sid"
        case .shadowedStatement: "Statement shadowed by another"
        case .emptyCondition: "Empty condition"
        case .overQuota: "Beyond Huawei IAM's policy size quota"
        case .qualifierMismatch: "Set qualifier and key arity do not fit"
        case .wildcardOnSensitiveKey: "Wildcard on a sensitive key"
        case .duplicateValue: "Duplicate value"
        case .policyVariable: "Policy variable matched literally"
        case .resourceForUntypedAction: "Specific resource for an action without a resource type"
        case .unusualSid: "Sid with characters other than letters and digits"
        case .typeMismatch: "Operator of another type than the key's values"
        case .shadowingIncomplete: "Shadowed statements not looked for in the whole document"
        case .badRequest: "Invalid request"
        case .badTestFile: "Invalid policy test file"
        case .badDirectory: "Invalid directory seed"
        case .badRouteCatalog: "Invalid route catalog"
        case .badConfig: "Invalid gateway configuration"
        }
    }
}
