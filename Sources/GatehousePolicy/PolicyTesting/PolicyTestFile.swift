import Foundation

/// A policy test file (`*.test.json`, beside the policies): the policies under test and
/// cases of request -> expected decision.
///
/// ```json
/// {"policies": ["dev-accounts-update.json", "require-mfa.json"],
///  "cases": [{"name": "a developer updates a dev account",
///             "request": {"action": "organizations:accounts:update", "resource": "...", "context": {...}},
///             "expect": "allow", "reason": "explicit_allow", "sid": "UpdateDevAccounts"}]}
/// ```
/// Policy paths are relative to the test file and may name directories. `reason` and `sid`
/// are optional; `sid` must name one of the deciding statements, as `Sid` or `policy:Sid`.
public struct PolicyTestFile: Sendable {
    public struct Case: Sendable {
        public var name: String
        public var request: AuthorizationRequest
        public var expectAllow: Bool
        public var reason: DecisionReason?
        public var sid: String?
    }

    public var file: String
    public var policies: [String]
    public var cases: [Case]

    /// Reads and validates a test file; every problem is reported with its place.
    public static func load(_ file: String) throws(PolicyLoadError) -> PolicyTestFile {
        let (bytes, json) = try DiagnosticCollector.readJSON(file, code: .badTestFile, limits: JSONLimits(maxBytes: 16 << 20, maxDepth: 64))
        var collector = DiagnosticCollector()
        func report(_ message: String, at path: JSONPath, atKey: Bool = false) {
            collector.report(.badTestFile, message, at: path, atKey: atKey)
        }
        var policies: [String] = []
        var cases: [Case] = []
        let directory = (file as NSString).deletingLastPathComponent
        if case .object(let members) = json {
            for (key, _) in members where key != "policies" && key != "cases" {
                report("unknown member \(JSONWriter.quoted(key)); a test file has policies and cases", at: JSONPath.root.appending(key), atKey: true)
            }
            switch json["policies"] {
            case .array(let items)? where !items.isEmpty:
                for (index, item) in items.enumerated() {
                    guard case .string(let path) = item, !path.isEmpty else {
                        report("policies lists paths (strings) relative to the test file", at: JSONPath([.key("policies"), .index(index)]))
                        continue
                    }
                    policies.append(path.hasPrefix("/") ? path : (directory.isEmpty ? path : directory + "/" + path))
                }
            default:
                report("policies must be a non-empty list of policy files or directories, relative to the test file", at: .root)
            }
            if case .array(let items)? = json["cases"], !items.isEmpty {
                for (index, item) in items.enumerated() {
                    if let testCase = parseCase(item, at: JSONPath([.key("cases"), .index(index)]), report: report) { cases.append(testCase) }
                }
            } else {
                report("cases must be a non-empty list of {name, request, expect}", at: .root)
            }
        } else {
            report("a test file is a JSON object with policies and cases, found \(json.kindName)", at: .root)
        }
        try collector.check(file: file, bytes: bytes)
        return PolicyTestFile(file: file, policies: policies, cases: cases)
    }

