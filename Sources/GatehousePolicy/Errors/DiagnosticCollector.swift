/// Collects problems found while reading a JSON document (a policy, a test file, the route
/// catalog, a directory seed) by JSON path, then turns them into diagnostics with line and
/// column, so every file Gatehouse reads reports errors the same way.
public struct DiagnosticCollector: Sendable {
    var problems: [Problem] = []

    public init() {}

    public var isEmpty: Bool { problems.isEmpty }

    public mutating func report(_ code: DiagnosticCode, _ message: String, hint: String? = nil, at path: JSONPath, atKey: Bool = false) {
        problems.append(Problem(code: code, message: message, hint: hint, path: path, atKey: atKey))
    }

    /// Throws every collected problem, located in `bytes`; returns when there are none.
    public func check(file: String, bytes: [UInt8]) throws(PolicyLoadError) {
        guard !problems.isEmpty else { return }
        let locator = SourceLocator(bytes: bytes)
        throw PolicyLoadError(problems.map { $0.diagnostic(file: file, locator: locator) })
    }

    /// Reads and parses a JSON file, or throws its syntax error as a diagnostic with `code`.
    public static func readJSON(
        _ file: String, code: DiagnosticCode, limits: JSONLimits = JSONLimits()
    ) throws(PolicyLoadError) -> (
        bytes: [UInt8], json: JSONValue
    ) {
        let bytes: [UInt8]
        do {
            bytes = try PolicyFiles.read(file, maxBytes: limits.maxBytes)
        } catch {
            throw PolicyLoadError([error])
        }
        do {
            return (bytes, try JSONLoader.parse(bytes, limits: limits))
        } catch {
            throw PolicyLoadError([Diagnostic(code, error.message, at: SourceLocation(file: file, line: error.line, column: error.column))])
        }
    }
}
