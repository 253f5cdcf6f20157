import Foundation
import Testing

/// The official Huawei Cloud Python SDK (`huaweicloudsdkorganizations`, pinned in the
/// Makefile's test-deps and in .ci/run) against `gatehouse serve` over HTTPS, with a test
/// CA the SDK is told to trust and certificate verification on; and the gateway's re-signed
/// forwarding checked by a peer that recomputes signatures with the SDK's own signer. Code
/// nobody here wrote signs what the gateway verifies and verifies what the gateway signs.
@Suite(.serialized) struct SDKEndToEndTests {
    static let fixtures = CLI.packageRoot.appendingPathComponent("Tests/GatehouseCLITests/Fixtures")
    static let managementAccount = "0a6d25d23900d45c0faac010e0fb4de0"

    /// A test CA and certificates it signed, in `folder`: `ca.pem`, `<name>.pem`, `<name>-key.pem`.
    static func makeCertificates(in folder: String, names: [String]) throws {
        for name in names {
            let made = try CLI.runProgram("/usr/bin/env", ["python3", fixtures.appendingPathComponent("test_ca.py").path, folder, name])
            guard made.status == 0 else { throw HarnessError.http("test_ca.py: \(made.stderr)") }
        }
    }

    /// The SDK must be importable: `make test-deps` installs it. Said plainly rather than
    /// as a failed call.
    static func requireSDK() throws {
        let probe = try CLI.runProgram("/usr/bin/env", ["python3", "-c", "import huaweicloudsdkorganizations, huaweicloudsdkcore"])
        guard probe.status == 0 else {
            throw HarnessError.http("the official SDK is not installed for python3 (make test-deps installs it): \(probe.stderr)")
        }
    }

    struct Keys {
        var accessKey: String
        var secretKey: String
        var securityToken: String?
    }

    static func createAccessKey(_ gateway: GatewayFixture, user: String) throws -> Keys {
        let made = try CLI.run(["directory", "create-access-key", "--db", gateway.db, "--key-file", gateway.keyFile, "--user", user])
        guard made.status == 0 else { throw HarnessError.http("create-access-key: \(made.stderr)") }
        let lines = made.stdout.split(separator: "\n").map(String.init)
        return Keys(accessKey: lines[0], secretKey: lines[1])
    }

    static func temporaryCredentials(_ gateway: GatewayFixture, user: String, mfa: Bool = false) throws -> Keys {
        let made = try CLI.run(
            ["directory", "issue-temporary-credentials", "--db", gateway.db, "--key-file", gateway.keyFile, "--user", user, "--ttl", "15m"]
                + (mfa ? ["--mfa"] : []))
        guard made.status == 0 else { throw HarnessError.http("issue-temporary-credentials: \(made.stderr)") }
        let lines = made.stdout.split(separator: "\n").map(String.init)
        return Keys(accessKey: lines[0], secretKey: lines[1], securityToken: lines[2])
    }

    /// One SDK call: its answer as sdk_client.py reports it.
    struct Call {
        var name: String
        var keys: Keys
        var operation: String
        var args: [String: Any] = [:]
        var tamper: String?
    }

    static func run(_ calls: [Call], endpoint: String, caFile: String?) throws -> [String: [String: Any]] {
        let specs: [[String: Any]] = calls.map { call in
            var spec: [String: Any] = [
                "name": call.name, "endpoint": endpoint, "domain_id": managementAccount, "access_key": call.keys.accessKey,
                "secret_key": call.keys.secretKey, "operation": call.operation, "args": call.args,
            ]
            if let caFile { spec["ca_file"] = caFile }
            if let token = call.keys.securityToken { spec["security_token"] = token }
            if let tamper = call.tamper { spec["tamper"] = tamper }
            return spec
        }
        let input = String(decoding: try JSONSerialization.data(withJSONObject: specs), as: UTF8.self)
        let result = try CLI.runProgram("/usr/bin/env", ["python3", fixtures.appendingPathComponent("sdk_client.py").path], stdin: input)
        guard result.status == 0 else { throw HarnessError.http("sdk_client.py: \(result.stderr)") }
        var answers: [String: [String: Any]] = [:]
        for line in result.stdout.split(separator: "\n") {
            let answer = try jsonObject(String(line))
            answers[answer["name"] as? String ?? ""] = answer
        }
        #expect(answers.count == calls.count, "\(result.stdout) \(result.stderr)")
        return answers
    }

