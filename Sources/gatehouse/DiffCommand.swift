import ArgumentParser
import Foundation
import GatehousePolicy

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show which decisions change between two versions of a policy set.",
        discussion: """
            Decides every request (one JSON object per line, as for eval --requests) under the \
            old and the new policies and prints each change, grouped by principal, action and \
            resource, with counts:
              alice: organizations:accounts:update on accounts tagged env=prod: deny -> allow (12 requests)
            A progress line is shown on a terminal.

            Exit status: 1 when any request is newly allowed (so CI can require a sign-off), \
            2 when a policy set or any request line is invalid (the diff is still printed, with \
            the bad lines on standard error), else 0.

            Example:
              gatehouse diff --old main/policies --new policies --requests samples/requests/batch.jsonl
            """
    )

    @Option(parsing: .upToNextOption, help: ArgumentHelp("The policies before the change.", valueName: "file-or-dir"))
    var old: [String] = []

    @Option(parsing: .upToNextOption, help: ArgumentHelp("The policies after the change.", valueName: "file-or-dir"))
    var new: [String] = []

    @Option(help: ArgumentHelp("Requests, one JSON object per line, or - for standard input.", valueName: "jsonl|-"))
    var requests: String

    @Option(help: "Output format.")
    var format: OutputFormat = .text

    @OptionGroup var limitOptions: LimitOptions

    func validate() throws {
        guard !old.isEmpty, !new.isEmpty else { throw ValidationError("name both sets: --old <file-or-dir>... --new <file-or-dir>...") }
    }

    func run() throws {
        let before = CompiledPolicySet(try PolicyFiles.loadSet(old, limits: limitOptions.limits))
        let after = CompiledPolicySet(try PolicyFiles.loadSet(new, limits: limitOptions.limits))
        let fd: Int32 = requests == "-" ? STDIN_FILENO : open(requests, O_RDONLY)
        guard fd >= 0 else {
            throw PolicyLoadError([Diagnostic(.unreadableFile, "cannot open the file for reading", at: SourceLocation(file: requests))])
        }
        defer { if fd != STDIN_FILENO { close(fd) } }
        let source = requests == "-" ? "<stdin>" : requests
        var diff = PolicyDiff()
        var reader = LineReader(fd: fd)
        var progress = Progress()
        var lineNumber = 0
        var invalid = 0
        while let line = reader.next() {
            lineNumber += 1
            guard case .text(let bytes) = line else {
                invalid += 1
                Output.error("\(source):\(lineNumber): line is longer than \(reader.maxLineBytes) bytes")
                continue
            }
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            do {
                let request = try RequestParser.parse(bytes: bytes, source: source)
                diff.add(request, before: before.evaluate(request), after: after.evaluate(request))
                progress.tick(diff.requests)
            } catch {
                invalid += 1
                for diagnostic in error.diagnostics { Output.error("\(source):\(lineNumber): \(diagnostic.message)") }
            }
        }
        progress.finish()
        switch format {
        case .text: Output.line(Self.text(diff))
        case .json: Output.line(JSONWriter.pretty(Self.json(diff, invalid: invalid)))
        }
        if invalid > 0 { throw ExitCode(2) }
        if diff.newlyAllowed > 0 { throw ExitCode(1) }
    }

    static func text(_ diff: PolicyDiff) -> String {
        guard diff.changed > 0 else { return "no decision changed (\(diff.requests) requests)" }
        var lines = diff.groups.map { "\($0.group.description) (\($0.count) request\($0.count == 1 ? "" : "s"))" }
        lines.append("\(diff.changed) of \(diff.requests) requests changed: \(diff.newlyAllowed) newly allowed, \(diff.newlyDenied) newly denied")
        return lines.joined(separator: "\n")
    }

    static func json(_ diff: PolicyDiff, invalid: Int) -> JSONValue {
        .object([
            ("requests", .integer(Int64(diff.requests))),
            ("invalid", .integer(Int64(invalid))),
            ("changed", .integer(Int64(diff.changed))),
            ("newly_allowed", .integer(Int64(diff.newlyAllowed))),
            ("newly_denied", .integer(Int64(diff.newlyDenied))),
            (
                "groups",
                .array(
                    diff.groups.map { entry in
                        .object([
                            ("principal", .string(entry.group.principal)),
                            ("action", .string(entry.group.action)),
                            ("resource", .string(entry.group.resource)),
                            ("before", .string(entry.group.before.rawValue)),
                            ("after", .string(entry.group.after.rawValue)),
                            ("count", .integer(Int64(entry.count))),
                        ])
                    })
            ),
        ])
    }

    /// A request count on standard error, rewritten in place, only when it is a terminal.
    struct Progress {
        let enabled = isatty(STDERR_FILENO) == 1
        var lastShown = ContinuousClock.now

        mutating func tick(_ count: Int) {
            guard enabled, count % 4096 == 0 else { return }
            let now = ContinuousClock.now
            guard now - lastShown > .milliseconds(200) else { return }
            lastShown = now
            FileHandle.standardError.write(Data("\r\(count) requests".utf8))
        }

        func finish() {
            if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        }
    }
}
