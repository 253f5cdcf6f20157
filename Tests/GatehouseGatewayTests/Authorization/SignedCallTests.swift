import Foundation
import GatehouseDirectory
import GatehousePolicy
import GatehouseSigning
import Testing

@testable import GatehouseGateway

/// AK/SK-signed calls through the authenticate stage: each refusal with its own reason, the
/// same session and context keys as a token's, and the credential named in the audit record.
@Suite struct SignedCallTests {
    final class World {
        let folder: URL
        let store: DirectoryStore
        let policies: PolicySnapshot
        let authorizer: Authorizer

        init() throws {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-signed-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            store = try DirectoryStore(
                path: folder.appendingPathComponent("d.sqlite").path,
                keyEncryptionKey: try KeyEncryptionKey(base64: KeyEncryptionKey.generate(), source: "test"))
            try store.importSeed(try DirectorySeed.load(sampleDirectory))
            policies = try PolicySnapshot.load(directory: root.appendingPathComponent("policies").path)
            authorizer = Authorizer(catalog: try RouteCatalog.load(sampleCatalog), trustedProxies: [])
        }

        deinit { try? FileManager.default.removeItem(at: folder) }

        func authorize(_ attributes: RequestAttributes) throws -> RequestContext {
            let result = authorizer.authorize(attributes, requestId: "r", policies: policies, directory: try store.view(now: SignedCallTests.now))
            guard case .decided(let requestContext) = result else { throw CancellationError() }
            return requestContext
        }
    }

    static let host = "127.0.0.1:8443"
    static let now = Date(timeIntervalSince1970: 1_795_994_056)

    /// A call signed as the SDK signs it (all fields sent, sorted), then optionally altered.
    static func signed(
        _ method: String, _ target: String, body: String = "", accessKey: String, secretKey: String, securityToken: String? = nil,
        signedAt: Date = now, algorithm: RequestSigning.Algorithm = .sdkHmacSha256, alter: (inout RequestSigning.Request) -> Void = { _ in }
    ) -> RequestAttributes {
        var fields: [(name: String, value: String)] = [("Host", host), ("X-Sdk-Date", RequestSigning.formatDate(signedAt))]
        if !body.isEmpty { fields.append(("Content-Type", "application/json")) }
        if let securityToken { fields.append(("X-Security-Token", securityToken)) }
        var request = RequestSigning.Request(method: method, target: target, fields: fields, body: Array(body.utf8))
        let signedHeaders = fields.map { $0.name.lowercased() }.sorted()
        let date = RequestSigning.formatDate(signedAt)
        let scope = algorithm == .v11HmacSha256 ? String(date.prefix(8)) + "/cn-north-4/organizations" : nil
        let signature = try! RequestSigning.signature(
            of: request, signedHeaders: signedHeaders, date: date, algorithm: algorithm, accessKey: accessKey, scope: scope, secretKey: secretKey
        ).get()
        let credential = scope.map { "Credential=\(accessKey)/\($0)" } ?? "Access=\(accessKey)"
        let authorization = "\(algorithm.rawValue) \(credential), SignedHeaders=\(signedHeaders.joined(separator: ";")), Signature=\(signature)"
        alter(&request)
        var attributes = RequestAttributes(method: method, target: target, peer: "127.0.0.1", body: request.body, now: now)
        attributes.signed = SignedCredential(authorization: authorization, securityToken: securityToken, request: request)
        return attributes
    }

    @Test func permanentAndTemporaryKeysAuthenticateLikeTokens() throws {
        let world = try World()
        let admin = try world.store.createAccessKey(user: "admin")
        for algorithm in RequestSigning.Algorithm.allCases {
            let call = try world.authorize(
                Self.signed(
                    "GET", "/v1/organizations/accounts?limit=10", accessKey: admin.accessKey, secretKey: admin.secretKey, algorithm: algorithm))
            #expect(call.gatewayError == nil, "\(algorithm)")
            #expect(call.record.decision == "allow")
            #expect(call.record.user == "admin" && call.record.credential == "access_key" && call.record.accessKey == admin.accessKey)
            #expect(!call.record.line.contains(admin.secretKey))
        }
        let temporary = try world.store.issueTemporaryCredentials(user: "dev_only", validFor: 3600, mfa: true, now: Self.now)
        let call = try world.authorize(
            Self.signed(
                "GET", "/v1/organizations", accessKey: temporary.accessKey, secretKey: temporary.secretKey, securityToken: temporary.securityToken))
        #expect(call.gatewayError == nil)
        #expect(call.record.credential == "temporary_access_key" && call.record.user == "dev_only")
        #expect(call.session?.mfa == true && call.session?.issuedAt == Self.now.timeIntervalSince1970)
        #expect(!call.record.line.contains(temporary.securityToken))
    }