    /// A gateway with HTTPS on its API port (a test CA's certificate) before the sample
    /// account service.
    /// A gateway with HTTPS on its API port, its certificate signed by a test CA, in a
    /// folder that lives as long as the returned value (the SIGHUP test renews it there).
    static func tlsGateway() async throws -> (GatewayFixture, caFile: String, certificates: TempDir) {
        try requireSDK()
        let certificates = try TempDir()
        try makeCertificates(in: certificates.url.path, names: ["gateway"])
        let folder = certificates.url.path
        let gateway = try await GatewayFixture(settings: [
            "listen": ["tls": ["cert_file": folder + "/gateway.pem", "key_file": folder + "/gateway-key.pem"]]
        ])
        return (gateway, folder + "/ca.pem", certificates)
    }

    static func endpoint(_ gateway: GatewayFixture) -> String { "https://127.0.0.1:\(gateway.port)" }

    @Test func theOfficialSDKCallsThroughTheGatewayWithPermanentAndTemporaryCredentials() async throws {
        let (gateway, caFile, certificates) = try await Self.tlsGateway()
        defer { withExtendedLifetime(certificates) {} }
        let admin = try Self.createAccessKey(gateway, user: "admin")
        let developer = try Self.temporaryCredentials(gateway, user: "dev_only", mfa: true)
        let dev = GatewayFixture.devAccount
        let answers = try Self.run(
            [
                Call(name: "list", keys: admin, operation: "list_accounts", args: ["limit": 2]),
                Call(name: "show", keys: admin, operation: "show_account", args: ["account_id": dev]),
                Call(name: "tag", keys: admin, operation: "tag_resource", args: ["resource_id": dev, "tags": ["team": "sdk"]]),
                Call(name: "tags", keys: admin, operation: "list_tags_for_resource", args: ["resource_id": dev]),
                Call(name: "update dev", keys: developer, operation: "update_account", args: ["account_id": dev, "description": "from the SDK"]),
                Call(
                    name: "update prod", keys: developer, operation: "update_account",
                    args: ["account_id": GatewayFixture.prodAccount, "description": "denied"]),
            ], endpoint: Self.endpoint(gateway), caFile: caFile)
        #expect(answers["list"]?["ok"] as? Bool == true)
        #expect(((answers["list"]?["result"] as? [String: Any])?["accounts"] as? [Any])?.count == 2)
        #expect((answers["show"]?["result"] as? [String: Any]).flatMap { $0["account"] as? [String: Any] }?["id"] as? String == dev)
        #expect(answers["tag"]?["ok"] as? Bool == true, "\(answers["tag"] ?? [:])")
        let tags = ((answers["tags"]?["result"] as? [String: Any])?["tags"] as? [[String: Any]]) ?? []
        #expect(tags.contains { $0["key"] as? String == "team" && $0["value"] as? String == "sdk" })
        #expect(answers["update dev"]?["ok"] as? Bool == true, "\(answers["update dev"] ?? [:])")
        // The denial reaches the SDK as a ClientRequestException with the service's code and
        // the gateway's request ID.
        let denied = try #require(answers["update prod"])
        #expect(denied["status"] as? Int == 403)
        #expect(denied["error_code"] as? String == "Organizations.1007")
        let lines = try gateway.auditLines()
        let deniedLine = try #require(lines.first { $0["request_id"] as? String == denied["request_id"] as? String })
        #expect(deniedLine["decision"] as? String == "deny" && deniedLine["credential"] as? String == "temporary_access_key")
        #expect(deniedLine["access_key"] as? String == developer.accessKey)
        let allowed = lines.filter { $0["decision"] as? String == "allow" }
        #expect(allowed.count == 5)
        #expect(allowed.filter { $0["credential"] as? String == "access_key" }.count == 4)
        let log = try String(contentsOfFile: gateway.auditLog, encoding: .utf8)
        for secret in [admin.secretKey, developer.secretKey, try #require(developer.securityToken)] { #expect(!log.contains(secret)) }
        // The last use is recorded in the directory (batched, within the flush interval).
        #expect(await gateway.stop() == 0)
        let listed = try CLI.run(["directory", "list-access-keys", "--db", gateway.db, "--user", "admin"])
        #expect(listed.stdout.contains(admin.accessKey) && !listed.stdout.contains("last used never"), "\(listed.stdout)")
    }

    /// All 69 operations, enumerated from the SDK's request classes and sent by the SDK's
    /// client with the administrator's access key: each is routed to the action the
    /// documentation gives it (the data file), audited, allowed by the administrator's
    /// policies and forwarded; the sample service answers what it implements and 501 for the
    /// rest. None gets the gateway's own 404 or any other refusal.
    /// The operations the sample account service implements (in both tag URL styles).
    static let sampleServes: Set<String> = [
        "list_accounts", "show_account", "update_account", "tag_resource", "untag_resource", "list_tags_for_resource", "create_tag_resource",
        "delete_tag_resource", "list_tag_resources",
    ]

    @Test func everyOperationOfTheSDKIsRoutedToItsDocumentedAction() async throws {
        try Self.requireSDK()
        let gateway = try await GatewayFixture()
        let admin = try Self.createAccessKey(gateway, user: "admin")
        let sent = try CLI.runProgram(
            "/usr/bin/env",
            [
                "python3", Self.fixtures.appendingPathComponent("sdk_operations.py").path, "http://127.0.0.1:\(gateway.port)", admin.accessKey,
                admin.secretKey, Self.managementAccount, GatewayFixture.devAccount,
            ])
        #expect(sent.status == 0, "\(sent.stderr)")
        let calls = try sent.stdout.split(separator: "\n").map { try jsonObject(String($0)) }
        let dataFile = CLI.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/organizations-catalog.json")
        let data = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: dataFile)) as? [String: Any])
        var documented: [String: String?] = [:]
        for operation in try #require(data["operations"] as? [[String: Any]]) {
            documented[operation["sdk_name"] as? String ?? ""] = operation["action"] as? String
        }
        #expect(calls.count == 69 && Set(calls.compactMap { $0["operation"] as? String }) == Set(documented.keys))
        // The SDK's calls are sequential; the gateway audits each once, in order.
        let lines = try gateway.auditLines()
        #expect(lines.count == calls.count)
        for (call, line) in zip(calls, lines) {
            let operation = call["operation"] as? String ?? ""
            let path = call["path"] as? String ?? ""
            #expect(line["method"] as? String == call["method"] as? String, "\(operation)")
            // The template's literal head is the audited path's (parameters filled in).
            let head = String(path.prefix { $0 != "{" })
            #expect((line["path"] as? String)?.hasPrefix(head) == true, "\(operation): \(line)")
            #expect(line["action"] as? String == documented[operation] ?? nil, "\(operation): \(line)")
            #expect(line["decision"] as? String == "allow", "\(operation): \(line)")
            let status = call["status"] as? Int ?? 0
            if Self.sampleServes.contains(operation) {
                #expect((200..<300).contains(status), "\(operation): \(call)")
            } else {
                #expect(status == 501 && call["error_code"] as? String == "Sample.0501", "\(operation): \(call)")
            }
        }
        #expect(await gateway.stop() == 0)
    }

    @Test func tamperedStaleAndEndedCredentialsAreRefusedAsTheSDKExpects() async throws {
        let (gateway, caFile, certificates) = try await Self.tlsGateway()
        defer { withExtendedLifetime(certificates) {} }
        let admin = try Self.createAccessKey(gateway, user: "admin")
        let developer = try Self.temporaryCredentials(gateway, user: "dev_only", mfa: true)
        let update: [String: Any] = ["account_id": GatewayFixture.devAccount, "description": "refused"]
        var wrong = admin
        wrong.secretKey = String(admin.secretKey.reversed())
        var tokenless = developer
        tokenless.securityToken = nil
        let answers = try Self.run(
            [
                Call(name: "tampered body", keys: developer, operation: "update_account", args: update, tamper: "body"),
                Call(name: "wrong secret key", keys: wrong, operation: "list_accounts"),
                Call(name: "stale date", keys: admin, operation: "list_accounts", tamper: "stale_date"),
                Call(name: "temporary key without its token", keys: tokenless, operation: "update_account", args: update),
            ], endpoint: Self.endpoint(gateway), caFile: caFile)
        let expected = [
            "tampered body": "signature_mismatch", "wrong secret key": "signature_mismatch", "stale date": "signature_date_out_of_window",
            "temporary key without its token": "security_token_missing",
        ]
        let lines = try gateway.auditLines()
        for (name, reason) in expected {
            let answer = try #require(answers[name], "\(name)")
            #expect(answer["status"] as? Int == 401 && answer["error_code"] as? String == "APIGW.0301", "\(name): \(answer)")
            #expect((answer["error_msg"] as? String)?.hasPrefix("Incorrect IAM authentication information: ") == true, "\(name)")
            let line = lines.first { $0["request_id"] as? String == answer["request_id"] as? String }
            #expect(line?["reason"] as? String == reason, "\(name)")
        }
        // A deactivated key, then ended sessions: refused once the gateway's view has the change.
        let deactivated = try CLI.run(["directory", "deactivate-access-key", "--db", gateway.db, "--access-key", admin.accessKey])
        #expect(deactivated.status == 0)
        let endpoint = Self.endpoint(gateway)
        #expect(
            try await gateway.eventually {
                try Self.run([Call(name: "x", keys: admin, operation: "list_accounts")], endpoint: endpoint, caFile: caFile)["x"]?["error_msg"]
                    as? String == "Incorrect IAM authentication information: Get secretKey failed,ak:\(admin.accessKey),err:ak is inactive"
            })
        #expect(try CLI.run(["directory", "end-sessions", "--db", gateway.db, "--user", "dev_only"]).status == 0)
        #expect(
            try await gateway.eventually {
                let answer = try Self.run([Call(name: "x", keys: developer, operation: "list_accounts")], endpoint: endpoint, caFile: caFile)["x"]
                return answer?["status"] as? Int == 401 && answer?["error_code"] as? String == "Gatehouse.0401"
                    && answer?["error_msg"] as? String == "login expired"
            })
        #expect(try gateway.auditLines().last?["reason"] as? String == "access_key_session_ended")
        // An untrusted certificate is refused by the client: the SDK was verifying all along.
        let untrusted = try Self.run([Call(name: "x", keys: developer, operation: "list_accounts")], endpoint: endpoint, caFile: nil)["x"]
        #expect((untrusted?["exception"] as? String)?.contains("CERTIFICATE_VERIFY_FAILED") == true, "\(untrusted ?? [:])")
        #expect(await gateway.stop() == 0)
    }

    @Test func temporaryCredentialsFromTheSecurityTokenAPIWorkWithTheSDK() async throws {
        try Self.requireSDK()
        let gateway = try await GatewayFixture()
        let body = #"{"auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": 900}}}}"#
        let issued = try gateway.call("POST", "/v3.0/OS-CREDENTIAL/securitytokens", as: "dev_only", body: body)
        #expect(issued.status == 201, "\(issued.body)")
        let credential = try #require(issued.json["credential"] as? [String: String])
        let keys = Keys(
            accessKey: try #require(credential["access"]), secretKey: try #require(credential["secret"]), securityToken: credential["securitytoken"])
        #expect(credential["expires_at"]?.hasSuffix("Z") == true)
        let line = try #require(try gateway.auditLines().last)
        #expect(line["action"] as? String == "iam:securitytokens:create" && line["decision"] as? String == "allow")
        #expect(!(try String(contentsOfFile: gateway.auditLog, encoding: .utf8)).contains(keys.secretKey))
        // dev_only's token carries MFA, and so do the credentials: the update is allowed (plain HTTP here).
        let answers = try Self.run(
            [
                Call(
                    name: "update", keys: keys, operation: "update_account",
                    args: ["account_id": GatewayFixture.devAccount, "description": "with issued credentials"])
            ], endpoint: "http://127.0.0.1:\(gateway.port)", caFile: nil)
        #expect(answers["update"]?["ok"] as? Bool == true, "\(answers)")
        // Bad requests are refused with the reason; nothing is issued.
        for bad in [
            #"{"auth": {"identity": {"methods": ["password"]}}}"#,
            #"{"auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": 60}}}}"#,
        ] {
            let refused = try gateway.call("POST", "/v3.0/OS-CREDENTIAL/securitytokens", as: "dev_only", body: bad)
            #expect(refused.status == 400 && refused.errorCode == "Gatehouse.0400", "\(refused.body)")
        }
        #expect(await gateway.stop() == 0)
    }

    @Test func forwardedCallsAreReSignedAndTheSDKsSignerAgrees() async throws {
        try Self.requireSDK()
        let folder = try TempDir()
        try Self.makeCertificates(in: folder.url.path, names: ["upstream"])
        let signing = try folder.write(
            "signing.json", #"{"access_key": "HPUAMANAGEMENT000001", "secret_key": "ManagementSecretKey00000000000000000000"}"#)
        chmod(signing, 0o600)
        let peer = [
            "python3", Self.fixtures.appendingPathComponent("signing_upstream.py").path, "--cert", folder.url.path + "/upstream.pem", "--key",
            folder.url.path + "/upstream-key.pem", "--signing", signing,
        ]
        let gateway = try await GatewayFixture(
            upstream: .command(peer), settings: ["upstream": ["ca_file": folder.url.path + "/ca.pem", "signing": signing]])
        let admin = try Self.createAccessKey(gateway, user: "admin")
        // A token caller and an AK/SK caller alike: the peer sees the gateway's signature only.
        let byToken = try gateway.call(
            "PATCH", "/v1/organizations/accounts/\(GatewayFixture.devAccount)?x=1&a=b%20c", as: "admin", body: #"{"description": "t"}"#)
        #expect(byToken.status == 200 && byToken.json["verified"] as? Bool == true, "\(byToken.body)")
        let forwarded = try #require(byToken.json["headers"] as? [[String]])
        #expect(forwarded.contains { $0[0].lowercased() == "authorization" && $0[1].contains("Access=HPUAMANAGEMENT000001") })
        #expect(!forwarded.contains { $0[0].lowercased() == "x-auth-token" })
        let answers = try Self.run(
            [
                Call(name: "list", keys: admin, operation: "list_accounts", args: ["limit": 3]),
                // dev_only's policy reads the account's tags: the signed tag lookup is verified too.
                Call(name: "show", keys: admin, operation: "show_account", args: ["account_id": GatewayFixture.devAccount]),
            ], endpoint: "http://127.0.0.1:\(gateway.port)", caFile: nil)
        #expect(answers["list"]?["ok"] as? Bool == true && answers["show"]?["ok"] as? Bool == true, "\(answers)")
        #expect(gateway.upstream.output.contains("verified GET /v1/organizations/accounts?limit=3"))
        #expect(gateway.upstream.output.contains("verified GET /v1/organizations/accounts/\(GatewayFixture.devAccount)"))
        let dev = try gateway.update(GatewayFixture.devAccount, as: "dev_only")
        #expect(dev.status == 200, "\(dev.body)")
        #expect(gateway.upstream.output.contains("verified GET /v1/organizations/resources/\(GatewayFixture.devAccount)/tags"))
        #expect(!gateway.upstream.output.contains("refused"), "\(gateway.upstream.output)")
        #expect(await gateway.stop() == 0)

        // The same peer refuses a gateway that signs with another secret: it is checking.
        let wrong = try folder.write("wrong.json", #"{"access_key": "HPUAMANAGEMENT000001", "secret_key": "NotTheManagementSecretKey0000000000000"}"#)
        chmod(wrong, 0o600)
        let impostor = try await GatewayFixture(
            upstream: .command(peer), settings: ["upstream": ["ca_file": folder.url.path + "/ca.pem", "signing": wrong]])
        let refused = try impostor.call("GET", "/v1/organizations/accounts", as: "admin")
        #expect(refused.status == 401 && refused.errorCode == "APIGW.0301", "\(refused.body)")
        #expect(impostor.upstream.output.contains("refused GET /v1/organizations/accounts: signature mismatch"))
        #expect(await impostor.stop() == 0)

        // Without the test CA the upstream's certificate is not trusted: 502, with the reason audited.
        let untrusting = try await GatewayFixture(upstream: .command(peer), settings: ["upstream": ["signing": signing]])
        let unverified = try untrusting.call("GET", "/v1/organizations/accounts", as: "admin")
        #expect(unverified.status == 502)
        let reason = try #require(try untrusting.auditLines().last?["reason"] as? String)
        #expect(reason.hasPrefix("upstream_unavailable: TLS:"), "\(reason)")
        #expect(await untrusting.stop() == 0)
    }

    /// A TLS connection sets g:SecureTransport: a policy that denies without it lets the
    /// SDK's HTTPS calls through and stops the same call over plain HTTP. SIGHUP takes up a
    /// renewed certificate for new connections.
    @Test func httpsSetsSecureTransportAndSIGHUPReloadsTheCertificate() async throws {
        let requireTLS = """
            {"Version": "5.0", "Statement": [{"Sid": "DenyWithoutTLS", "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
              "Condition": {"BoolIfExists": {"g:SecureTransport": ["false"]}}}]}
            """
        let (gateway, caFile, certificates) = try await Self.tlsGateway()
        defer { withExtendedLifetime(certificates) {} }
        try gateway.attach("require-tls", requireTLS, to: "admin")
        let admin = try Self.createAccessKey(gateway, user: "admin")
        let endpoint = Self.endpoint(gateway)
        #expect(
            try await gateway.eventually {
                try Self.run([Call(name: "x", keys: admin, operation: "list_accounts")], endpoint: endpoint, caFile: caFile)["x"]?["ok"] as? Bool
                    == true
            })
        let plain = try await GatewayFixture()
        try plain.attach("require-tls", requireTLS, to: "admin")
        #expect(try await plain.eventually { try plain.call("GET", "/v1/organizations/accounts", as: "admin").status == 403 })
        #expect(await plain.stop() == 0)

        // A renewed certificate (another name, the same CA) written over the files, then SIGHUP.
        func servedSubject() throws -> String {
            let shown = try CLI.runProgram(
                "/usr/bin/env", ["openssl", "s_client", "-connect", "127.0.0.1:\(gateway.port)", "-CAfile", caFile, "-verify_return_error"], stdin: ""
            )
            return shown.stdout.split(separator: "\n").first { $0.hasPrefix("subject=") }.map(String.init) ?? shown.stderr
        }
        #expect(try servedSubject().contains("gatehouse test gateway"))
        let folder = certificates.url.path
        try Self.makeCertificates(in: folder, names: ["renewed"])
        for (from, to) in [("renewed.pem", "gateway.pem"), ("renewed-key.pem", "gateway-key.pem")] {
            try Data(contentsOf: URL(fileURLWithPath: folder + "/" + from)).write(to: URL(fileURLWithPath: folder + "/" + to), options: .atomic)
        }
        kill(gateway.gateway.pid, SIGHUP)
        #expect(try await gateway.eventually { try servedSubject().contains("gatehouse test renewed") })
        // A pair that does not load is refused; the renewed one keeps serving.
        try "not a certificate".write(toFile: folder + "/gateway.pem", atomically: true, encoding: .utf8)
        kill(gateway.gateway.pid, SIGHUP)
        #expect(
            try await gateway.eventually {
                let tls = try gateway.admin("/readyz").json["tls"] as? [String: Any]
                return (tls?["last_refused"] as? String)?.contains("listen.tls.cert_file") == true
            })
        #expect(try servedSubject().contains("gatehouse test renewed"))
        #expect(await gateway.stop() == 0)
    }
}
