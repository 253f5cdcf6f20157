import ArgumentParser
import Foundation
import GatehouseDirectory
import GatehouseGateway
import GatehousePolicy

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show which decisions change between two versions of a policy set.",
        discussion: """
            Decides every request (one JSON object per line, as for eval --requests) under the \
            old and the new policies and prints each change, grouped by principal, action and \
            resource (its type and tags), with counts and up to three of the resources:
              alice: organizations:accounts:update on accounts tagged env=prod:
                deny -> allow (12 requests; o-1/0526..., o-1/7d1f...)
            A progress line is shown on a terminal.

            With --directory, each request is decided as the gateway decides for its principal: \
            by the policies attached to them (directly or through groups), looked up by name in \
            each set, with their whole principal and the keys the gateway fills from its directory \
            (g:UserId, g:PrincipalOrgPath, ...; these replace any the line sets); without it, by \
            the whole set. Without --requests, requests are generated from --catalog and \
            --directory: every user, on every route their account may call, on every account, \
            with the condition values the policies mention and each key absent (at most \
            --limit requests).

            Exit status: 1 when any request is newly allowed (so CI can require a sign-off), \
            2 when a policy set or any request line is invalid (the diff is still printed, with \
            the bad lines on standard error), else 0.

            Examples (the second after editing a copy of policies/):
              gatehouse diff --old policies/dev-accounts-update.json \\
                  --new policies/organizations-admin.json \\
                  --requests samples/requests/updates.jsonl
              cp -r policies /tmp/new-policies
              gatehouse diff --old policies --new /tmp/new-policies \\
                  --catalog samples/catalog.json --directory samples/directory.json
            """
    )

    @Option(parsing: .upToNextOption, help: ArgumentHelp("The policies before the change.", valueName: "file-or-dir"))
    var old: [String] = []

    @Option(parsing: .upToNextOption, help: ArgumentHelp("The policies after the change.", valueName: "file-or-dir"))
    var new: [String] = []

    @Option(help: ArgumentHelp("Requests, one JSON object per line, or - for standard input.", valueName: "jsonl|-"))
    var requests: String?

    @Option(help: ArgumentHelp("The route catalog, to generate requests from.", valueName: "catalog.json"))
    var catalog: String?

    @Option(
        help: ArgumentHelp(
            "The directory (a SQLite file or a postgres:// URL) or a seed file: users, accounts, tags, attached policies.", valueName: "path"))
    var directory: String?

    @Option(help: "Most requests to generate without --requests.")
    var limit: Int = 1_000_000

    @Option(help: "Output format.")
    var format: OutputFormat = .text

    @OptionGroup var limitOptions: LimitOptions

    func validate() throws {
        guard !old.isEmpty, !new.isEmpty else { throw ValidationError("name both sets: --old <file-or-dir>... --new <file-or-dir>...") }
        if requests == nil, catalog == nil || directory == nil {
            throw ValidationError("give --requests <jsonl|->, or --catalog and --directory to generate requests")
        }
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        let oldDocuments = try PolicyFiles.loadSet(old, limits: limitOptions.limits)
        let newDocuments = try PolicyFiles.loadSet(new, limits: limitOptions.limits)
        let seed = try directory.map { try DirectorySeed.read($0) }
        var sets = DecidingSets(old: oldDocuments, new: newDocuments, directory: seed)
        var diff = PolicyDiff()
        var progress = Progress()
        var invalid = 0
        if let requests {
            invalid = try Self.readRequests(requests) { request in
                let (before, after) = sets.decide(request)
                diff.add(request, before: before, after: after)
                progress.tick(diff.requests)
            }
        } else if let catalog, let seed {
            let generator = RequestGenerator(
                catalog: try RouteCatalog.load(catalog), directory: seed, documents: oldDocuments + newDocuments, limit: limit)
            let outcome = generator.generate { _, request in
                let (before, after) = sets.decide(request)
                diff.add(request, before: before, after: after)
                progress.tick(diff.requests)
            }
            if outcome.truncated { Output.error("note: stopped generating at --limit \(limit) requests") }
        }
        progress.finish()
        for note in sets.notes { Output.error("note: \(note)") }
        switch format {
        case .text: Output.line(Self.text(diff))
        case .json: Output.line(JSONWriter.pretty(Self.json(diff, invalid: invalid)))
        }
        if invalid > 0 { throw ExitCode(2) }
        if diff.newlyAllowed > 0 { throw ExitCode(1) }
    }

    /// Streams request lines to `body`; bad lines are reported on standard error and counted.
    static func readRequests(_ path: String, _ body: (AuthorizationRequest) -> Void) throws -> Int {
        let lines = try RequestLines(path)
        var invalid = 0
        while let (lineNumber, outcome) = lines.next() {
            switch outcome {
            case .success(let request): body(request)
            case .failure(let error):
                invalid += 1
                for diagnostic in error.diagnostics { Output.error("\(lines.source):\(lineNumber): \(diagnostic.message)") }
            }
        }
        return invalid
    }

    /// The old and new policy sets a request is decided by: the whole sets, or, with a
    /// directory, the policies attached to the request's principal (compiled once per
    /// distinct list of attachments).
    struct DecidingSets {
        let wholeOld: CompiledPolicySet
        let wholeNew: CompiledPolicySet
        let oldByName: [String: PolicyDocument]
        let newByName: [String: PolicyDocument]
        let directory: DirectorySeed?
        var compiled: [String: (CompiledPolicySet, CompiledPolicySet)] = [:]
        /// Each user's principal and directory keys, made once per user, not per request.
        var callers: [String: (Principal, [(key: String, values: [ContextValue])])] = [:]
        var unknownPrincipals = 0
        var missing = Set<String>()

        init(old: [PolicyDocument], new: [PolicyDocument], directory: DirectorySeed?) {
            wholeOld = CompiledPolicySet(old)
            wholeNew = CompiledPolicySet(new)
            oldByName = Dictionary(uniqueKeysWithValues: old.map { ($0.name, $0) })
            newByName = Dictionary(uniqueKeysWithValues: new.map { ($0.name, $0) })
            self.directory = directory
        }

        mutating func decide(_ request: AuthorizationRequest) -> (Decision, Decision) {
            guard let directory else { return (wholeOld.evaluate(request), wholeNew.evaluate(request)) }
            guard let urn = request.principal.urn, let user = directory.user(urn: urn) else {
                // Unknown to the directory: the gateway would refuse the caller, under either set.
                unknownPrincipals += 1
                let none = Decision(reason: .implicitDeny, statements: [])
                return (none, none)
            }
            let names = directory.policies(for: user)
            let key = names.joined(separator: "\u{1F}")
            if compiled[key] == nil {
                for name in names where oldByName[name] == nil && newByName[name] == nil { missing.insert("\(name) (attached to \(user.name))") }
                compiled[key] = (CompiledPolicySet(names.compactMap { oldByName[$0] }), CompiledPolicySet(names.compactMap { newByName[$0] }))
            }
            let (before, after) = compiled[key]!
            // Decided as the gateway decides for this user: their whole principal (tags, ID,
            // account) and the keys it fills from its directory, which replace any the line sets.
            if callers[user.name] == nil { callers[user.name] = (directory.principal(for: user), directory.callerKeys(for: user)) }
            let (principal, callerKeys) = callers[user.name]!
            var request = request
            request.principal = principal
            for (key, values) in callerKeys { request.setContext(normalizedKey: key, values) }
            return (before.evaluate(request), after.evaluate(request))
        }

        var notes: [String] {
            var notes: [String] = []
            if unknownPrincipals > 0 {
                notes.append(
                    "\(Output.count(unknownPrincipals, "request")) \(unknownPrincipals == 1 ? "names a principal" : "name principals") not in the directory; denied under both sets"
                )
            }
            if !missing.isEmpty { notes.append("attached policies in neither set: \(missing.sorted().joined(separator: ", "))") }
            return notes
        }
    }

    static func text(_ diff: PolicyDiff) -> String {
        guard diff.changed > 0 else { return "no decision changed (\(Output.count(diff.requests, "request")))" }
        var lines = diff.groups.map { entry in
            let examples = entry.examples.map { example in example.split(separator: ":", maxSplits: 4).last.map(String.init) ?? example }
            let more = diff.moreResources.contains(entry.group) ? ", ..." : ""
            return "\(entry.group.description) (\(Output.count(entry.count, "request")); \(examples.joined(separator: ", "))\(more))"
        }
        lines.append(
            "\(diff.changed) of \(Output.count(diff.requests, "request")) changed: \(diff.newlyAllowed) newly allowed, \(diff.newlyDenied) newly denied"
        )
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
                            ("examples", .array(entry.examples.map { .string($0) })),
                            ("more_resources", .bool(diff.moreResources.contains(entry.group))),
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
