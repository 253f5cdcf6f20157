import ArgumentParser
import GatehouseDirectory
import GatehousePolicy

/// How results are printed.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Limits on policy documents, shared by every command that reads them.
struct LimitOptions: ParsableArguments {
    @Option(help: "Largest policy document accepted, in bytes.")
    var maxDocumentBytes: Int = PolicyLimits().json.maxBytes

    @Option(help: "Most statements accepted in one policy document.")
    var maxStatements: Int = PolicyLimits().maxStatements

    @Option(help: "Deepest nesting of arrays and objects accepted in a document.")
    var maxDepth: Int = PolicyLimits().json.maxDepth

    var limits: PolicyLimits {
        PolicyLimits(json: JSONLimits(maxBytes: maxDocumentBytes, maxDepth: maxDepth), maxStatements: maxStatements)
    }

    func validate() throws {
        guard maxDocumentBytes > 0, maxStatements > 0, maxDepth > 0 else {
            throw ValidationError("limits must be positive numbers")
        }
    }
}

/// The policy set and the request(s) of `eval` and `explain`.
struct EvaluationOptions: ParsableArguments {
    @Option(
        name: .long, parsing: .upToNextOption,
        help: ArgumentHelp("Policy files or directories (every *.json below, except *.test.json).", valueName: "file-or-dir"))
    var policies: [String] = []

    @Option(help: ArgumentHelp("A request JSON file, or - for standard input.", valueName: "file|-"))
    var request: String?

    @Option(help: ArgumentHelp("A file of requests, one JSON object per line, or - for standard input.", valueName: "jsonl|-"))
    var requests: String?

    @Option(help: "Output format.")
    var format: OutputFormat = .text

    @OptionGroup var principalOptions: PrincipalOptions

    @OptionGroup var limitOptions: LimitOptions

    func validate() throws {
        guard !policies.isEmpty else { throw ValidationError("name the policies with --policies <file-or-dir>...") }
        guard (request == nil) != (requests == nil) else {
            throw ValidationError("give exactly one of --request <file|-> and --requests <jsonl|->")
        }
    }

    /// Loads the whole set (or fails with every problem in it) and compiles it, or, under
    /// `--user`, the part of it attached to that user.
    func compiledSet() throws -> (CompiledPolicySet, PrincipalBinding?) {
        let documents = try PolicyFiles.loadSet(policies, limits: limitOptions.limits)
        guard let binding = try principalOptions.binding() else { return (CompiledPolicySet(documents), nil) }
        return (
            CompiledPolicySet(try binding.select(documents, among: "the policies given with --policies", source: policies.joined(separator: " "))),
            binding
        )
    }
}

/// `--directory` and `--user`: decide as the gateway decides for one directory user.
struct PrincipalOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The directory (a SQLite file or a postgres:// URL) or a seed file, for --user.", valueName: "directory.json|sqlite|url"))
    var directory: String?

    @Option(
        help: ArgumentHelp(
            "Decide as the gateway does for this directory user: with only the policies attached to them (directly and through groups), and with them as the principal (a request's own principal is replaced).",
            valueName: "name"))
    var user: String?

    func validate() throws {
        guard (directory == nil) == (user == nil) else { throw ValidationError("--directory and --user go together") }
    }

    func binding() throws -> PrincipalBinding? {
        guard let directory, let user else { return nil }
        return try DirectorySeed.read(directory).binding(forUser: user, source: directory)
    }
}
