import Foundation
import Testing

/// The inputs outside testing found the gateway answering wrongly (`../shared/outside-inputs`,
/// issue 14), each as a kind: sent to `gatehouse serve` as real processes on loopback.
@Suite(.serialized) struct FailClosedEndToEndTests {
    typealias Fixture = GatewayFixture

    /// The audit lines written since `count` lines.
    func audited(_ gateway: Fixture, after count: Int) throws -> [[String: Any]] { Array(try gateway.auditLines().dropFirst(count)) }

    // MARK: 1. side lookups

    @Test func anIDThatCannotBeAnIDIsRefusedBeforeAnyLookup() async throws {
        let gateway = try await Fixture()
        let token = gateway.tokens["admin"]!
        // The sample (tagfetch-qmark-admin-vault.bin): the protected account's ID and %3F.
        let sample = try gateway.raw(
            "PATCH /v1/organizations/accounts/\(Fixture.protectedAccount)%3F HTTP/1.1\r\nHost: gw\r\nX-Auth-Token: \(token)\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        )
        #expect(sample.status == 400)
        #expect(sample.errorCode == "Gatehouse.0400")
        #expect(
            sample.json["error_msg"] as? String
                == "Invalid account_id \"\(Fixture.protectedAccount)?\": an account ID is 1 to 64 letters, digits, _ or -.")
        for encoded in ["%20", "%3F", "%23", "%0A", "%2B", "%C3%A9", "%22", "%3Ftags", String(repeating: "a", count: 65)] {
            let answer = try gateway.update(Fixture.protectedAccount + encoded, as: "admin")
            #expect(answer.status == 400, "\(encoded)")
            #expect(answer.errorCode == "Gatehouse.0400", "\(encoded)")
        }
        // Every path parameter of the catalog is checked: resources, transfers.
        #expect(try gateway.call("GET", "/v1/organizations/resources/a%3Fb/tags", as: "admin").status == 400)
        #expect(try gateway.call("GET", "/v1/organizations/owner-transfers/not-a-transfer", as: "owner").status == 400)
        let reasons = try gateway.auditLines().compactMap { $0["reason"] as? String }
        #expect(reasons.count == 12)
        // %0A decodes to a control character, which the path check refuses first.
        #expect(reasons.filter { $0 == "bad_path" }.count == 1, "\(reasons)")
        #expect(reasons.filter { $0.hasPrefix("bad_parameter: ") }.count == 11, "\(reasons)")
        // Nothing reached the account service: the protected account is as it was.
        let account = try gateway.call("GET", "/v1/organizations/accounts/\(Fixture.protectedAccount)", as: "admin")
        #expect(account.status == 200)
        #expect((account.json["account"] as? [String: Any])?["description"] as? String != "via the gateway")
        #expect(await gateway.stop() == 0)
    }

    @Test func aTagLookupThatDoesNotEndInACleanTagListDenies() async throws {
        let gateway = try await Fixture(upstream: .echo)
        // admin's deny-protected-accounts tests g:ResourceTag/protected on every update.
        let ok = try gateway.update("tags-ok-1", as: "admin")
        #expect(ok.status == 200)
        #expect(ok.header("X-Echo") == "yes")
        for (id, status, reason) in [
            ("tags-gone-1", 403, "tags_not_found: GET /v1/organizations/resources/tags-gone-1/tags answered 404"),
            ("tags-bad-1", 503, "tags_unavailable: GET /v1/organizations/resources/tags-bad-1/tags answered 200 with no \"tags\" list"),
            (
                "tags-paged-1", 503,
                "tags_unavailable: GET /v1/organizations/resources/tags-paged-1/tags answered 200 with a tag list with more than one page"
            ),
            ("tags-broken-1", 503, "tags_unavailable: GET /v1/organizations/resources/tags-broken-1/tags answered 500"),
        ] {
            let answer = try gateway.update(id, as: "admin")
            #expect(answer.status == status, "\(id)")
            #expect(answer.header("X-Echo") == nil, "\(id)")
            let line = try #require(try gateway.auditLines().last)
            #expect(line["decision"] as? String == "deny", "\(id)")
            #expect(line["reason"] as? String == reason, "\(id)")
        }
        // Tag keys the service keeps apart but that differ only in case: the Deny applies.
        let cased = try gateway.update("tags-case-1", as: "admin")
        #expect(cased.status == 403)
        #expect(try gateway.auditLines().last?["reason"] as? String == "explicit_deny")
        #expect(await gateway.stop() == 0)
    }

