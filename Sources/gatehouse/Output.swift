import Foundation
import GatehousePolicy

/// Writing to standard output and error.
enum Output {
    /// `1 request`, `2 requests`: a count with its noun.
    static func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }

    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// One read(2) into `chunk`, retried when a signal interrupts it (FileHandle's reads trap
    /// then): the byte count, 0 at end of file, -1 on another error (in `errno`).
    static func read(_ fd: Int32, into chunk: inout [UInt8]) -> Int {
        while true {
            let count = chunk.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if count >= 0 || errno != EINTR { return count }
        }
    }

    /// Reads a whole file, or standard input for `-`, refusing more than `maxBytes`.
    static func readInput(_ path: String, maxBytes: Int) throws -> [UInt8] {
        if path == "-" {
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while bytes.count <= maxBytes {
                let count = read(STDIN_FILENO, into: &chunk)
                guard count >= 0 else {
                    throw PolicyLoadError([
                        Diagnostic(
                            .unreadableFile, "cannot read standard input: \(String(cString: strerror(errno)))", at: SourceLocation(file: "<stdin>"))
                    ])
                }
                if count == 0 { break }
                bytes += chunk[0..<count]
            }
            guard bytes.count <= maxBytes else {
                throw PolicyLoadError([Diagnostic(.badRequest, "input is larger than \(maxBytes) bytes", at: SourceLocation(file: "<stdin>"))])
            }
            return bytes
        }
        do {
            return try PolicyFiles.read(path, maxBytes: maxBytes)
        } catch {
            throw PolicyLoadError([error])
        }
    }
}

/// Text renderings for people.
enum TextRendering {
    static func decision(_ decision: Decision, request: AuthorizationRequest) -> String {
        var lines = ["\(decision.isAllowed ? "allow" : "deny") (\(decision.reason.rawValue))"]
        if decision.isAllowed {
            lines.append("  allowed by: " + decision.statements.map(\.description).joined(separator: ", "))
        } else {
            lines.append("  " + decision.message(for: request))
            if !decision.statements.isEmpty {
                lines.append("  denied by: " + decision.statements.map(\.description).joined(separator: ", "))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// One line per decision, for batches.
    static func decisionLine(_ decision: Decision) -> String {
        let deciders = decision.statements.map { "\($0.policy):\($0.displayName)" }.joined(separator: ",")
        return "\(decision.isAllowed ? "allow" : "deny") \(decision.reason.rawValue)" + (deciders.isEmpty ? "" : " \(deciders)")
    }

    static func explanation(_ explanation: Explanation, request: AuthorizationRequest) -> String {
        var lines: [String] = [
            "request: \(request.principal.urn ?? "(no principal)") -> \(request.action) on \(request.resource)",
            "decision: " + decision(explanation.decision, request: request),
            "",
        ]
        for trace in explanation.statements {
            let verdict = trace.applies ? "APPLIES" : "does not apply"
            lines.append("\(trace.statement.policy): \(trace.statement.displayName) (\(trace.statement.effect.rawValue)) - \(verdict)")
            let actionText: String
            if trace.notAction {
                actionText =
                    trace.actionMatched ? "not excluded by NotAction" : "excluded by NotAction \(JSONWriter.quoted(trace.actionPattern ?? ""))"
            } else {
                actionText = trace.actionMatched ? "matched \(JSONWriter.quoted(trace.actionPattern ?? ""))" : "no Action pattern matches"
            }
            lines.append("  action     \(mark(trace.actionMatched)) \(actionText)")
            let resourceText: String
            if trace.resourceClause == "NotResource" {
                resourceText =
                    trace.resourceMatched
                    ? "not excluded by NotResource" : "excluded by NotResource \(JSONWriter.quoted(trace.resourcePattern ?? ""))"
            } else {
                resourceText = trace.resourceMatched ? "matched \(JSONWriter.quoted(trace.resourcePattern ?? "*"))" : "no Resource pattern matches"
            }
            lines.append("  resource   \(mark(trace.resourceMatched)) \(resourceText)")
            for condition in trace.conditions {
                var requestText = condition.requestValues.map { "[" + $0.map(JSONWriter.quoted).joined(separator: ", ") + "]" } ?? "absent"
                if let spellings = condition.spellings {
                    // Keys that differ only in case: each spelling's values and how it fared.
                    let each = spellings.map { spelling in
                        "\(spelling.key) [" + spelling.values.map(JSONWriter.quoted).joined(separator: ", ")
                            + "] \(spelling.outcome.rawValue.replacingOccurrences(of: "_", with: " "))"
                    }
                    requestText =
                        "in \(spellings.count) spellings (\(each.joined(separator: "; ")); \(trace.statement.effect == .deny ? "any" : "every") one counts)"
                }
                var policyText = "[" + condition.policyValues.map(JSONWriter.quoted).joined(separator: ", ") + "]"
                if let substituted = condition.substitutedValues {
                    policyText += " = [" + substituted.map(JSONWriter.quoted).joined(separator: ", ") + "]"
                }
                lines.append(
                    "  condition  \(mark(condition.outcome == .satisfied)) \(condition.operatorName) \(condition.key): request \(requestText) vs policy \(policyText) -> \(condition.outcome.rawValue.replacingOccurrences(of: "_", with: " "))"
                )
            }
        }
        if explanation.statements.isEmpty { lines.append("(the policy set has no statements)") }
        return lines.joined(separator: "\n")
    }

    private static func mark(_ ok: Bool) -> String { ok ? "yes" : "no " }
}
