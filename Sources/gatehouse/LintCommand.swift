import ArgumentParser
import GatehousePolicy

struct LintCommand: ParsableCommand {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, sarif
    }

    static let configuration = CommandConfiguration(
        commandName: "lint",
        abstract: "Check policy files: errors that reject them, and warnings about what they allow.",
        discussion: """
            Errors (exit 2): anything that makes a document invalid. Warnings (exit 0, or 1 with \
            --strict): Allow of * on *, NotAction/NotResource in an Allow, ForAllValues in an \
            Allow, actions unknown to the organizations service, condition keys that never \
            occur for the actions, duplicate Sids, shadowed statements, and more; \
            docs/POLICY-LANGUAGE.md lists every code.

            Examples:
              gatehouse lint policies/
              gatehouse lint --format sarif policies/ > lint.sarif
              gatehouse lint --strict policies/organizations-admin.json
            """
    )

    @Argument(help: ArgumentHelp("Policy files or directories.", valueName: "file-or-dir"))
    var paths: [String]

    @Option(help: "Output format.")
    var format: Format = .text

    @Flag(help: "Exit 1 when there are warnings or suggestions (errors still exit 2).")
    var strict = false

    @OptionGroup var limitOptions: LimitOptions

    func run() throws {
        let report = Linter(limits: limitOptions.limits).lint(paths: paths)
        switch format {
        case .text: Output.line(Self.text(report))
        case .json: Output.line(JSONWriter.pretty(Self.json(report)))
        case .sarif: Output.line(JSONWriter.pretty(Self.sarif(report)))
        }
        if report.errorCount > 0 { throw ExitCode(2) }
        if strict && report.warningCount > 0 { throw ExitCode(1) }
    }

    static func text(_ report: LintReport) -> String {
        var lines = report.findings.map(\.description)
        let files = report.files.count
        lines.append(
            "\(files) file\(files == 1 ? "" : "s") checked: \(report.errorCount) error\(report.errorCount == 1 ? "" : "s"), \(report.warningCount) warning\(report.warningCount == 1 ? "" : "s")"
        )
        return lines.joined(separator: "\n")
    }

    static func json(_ report: LintReport) -> JSONValue {
        .object([
            ("findings", .array(report.findings.map(\.json))),
            (
                "summary",
                .object([
                    ("files", .integer(Int64(report.files.count))),
                    ("errors", .integer(Int64(report.errorCount))),
                    ("warnings", .integer(Int64(report.warningCount))),
                ])
            ),
        ])
    }

    /// SARIF 2.1.0, which code-scanning services read.
    static func sarif(_ report: LintReport) -> JSONValue {
        let usedCodes = Array(Set(report.findings.map(\.code))).sorted { $0.rawValue < $1.rawValue }
        let rules: [JSONValue] = usedCodes.map { code in
            .object([
                ("id", .string(code.rawValue)),
                ("shortDescription", .object([("text", .string(code.title))])),
                ("defaultConfiguration", .object([("level", .string(level(code.severity)))])),
            ])
        }
        let results: [JSONValue] = report.findings.map { finding in
            var region: [(key: String, value: JSONValue)] = []
            if let line = finding.location.line { region.append(("startLine", .integer(Int64(line)))) }
            if let column = finding.location.column { region.append(("startColumn", .integer(Int64(column)))) }
            var physical: [(key: String, value: JSONValue)] = [("artifactLocation", .object([("uri", .string(finding.location.file))]))]
            if !region.isEmpty { physical.append(("region", .object(region))) }
            var text = finding.message
            if let hint = finding.hint { text += " (\(hint))" }
            return .object([
                ("ruleId", .string(finding.code.rawValue)),
                ("level", .string(level(finding.severity))),
                ("message", .object([("text", .string(text))])),
                ("locations", .array([.object([("physicalLocation", .object(physical))])])),
            ])
        }
        return .object([
            ("$schema", .string("https://json.schemastore.org/sarif-2.1.0.json")),
            ("version", .string("2.1.0")),
            (
                "runs",
                .array([
                    .object([
                        (
                            "tool",
                            .object([
                                (
                                    "driver",
                                    .object([
                                        ("name", .string("gatehouse-lint")),
                                        ("informationUri", .string("https://github.com/gatehouse/gatehouse/blob/main/docs/POLICY-LANGUAGE.md")),
                                        ("rules", .array(rules)),
                                    ])
                                )
                            ])
                        ),
                        ("results", .array(results)),
                    ])
                ])
            ),
        ])
    }

    static func level(_ severity: Severity) -> String {
        switch severity {
        case .error: "error"
        case .securityWarning, .warning: "warning"
        case .suggestion: "note"
        }
    }
}