    // MARK: 2. repeated header lines

    @Test func forwardedHeadersOnSeveralLinesReadAsOne() async throws {
        // The sample (xff-multiple-lines): a trusted proxy on loopback, admin confined to the
        // office networks and to HTTPS.
        let gateway = try await Fixture(upstream: .echo, settings: ["network": ["trusted_proxies": ["127.0.0.1/32"]]])
        let attached = try CLI.run(["directory", "attach", "--db", gateway.db, "--policy", "office-network-only", "--user", "admin"])
        #expect(attached.status == 0)
        try gateway.attach(
            "require-tls",
            #"{"Version": "5.0", "Statement": [{"Sid": "DenyPlainHttp", "Effect": "Deny", "Action": ["organizations:*:*"], "Resource": ["*"], "Condition": {"Bool": {"g:SecureTransport": "false"}}}]}"#,
            to: "admin")
        let list = "/v1/organizations/accounts"
        func call(_ headers: [(String, String)]) throws -> RawHTTP.Response { try gateway.call("GET", list, as: "admin", headers: headers) }
        let office = [("X-Forwarded-For", "203.0.113.5"), ("X-Forwarded-Proto", "https")]
        // Both attachments and the new policy file are in use once plain HTTP is refused and HTTPS is not.
        #expect(
            try await gateway.eventually {
                try call([("X-Forwarded-For", "203.0.113.5"), ("X-Forwarded-Proto", "http")]).status == 403 && call(office).status == 200
            })
        let cases: [(String, [(String, String)])] = [
            ("C", [("X-Forwarded-For", "203.0.113.5, 192.0.2.9"), ("X-Forwarded-Proto", "https")]),
            ("D", [("X-Forwarded-For", "203.0.113.5"), ("X-Forwarded-For", "192.0.2.9"), ("X-Forwarded-Proto", "https")]),
            ("G1", [("X-Forwarded-For", "203.0.113.5"), ("X-Forwarded-Proto", "https, http")]),
            ("G2", [("X-Forwarded-For", "203.0.113.5"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "http")]),
            ("D'", [("x-forwarded-for", "203.0.113.5"), ("X-FORWARDED-FOR", "192.0.2.9"), ("X-Forwarded-Proto", "https")]),
        ]
        for (name, headers) in cases {
            let answer = try call(headers)
            #expect(answer.status == 403, "\(name)")
            #expect(answer.header("X-Echo") == nil, "\(name)")
        }
        let sources = try gateway.auditLines().suffix(5).map { $0["source_ip"] as? String }
        #expect(sources == ["192.0.2.9", "192.0.2.9", "203.0.113.5", "203.0.113.5", "192.0.2.9"])
        // Every hop reaches the account service, in order, then the proxy's own.
        let allowed = try call([("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-For", "203.0.113.5"), ("X-Forwarded-Proto", "https")])
        #expect(allowed.status == 200)
        let headers = try #require(allowed.json["headers"] as? [[String]])
        #expect(headers.filter { $0[0].lowercased() == "x-forwarded-for" }.map { $0[1] } == ["198.51.100.7, 203.0.113.5, 127.0.0.1"])
        #expect(await gateway.stop() == 0)
    }

    @Test func aFieldReadAsOneValueIsRefusedWhenRepeated() async throws {
        let gateway = try await Fixture(upstream: .echo)
        let admin = gateway.tokens["admin"]!
        let dev = gateway.tokens["dev_only"]!
        for (name, first, second) in [
            ("X-Auth-Token", admin, dev), ("Authorization", "Bearer \(admin)", "Bearer \(dev)"), ("User-Agent", "a", "b"),
            ("X-Security-Token", "a", "b"), ("X-Sdk-Date", "20261129T231416Z", "20261129T231417Z"), ("X-Request-Id", "a", "b"),
        ] {
            let auth = name == "X-Auth-Token" || name == "Authorization" ? "" : "X-Auth-Token: \(admin)\r\n"
            let answer = try gateway.raw(
                "GET /v1/organizations/accounts HTTP/1.1\r\nHost: gw\r\n\(auth)\(name): \(first)\r\n\(name.lowercased()): \(second)\r\nConnection: close\r\n\r\n"
            )
            #expect(answer.status == 400, "\(name)")
            #expect(answer.header("X-Echo") == nil, "\(name)")
        }
        // The reader's reason reaches the caller and the audit log, naming the field.
        let reasons = try gateway.auditLines().map { $0["reason"] as? String }
        #expect(reasons.first == "malformed_request: x-auth-token is repeated")
        #expect(reasons.dropFirst().first == "malformed_request: authorization is repeated")
        #expect(reasons.allSatisfy { $0?.hasPrefix("malformed_request: ") == true })
        #expect(await gateway.stop() == 0)
    }

    // MARK: 3. Host

    @Test func hostIsExactlyOneValidFieldAndCannotBeDropped() async throws {
        let gateway = try await Fixture(upstream: .echo)
        let token = gateway.tokens["dev_only"]!
        let target = "/v1/organizations/accounts/\(Fixture.devAccount)"
        for head in [
            // The sample (two-host.bin).
            "GET \(target) HTTP/1.1\r\nHost: gw\r\nHost: evil\r\nX-Auth-Token: \(token)\r\n",
            "GET \(target) HTTP/1.1\r\nHost:\r\nX-Auth-Token: \(token)\r\n",
            "GET \(target) HTTP/1.1\r\nX-Auth-Token: \(token)\r\n",
            "GET \(target) HTTP/1.1\r\nHost: a b\r\nX-Auth-Token: \(token)\r\n",
            "GET \(target) HTTP/1.1\r\nHost: gw\r\nConnection: Host\r\nX-Auth-Token: \(token)\r\n",
            "GET \(target) HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, content-length\r\nX-Auth-Token: \(token)\r\n",
        ] {
            let answer = try gateway.raw(head + "Connection: close\r\n\r\n")
            #expect(answer.status == 400, "\(head.debugDescription)")
            #expect(answer.header("X-Echo") == nil)
        }
        #expect(await gateway.stop() == 0)
    }

    // MARK: 4. trailers

    @Test func aBrokenTrailerCannotSwallowTheNextRequest() async throws {
        let gateway = try await Fixture(upstream: .echo)
        let token = gateway.tokens["dev_only"]!
        for trailer in ["X:\r", "X: \u{0}", "X: \u{7F}", "no colon at all"] {
            // The sample (trailer-bare-cr.bin), then the same with other bad trailer lines.
            let raw = try gateway.rawText(
                "GET /v1/organizations/accounts/\(Fixture.devAccount) HTTP/1.1\r\nHost: gw\r\nX-Auth-Token: \(token)\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\(trailer)\r\nGET /v1/organizations HTTP/1.1\r\nHost: gw\r\n\r\n"
            )
            #expect(raw.hasPrefix("HTTP/1.1 400 "), "\(trailer.debugDescription)")
            #expect(raw.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer: \(raw)")
            #expect(!raw.contains("X-Echo"))
        }
        #expect(await gateway.stop() == 0)
    }

    // MARK: 5. underscores

    @Test func aFieldNameWithAnUnderscoreIsRefused() async throws {
        let gateway = try await Fixture(upstream: .echo)
        for (name, value) in [
            ("X_Gatehouse_Principal", "iam::0a6d25d23900d45c0faac010e0fb4de0:user:owner"), ("Transfer_Encoding", "chunked"), ("Content_Length", "5"),
            ("X_Forwarded_For", "203.0.113.5"), ("X.Gatehouse.Principal", "iam::0a6d25d23900d45c0faac010e0fb4de0:user:owner"),
        ] {
            let answer = try gateway.call("GET", "/v1/organizations/accounts", as: "admin", headers: [(name, value)])
            #expect(answer.status == 400, "\(name)")
            #expect(answer.header("X-Echo") == nil, "\(name)")
        }
        #expect(await gateway.stop() == 0)
    }

    // MARK: 6. credentials

    @Test func noCredentialReachesTheAccountService() async throws {
        let gateway = try await Fixture(upstream: .echo)
        let admin = gateway.tokens["admin"]!
        let dev = gateway.tokens["dev_only"]!
        // Two credentials, possibly of two callers: refused, not one picked and the other passed on.
        let both = try gateway.call("GET", "/v1/organizations/accounts", token: admin, headers: [("Authorization", "Bearer \(dev)")])
        #expect(both.status == 400)
        #expect(both.header("X-Echo") == nil)
        #expect(try gateway.auditLines().last?["reason"] as? String == "conflicting_credentials")
        // A security token names temporary AK/SK credentials: beside a token it is refused.
        let mixed = try gateway.call("GET", "/v1/organizations/accounts", token: admin, headers: [("X-Security-Token", "session")])
        #expect(mixed.status == 401 && mixed.header("X-Echo") == nil)
        #expect(try gateway.auditLines().last?["reason"] as? String == "security_token_without_signature")
        // A bearer token authenticates and is not forwarded; nor is anything else a credential could be.
        let bearer = try gateway.call(
            "GET", "/v1/organizations/accounts", headers: [("Authorization", "Bearer \(admin)"), ("Cookie", "session=abc"), ("X-Kept", "1")])
        #expect(bearer.status == 200)
        let forwarded = try #require(bearer.json["headers"] as? [[String]]).map { $0[0].lowercased() }
        #expect(forwarded.contains("x-kept"))
        for credential in ["authorization", "x-auth-token", "x-security-token", "cookie"] {
            #expect(!forwarded.contains(credential), "\(credential)")
        }
        #expect(!bearer.body.contains(admin))
        #expect(await gateway.stop() == 0)
    }

    // MARK: 7. keys that differ only in case

    @Test func tagKeysThatDifferOnlyInCaseGetOneAnswerInEveryProcess() async throws {
        // The sample (resource-tag-key-case): admin tags the protected account Protected=no.
        let gateway = try await Fixture()
        #expect(try gateway.update(Fixture.protectedAccount, as: "admin").status == 403)
        let tagged = try gateway.call(
            "POST", "/v1/organizations/resources/\(Fixture.protectedAccount)/tag", as: "admin",
            body: #"{"tags": [{"key": "Protected", "value": "no"}]}"#)
        #expect(tagged.status == 204)
        // Each restart is a new process with its own hash seed; every one must deny.
        for run in 1...5 {
            let answer = try gateway.update(Fixture.protectedAccount, as: "admin")
            #expect(answer.status == 403, "process \(run)")
            #expect(try gateway.auditLines().last?["reason"] as? String == "explicit_deny", "process \(run)")
            if run < 5 { try await gateway.restartGateway() }
        }
        // Request tags in one body: ENV=prod beside env=dev cannot slip past a Deny on env=prod.
        try gateway.attach(
            "deny-prod-tags",
            #"{"Version": "5.0", "Statement": [{"Sid": "NoProdTags", "Effect": "Deny", "Action": ["organizations:resources:tag"], "Resource": ["*"], "Condition": {"StringEquals": {"g:RequestTag/env": "prod"}}}]}"#,
            to: "admin")
        let tagPath = "/v1/organizations/resources/\(Fixture.devAccount)/tag"
        #expect(
            try await gateway.eventually {
                try gateway.call("POST", tagPath, as: "admin", body: #"{"tags": [{"key": "env", "value": "prod"}]}"#).status == 403
            })
        for body in [
            #"{"tags": [{"key": "ENV", "value": "prod"}, {"key": "env", "value": "dev"}]}"#,
            #"{"tags": [{"key": "env", "value": "dev"}, {"key": "Env", "value": "prod"}]}"#,
            #"{"tags": [{"key": "env", "value": "dev"}, {"key": "env", "value": "prod"}]}"#,
        ] {
            #expect(try gateway.call("POST", tagPath, as: "admin", body: body).status == 403, "\(body)")
        }
        #expect(await gateway.stop() == 0)
    }

    /// `eval` in many processes (each with its own hash seed) on principal tags `status` and
    /// `Status`: one answer, and explain names both spellings.
    @Test func evalGivesOneAnswerForKeysThatDifferOnlyInCase() throws {
        let dir = try TempDir()
        let policy = try dir.write(
            "active-only.json",
            #"{"Version": "5.0", "Statement": [{"Sid": "ActiveOnly", "Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "*", "Condition": {"StringEquals": {"g:PrincipalTag/status": "active"}}}]}"#
        )
        let request = try dir.write(
            "request.json",
            #"{"principal": {"urn": "iam::1:user:alice", "account_id": "1", "tags": {"status": "active", "Status": "suspended"}}, "action": "organizations:accounts:update", "resource": "organizations::1:account:o-1/a"}"#
        )
        var answers = Set<String>()
        for _ in 0..<12 {
            let result = try CLI.run(["eval", "--policies", policy, "--request", request, "--format", "json"])
            #expect(result.status == 1)
            answers.insert(result.stdout)
        }
        #expect(answers == [#"{"decision":"deny","reason":"implicit_deny","statements":[]}"# + "\n"])
        let explained = try CLI.run(["explain", "--policies", policy, "--request", request])
        #expect(
            explained.stdout.contains(
                "in 2 spellings (g:PrincipalTag/Status [\"suspended\"] not satisfied; g:PrincipalTag/status [\"active\"] satisfied; every one counts)"
            ))
        // A request file may name both spellings of a context key, as the gateway sees them.
        let context = try dir.write(
            "context.json",
            #"{"action": "organizations:accounts:update", "resource": "organizations::1:account:o-1/a", "principal": {"tags": {"status": "active"}}, "context": {"g:ResourceTag/protected": "true", "g:ResourceTag/Protected": "no"}}"#
        )
        let deny = try dir.write(
            "deny.json",
            #"{"Version": "5.0", "Statement": [{"Sid": "Protected", "Effect": "Deny", "Action": "*", "Condition": {"StringEqualsIgnoreCase": {"g:ResourceTag/protected": "true"}}}]}"#
        )
        for _ in 0..<6 {
            let result = try CLI.run(["eval", "--policies", policy, deny, "--request", context, "--format", "json"])
            #expect(result.status == 1)
            #expect(result.stdout.contains(#""reason":"explicit_deny""#))
        }
    }

    /// Found while testing lint's coverage proofs: a `*`/`?` pattern whose first piece is a
    /// literal matched a value holding that literal anywhere, so an Allow on a client's
    /// `g:UserAgent` or tag value was met by a value that only contains the allowed prefix.
    @Test func aPatternsLeadingLiteralIsAnchored() throws {
        let dir = try TempDir()
        let policy = try dir.write(
            "browsers.json",
            #"{"Version": "5.0", "Statement": [{"Sid": "Browsers", "Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "organizations::*:account:*", "Condition": {"StringLike": {"g:UserAgent": "Mozilla/*Chrome*", "g:RequestTag/owner": "team-?*-dev"}}}]}"#
        )
        func decide(_ agent: String, _ owner: String, resource: String = "organizations::1:account:o-1/a") throws -> Int32 {
            let request = try dir.write(
                "request.json",
                #"{"action": "organizations:accounts:get", "resource": "\#(resource)", "context": {"g:UserAgent": "\#(agent)", "g:RequestTag/owner": "\#(owner)"}}"#
            )
            return try CLI.run(["eval", "--policies", policy, "--request", request]).status
        }
        #expect(try decide("Mozilla/5.0 Chrome/120", "team-a-dev") == 0)
        #expect(try decide("evil Mozilla/5.0 Chrome/120", "team-a-dev") == 1)
        #expect(try decide("Mozilla/5.0 Chrome/120", "x team-a-dev") == 1)
        #expect(try decide("Mozilla/5.0 Chrome/120", "team-a-dev", resource: "x:organizations::1:account:o-1/a") == 1)
    }

    // MARK: 8, 9. lint

    @Test func lintFindsQuestionMarksOnSensitiveKeysAndLintsLargeDocuments() throws {
        let dir = try TempDir()
        let question = try dir.write(
            "question.json",
            #"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": "organizations:accounts:update", "Resource": "*", "Condition": {"StringLike": {"g:PrincipalUrn": "iam::0a6d25d23900d45c0faac010e0fb4de0:user:???????"}}}]}"#
        )
        let found = try CLI.run(["lint", question])
        #expect(found.stdout.contains("security_warning GH2011"))
        // 10,000 statements: every check runs, the shadowed ones are found, the quota is named.
        let statements = (0..<10_000).map { i in
            #"{"Sid": "S\#(i)", "Effect": "Allow", "Action": "organizations:accounts:get", "Resource": "organizations::0a6d:account:o-1/acc\#(i % 5_000)"}"#
        }
        let big = try dir.write("big.json", #"{"Version": "5.0", "Statement": [\#(statements.joined(separator: ",\n"))]}"#)
        let result = try CLI.run(["lint", big, "--format", "json"])
        #expect(result.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let findings = try #require(json["findings"] as? [[String: Any]])
        let shadowed = findings.filter { $0["code"] as? String == "GH2007" }
        #expect(shadowed.count == 5_000)
        // The second copy of S0 is on line 5001, shadowed by S0.
        #expect(shadowed.first?["line"] as? Int == 5_001)
        #expect(shadowed.first?["message"] as? String == "S5000 is shadowed by S0: every request it allows, that statement allows too")
        #expect(findings.contains { $0["code"] as? String == "GH2009" })
    }
}
