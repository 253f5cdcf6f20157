import ArgumentParser
import GatehousePolicy

struct TestCommand: ParsableCommand {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, junit
    }

    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run policy test files: requests and the decisions they must get.",
        discussion: """
            Runs every *.test.json file below the given directories (or the files given). A test \
            file names the policies under test, relative to itself, and lists cases:
              {"policies": ["dev-accounts-update.json"],
               "cases": [{"name": "...", "request": {...}, "expect": "allow"|"deny",
                          "reason": "explicit_deny", "sid": "UpdateDevAccounts"}]}
            reason and sid are optional; sid must be among the deciding statements (Sid or \
            policy:Sid). A failing case is printed with its explanation, as gatehouse explain \
            shows it. The last line is "N passed, M failed".

            With --directory and --user, every case is decided as the gateway decides for that \
            user: only the user's attached policies among the file's "policies" decide, with the \
            user as every case's principal (see gatehouse eval --help).

            Exit status: 0 all passed, 1 any case failed, 2 an invalid test file or policy set.

            Examples:
              gatehouse test policies/
              gatehouse test --format junit policies/ > policy-tests.xml
              gatehouse test --directory samples/directory.json --user dev_only \\
                  policies/dev-accounts-update.test.json
            """
    )

    @Argument(help: ArgumentHelp("Test files, or directories to search for *.test.json.", valueName: "file-or-dir"))
    var paths: [String]

    @Option(help: "Output format: text, json, or JUnit XML for CI systems.")
    var format: Format = .text

    @OptionGroup var principalOptions: PrincipalOptions

    @OptionGroup var limitOptions: LimitOptions

    func run() throws {
        let binding = try principalOptions.binding()
        let files = try PolicyTestFile.find(paths)
        guard !files.isEmpty else { throw ValidationError("no *.test.json files under \(paths.joined(separator: ", "))") }
        // Every test file and policy set must load before anything runs: an invalid file is
        // an error of the suite, not a failed case.
        var suites: [(file: PolicyTestFile, results: [PolicyTestResult])] = []
        var problems: [Diagnostic] = []
        for path in files {
            do {
                let file = try PolicyTestFile.load(path)
                suites.append((file, try file.run(limits: limitOptions.limits, as: binding)))
            } catch {
                problems.append(contentsOf: error.diagnostics)
            }
        }
        if !problems.isEmpty { throw PolicyLoadError(problems) }
        let passed = suites.reduce(0) { $0 + $1.results.filter(\.passed).count }
        let failed = suites.reduce(0) { $0 + $1.results.count } - passed
        switch format {
        case .text: Output.line(Self.text(suites, passed: passed, failed: failed))
        case .json: Output.line(JSONWriter.pretty(Self.json(suites, passed: passed, failed: failed)))
        case .junit: Output.line(Self.junit(suites, passed: passed, failed: failed))
        }
        if failed > 0 { throw ExitCode(1) }
    }

    typealias Suites = [(file: PolicyTestFile, results: [PolicyTestResult])]

    static func text(_ suites: Suites, passed: Int, failed: Int) -> String {
        var lines: [String] = []
        for suite in suites {
            lines.append("\(suite.file.file) (\(suite.results.count) case\(suite.results.count == 1 ? "" : "s"))")
            for result in suite.results {
                if let failure = result.failure {
                    lines.append("  FAIL  \(result.testCase.name)")
                    lines.append("        \(failure)")
                    if let explanation = result.explanation {
                        let trace = TextRendering.explanation(explanation, request: result.testCase.request)
                        lines.append(contentsOf: trace.split(separator: "\n", omittingEmptySubsequences: false).map { "        " + $0 })
                    }
                } else {
                    lines.append("  ok    \(result.testCase.name)")
                }
            }
        }
        lines.append("\(passed) passed, \(failed) failed")
        return lines.joined(separator: "\n")
    }

    static func json(_ suites: Suites, passed: Int, failed: Int) -> JSONValue {
        .object([
            (
                "files",
                .array(
                    suites.map { suite in
                        .object([
                            ("file", .string(suite.file.file)),
                            (
                                "cases",
                                .array(
                                    suite.results.map { result in
                                        var members: [(key: String, value: JSONValue)] = [
                                            ("name", .string(result.testCase.name)),
                                            ("passed", .bool(result.passed)),
                                            ("expect", .string(result.testCase.expectAllow ? "allow" : "deny")),
                                            ("decision", result.decision.json),
                                        ]
                                        if let failure = result.failure { members.append(("failure", .string(failure))) }
                                        if let explanation = result.explanation { members.append(("trace", explanation.json)) }
                                        return .object(members)
                                    })
                            ),
                        ])
                    })
            ),
            ("passed", .integer(Int64(passed))),
            ("failed", .integer(Int64(failed))),
        ])
    }

    /// JUnit XML as CI systems read it: one testsuite per test file, one testcase per case.
    static func junit(_ suites: Suites, passed: Int, failed: Int) -> String {
        var xml = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        xml += #"<testsuites name="gatehouse policy tests" tests="\#(passed + failed)" failures="\#(failed)">"# + "\n"
        for suite in suites {
            let failures = suite.results.filter { !$0.passed }.count
            xml += #"  <testsuite name="\#(escape(suite.file.file))" tests="\#(suite.results.count)" failures="\#(failures)">"# + "\n"
            for result in suite.results {
                let name = #"name="\#(escape(result.testCase.name))" classname="\#(escape(suite.file.file))""#
                if let failure = result.failure {
                    let trace = result.explanation.map { TextRendering.explanation($0, request: result.testCase.request) } ?? ""
                    xml += "    <testcase \(name)>\n"
                    xml += #"      <failure message="\#(escape(failure))">\#(escape(trace))</failure>"# + "\n"
                    xml += "    </testcase>\n"
                } else {
                    xml += "    <testcase \(name)/>\n"
                }
            }
            xml += "  </testsuite>\n"
        }
        return xml + "</testsuites>"
    }

    static func escape(_ text: String) -> String { MarkupEscaping.escape(text) }
}
