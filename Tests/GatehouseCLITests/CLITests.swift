import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Runs the built `gatehouse` binary, as scripts and CI do, and checks the contract:
/// outputs, formats and exit statuses.
struct CLI {
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["GATEHOUSE_BIN"] { return URL(fileURLWithPath: path) }
        // The test bundle sits in the products directory beside the executable.
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("gatehouse")
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs with a bounded wait; a hung process is killed (by its PID) and fails the test.
    /// Writing to a child that has already exited must not kill the test process.
    static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    static func run(_ arguments: [String], stdin: String? = nil, cwd: URL = packageRoot, environment: [String: String] = [:]) throws -> Result {
        try runProgram(binary.path, arguments, stdin: stdin, cwd: cwd, environment: environment)
    }

    /// Another program (a shell running pasted README lines), with the same bounded wait.
    static func runProgram(
        _ executable: String, _ arguments: [String], stdin: String? = nil, cwd: URL = packageRoot, environment: [String: String] = [:]
    ) throws -> Result {
        _ = ignoreBrokenPipes
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = cwd
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        // Feed stdin and drain both outputs at once: a child answering line by line would
        // otherwise block on a full stdout pipe while we block on its full stdin pipe.
        let stdoutData = Collected()
        let stderrData = Collected()
        let group = DispatchGroup()
        let writer = input.fileHandleForWriting
        let stdinData = Data((stdin ?? "").utf8)
        DispatchQueue.global().async(group: group) {
            // The child may exit without reading its input (a usage error): the write then
            // fails with EPIPE, which is fine; the throwing API reports it instead of trapping.
            try? writer.write(contentsOf: stdinData)
            try? writer.close()
        }
        DispatchQueue.global().async(group: group) { stdoutData.data = readToEnd(out.fileHandleForReading) }
        DispatchQueue.global().async(group: group) { stderrData.data = readToEnd(err.fileHandleForReading) }
        if group.wait(timeout: .now() + 120) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            throw CLIError.timedOut(arguments)
        }
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdoutData.data, as: UTF8.self),
            stderr: String(decoding: stderrData.data, as: UTF8.self))
    }

    enum CLIError: Error { case timedOut([String]) }

    /// One read of what a pipe holds (blocking until something arrives), empty at end of file
    /// or on an error. A read a signal interrupts is retried: Foundation's `availableData`
    /// and `readDataToEndOfFile` trap on EINTR, which took the whole test run down.
    static func readChunk(_ handle: FileHandle) -> Data {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
            if count >= 0 { return Data(buffer[0..<count]) }
            if errno != EINTR { return Data() }
        }
    }

    /// Everything a pipe holds until its writer closes it (`readChunk` until end of file).
    static func readToEnd(_ handle: FileHandle) -> Data {
        var data = Data()
        while true {
            let chunk = readChunk(handle)
            if chunk.isEmpty { return data }
            data.append(chunk)
        }
    }

    /// Written by one reader thread, read only after the dispatch group has finished.
    final class Collected: @unchecked Sendable {
        var data = Data()
    }
}

/// A temporary directory, removed when the test ends.
final class TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
        return file.path
    }
}

func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

let devSet = ["policies/dev-accounts-update.json", "policies/deny-protected-accounts.json", "policies/require-mfa.json"]

