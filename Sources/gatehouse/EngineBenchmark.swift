import Foundation
import GatehousePolicy

/// The engine benchmark behind `gatehouse bench`: synthetic policy sets built as JSON
/// text, so the load path measured is the real one (jansson, validation, compilation).
struct EngineBenchmark {
    struct Row {
        var name: String
        var statements: Int
        var matching: Int
        var medianNanoseconds: Double
        var p99Nanoseconds: Double
    }

    /// `gatehouse lint`'s time on one document of a given shape and size.
    struct LintRow {
        var shape: String
        var statements: Int
        var medianMilliseconds: Double
        var findings: Int
    }

    struct Results {
        var decisions: [Row]
        var lint: [LintRow]
        var loadCompileMilliseconds: Double
        /// The jansson parse and validation part of `loadCompileMilliseconds`.
        var parseMilliseconds: Double
        var loadCompileStatements: Int
        var residentMiB: Double
        var peakResidentMiB: Double

        var text: String {
            var lines = ["decision latency (median and p99 of batch means, per decision)"]
            for row in decisions {
                let name = row.name.padding(toLength: 38, withPad: " ", startingAt: 0)
                lines.append(
                    "  \(name) \(String(format: "%8.0f ns  %8.0f ns", row.medianNanoseconds, row.p99Nanoseconds))  (\(row.statements) statements, \(row.matching) for the action)"
                )
            }
            lines.append(
                String(
                    format: "load+compile %d statements: %.1f ms median (jansson parse and validation %.1f ms, compile %.1f ms)",
                    loadCompileStatements, loadCompileMilliseconds, parseMilliseconds, loadCompileMilliseconds - parseMilliseconds))
            lines.append("lint of one document (parse, validation and every check), median")
            for shape in Set(lint.map(\.shape)).sorted() {
                let rows = lint.filter { $0.shape == shape }.sorted { $0.statements < $1.statements }
                let sizes = rows.map { String(format: "%d: %.0f ms", $0.statements, $0.medianMilliseconds) }.joined(separator: ", ")
                var growth = ""
                if let first = rows.first, let last = rows.last, first.statements < last.statements, first.medianMilliseconds > 0 {
                    growth = String(
                        format: " (x%.1f time for x%.0f statements)", last.medianMilliseconds / first.medianMilliseconds,
                        Double(last.statements) / Double(first.statements))
                }
                lines.append("  \(shape.padding(toLength: 22, withPad: " ", startingAt: 0)) \(sizes)\(growth)")
            }
            lines.append(String(format: "resident memory: %.1f MiB now, %.1f MiB peak", residentMiB, peakResidentMiB))
            return lines.joined(separator: "\n")
        }

        var json: JSONValue {
            .object([
                (
                    "decisions",
                    .array(
                        decisions.map { row in
                            .object([
                                ("name", .string(row.name)),
                                ("statements", .integer(Int64(row.statements))),
                                ("matching_action", .integer(Int64(row.matching))),
                                ("median_ns", .real(row.medianNanoseconds.rounded())),
                                ("p99_ns", .real(row.p99Nanoseconds.rounded())),
                            ])
                        })
                ),
                (
                    "load_compile",
                    .object([
                        ("statements", .integer(Int64(loadCompileStatements))),
                        ("median_ms", .real((loadCompileMilliseconds * 10).rounded() / 10)),
                        ("parse_median_ms", .real((parseMilliseconds * 10).rounded() / 10)),
                    ])
                ),
                (
                    "lint",
                    .array(
                        lint.map { row in
                            .object([
                                ("shape", .string(row.shape)), ("statements", .integer(Int64(row.statements))),
                                ("median_ms", .real((row.medianMilliseconds * 10).rounded() / 10)), ("findings", .integer(Int64(row.findings))),
                            ])
                        })
                ),
                ("resident_mib", .real((residentMiB * 10).rounded() / 10)),
                ("peak_resident_mib", .real((peakResidentMiB * 10).rounded() / 10)),
            ])
        }
    }

    var scale: Double

    static let account = "organizations::0a6d25d23900d45c0faac010e0fb4de0:account:o-fhkmi6mek7wlqdp6nideqhb47qwtjdsv/05261f923e80d3890f33c0056e9b3f80"