    static func parseCase(_ json: JSONValue, at path: JSONPath, report: (String, JSONPath, Bool) -> Void) -> Case? {
        guard case .object(let members) = json else {
            report("a case is an object {name, request, expect}, found \(json.kindName)", path, false)
            return nil
        }
        let known: Set<String> = ["name", "request", "expect", "reason", "sid"]
        var valid = true
        for (key, _) in members where !known.contains(key) {
            report(
                "unknown case member \(JSONWriter.quoted(key)); a case has name, request, expect, and optionally reason and sid", path.appending(key),
                true)
            valid = false
        }
        guard case .string(let name)? = json["name"], !name.isEmpty else {
            report("each case needs a name (a non-empty string)", path, false)
            return nil
        }
        var expectAllow = false
        switch json["expect"] {
        case .string("allow")?: expectAllow = true
        case .string("deny")?: expectAllow = false
        default:
            report("expect must be \"allow\" or \"deny\"", json["expect"] == nil ? path : path.appending("expect"), false)
            valid = false
        }
        var reason: DecisionReason?
        if let value = json["reason"] {
            if case .string(let text) = value, let parsed = DecisionReason(rawValue: text) {
                reason = parsed
                if parsed.rawValue.hasSuffix("deny") == expectAllow {
                    report("reason \(text) contradicts expect", path.appending("reason"), false)
                    valid = false
                }
            } else {
                report("reason must be explicit_allow, explicit_deny or implicit_deny", path.appending("reason"), false)
                valid = false
            }
        }
        var sid: String?
        if let value = json["sid"] {
            if case .string(let text) = value, !text.isEmpty {
                sid = text
            } else {
                report("sid must be a non-empty string (Sid or policy:Sid)", path.appending("sid"), false)
                valid = false
            }
        }
        guard let requestJSON = json["request"] else {
            report("each case needs a request", path, false)
            return nil
        }
        let request: AuthorizationRequest
        do {
            request = try RequestParser.request(requestJSON)
        } catch {
            report(error.message, JSONPath(path.components + [.key("request")] + error.path.components), false)
            return nil
        }
        return valid ? Case(name: name, request: request, expectAllow: expectAllow, reason: reason, sid: sid) : nil
    }
}

/// The outcome of one case.
public struct PolicyTestResult: Sendable {
    public var testCase: PolicyTestFile.Case
    public var decision: Decision
    /// Why the case failed, or nil when it passed.
    public var failure: String?
    /// The explanation of a failed case, for the report.
    public var explanation: Explanation?

    public var passed: Bool { failure == nil }
}

extension PolicyTestFile {
    /// Loads the policies under test (all valid, or the error) and runs every case. With a
    /// binding, only the policies attached to its caller decide, with the caller as every
    /// case's principal; a case it cannot bind, or an attached policy the file does not
    /// name, is an error of the file.
    public func run(limits: PolicyLimits = PolicyLimits(), as binding: PrincipalBinding? = nil) throws(PolicyLoadError) -> [PolicyTestResult] {
        var documents = try PolicyFiles.loadSet(policies, limits: limits)
        var cases = cases
        if let binding {
            documents = try binding.select(documents, among: "the test file's \"policies\"", source: file)
            for index in cases.indices {
                cases[index].request = try binding.bind(cases[index].request, source: "\(file): case \(JSONWriter.quoted(cases[index].name))")
            }
        }
        let set = CompiledPolicySet(documents)
        return cases.map { testCase in
            let decision = set.evaluate(testCase.request)
            var failures: [String] = []
            let got = "\(decision.isAllowed ? "allow" : "deny") (\(decision.reason.rawValue))"
            if decision.isAllowed != testCase.expectAllow {
                failures.append("expected \(testCase.expectAllow ? "allow" : "deny"), got \(got)")
            } else if let reason = testCase.reason, reason != decision.reason {
                failures.append("expected \(reason.rawValue), got \(got)")
            }
            if let sid = testCase.sid,
                !decision.statements.contains(where: { $0.displayName == sid || "\($0.policy):\($0.displayName)" == sid })
            {
                let deciders = decision.statements.map { "\($0.policy):\($0.displayName)" }
                failures.append("expected \(sid) among the deciding statements, got \(deciders.isEmpty ? "none" : deciders.joined(separator: ", "))")
            }
            let failure = failures.isEmpty ? nil : failures.joined(separator: "; ")
            return PolicyTestResult(
                testCase: testCase, decision: decision, failure: failure, explanation: failure == nil ? nil : set.explain(testCase.request))
        }
    }

    /// Every `*.test.json` file below the given files and directories, sorted.
    public static func find(_ paths: [String]) throws(PolicyLoadError) -> [String] {
        try PolicyFiles.expand(paths) { $0.hasSuffix(".test.json") }
    }
}