@Suite struct EvalCLITests {
    @Test func allowedRequestExitsZero() throws {
        let result = try CLI.run(["eval", "--policies"] + devSet + ["--request", "samples/requests/dev-update-allowed.json", "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try jsonObject(result.stdout)
        #expect(object["decision"] as? String == "allow")
        #expect(object["reason"] as? String == "explicit_allow")
        let statements = try #require(object["statements"] as? [[String: Any]])
        #expect(statements.count == 1)
        #expect(statements.first?["policy"] as? String == "dev-accounts-update")
        #expect(statements.first?["sid"] as? String == "UpdateDevAccounts")
        #expect(statements.first?["effect"] as? String == "Allow")
        #expect(Set(object.keys) == ["decision", "reason", "statements"])
    }

    @Test func deniedRequestsExitOne() throws {
        let implicit = try CLI.run(["eval", "--policies"] + devSet + ["--request", "samples/requests/prod-update-denied.json", "--format", "json"])
        #expect(implicit.status == 1)
        #expect(try jsonObject(implicit.stdout)["reason"] as? String == "implicit_deny")
        let explicit = try CLI.run(["eval", "--policies", "policies/", "--request", "samples/requests/protected-update-denied.json"])
        #expect(explicit.status == 1)
        #expect(explicit.stdout.contains("deny (explicit_deny)"))
        #expect(explicit.stdout.contains("deny-protected-accounts: DenyUpdatingProtectedAccounts (Deny)"))
    }

    @Test func requestFromStandardInput() throws {
        let result = try CLI.run(
            ["eval", "--policies", "policies/dev-accounts-update.json", "--request", "-", "--format", "json"],
            stdin: #"{"action": "organizations:accounts:list", "resource": "*"}"#)
        #expect(result.status == 0)
        #expect(try jsonObject(result.stdout)["decision"] as? String == "allow")
    }

    @Test func invalidRequestExitsTwoWithPosition() throws {
        let result = try CLI.run(["eval", "--policies", "policies/", "--request", "-"], stdin: "{\"action\": \"x:y:z\",\n \"resource\": 5}")
        #expect(result.status == 2)
        #expect(result.stderr.contains("<stdin>:2:14"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func invalidPolicySetIsRefusedWhole() throws {
        let dir = try TempDir()
        try dir.write("good.json", #"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": "*"}]}"#)
        try dir.write(
            "bad.json",
            "{\"Version\": \"5.0\",\n \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"a:b:c\", \"Condition\": {\"StringEqual\": {\"g:SourceIp\": \"x\"}}}]}"
        )
        let result = try CLI.run(["eval", "--policies", dir.url.path, "--request", "samples/requests/dev-update-allowed.json"])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("bad.json:2:69: error GH1031: unknown condition operator \"StringEqual\""), "\(result.stderr)")
        #expect(result.stderr.contains("did you mean \"StringEquals\"?"))
    }

    @Test func twoPoliciesWithOneNameAreRefused() throws {
        let dir = try TempDir()
        let policy = #"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": "*"}]}"#
        try dir.write("team-a/shared.json", policy)
        try dir.write("team-b/shared.json", policy)
        let eval = try CLI.run(["eval", "--policies", dir.url.path, "--request", "-"], stdin: #"{"action": "a:b:c", "resource": "*"}"#)
        #expect(eval.status == 2)
        #expect(eval.stderr.contains("error GH1036: policy name \"shared\" is also used by"), "\(eval.stderr)")
        let lint = try CLI.run(["lint", dir.url.path])
        #expect(lint.status == 2)
        #expect(lint.stdout.contains("GH1036"))
    }

    @Test func testFilesBesidePoliciesAreNotPolicies() throws {
        let dir = try TempDir()
        try dir.write("a.json", #"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": "*"}]}"#)
        try dir.write("a.test.json", #"{"cases": []}"#)
        try dir.write(".hidden/x.json", "not json")
        let result = try CLI.run(["eval", "--policies", dir.url.path, "--request", "-"], stdin: #"{"action": "a:b:c", "resource": "*"}"#)
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test func usageErrorsExitTwo() throws {
        #expect(try CLI.run(["eval", "--request", "x.json"]).status == 2)
        #expect(try CLI.run(["eval", "--policies", "policies/"]).status == 2)
        #expect(try CLI.run(["eval", "--policies", "policies/", "--request", "a", "--requests", "b"]).status == 2)
        #expect(try CLI.run(["eval", "--policies", "policies/", "--request", "a", "--format", "xml"]).status == 2)
        #expect(try CLI.run(["eval", "--policies", "no/such/dir", "--request", "-"], stdin: "{}").status == 2)
        #expect(try CLI.run(["frobnicate"]).status == 2)
    }

    @Test func batchKeepsOrderAndGoesOnAfterBadLines() throws {
        let result = try CLI.run(["eval", "--policies"] + devSet + ["--requests", "samples/requests/batch.jsonl", "--format", "json"])
        #expect(result.status == 2)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 5)
        #expect(
            try lines[0...3].map { try jsonObject($0)["reason"] as? String } == [
                "explicit_allow", "implicit_deny", "explicit_deny", "explicit_allow",
            ])
        let error = try jsonObject(lines[4])
        #expect((error["error"] as? String)?.contains("line 5") == true)
        #expect(error["line"] as? Int == 5)
    }

    @Test func batchExitStatusAndBlankLines() throws {
        let allowed = #"{"action": "organizations:accounts:list", "resource": "*"}"#
        let denied = #"{"action": "organizations:accounts:close", "resource": "*"}"#
        let policies = ["--policies", "policies/dev-accounts-update.json", "--requests", "-"]
        #expect(try CLI.run(["eval"] + policies, stdin: allowed + "\n\n" + allowed + "\n").status == 0)
        let mixed = try CLI.run(["eval"] + policies, stdin: allowed + "\n" + denied)
        #expect(mixed.status == 1)
        #expect(mixed.stdout == "allow explicit_allow dev-accounts-update:ReadAccounts\ndeny implicit_deny\n")
    }

    @Test func largeBatchStreams() throws {
        let line = #"{"action": "organizations:accounts:list", "resource": "*"}"#
        let input = Array(repeating: line, count: 20_000).joined(separator: "\n")
        let result = try CLI.run(["eval", "--policies", "policies/dev-accounts-update.json", "--requests", "-", "--format", "json"], stdin: input)
        #expect(result.status == 0)
        #expect(result.stdout.split(separator: "\n").count == 20_000)
    }
}

/// `--directory` and `--user`: eval, explain and test decide as the gateway decides for one
/// directory user, not with every policy in the folder.
@Suite struct DecidingAsADirectoryUserTests {
    let asDevOnly = ["--directory", "samples/directory.json", "--user", "dev_only"]

    @Test func onlyTheUsersAttachedPoliciesDecide() throws {
        // The whole folder allows it (organizations-admin is in it); dev_only has it not attached.
        let folder = try CLI.run(["eval", "--policies", "policies/", "--request", "samples/requests/prod-update-denied.json"])
        #expect(folder.status == 0)
        let asUser = try CLI.run(["eval", "--policies", "policies/", "--request", "samples/requests/prod-update-denied.json"] + asDevOnly)
        #expect(asUser.status == 1, "\(asUser.stderr)")
        #expect(asUser.stdout.contains("deny (implicit_deny)"))
        // The user is the principal, in place of the request's alice.
        #expect(asUser.stdout.contains(":user:dev_only is not authorized"))
        #expect(!asUser.stdout.contains("alice"))
        // Attached through a group: admin is in org-admins (organizations-admin, deny-protected-accounts).
        let admin = try CLI.run(
            [
                "eval", "--policies", "policies/", "--request", "samples/requests/protected-update-denied.json", "--directory",
                "samples/directory.json",
                "--user", "admin", "--format", "json",
            ])
        #expect(admin.status == 1)
        #expect(admin.stdout.contains("DenyUpdatingProtectedAccounts"))
        let explain = try CLI.run(["explain", "--policies", "policies/", "--request", "samples/requests/dev-update-allowed.json"] + asDevOnly)
        #expect(explain.status == 0)
        #expect(!explain.stdout.contains("organizations-admin"))
    }

    /// The keys the gateway fills from its directory (`g:UserId`, `g:DomainName`,
    /// `g:PrincipalOrgPath`, ...) are the user's under `--user`, as in the gateway; a request
    /// may not set them.
    @Test func theCallersDirectoryKeysAreSetAsTheGatewaySetsThem() throws {
        let dir = try TempDir()
        try Data(
            #"""
            {"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": ["organizations:accounts:list"], "Resource": ["*"],
              "Condition": {"StringEquals": {"g:UserId": "u-0004", "g:DomainName": "security-tools", "g:PrincipalType": "User",
                                             "g:PrincipalOrgPath": "o-fhkmi6mek7wlqdp6nideqhb47qwtjdsv/r-9f2c1a7b/ou-c2d4e6f8a0b1/5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"},
                            "Bool": {"g:PrincipalIsRootUser": "false"}}}]}
            """#.utf8
        ).write(to: dir.url.appendingPathComponent("dev-accounts-update.json"))
        let asMember = ["--policies", dir.url.path, "--directory", "samples/directory.json", "--user", "member", "--request", "-"]
        let list = #"{"action": "organizations:accounts:list", "resource": "*"}"#
        let allowed = try CLI.run(["eval"] + asMember, stdin: list)
        #expect(allowed.status == 0, "\(allowed.stdout) \(allowed.stderr)")
        let explained = try CLI.run(["explain"] + asMember, stdin: list)
        #expect(explained.stdout.contains("security-tools") && !explained.stdout.contains("absent"), "\(explained.stdout)")
        let overridden = try CLI.run(
            ["eval"] + asMember, stdin: #"{"action": "organizations:accounts:list", "resource": "*", "context": {"g:UserId": "u-0004"}}"#)
        #expect(overridden.status == 2 && overridden.stderr.contains("g:userid"))
    }

    @Test func theSQLiteDirectoryAnswersAsItsSeed() throws {
        let dir = try TempDir()
        let db = dir.url.appendingPathComponent("directory.sqlite").path
        #expect(try CLI.run(["directory", "init", "--db", db, "--seed", "samples/directory.json"]).status == 0)
        let arguments = ["eval", "--policies", "policies/", "--requests", "samples/requests/batch.jsonl", "--format", "json", "--user", "dev_only"]
        let fromSeed = try CLI.run(arguments + ["--directory", "samples/directory.json"])
        let fromDatabase = try CLI.run(arguments + ["--directory", db])
        #expect(fromSeed.stdout == fromDatabase.stdout && fromSeed.status == fromDatabase.status)
        // A disabled user gets no decision: the gateway refuses them before any policy.
        #expect(try CLI.run(["directory", "disable", "--db", db, "--user", "dev_only"]).status == 0)
        let disabled = try CLI.run(arguments + ["--directory", db])
        #expect(disabled.status == 2)
        #expect(disabled.stderr.contains("\"dev_only\" is disabled"))
    }

    /// `directory set-password` takes the password on standard input, keeps only its hash,
    /// and says what is wrong with one it refuses.
    @Test func setPasswordReadsStandardInputAndKeepsOnlyAHash() throws {
        let dir = try TempDir()
        let db = dir.url.appendingPathComponent("directory.sqlite").path
        #expect(try CLI.run(["directory", "init", "--db", db, "--seed", "samples/directory.json"]).status == 0)
        let set = try CLI.run(["directory", "set-password", "--db", db, "--user", "owner"], stdin: "a long enough secret\n")
        #expect(set.status == 0 && set.stdout.contains("set the password of owner"), "\(set.stderr)")
        var stored = Data()
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.url.path) where name.hasPrefix("directory.sqlite") {
            stored += try Data(contentsOf: dir.url.appendingPathComponent(name))
        }
        #expect(stored.range(of: Data("a long enough secret".utf8)) == nil)
        #expect(stored.range(of: Data("$scrypt$ln=15".utf8)) != nil)
        let short = try CLI.run(["directory", "set-password", "--db", db, "--user", "owner"], stdin: "short\n")
        #expect(short.status == 2 && short.stderr.contains("at least 8 characters"), "\(short.stderr)")
        let nobody = try CLI.run(["directory", "set-password", "--db", db, "--user", "nobody"], stdin: "a long enough secret\n")
        #expect(nobody.status == 2)
        let empty = try CLI.run(["directory", "set-password", "--db", db, "--user", "owner"], stdin: "")
        #expect(empty.status == 2 && empty.stderr.contains("standard input"))
    }

    @Test func whatCannotBeDecidedAsTheUserIsAnError() throws {
        let request = ["--request", "samples/requests/dev-update-allowed.json"]
        let unknown = try CLI.run(["eval", "--policies", "policies/", "--directory", "samples/directory.json", "--user", "nobody"] + request)
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("no user \"nobody\"") && unknown.stderr.contains("dev_only"))
        // An attached policy missing from --policies: the gateway would deny every call.
        let missing = try CLI.run(["eval", "--policies", "policies/dev-accounts-update.json"] + asDevOnly + request)
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("\"require-mfa\" attached directly"))
        #expect(missing.stderr.contains("\"deny-protected-accounts\" attached directly"))
        // A principal key in the context is the caller's, never the request's.
        let principalKey = try CLI.run(
            ["eval", "--policies", "policies/", "--request", "-"] + asDevOnly,
            stdin: #"{"action": "organizations:accounts:list", "resource": "*", "context": {"g:PrincipalTag/team": "core"}}"#)
        #expect(principalKey.status == 2)
        #expect(principalKey.stderr.contains("g:principaltag/team"))
        let batch = try CLI.run(
            ["eval", "--policies", "policies/", "--requests", "-", "--format", "json"] + asDevOnly,
            stdin: """
                {"action": "organizations:accounts:list", "resource": "*", "context": {"g:PrincipalUrn": "iam::1:user:x"}}
                {"action": "organizations:accounts:list", "resource": "*"}
                """)
        #expect(batch.status == 2)
        let lines = batch.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.first?.contains("\"error\"") == true)
        #expect(try jsonObject(lines[1])["decision"] as? String == "allow")
        let half = try CLI.run(["eval", "--policies", "policies/", "--user", "dev_only"] + request)
        #expect(half.status == 2)
        #expect(half.stderr.contains("--directory and --user go together"))
    }

    @Test func policyTestsRunAsTheUser() throws {
        let dir = try TempDir()
        for name in ["dev-accounts-update", "deny-protected-accounts", "require-mfa", "organizations-admin"] {
            try dir.write(
                "\(name).json", try String(contentsOfFile: CLI.packageRoot.appendingPathComponent("policies/\(name).json").path, encoding: .utf8))
        }
        let prod = "organizations::0a6d25d23900d45c0faac010e0fb4de0:account:o-fhkmi6mek7wlqdp6nideqhb47qwtjdsv/7d1f6a0c2b9e4e55a1c3d2f0e8b7a6c5"
        try dir.write(
            "as-user.test.json",
            #"{"policies": ["dev-accounts-update.json", "deny-protected-accounts.json", "require-mfa.json", "organizations-admin.json"], "#
                + #""cases": [{"name": "prod update", "request": {"action": "organizations:accounts:update", "resource": "\#(prod)", "#
                + #""context": {"g:ResourceTag/env": "prod", "g:MFAPresent": true}}, "expect": "allow"}]}"#)
        // With every policy of the file the case passes; as dev_only, whose policies do not
        // include organizations-admin, it fails.
        #expect(try CLI.run(["test", dir.url.path]).status == 0)
        let asUser = try CLI.run(["test", dir.url.path] + asDevOnly)
        #expect(asUser.status == 1, "\(asUser.stdout)\(asUser.stderr)")
        #expect(asUser.stdout.contains("FAIL  prod update"))
        #expect(asUser.stdout.contains(":user:dev_only"))
        // The file must name every policy the user has attached.
        try dir.write(
            "as-user.test.json",
            #"{"policies": ["dev-accounts-update.json"], "cases": [{"name": "list", "request": {"action": "organizations:accounts:list", "resource": "*"}, "expect": "allow"}]}"#
        )
        let missing = try CLI.run(["test", dir.url.path] + asDevOnly)
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("not among the test file's \"policies\""))
    }
}

@Suite struct ExplainCLITests {
    @Test func explainShowsEveryStatementAndTheValues() throws {
        let result = try CLI.run(["explain", "--policies"] + devSet + ["--request", "samples/requests/prod-update-denied.json"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("dev-accounts-update: UpdateDevAccounts (Allow) - does not apply"))
        #expect(result.stdout.contains(#"StringEquals g:ResourceTag/env: request ["prod"] vs policy ["dev"] -> not satisfied"#))
        #expect(result.stdout.contains("require-mfa: DenyWritesWithoutMFA (Deny)"))
    }

    @Test func evalExplainJSONHasATrace() throws {
        let result = try CLI.run(
            ["eval", "--explain", "--format", "json", "--policies"] + devSet + ["--request", "samples/requests/dev-update-allowed.json"])
        #expect(result.status == 0)
        let object = try jsonObject(result.stdout)
        #expect(object["decision"] as? String == "allow")
        let trace = try #require(object["trace"] as? [[String: Any]])
        // Every statement of the three policies, in order (dev-accounts-update has three).
        #expect(trace.count == 6)
        let applying = trace.filter { $0["applies"] as? Bool == true }.map { $0["sid"] as? String }
        #expect(applying == ["UpdateDevAccounts"])
    }
}

@Suite struct LintCLITests {
    @Test func examplePoliciesAreClean() throws {
        let result = try CLI.run(["lint", "--strict", "policies/"])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("5 files checked: 0 errors, 0 warnings"))
    }

    @Test func warningsExitZeroUnlessStrict() throws {
        let dir = try TempDir()
        let file = try dir.write("wide.json", #"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#)
        let plain = try CLI.run(["lint", file])
        #expect(plain.status == 0)
        #expect(plain.stdout.contains("wide.json:1:34: security_warning GH2001: allows every action on every resource"), "\(plain.stdout)")
        #expect(try CLI.run(["lint", "--strict", file]).status == 1)
    }

    @Test func errorsExitTwoInEveryFormat() throws {
        let dir = try TempDir()
        try dir.write(
            "bad.json", "{\n  \"Version\": \"5.0\",\n  \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"a:b:c\", \"Resource\": \"nope\"}]\n}")
        for format in ["text", "json", "sarif"] {
            #expect(try CLI.run(["lint", "--format", format, dir.url.path]).status == 2)
        }
        let json = try jsonObject(try CLI.run(["lint", "--format", "json", dir.url.path]).stdout)
        let finding = try #require((json["findings"] as? [[String: Any]])?.first)
        #expect(finding["code"] as? String == "GH1027")
        #expect(finding["severity"] as? String == "error")
        #expect(finding["line"] as? Int == 3)
        #expect(finding["column"] as? Int == 68)
        #expect((finding["file"] as? String)?.hasSuffix("bad.json") == true)
        #expect(finding["message"] is String)
    }

    @Test func sarifIsWellFormed() throws {
        let dir = try TempDir()
        try dir.write("p.json", #"{"Version": "5.0", "Statement": [{"Effect": "Allow", "NotAction": "organizations:accounts:close"}]}"#)
        let sarif = try jsonObject(try CLI.run(["lint", "--format", "sarif", dir.url.path]).stdout)
        #expect(sarif["version"] as? String == "2.1.0")
        let run = try #require((sarif["runs"] as? [[String: Any]])?.first)
        let results = try #require(run["results"] as? [[String: Any]])
        #expect(results.first?["ruleId"] as? String == "GH2002")
        #expect(results.first?["level"] as? String == "warning")
        let rules = try #require(((run["tool"] as? [String: Any])?["driver"] as? [String: Any])?["rules"] as? [[String: Any]])
        #expect(rules.map { $0["id"] as? String } == ["GH2002"])
    }

    @Test func oversizedFileIsRefusedBeforeReading() throws {
        let dir = try TempDir()
        let file = try dir.write("big.json", String(repeating: " ", count: 2_000) + "{}")
        let result = try CLI.run(["lint", "--max-document-bytes", "1000", file])
        #expect(result.status == 2)
        #expect(result.stdout.contains("GH1002"))
    }
}

@Suite struct FmtCLITests {
    let ugly = #"{"Statement": [{"Action": "organizations:accounts:get", "Effect": "Allow", "Resource": "*"}], "Version": "5.0"}"#

    @Test func checkListsUnformattedFilesAndWritesNothing() throws {
        let dir = try TempDir()
        let file = try dir.write("p.json", ugly)
        let result = try CLI.run(["fmt", "--check", dir.url.path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("not formatted: \(file)"))
        #expect(try String(contentsOfFile: file, encoding: .utf8) == ugly)
    }

    @Test func rewritesInPlaceThenChecksClean() throws {
        let dir = try TempDir()
        let file = try dir.write("p.json", ugly)
        let result = try CLI.run(["fmt", file])
        #expect(result.status == 0)
        #expect(result.stdout.contains("formatted \(file)"))
        #expect(try String(contentsOfFile: file, encoding: .utf8).hasPrefix("{\n  \"Version\": \"5.0\",\n"))
        #expect(try CLI.run(["fmt", "--check", file]).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path) == ["p.json"])
    }

    @Test func anInvalidFileStopsEveryWrite() throws {
        let dir = try TempDir()
        let good = try dir.write("a.json", ugly)
        try dir.write("b.json", #"{"Version": "5.0", "Statement": [{"Effect": "Maybe", "Action": "a:b:c"}]}"#)
        let result = try CLI.run(["fmt", dir.url.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("GH1021"))
        #expect(try String(contentsOfFile: good, encoding: .utf8) == ugly)
    }

    @Test func examplePoliciesAreFormatted() throws {
        #expect(try CLI.run(["fmt", "--check", "policies/"]).status == 0)
    }
}

@Suite struct TestCLITests {
    let policy =
        #"{"Version": "5.0", "Statement": [{"Sid": "Dev", "Effect": "Allow", "Action": "organizations:accounts:update", "Condition": {"StringEquals": {"g:ResourceTag/env": "dev"}}}]}"#

    func suite(_ cases: String) throws -> TempDir {
        let dir = try TempDir()
        try dir.write("policies/dev.json", policy)
        try dir.write("policies/dev.test.json", #"{"policies": ["dev.json"], "cases": [\#(cases)]}"#)
        return dir
    }

    func testCase(_ name: String, env: String, expect: String, extra: String = "") -> String {
        #"{"name": "\#(name)", "request": {"action": "organizations:accounts:update", "resource": "organizations::1:account:o/1", "context": {"g:ResourceTag/env": "\#(env)"}}, "expect": "\#(expect)"\#(extra)}"#
    }

    @Test func examplePolicyTestsPass() throws {
        let result = try CLI.run(["test", "policies/"])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.hasSuffix(" passed, 0 failed\n"))
        #expect(result.stdout.contains("ok    a developer updates a dev account"))
    }

    @Test func aFailingCaseIsExplained() throws {
        let dir = try suite(
            [testCase("dev passes", env: "dev", expect: "allow"), testCase("prod wrongly expected", env: "prod", expect: "allow")].joined(
                separator: ","))
        let result = try CLI.run(["test", dir.url.path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("ok    dev passes"))
        #expect(result.stdout.contains("FAIL  prod wrongly expected"))
        #expect(result.stdout.contains("expected allow, got deny (implicit_deny)"))
        #expect(result.stdout.contains(#"StringEquals g:ResourceTag/env: request ["prod"] vs policy ["dev"] -> not satisfied"#))
        #expect(result.stdout.hasSuffix("1 passed, 1 failed\n"))
    }

    @Test func reasonAndSidAreChecked() throws {
        let dir = try suite(
            [
                testCase("right sid", env: "dev", expect: "allow", extra: #", "sid": "dev:Dev", "reason": "explicit_allow""#),
                testCase("wrong sid", env: "dev", expect: "allow", extra: #", "sid": "Other""#),
            ].joined(separator: ","))
        let result = try CLI.run(["test", dir.url.path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("expected Other among the deciding statements, got dev:Dev"))
    }

    @Test func invalidTestFilesExitTwoWithTheirPlace() throws {
        let dir = try TempDir()
        try dir.write("dev.json", policy)
        try dir.write(
            "bad.test.json", "{\"policies\": [\"dev.json\"],\n \"cases\": [{\"name\": \"x\", \"expect\": \"maybe\", \"request\": {\"action\": 3}}]}")
        let result = try CLI.run(["test", dir.url.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("bad.test.json:2:"), "\(result.stderr)")
        #expect(result.stderr.contains("GH3002: expect must be \"allow\" or \"deny\""))
        #expect(result.stderr.contains("action must be a string"))
        #expect(result.stdout.isEmpty)
        let broken = try suite(testCase("x", env: "dev", expect: "allow"))
        try broken.write("policies/dev.json", #"{"Version": "5.0", "Statement": []}"#)
        #expect(try CLI.run(["test", broken.url.path]).status == 2)
        let empty = try TempDir()
        #expect(try CLI.run(["test", empty.url.path]).status == 2)
    }

    @Test func jsonAndJUnitReports() throws {
        let dir = try suite(
            [testCase("ok", env: "dev", expect: "allow"), testCase("bad <one>", env: "prod", expect: "allow")].joined(separator: ","))
        let json = try jsonObject(try CLI.run(["test", "--format", "json", dir.url.path]).stdout)
        #expect(json["passed"] as? Int == 1)
        #expect(json["failed"] as? Int == 1)
        let cases = try #require(((json["files"] as? [[String: Any]])?.first?["cases"]) as? [[String: Any]])
        #expect(cases.map { $0["passed"] as? Bool } == [true, false])
        #expect(cases[1]["trace"] != nil)
        let junit = try CLI.run(["test", "--format", "junit", dir.url.path])
        #expect(junit.status == 1)
        #expect(junit.stdout.hasPrefix("<?xml"))
        #expect(junit.stdout.contains(#"<testsuites name="gatehouse policy tests" tests="2" failures="1">"#))
        #expect(junit.stdout.contains(#"<testcase name="bad &lt;one&gt;""#))
        #expect(junit.stdout.contains(#"<failure message="expected allow, got deny (implicit_deny)">"#))
    }
}

@Suite struct DiffCLITests {
    func policy(_ envs: String) -> String {
        #"{"Version": "5.0", "Statement": [{"Sid": "Dev", "Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "*", "Condition": {"StringEquals": {"g:ResourceTag/env": [\#(envs)]}}}]}"#
    }

    func requests(_ envs: [String]) -> String {
        envs.map {
            #"{"principal": {"urn": "iam::1:user:alice"}, "action": "organizations:accounts:update", "resource": "organizations::1:account:o/a", "context": {"g:ResourceTag/env": "\#($0)"}}"#
        }
        .joined(separator: "\n")
    }

    func sets(old: String, new: String) throws -> TempDir {
        let dir = try TempDir()
        try dir.write("old/p.json", policy(old))
        try dir.write("new/p.json", policy(new))
        return dir
    }

    func diff(_ dir: TempDir, _ input: String, _ extra: [String] = []) throws -> CLI.Result {
        try CLI.run(
            ["diff", "--old", dir.url.appendingPathComponent("old").path, "--new", dir.url.appendingPathComponent("new").path, "--requests", "-"]
                + extra, stdin: input)
    }

    @Test func emptyDiff() throws {
        let dir = try sets(old: #""dev""#, new: #""dev""#)
        let result = try diff(dir, requests(["dev", "prod"]))
        #expect(result.status == 0)
        #expect(result.stdout == "no decision changed (2 requests)\n")
    }

    @Test func aNewlyAllowedCallExitsOne() throws {
        let dir = try sets(old: #""dev""#, new: #""dev", "prod""#)
        let result = try diff(dir, requests(["dev", "prod", "prod", "test"]))
        #expect(result.status == 1)
        #expect(result.stdout.contains("alice: organizations:accounts:update on accounts tagged env=prod: deny -> allow (2 requests; o/a)"))
        #expect(result.stdout.hasSuffix("2 of 4 requests changed: 2 newly allowed, 0 newly denied\n"))
    }

    /// A group is named by its resources' type and tags; the resources themselves show as
    /// examples, so changes on different accounts without tags are told apart.
    @Test func groupsShowTheirResources() throws {
        let dir = try TempDir()
        func set(_ resource: String) -> String {
            #"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": ["organizations:accounts:update"], "Resource": ["organizations::1:account:o-1/\#(resource)"]}]}"#
        }
        try dir.write("old/p.json", set("alice"))
        try dir.write("new/p.json", set("b*"))
        let calls = ["alice", "bob", "bea", "bill", "bo"].map {
            #"{"principal": {"urn": "iam::1:user:u"}, "action": "organizations:accounts:update", "resource": "organizations::1:account:o-1/\#($0)"}"#
        }.joined(separator: "\n")
        let result = try diff(dir, calls)
        #expect(
            result.stdout.contains(
                "u: organizations:accounts:update on accounts without tags: deny -> allow (4 requests; o-1/bob, o-1/bea, o-1/bill, ...)"),
            "\(result.stdout)")
        #expect(result.stdout.contains("u: organizations:accounts:update on accounts without tags: allow -> deny (1 request; o-1/alice)"))
        let json = try diff(dir, calls, ["--format", "json"])
        let groups = try #require(try jsonObject(json.stdout)["groups"] as? [[String: Any]])
        #expect(groups.compactMap { $0["examples"] as? [String] }.contains(["organizations::1:account:o-1/alice"]))
    }

    @Test func onlyNewlyDeniedExitsZero() throws {
        let dir = try sets(old: #""dev", "prod""#, new: #""dev""#)
        let result = try diff(dir, requests(["prod"]), ["--format", "json"])
        #expect(result.status == 0)
        let json = try jsonObject(result.stdout)
        #expect(json["newly_denied"] as? Int == 1)
        #expect(json["newly_allowed"] as? Int == 0)
        let group = try #require((json["groups"] as? [[String: Any]])?.first)
        #expect(group["before"] as? String == "explicit_allow")
        #expect(group["after"] as? String == "implicit_deny")
        #expect(group["count"] as? Int == 1)
    }

    @Test func generatedFromTheCatalogAndDirectory() throws {
        let dir = try TempDir()
        for name in ["dev-accounts-update", "deny-protected-accounts", "require-mfa", "organizations-admin", "office-network-only"] {
            let text = try String(contentsOfFile: "\(CLI.packageRoot.path)/policies/\(name).json", encoding: .utf8)
            try dir.write("old/\(name).json", text)
            try dir.write(
                "new/\(name).json", name == "dev-accounts-update" ? text.replacingOccurrences(of: #"["dev"]"#, with: #"["dev", "prod"]"#) : text)
        }
        let generate = ["--catalog", "samples/catalog.json", "--directory", "samples/directory.json"]
        let changed = try CLI.run(
            ["diff", "--old", dir.url.appendingPathComponent("old").path, "--new", dir.url.appendingPathComponent("new").path] + generate)
        #expect(changed.status == 1, "\(changed.stderr)")
        #expect(changed.stdout.contains("dev_only: organizations:accounts:update on accounts tagged env=prod: deny -> allow"))
        // Protected accounts stay denied, and the admins' policies are untouched.
        #expect(!changed.stdout.contains("update on accounts tagged env=prod, protected=true"))
        #expect(!changed.stdout.contains("admin:"))
        let same = try CLI.run(["diff", "--old", "policies", "--new", "policies"] + generate)
        #expect(same.status == 0)
        #expect(same.stdout.hasPrefix("no decision changed ("))
        #expect(try CLI.run(["diff", "--old", "policies", "--new", "policies", "--catalog", "samples/catalog.json"]).status == 2)
    }

    @Test func withADirectoryRequestsUseTheirPrincipalsPolicies() throws {
        let dir = try sets(old: #""dev""#, new: #""dev", "prod""#)
        // A member account that may call update (the diff decides policies, not caller rules).
        try dir.write(
            "directory.json",
            #"""
            {"organization": {"id": "o", "name": "O", "management_account_id": "m", "owner": "owner"},
             "accounts": [{"id": "m", "name": "management"}, {"id": "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", "name": "tools"}],
             "users": [{"id": "u1", "name": "owner", "account_id": "m", "role": "owner"},
                       {"id": "u2", "name": "member", "account_id": "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", "policies": ["p"]}]}
            """#)
        let member =
            #"{"principal": {"urn": "iam::5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b:user:member"}, "action": "organizations:accounts:update", "resource": "organizations::1:account:o/a", "context": {"g:ResourceTag/env": "prod"}}"#
        let stranger =
            #"{"principal": {"urn": "iam::1:user:stranger"}, "action": "organizations:accounts:update", "resource": "organizations::1:account:o/a", "context": {"g:ResourceTag/env": "prod"}}"#
        let result = try diff(dir, member + "\n" + stranger, ["--directory", dir.url.appendingPathComponent("directory.json").path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("member: organizations:accounts:update on accounts tagged env=prod: deny -> allow (1 request; o/a)"))
        #expect(!result.stdout.contains("stranger"))
        #expect(result.stderr.contains("1 request names a principal not in the directory"))
        // The user's keys from the directory decide, as in the gateway: a new Allow on
        // g:UserId u2 is a change for member, whatever the line says.
        try dir.write(
            "new/p.json",
            #"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": ["organizations:accounts:update"], "Resource": ["*"], "Condition": {"StringEquals": {"g:UserId": "u2", "g:DomainName": "tools"}}}]}"#
        )
        let plain =
            #"{"principal": {"urn": "iam::5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b:user:member"}, "action": "organizations:accounts:update", "resource": "organizations::1:account:o/a", "context": {"g:UserId": "u9"}}"#
        let byKeys = try diff(dir, plain, ["--directory", dir.url.appendingPathComponent("directory.json").path])
        #expect(
            byKeys.stdout.contains("member: organizations:accounts:update on accounts without tags: deny -> allow (1 request; o/a)"),
            "\(byKeys.stdout)")
    }

    @Test func invalidInputExitsTwo() throws {
        let dir = try sets(old: #""dev""#, new: #""dev", "prod""#)
        let result = try diff(dir, requests(["prod"]) + "\n{\"action\": 1}\n")
        #expect(result.status == 2)
        #expect(result.stderr.contains("<stdin>:2: action must be a string"))
        #expect(result.stdout.contains("deny -> allow (1 request; o/a)"))
        try dir.write("new/p.json", "{}")
        #expect(try diff(dir, requests(["dev"])).status == 2)
    }
}

@Suite struct DirectoryCLITests {
    @Test func initIssueShowRevoke() throws {
        let dir = try TempDir()
        let db = dir.url.appendingPathComponent("directory.sqlite").path
        let initial = try CLI.run(["directory", "init", "--db", db, "--seed", "samples/directory.json"])
        #expect(initial.status == 0, "\(initial.stderr)")
        #expect(initial.stdout.contains("loaded 5 accounts, 5 users, 1 group"))
        let again = try CLI.run(["directory", "init", "--db", db, "--seed", "samples/directory.json"])
        #expect(again.status == 2)
        #expect(again.stderr.contains("use --replace"))
        #expect(try CLI.run(["directory", "init", "--db", db, "--seed", "samples/directory.json", "--replace"]).status == 0)

        let issued = try CLI.run(["directory", "issue-token", "--db", db, "--user", "dev_only", "--ttl", "30m"])
        #expect(issued.status == 0)
        let token = issued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("gh_") && !token.contains(" "))
        #expect(issued.stderr.contains("token for dev_only, valid until"))
        // Stored only as a hash: the file never holds the token.
        #expect(try Data(contentsOf: URL(fileURLWithPath: db)).range(of: Data(token.utf8)) == nil)

        let show = try CLI.run(["directory", "show", "--db", db])
        #expect(
            show.stdout.contains(
                "user dev_only (user) iam::0a6d25d23900d45c0faac010e0fb4de0:user:dev_only policies: dev-accounts-update, deny-protected-accounts, require-mfa"
            ))
        #expect(show.stdout.contains("organization Example Corp (o-fhkmi6mek7wlqdp6nideqhb47qwtjdsv), owner owner, root r-9f2c1a7b\n"))
        #expect(show.stdout.contains("organizational unit ou-6d0e3a8c5b2f sandbox in ou-4a7c2e9b1d3f\n"))
        #expect(show.stdout.contains("account 5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b security-tools [in ou-c2d4e6f8a0b1, delegated administrator]"))

        #expect(try CLI.run(["directory", "revoke-token", "--db", db, "--token", "-"], stdin: token + "\n").stdout == "revoked\n")
        #expect(try CLI.run(["directory", "revoke-token", "--db", db, "--token", "gh_unknown"]).status == 2)
    }

    @Test func mistakesExitTwo() throws {
        let dir = try TempDir()
        // The help's examples use data/directory.sqlite, a folder a fresh checkout lacks:
        // init makes it; every other command on a path with no directory says how to make
        // one and creates nothing.
        let db = dir.url.appendingPathComponent("data/directory.sqlite").path
        let missing = try CLI.run(["directory", "show", "--db", db])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no directory at \(db); create one with gatehouse directory init"))
        #expect(!FileManager.default.fileExists(atPath: db))
        #expect(try CLI.run(["directory", "init", "--db", db, "--seed", "samples/directory.json"]).status == 0)
        #expect(try CLI.run(["directory", "issue-token", "--db", db, "--user", "nobody"]).stderr.contains("no user named nobody"))
        #expect(try CLI.run(["directory", "issue-token", "--db", db, "--user", "admin", "--ttl", "-5m"]).status == 2)
        #expect(try CLI.run(["directory", "attach", "--db", db, "--policy", "p"]).status == 2)
        #expect(try CLI.run(["directory", "detach", "--db", db, "--policy", "never-attached", "--user", "admin"]).status == 2)
        #expect(try CLI.run(["directory", "attach", "--db", db, "--policy", "require-mfa", "--group", "org-admins"]).status == 0)
        let again = try CLI.run(["directory", "attach", "--db", db, "--policy", "require-mfa", "--group", "org-admins"])
        #expect(again.status == 0 && again.stdout.contains("require-mfa was already attached to org-admins"))
        #expect(
            try CLI.run(["directory", "show", "--db", db]).stdout.contains(
                "policies: organizations-admin, deny-protected-accounts, require-mfa"))
    }

    @Test func diffReadsTheSQLiteDirectoryLikeTheSeed() throws {
        let dir = try TempDir()
        let db = dir.url.appendingPathComponent("directory.sqlite").path
        #expect(try CLI.run(["directory", "init", "--db", db, "--seed", "samples/directory.json"]).status == 0)
        let arguments = ["diff", "--old", "policies", "--new", "policies", "--catalog", "samples/catalog.json", "--format", "json", "--directory"]
        let fromSeed = try jsonObject(try CLI.run(arguments + ["samples/directory.json"]).stdout)
        let fromDatabase = try jsonObject(try CLI.run(arguments + [db]).stdout)
        #expect(fromSeed["requests"] as? Int == fromDatabase["requests"] as? Int)
        #expect((fromSeed["requests"] as? Int ?? 0) > 1_000)
    }
}

@Suite struct SampleServiceProcessTests {
    /// Starts the service on a free loopback port, updates an account over HTTP, then stops
    /// it with SIGTERM by PID and checks that it exits cleanly.
    @Test func runsAloneAndStopsOnSIGTERM() async throws {
        let dir = try TempDir()
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["sample-account-service", "--db", dir.url.appendingPathComponent("accounts.sqlite").path, "--port", "0"]
        process.currentDirectoryURL = CLI.packageRoot
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        // Wait (bounded) for "listening on http://127.0.0.1:PORT".
        var output = ""
        let deadline = Date().addingTimeInterval(30)
        while !output.contains("\n"), Date() < deadline {
            let chunk = CLI.readChunk(out.fileHandleForReading)
            if chunk.isEmpty { break }
            output += String(decoding: chunk, as: UTF8.self)
        }
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("listening on ") })
        let base = try #require(URL(string: String(line.dropFirst("listening on ".count))))
        #expect(base.port != 8081 && base.port != 0)

        var request = URLRequest(url: base.appendingPathComponent("v1/organizations/accounts/05261f923e80d3890f33c0056e9b3f80"))
        request.httpMethod = "PATCH"
        request.httpBody = Data(#"{"description": "via HTTP"}"#.utf8)
        request.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let account = try #require(try jsonObject(String(decoding: data, as: UTF8.self))["account"] as? [String: Any])
        #expect(account["description"] as? String == "via HTTP")

        kill(process.processIdentifier, SIGTERM)
        let stopDeadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < stopDeadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning)
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
    }
}

/// The README's examples, pasted as a reader would.
@Suite struct ReadmeTests {
    /// Every `$ ` line in the README's console blocks, run in bash from the checkout with
    /// the built `gatehouse` first on `PATH`, prints what the README shows after it (`…`
    /// stands for any text); `echo $?` lines see the status of the command before.
    @Test func everyConsoleExamplePrintsWhatTheReadmeShows() throws {
        let readme = try String(contentsOf: CLI.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let blocks = readme.components(separatedBy: "```console\n").dropFirst().compactMap { $0.components(separatedBy: "```").first }
        var checked = 0
        for block in blocks where block.contains("\n$ ") || block.hasPrefix("$ ") {
            let lines = block.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var steps: [(command: String, expected: [String])] = []
            var index = 0
            while index < lines.count {
                if lines[index].hasPrefix("$ ") {
                    var command = String(lines[index].dropFirst(2))
                    while command.hasSuffix("\\"), index + 1 < lines.count {
                        index += 1
                        command += "\n" + lines[index]
                    }
                    steps.append((command, []))
                } else if !steps.isEmpty {
                    steps[steps.count - 1].expected.append(lines[index])
                }
                index += 1
            }
            var script = "exec 2>&1\nexport PATH=\"\(CLI.binary.deletingLastPathComponent().path):$PATH\"\n"
            for (number, step) in steps.enumerated() {
                script += step.command + "\nstatus=$?\necho \"@@step \(number)\"\n(exit $status)\n"
            }
            let result = try CLI.runProgram("/bin/bash", ["-c", script])
            var outputs = result.stdout.components(separatedBy: "\n")
            for (number, step) in steps.enumerated() {
                let end = try #require(outputs.firstIndex(of: "@@step \(number)"), "no output for: \(step.command)")
                let got = Array(outputs[..<end]).trimmingEmptyTail()
                outputs.removeFirst(end + 1)
                let expected = step.expected.trimmingEmptyTail()
                #expect(got.count == expected.count, "\(step.command)\ngot:\n\(got.joined(separator: "\n"))")
                for (line, pattern) in zip(got, expected) {
                    let regex = "^" + NSRegularExpression.escapedPattern(for: pattern).replacingOccurrences(of: "…", with: ".*") + "$"
                    #expect(line.range(of: regex, options: .regularExpression) != nil, "\(step.command)\n  got:      \(line)\n  expected: \(pattern)")
                }
                checked += 1
            }
        }
        #expect(checked >= 8)
    }
}

extension Array where Element == String {
    func trimmingEmptyTail() -> [String] {
        var copy = self
        while copy.last?.isEmpty == true { copy.removeLast() }
        return copy
    }
}

@Suite struct HelpTests {
    /// Every command, and every subcommand of `directory`.
    static let commands = [
        "serve", "demo", "eval", "explain", "lint", "fmt", "test", "diff", "directory", "sample-account-service", "bench", "audit",
    ]
    static let directoryCommands = [
        "init", "show", "add-user", "add-group", "add-member", "remove-member", "issue-token", "revoke-token", "end-sessions", "set-password",
        "attach", "detach",
        "disable", "enable", "generate-key", "create-access-key", "list-access-keys", "deactivate-access-key", "activate-access-key",
        "delete-access-key", "issue-temporary-credentials", "rekey", "migrate",
    ]

    /// The lists above are the binary's own: a new command or subcommand without a place in
    /// them (and so without its help checked) fails here.
    @Test func theCommandListsAreTheBinarys() throws {
        func subcommands(_ arguments: [String]) throws -> [String] {
            let help = try CLI.run(arguments + ["--help"], environment: ["COLUMNS": "200"]).stdout
            let section = try #require(help.components(separatedBy: "SUBCOMMANDS:").last)
            // "  name   abstract" lines; not the closing "See 'gatehouse help <subcommand>' ...".
            return section.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("  "), !line.hasPrefix("   "), let word = line.split(separator: " ").first,
                    word.allSatisfy({ $0.isLowercase || $0 == "-" })
                else { return nil }
                return String(word)
            }.filter { $0 != "help" }
        }
        #expect(Set(try subcommands([])) == Set(Self.commands))
        #expect(Set(try subcommands(["directory"])) == Set(Self.directoryCommands))
    }

    @Test(arguments: commands)
    func everyCommandHasHelpWithAnExample(command: String) throws {
        let result = try CLI.run([command, "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Example"))
        #expect(result.stdout.contains("gatehouse \(command)") || result.stdout.contains(".build/release/gatehouse \(command)"))
    }

    /// Every example in every `--help`, at 80 columns, is whole: no line of it wrapped by the
    /// help renderer, so each can be pasted as it reads; a long one goes on after ` \`.
    @Test(arguments: [[]] + commands.map { [$0] } + directoryCommands.map { ["directory", $0] } + [["audit", "summarize"]])
    func examplesAreWholeAt80Columns(command: [String]) throws {
        let result = try CLI.run(command + ["--help"], environment: ["COLUMNS": "80"])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0.hasPrefix("Example") }, "no example in \(command)")
        let end = lines[start...].firstIndex { $0.hasPrefix("USAGE") } ?? lines.endIndex
        let example = lines[(start + 1)..<end].filter { !$0.isEmpty }
        #expect(!example.isEmpty)
        for (index, line) in example.enumerated() {
            #expect(line.hasPrefix("  ") && line.count <= 80, "\(command): \(line)")
            if line.hasSuffix(" \\"), index + 1 < example.count { #expect(example[index + 1].hasPrefix("      "), "\(command): \(line)") }
        }
    }

    @Test func rootHelpListsCommands() throws {
        let result = try CLI.run(["--help"])
        #expect(result.status == 0)
        for command in Self.commands {
            #expect(result.stdout.contains(command))
        }
    }

    @Test func benchSmokeRunReportsEveryFigure() throws {
        let result = try CLI.run(["bench", "--scale", "0.01", "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try jsonObject(result.stdout)
        let rows = try #require(object["decisions"] as? [[String: Any]])
        #expect(rows.compactMap { $0["statements"] as? Int } == [1, 1, 100, 1_000, 10_000])
        #expect(rows.allSatisfy { ($0["median_ns"] as? Double ?? 0) > 0 })
        #expect(((object["load_compile"] as? [String: Any])?["statements"] as? Int) == 10_000)
    }
}
