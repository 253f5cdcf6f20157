import ArgumentParser
import Foundation
import GatehousePolicy

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Decide requests against a policy set.",
        discussion: """
            Every *.json under a directory is one policy, named by its file name without \
            .json (*.test.json files are skipped). The whole set must be valid: one invalid \
            document and nothing is evaluated.

            With --directory and --user, the gateway's view: only the policies attached to that \
            user (directly and through groups) decide, with the user as the principal in place of \
            the request's own. Every attached policy must be among --policies (the gateway denies \
            every call of a user whose attached policy is missing), and a request may not set a \
            principal key (g:PrincipalUrn, g:PrincipalTag/<k>, ...) in its context. The \
            management-account rule belongs to the route: serve and diff --catalog apply it.

            With --request: one decision; exit 0 allowed, 1 denied, 2 invalid input.
            With --requests: one decision per non-blank input line, in order, streamed; a bad \
            line prints {"error": ...} and the run goes on. Exit 2 if any line was invalid, \
            else 1 if any request was denied, else 0.

            Examples:
              gatehouse eval --policies policies/ \\
                  --request samples/requests/dev-update-allowed.json
              gatehouse eval --policies policies/ \\
                  --requests samples/requests/updates.jsonl --format json
              echo '{"action": "organizations:accounts:list", "resource": "*",
                    "context": {"g:SourceIp": "203.0.113.5"}}' |
                  gatehouse eval --policies policies/ --request -
              gatehouse eval --policies policies/ --directory samples/directory.json \\
                  --user dev_only --request samples/requests/prod-update-denied.json
            """
    )

    @OptionGroup var options: EvaluationOptions

    @Flag(help: "Print, for every statement, whether its action, resource and conditions matched.")
    var explain = false

    func run() throws {
        try Self.run(options, explain: explain)
    }

    /// Loads the set, then decides the one request or the batch; `explain` shares this.
    static func run(_ options: EvaluationOptions, explain: Bool) throws {
        let (policySet, binding) = try options.compiledSet()
        if let path = options.request {
            let allowed = try evaluateOne(path, in: policySet, as: binding, format: options.format, explain: explain)
            if !allowed { throw ExitCode(1) }
        } else if let path = options.requests {
            try evaluateBatch(path, in: policySet, as: binding, format: options.format, explain: explain)
        }
    }

    /// Prints one decision; returns whether the request was allowed.
    static func evaluateOne(
        _ path: String, in policySet: CompiledPolicySet, as binding: PrincipalBinding?, format: OutputFormat, explain: Bool
    ) throws -> Bool {
        let bytes = try Output.readInput(path, maxBytes: 1 << 20)
        let source = path == "-" ? "<stdin>" : path
        var request = try RequestParser.parse(bytes: bytes, source: source)
        if let binding { request = try binding.bind(request, source: source) }
        if explain {
            let explanation = policySet.explain(request)
            switch format {
            case .json: Output.line(JSONWriter.pretty(explanation.json))
            case .text: Output.line(TextRendering.explanation(explanation, request: request))
            }
            return explanation.decision.isAllowed
        }
        let decision = policySet.evaluate(request)
        switch format {
        case .json: Output.line(JSONWriter.compact(decision.json))
        case .text: Output.line(TextRendering.decision(decision, request: request))
        }
        return decision.isAllowed
    }

    static func evaluateBatch(
        _ path: String, in policySet: CompiledPolicySet, as binding: PrincipalBinding?, format: OutputFormat, explain: Bool
    ) throws {
        let lines = try RequestLines(path)
        var pending = ""
        let flush = {
            if !pending.isEmpty {
                FileHandle.standardOutput.write(Data(pending.utf8))
                pending.removeAll(keepingCapacity: true)
            }
        }
        lines.beforeRead = flush
        var anyInvalid = false
        var anyDenied = false
        while let (lineNumber, read) = lines.next() {
            var outcome = read
            if let binding, case .success(let request) = read {
                do throws(PolicyLoadError) { outcome = .success(try binding.bind(request, source: "line \(lineNumber)")) } catch {
                    outcome = .failure(error)
                }
            }
            switch outcome {
            case .failure(let error):
                anyInvalid = true
                let message = error.diagnostics.map { "line \(lineNumber): \($0.message)" }.joined(separator: "; ")
                switch format {
                case .json: pending += JSONWriter.compact(.object([("error", .string(message)), ("line", .integer(Int64(lineNumber)))])) + "\n"
                case .text: pending += "error: \(message)\n"
                }
            case .success(let request):
                if explain {
                    let explanation = policySet.explain(request)
                    anyDenied = anyDenied || !explanation.decision.isAllowed
                    switch format {
                    case .json: pending += JSONWriter.compact(explanation.json) + "\n"
                    case .text: pending += TextRendering.explanation(explanation, request: request) + "\n\n"
                    }
                } else {
                    let decision = policySet.evaluate(request)
                    anyDenied = anyDenied || !decision.isAllowed
                    switch format {
                    case .json: pending += JSONWriter.compact(decision.json) + "\n"
                    case .text: pending += TextRendering.decisionLine(decision) + "\n"
                    }
                }
            }
            if pending.utf8.count > 1 << 16 { flush() }
        }
        flush()
        if anyInvalid { throw ExitCode(2) }
        if anyDenied { throw ExitCode(1) }
    }
}

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show why a request is allowed or denied, statement by statement.",
        discussion: """
            Evaluates every statement of the set and prints whether its action, its resource \
            and each condition matched, with the values compared. Same as eval --explain; same \
            exit status as eval; --directory and --user as for eval.

            Examples:
              gatehouse explain --policies policies/ \\
                  --request samples/requests/protected-update-denied.json
              gatehouse explain --policies policies/ --directory samples/directory.json \\
                  --user dev_only --request samples/requests/prod-update-denied.json
            """
    )

    @OptionGroup var options: EvaluationOptions

    func run() throws {
        try EvalCommand.run(options, explain: true)
    }
}
