import ArgumentParser
import Foundation
import GatehousePolicy

struct FmtCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fmt",
        abstract: "Rewrite policy files in the one canonical layout, keeping every value.",
        discussion: """
            Key order Version, Statement; Sid, Effect, Action, Resource, Condition; condition \
            operators and keys sorted; lists everywhere a list is allowed; two-space indent; \
            short lists on one line. Formatting a formatted file changes nothing.

            Every file is checked first: if any is invalid, its errors are printed, nothing is \
            written and the exit status is 2. With --check nothing is written; the files that \
            differ are listed and the exit status is 1.

            Examples:
              gatehouse fmt policies/
              gatehouse fmt --check policies/
            """
    )

    @Argument(help: ArgumentHelp("Policy files or directories (*.test.json files are skipped).", valueName: "file-or-dir"))
    var paths: [String]

    @Flag(help: "Only list the files that are not formatted; exit 1 if there are any.")
    var check = false

    @OptionGroup var limitOptions: LimitOptions

    func run() throws {
        let files = try PolicyFiles.expand(paths)
        var problems: [Diagnostic] = []
        var changed: [(file: String, text: String)] = []
        for file in files {
            do throws(PolicyLoadError) {
                let bytes: [UInt8]
                do {
                    bytes = try PolicyFiles.read(file, maxBytes: limitOptions.limits.json.maxBytes)
                } catch {
                    throw PolicyLoadError([error])
                }
                let formatted = try PolicyFormatter.format(bytes: bytes, file: file, limits: limitOptions.limits)
                if Array(formatted.utf8) != bytes { changed.append((file, formatted)) }
            } catch {
                problems.append(contentsOf: error.diagnostics)
            }
        }
        // Nothing is written unless every file is valid: no half-formatted tree.
        if !problems.isEmpty { throw PolicyLoadError(problems) }
        if check {
            for entry in changed { Output.line("not formatted: \(entry.file)") }
            if !changed.isEmpty { throw ExitCode(1) }
            return
        }
        for entry in changed {
            try Self.replace(entry.file, with: entry.text)
            Output.line("formatted \(entry.file)")
        }
    }

    /// Writes beside the file and renames over it, so a crash leaves the old or the new file, never half of one.
    static func replace(_ file: String, with text: String) throws {
        let url = URL(fileURLWithPath: file)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).gatehouse-fmt")
        try Data(text.utf8).write(to: temporary)
        if rename(temporary.path, url.path) != 0 {
            try? FileManager.default.removeItem(at: temporary)
            throw PolicyLoadError([
                Diagnostic(.unreadableFile, "cannot replace the file: \(String(cString: strerror(errno)))", at: SourceLocation(file: file))
            ])
        }
    }
}