    func run() throws -> Results {
        var rows: [Row] = []
        let tagged = try compile(Self.resourceTagPolicy(), name: "dev-only")
        rows.append(measure("one policy, g:ResourceTag condition", tagged, statements: 1, matching: 1))
        for count in [1, 100, 1_000, 10_000] {
            let set = try compile(Self.syntheticPolicy(statements: count), name: "synthetic")
            rows.append(measure("\(count) statements", set, statements: count, matching: min(count, 10)))
        }
        let big = Array(Self.syntheticPolicy(statements: 10_000).utf8)
        var loads: [Double] = []
        var parses: [Double] = []
        for _ in 0..<max(5, Int(10 * scale)) {
            let start = ContinuousClock.now
            let document = try PolicyParser.parse(bytes: big, name: "synthetic", file: "<bench>")
            let parsed = ContinuousClock.now
            let set = CompiledPolicySet([document])
            let elapsed = ContinuousClock.now - start
            precondition(set.statementCount == 10_000)
            loads.append(Self.nanoseconds(elapsed) / 1e6)
            parses.append(Self.nanoseconds(parsed - start) / 1e6)
        }
        let lint = try lintRows()
        let memory = Self.residentMemory()
        return Results(
            decisions: rows, lint: lint, loadCompileMilliseconds: Self.percentile(loads, 0.5), parseMilliseconds: Self.percentile(parses, 0.5),
            loadCompileStatements: 10_000, residentMiB: memory.current,
            peakResidentMiB: memory.peak)
    }

    /// Lint time by document shape and size: the shapes that once made lint quadratic
    /// (every pair of statements compared, every finding located from the top of the text).
    func lintRows() throws -> [LintRow] {
        let shapes: [(String, (Int) -> String)] = [
            ("mixed (engine bench)", { Self.syntheticPolicy(statements: $0) }),
            (
                "distinct resources",
                { i in
                    #"{"Sid": "S\#(i)", "Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "organizations::0a6d:account:o-1/acc\#(i)"}"#
                }
            ),
            ("duplicates", { i in #"{"Sid": "S\#(i)", "Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "*"}"# }),
            (
                "wildcard resources",
                { i in
                    #"{"Sid": "S\#(i)", "Effect": "Allow", "Action": "organizations:accounts:g?t", "Resource": "organizations::*:account:*/acc\#(i)*"}"#
                }
            ),
            // Random wildcard resources that match one another's text without covering each
            // other: the shape the shadowing search's work bound is for.
            (
                "hostile wildcards",
                { i in
                    #"{"Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "organizations::1:account:o/\#(Self.soup(i))"}"#
                }
            ),
            (
                "conditions",
                { i in
                    #"{"Sid": "S\#(i)", "Effect": "Deny", "Action": "organizations:accounts:*", "Resource": "*", "Condition": {"StringEquals": {"g:ResourceTag/env": "v\#(i)"}}}"#
                }
            ),
        ]
        var rows: [LintRow] = []
        for (shape, make) in shapes {
            for count in [1_000, 10_000] {
                let text =
                    shape.hasPrefix("mixed")
                    ? make(count) : #"{"Version": "5.0", "Statement": ["# + (0..<count).map(make).joined(separator: ",\n") + "]}"
                let bytes = Array(text.utf8)
                var times: [Double] = []
                var findings = 0
                for _ in 0..<max(3, Int(5 * scale)) {
                    let start = ContinuousClock.now
                    findings = Linter().lint(bytes: bytes, name: "bench", file: "<bench>").count
                    times.append(Self.nanoseconds(ContinuousClock.now - start) / 1e6)
                }
                rows.append(LintRow(shape: shape, statements: count, medianMilliseconds: Self.percentile(times, 0.5), findings: findings))
            }
        }
        return rows
    }

    /// A pattern of 3 to 12 characters from `a`, `b`, `*` and `?`, the same for the same `i`.
    static func soup(_ i: Int) -> String {
        var state = UInt64(i) &* 0x9E37_79B9_7F4A_7C15 &+ 1
        func next() -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % 1_000_003)
        }
        return String((0..<(3 + next() % 10)).map { _ in Array("ab*?")[next() % 4] })
    }

    func compile(_ text: String, name: String) throws -> CompiledPolicySet {
        CompiledPolicySet([try PolicyParser.parse(bytes: Array(text.utf8), name: name, file: "<bench>")])
    }

