import ArgumentParser
import Foundation
import GatehousePolicy

/// `gatehouse audit`: reading the gateway's audit log.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Read the gateway's audit log.",
        discussion: """
            Example:
              gatehouse audit summarize --shadow data/audit.log
            """,
        subcommands: [AuditSummarizeCommand.self])
}

/// `gatehouse audit summarize --shadow`: the calls a shadow policy set (`policies.shadow_dir`)
/// or `mode: shadow` says would be decided otherwise, grouped as `diff` groups them.
struct AuditSummarizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summarize",
        abstract: "Summarize an audit log: the calls whose decision a shadow policy set would change.",
        discussion: """
            Reads the audit log's JSON lines (- for standard input). --shadow (required: the one \
            summary so far) lists the calls whose shadow decision (shadow_decision, from \
            policies.shadow_dir) differs from the enforced one, grouped by principal, action, resource \
            type and the change, as `gatehouse diff` groups them, with a count and example resources \
            ("N of M" counts the calls both sets decided); then the calls `mode: shadow` forwarded \
            although they were refused (enforced: false), by the kind of reason. Resource tags are not \
            in the audit log, so groups name the resource type only.

            Exit status: 0 when no decision would change, 1 when some would (a shadow set's \
            decision differs, or mode shadow forwarded a refused call), 2 for an unreadable file or \
            a line that is not an audit record (its line number is given).

            Example:
              gatehouse audit summarize --shadow data/audit.log
            """)

    @Flag(help: "Compare the enforced decisions with the shadow ones (required).")
    var shadow = false

    @Argument(help: ArgumentHelp("The audit log (- for standard input).", valueName: "audit.log"))
    var file: String

    @Option(help: "Output format.")
    var format: OutputFormat = .text

    func validate() throws {
        guard shadow else { throw ValidationError("say what to summarize: --shadow") }
    }

    func run() throws {
        let fd = file == "-" ? STDIN_FILENO : open(file, O_RDONLY)
        guard fd >= 0 else {
            throw PolicyLoadError([Diagnostic(.unreadableFile, "cannot open the file for reading", at: SourceLocation(file: file))])
        }
        defer { if fd != STDIN_FILENO { close(fd) } }
        // Streamed: an audit log may be far larger than memory.
        var reader = LineReader(fd: fd)
        var diff = PolicyDiff()
        var forwarded: [String: Int] = [:]
        var compared = 0
        var lineNumber = 0
        while let next = reader.next() {
            lineNumber += 1
            let place = SourceLocation(file: file, line: lineNumber)
            guard case .text(let bytes) = next else { throw Self.notARecord(place, "a line longer than 1 MiB") }
            let line = String(decoding: bytes, as: UTF8.self)
            if line.allSatisfy(\.isWhitespace) { continue }
            guard case .object(let members)? = try? JSONLoader.parse(bytes, limits: JSONLimits(maxBytes: 1 << 20, maxDepth: 8)) else {
                throw Self.notARecord(place, "not one JSON object")
            }
            func text(_ key: String) -> String? {
                if case .string(let value)? = members.first(where: { $0.key == key })?.value { return value }
                return nil
            }
            guard text("request_id") != nil, let decision = text("decision") else {
                throw Self.notARecord(place, "no request_id or decision")
            }
            if case .bool(false)? = members.first(where: { $0.key == "enforced" })?.value {
                // By the kind of reason, as the metrics count them (a tag lookup's reason names its account).
                let reason = text("reason") ?? "?"
                forwarded[String(reason.split(separator: ":", maxSplits: 1).first ?? Substring(reason)), default: 0] += 1
            }
            guard let shadowDecision = text("shadow_decision") else { continue }
            compared += 1
            let resource = text("resource") ?? "*"
            diff.add(
                principal: PolicyDiff.principalName(urn: text("principal") ?? "(no principal)"), action: text("action") ?? "-", resource: resource,
                described: PolicyDiff.resourceType(of: resource), before: Self.reason(text("reason"), decision),
                after: Self.reason(text("shadow_reason"), shadowDecision))
        }
        switch format {
        case .text:
            var out = compared == 0 ? "no call in this log was decided by a shadow policy set" : DiffCommand.text(diff)
            for (reason, count) in forwarded.sorted(by: { $0.key < $1.key }) {
                out += "\nforwarded by mode shadow although refused (\(reason)): \(Output.count(count, "call"))"
            }
            Output.line(out)
        case .json:
            var json = DiffCommand.json(diff, invalid: 0)
            if case .object(var members) = json {
                members.removeAll { $0.key == "invalid" }
                members.append(
                    ("forwarded_by_shadow_mode", .object(forwarded.sorted { $0.key < $1.key }.map { ($0.key, .integer(Int64($0.value))) })))
                json = .object(members)
            }
            Output.line(JSONWriter.pretty(json))
        }
        if diff.changed > 0 || !forwarded.isEmpty { throw ExitCode(1) }
    }

    /// A line that is not an audit record: said with its place, without the usage text a
    /// `ValidationError` would add (the input is wrong, not the command line).
    static func notARecord(_ place: SourceLocation, _ why: String) -> PolicyLoadError {
        PolicyLoadError([Diagnostic(.unreadableFile, "not an audit record: \(why)", at: place)])
    }

    /// An audit line's reason as the engine's; a gateway refusal (a missing policy, tags that
    /// could not be read) counts as an implicit deny, an allow without an engine reason as
    /// an explicit allow.
    static func reason(_ reason: String?, _ decision: String) -> DecisionReason {
        if let reason, let engine = DecisionReason(rawValue: reason) { return engine }
        return decision == "allow" ? .explicitAllow : .implicitDeny
    }
}