    @Test func everyRefusalHasItsOwnReason() throws {
        let world = try World()
        let key = try world.store.createAccessKey(user: "admin")
        let temporary = try world.store.issueTemporaryCredentials(user: "admin", validFor: 3600, now: Self.now)
        // A call decided without tags (a built-in endpoint), so every case ends in this stage.
        let path = "/v1/organizations/profile"
        let body = #"{"address": "hello"}"#
        func refusal(_ attributes: RequestAttributes) throws -> (String, Int, String)? {
            let call = try world.authorize(attributes)
            return call.gatewayError.map { ($0.reason, $0.status, $0.code) }
        }
        func signed(
            accessKey: String? = nil, secretKey: String? = nil, securityToken: String? = nil, signedAt: Date = Self.now,
            alter: (inout RequestSigning.Request) -> Void = { _ in }
        ) -> RequestAttributes {
            Self.signed(
                "PATCH", path, body: body, accessKey: accessKey ?? key.accessKey, secretKey: secretKey ?? key.secretKey, securityToken: securityToken,
                signedAt: signedAt, alter: alter)
        }
        let cases: [(String, RequestAttributes, String, String)] = [
            ("tampered body", signed { $0.body = Array(#"{"address": "hellO"}"#.utf8) }, "signature_mismatch", "APIGW.0301"),
            ("wrong secret key", signed(secretKey: String(key.secretKey.reversed())), "signature_mismatch", "APIGW.0301"),
            ("stale date", signed(signedAt: Self.now.addingTimeInterval(-16 * 60)), "signature_date_out_of_window", "APIGW.0301"),
            ("unknown access key", signed(accessKey: "GHUNKNOWN00000000000"), "access_key_unknown", "APIGW.0301"),
            (
                "temporary key without its token", signed(accessKey: temporary.accessKey, secretKey: temporary.secretKey), "security_token_missing",
                "APIGW.0301"
            ),
            (
                "temporary key with another token",
                signed(accessKey: temporary.accessKey, secretKey: temporary.secretKey, securityToken: "ghst_other"), "security_token_mismatch",
                "APIGW.0301"
            ),
            ("permanent key with a token", signed(securityToken: temporary.securityToken), "security_token_unexpected", "APIGW.0301"),
            (
                "an unsigned field changed",
                signed { $0.fields.append(("X-Security-Token", "added")) }, "signature_unsigned_field", "APIGW.0301"
            ),
        ]
        for (name, attributes, reason, code) in cases {
            let got = try refusal(attributes)
            #expect(got?.0 == reason, "\(name)")
            #expect(got?.1 == 401 && got?.2 == code, "\(name)")
        }
        // The audit names the key's own kind, whatever headers came with it.
        let tokenless = try world.authorize(signed(accessKey: temporary.accessKey, secretKey: temporary.secretKey))
        #expect(tokenless.record.credential == "temporary_access_key" && tokenless.record.accessKey == temporary.accessKey)
        #expect(try world.authorize(signed(securityToken: temporary.securityToken)).record.credential == "access_key")
        var malformed = signed()
        malformed.signed?.authorization = "SDK-HMAC-SHA256 Access=\(key.accessKey), Signature=00"
        #expect(try refusal(malformed)?.0 == "signature_malformed")
        var basic = signed()
        basic.signed?.authorization = "Basic YWRtaW46YWRtaW4="
        #expect(try refusal(basic)?.0 == "signature_unknown_algorithm")
        var tokenOnly = RequestAttributes(method: "GET", target: "/v1/organizations", peer: "127.0.0.1", now: Self.now)
        tokenOnly.securityTokenWithoutSignature = true
        #expect(try refusal(tokenOnly)?.0 == "security_token_without_signature")

        // Deactivated: refused after the signature held; activated again: accepted.
        try world.store.setAccessKeyActive(key.accessKey, false)
        #expect(try refusal(signed())?.0 == "access_key_inactive")
        try world.store.setAccessKeyActive(key.accessKey, true)
        #expect(try refusal(signed()) == nil)
        // Ended sessions and expiry are "login expired", as for tokens.
        let valid = signed(accessKey: temporary.accessKey, secretKey: temporary.secretKey, securityToken: temporary.securityToken)
        #expect(try refusal(valid) == nil)
        try world.store.endSessions(user: "admin")
        #expect(try refusal(valid).map { [$0.0, $0.2] } == ["access_key_session_ended", "Gatehouse.0401"])
        let late = try world.store.issueTemporaryCredentials(user: "admin", validFor: 900, now: Self.now.addingTimeInterval(-900))
        #expect(
            try refusal(signed(accessKey: late.accessKey, secretKey: late.secretKey, securityToken: late.securityToken)).map { [$0.0, $0.2] } == [
                "access_key_expired", "Gatehouse.0401",
            ])
    }

    @Test func theCredentialFillsThePrincipalKeysForEveryKind() throws {
        try Self.expectAllowedForEveryKind(
            """
            {"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": ["organizations:profile:get"], "Resource": ["*"],
              "Condition": {"StringEquals": {"g:UserName": ["member"], "g:UserId": ["u-0004"], "g:PrincipalType": ["User"],
                                             "g:DomainId": ["5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"], "g:DomainName": ["security-tools"],
                                             "g:PrincipalOrgId": ["o-fhkmi6mek7wlqdp6nideqhb47qwtjdsv"],
                                             "g:PrincipalOrgPath": ["o-fhkmi6mek7wlqdp6nideqhb47qwtjdsv/r-9f2c1a7b/ou-c2d4e6f8a0b1/5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"],
                                             "g:PrincipalOrgManagementAccountId": ["0a6d25d23900d45c0faac010e0fb4de0"],
                                             "g:ResourceOrgId": ["o-fhkmi6mek7wlqdp6nideqhb47qwtjdsv"]},
                            "Bool": {"g:PrincipalIsRootUser": ["false"]},
                            "DateGreaterThan": {"g:TokenIssueTime": ["2026-01-01T00:00:00Z"]}}}]}
            """)
    }

    /// A key named only inside a policy variable is filled like a key a condition tests: a
    /// policy that says "each user, only what carries their name" decides for every kind
    /// of credential.
    @Test func keysNamedByPolicyVariablesAreFilledForEveryKind() throws {
        try Self.expectAllowedForEveryKind(
            """
            {"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": ["organizations:profile:get"], "Resource": ["*"],
              "Condition": {"StringLike": {"g:PrincipalUrn": ["iam::*:user:${g:UserName}"]},
                            "StringEquals": {"g:PrincipalType": ["${g:PrincipalType, 'none'}"]}}}]}
            """)
    }

    /// `document`, attached to `member`, allows a call with a token, a permanent access key and
    /// temporary credentials alike.
    static func expectAllowedForEveryKind(_ document: String) throws {
        let world = try World()
        try world.store.attach(policy: "principal-keys", to: .user("member"))
        // Only the policy under test may allow (member's own also lets it read the profile).
        try world.store.detach(policy: "dev-accounts-update", from: .user("member"))
        let policyFolder = world.folder.appendingPathComponent("policies")
        try FileManager.default.copyItem(at: root.appendingPathComponent("policies"), to: policyFolder)
        try Data(document.utf8).write(to: policyFolder.appendingPathComponent("principal-keys.json"))
        let policies = try PolicySnapshot.load(directory: policyFolder.path)
        let key = try world.store.createAccessKey(user: "member", now: Self.now)
        let temporary = try world.store.issueTemporaryCredentials(user: "member", validFor: 900, now: Self.now)
        let token = try world.store.issueToken(user: "member", validFor: 900, now: Self.now).token
        let calls = [
            RequestAttributes(method: "GET", target: "/v1/organizations/profile", token: token, peer: "127.0.0.1", now: Self.now),
            Self.signed("GET", "/v1/organizations/profile", accessKey: key.accessKey, secretKey: key.secretKey),
            Self.signed(
                "GET", "/v1/organizations/profile", accessKey: temporary.accessKey, secretKey: temporary.secretKey,
                securityToken: temporary.securityToken),
        ]
        for call in calls {
            let result = world.authorizer.authorize(call, requestId: "r", policies: policies, directory: try world.store.view(now: Self.now))
            guard case .decided(let decided) = result else { Issue.record("pending"); continue }
            #expect(
                decided.record.decision == "allow" && decided.record.statements.map(\.policy) == ["principal-keys"],
                "\(decided.record.credential ?? "-")")
        }
    }
}