    /// Median and p99 over batches of decisions; the allowed count keeps the optimizer honest.
    func measure(_ name: String, _ set: CompiledPolicySet, statements: Int, matching: Int) -> Row {
        let request = AuthorizationRequest(
            principal: Principal(urn: "iam::0a6d25d23900d45c0faac010e0fb4de0:user:alice", accountId: "0a6d25d23900d45c0faac010e0fb4de0"),
            action: "organizations:accounts:update", resource: Self.account,
            context: ["g:ResourceTag/env": [.string("dev")], "g:SourceIp": [.string("203.0.113.5")], "g:MFAPresent": [.bool(true)]])
        let batch = 1_000
        let batches = max(20, Int(300 * scale))
        var allowed = 0
        for _ in 0..<batch { allowed += set.evaluate(request).isAllowed ? 1 : 0 }  // warm-up
        var perDecision: [Double] = []
        perDecision.reserveCapacity(batches)
        for _ in 0..<batches {
            let start = ContinuousClock.now
            for _ in 0..<batch { allowed += set.evaluate(request).isAllowed ? 1 : 0 }
            perDecision.append(Self.nanoseconds(ContinuousClock.now - start) / Double(batch))
        }
        precondition(allowed > 0, "the benchmark request must be allowed by its set")
        return Row(
            name: name, statements: statements, matching: matching, medianNanoseconds: Self.percentile(perDecision, 0.5),
            p99Nanoseconds: Self.percentile(perDecision, 0.99))
    }

    static func resourceTagPolicy() -> String {
        """
        {"Version": "5.0", "Statement": [{"Sid": "UpdateDevAccounts", "Effect": "Allow",
          "Action": ["organizations:accounts:update"], "Resource": ["organizations::*:account:*"],
          "Condition": {"StringEquals": {"g:ResourceTag/env": ["dev", "test"]}}}]}
        """
    }

    /// `count` statements of which at most 10 name `organizations:accounts:update` (with
    /// varied resources and conditions); the rest name other actions, a quarter of them
    /// through wildcards, so the index is exercised the way large real sets do.
    static func syntheticPolicy(statements count: Int) -> String {
        var items: [String] = []
        items.reserveCapacity(count)
        let matching = min(count, 10)
        for i in 0..<matching {
            switch i % 4 {
            case 0:
                items.append(
                    #"{"Sid": "Match\#(i)", "Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "organizations::*:account:*", "Condition": {"StringEquals": {"g:ResourceTag/env": ["dev", "test"]}}}"#
                )
            case 1:
                items.append(
                    #"{"Sid": "Match\#(i)", "Effect": "Deny", "Action": "organizations:accounts:update", "Resource": "organizations::*:account:*", "Condition": {"StringEquals": {"g:ResourceTag/protected": "true"}}}"#
                )
            case 2:
                items.append(
                    #"{"Sid": "Match\#(i)", "Effect": "Allow", "Action": "organizations:accounts:*", "Resource": "organizations::*:account:o-team\#(i)/*"}"#
                )
            default:
                items.append(
                    #"{"Sid": "Match\#(i)", "Effect": "Deny", "Action": "organizations:accounts:update", "Condition": {"NotIpAddress": {"g:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}}"#
                )
            }
        }
        for i in matching..<count {
            let service = "svc\(i % 97)"
            let action = i % 4 == 0 ? "\(service):res\(i):*" : "\(service):res\(i):op\(i % 13)"
            items.append(
                #"{"Sid": "Other\#(i)", "Effect": "\#(i % 5 == 0 ? "Deny" : "Allow")", "Action": ["\#(action)"], "Resource": "\#(service):*:*:res:\#(i)/*", "Condition": {"StringEquals": {"g:ResourceTag/team": "t\#(i)"}}}"#
            )
        }
        return #"{"Version": "5.0", "Statement": ["# + items.joined(separator: ",\n") + "]}"
    }

    static func nanoseconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) * 1e9 + Double(parts.attoseconds) / 1e9
    }

    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction))]
    }

    /// VmRSS and VmHWM from /proc/self/status, in MiB (0 where /proc is missing).
    static func residentMemory() -> (current: Double, peak: Double) {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Double {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            let kilobytes = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kilobytes / 1024
        }
        return (field("VmRSS"), field("VmHWM"))
    }
}
