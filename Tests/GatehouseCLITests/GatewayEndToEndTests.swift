import Foundation
import Testing

/// The gateway as a user runs it: `gatehouse serve` and an upstream as real processes on
/// loopback, driven over HTTP. Each test starts its own and stops them by PID.
@Suite(.serialized) struct GatewayEndToEndTests {
    typealias Fixture = GatewayFixture

    @Test func anAllowedUpdateIsForwardedAndAudited() async throws {
        let gateway = try await Fixture()
        let answer = try gateway.update(Fixture.devAccount, as: "dev_only", description: "set through gatehouse")
        #expect(answer.status == 200)
        let account = try #require(answer.json["account"] as? [String: Any])
        #expect(account["description"] as? String == "set through gatehouse")
        let requestId = try #require(answer.header("X-Request-Id"))
        #expect(!requestId.isEmpty)

        let line = try #require(try gateway.auditLines().last)
        #expect(line["request_id"] as? String == requestId)
        #expect(line["decision"] as? String == "allow")
        #expect(line["reason"] as? String == "explicit_allow")
        #expect(line["action"] as? String == "organizations:accounts:update")
        #expect(line["principal"] as? String == "iam::0a6d25d23900d45c0faac010e0fb4de0:user:dev_only")
        #expect((line["statements"] as? [String]) == ["dev-accounts-update:UpdateDevAccounts"])
        #expect(line["status"] as? Int == 200)
        #expect(line["schema"] as? Int == 1)
        #expect((line["policy_revision"] as? String)?.count == 16)
        // Neither the token nor the body reaches the audit log.
        let audit = try String(contentsOfFile: gateway.auditLog, encoding: .utf8)
        #expect(!audit.contains(gateway.tokens["dev_only"]!))
        #expect(!audit.contains("set through gatehouse"))
        #expect(await gateway.stop() == 0)
    }

    @Test func implicitAndExplicitDenials() async throws {
        let gateway = try await Fixture()
        let implicit = try gateway.update(Fixture.prodAccount, as: "dev_only")
        #expect(implicit.status == 403)
        #expect(implicit.errorCode == "Organizations.1007")
        #expect(implicit.json["error_msg"] as? String == "Policy doesn't allow 'organizations:accounts:update' to be performed.")
        #expect(implicit.json["request_id"] as? String == implicit.header("X-Request-Id"))
        // The admin may update anything but protected accounts.
        #expect(try gateway.update(Fixture.prodAccount, as: "admin").status == 200)
        let explicit = try gateway.update(Fixture.protectedAccount, as: "admin")
        #expect(explicit.status == 403)
        #expect(explicit.errorCode == "Organizations.1007")
        #expect(!explicit.body.contains("DenyUpdatingProtectedAccounts"))
        // The account service's own errors come back as it gave them.
        let missing = try gateway.call("GET", "/v1/organizations/accounts/00000000000000000000000000000000", as: "admin")
        #expect(missing.status == 404)
        #expect(missing.errorCode == "Organizations.1010")
        let reasons = try gateway.auditLines().map { $0["reason"] as? String }
        #expect(reasons == ["implicit_deny", "explicit_allow", "explicit_deny", "explicit_allow"])
        #expect((try gateway.auditLines()[2]["statements"] as? [String]) == ["deny-protected-accounts:DenyUpdatingProtectedAccounts"])
        #expect(try gateway.auditLines().last?["status"] as? Int == 404)
        #expect(await gateway.stop() == 0)
    }

    @Test func managementAccountOnlyComesBeforePolicies() async throws {
        let gateway = try await Fixture()
        let answer = try gateway.update(Fixture.devAccount, as: "member")
        #expect(answer.status == 401)
        #expect(answer.errorCode == "Organizations.1001")
        #expect(answer.json["error_msg"] as? String == "This operation can be called only from the management account of an organization.")
        // member's account is a delegated administrator: listing accounts is open to it.
        #expect(try gateway.call("GET", "/v1/organizations/accounts", as: "member").status == 200)
        #expect(try gateway.auditLines().first?["reason"] as? String == "not_management_account")
        #expect(await gateway.stop() == 0)
    }

    @Test func aTagChangeFlipsTheDecision() async throws {
        let gateway = try await Fixture(settings: ["tags": ["cache_ttl_ms": 60_000]])
        #expect(try gateway.update(Fixture.prodAccount, as: "dev_only").status == 403)
        // Retagging passes through the gateway, which drops the cached tags at once.
        let retag = try gateway.call(
            "POST", "/v1/organizations/resources/\(Fixture.prodAccount)/tag", as: "admin", body: #"{"tags": [{"key": "env", "value": "dev"}]}"#)
        #expect(retag.status == 204)
        #expect(try gateway.update(Fixture.prodAccount, as: "dev_only").status == 200)
        // The typed tag API drops them too.
        let back = try gateway.call(
            "POST", "/v1/organizations/organizations:accounts/\(Fixture.prodAccount)/tags/create", as: "admin",
            body: #"{"tags": [{"key": "env", "value": "prod"}]}"#)
        #expect(back.status == 204)
        #expect(try gateway.update(Fixture.prodAccount, as: "dev_only").status == 403)
        // Removing the protected tag is denied by its own statement (g:TagKeys from the body).
        let untag = try gateway.call(
            "POST", "/v1/organizations/resources/\(Fixture.protectedAccount)/untag", as: "admin", body: #"{"tag_keys": ["protected"]}"#)
        #expect(untag.status == 403)
        let malformed = try gateway.call("POST", "/v1/organizations/resources/\(Fixture.prodAccount)/tag", as: "admin", body: "{not json")
        #expect(malformed.status == 400)
        #expect(await gateway.stop() == 0)
    }

    @Test func tokensThatNoLongerWork() async throws {
        let gateway = try await Fixture()
        func expectLoginExpired(_ answer: RawHTTP.Response, _ comment: Comment) {
            #expect(answer.status == 401, comment)
            #expect(answer.errorCode == "Gatehouse.0401", comment)
            #expect(answer.json["error_msg"] as? String == "login expired", comment)
        }
        // No credential, and one the directory never issued, are not a login that expired.
        let missing = try gateway.call("GET", "/v1/organizations/accounts")
        #expect(missing.status == 401 && missing.errorCode == "APIGW.0301")
        #expect(missing.json["error_msg"] as? String == "Incorrect IAM authentication information: x-auth-token not found")
        let unknown = try gateway.call("GET", "/v1/organizations/accounts", token: "gh_not-a-real-token")
        #expect(unknown.status == 401 && unknown.errorCode == "APIGW.0301")
        #expect(unknown.json["error_msg"] as? String == "Incorrect IAM authentication information: decrypt token fail")
        let bearer = try gateway.call("GET", "/v1/organizations/accounts", headers: [("Authorization", "Bearer \(gateway.tokens["admin"]!)")])
        #expect(bearer.status == 200)

        let shortLived = try gateway.issueToken("admin", ttl: "1s")
        try await Task.sleep(for: .milliseconds(1300))
        expectLoginExpired(try gateway.call("GET", "/v1/organizations/accounts", token: shortLived), "expired token")

        let revoked = try gateway.issueToken("admin")
        #expect(try await gateway.eventually { try gateway.call("GET", "/v1/organizations/accounts", token: revoked).status == 200 })
        #expect(try CLI.run(["directory", "revoke-token", "--db", gateway.db, "--token", "-"], stdin: revoked).status == 0)
        #expect(try await gateway.eventually { try gateway.call("GET", "/v1/organizations/accounts", token: revoked).status == 401 })
        // Ending a user's sessions ends every token issued before.
        #expect(try CLI.run(["directory", "end-sessions", "--db", gateway.db, "--user", "dev_only"]).status == 0)
        #expect(try await gateway.eventually { try gateway.update(Fixture.devAccount, as: "dev_only").status == 401 })
        let reasons = Set(try gateway.auditLines().compactMap { $0["reason"] as? String })
        #expect(reasons.isSuperset(of: ["token_missing", "token_unknown", "token_expired", "token_revoked", "token_session_ended"]))
        #expect(await gateway.stop() == 0)
    }

    @Test func aUserAddedWithTheCLIIsAuthorizedThroughTheirGroup() async throws {
        let gateway = try await Fixture()
        func directory(_ arguments: [String]) throws -> CLI.Result { try CLI.run(["directory"] + arguments + ["--db", gateway.db]) }
        let added = try directory(["add-user", "--name", "carol", "--account", "0a6d25d23900d45c0faac010e0fb4de0", "--tag", "team=core"])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("iam::0a6d25d23900d45c0faac010e0fb4de0:user:carol"))
        let token = try gateway.issueToken("carol")
        #expect(try await gateway.eventually { try gateway.update(Fixture.prodAccount, as: nil, token: token).status == 403 })
        #expect(try directory(["add-member", "--group", "org-admins", "--user", "carol"]).status == 0)
        #expect(try await gateway.eventually { try gateway.update(Fixture.prodAccount, as: nil, token: token).status == 200 })
        #expect(try directory(["remove-member", "--group", "org-admins", "--user", "carol"]).status == 0)
        #expect(try await gateway.eventually { try gateway.update(Fixture.prodAccount, as: nil, token: token).status == 403 })
        #expect(try directory(["add-user", "--name", "carol", "--account", "0a6d25d23900d45c0faac010e0fb4de0"]).status == 2)
        #expect(try directory(["add-group", "--name", "org-admins"]).status == 2)
        #expect(try directory(["show"]).stdout.contains("user carol (user)"))
        #expect(await gateway.stop() == 0)
    }

    @Test func theOrganizationProfile() async throws {
        let gateway = try await Fixture()
        let shown = try gateway.call("GET", "/v1/organizations/profile", as: "admin")
        #expect(shown.status == 200)
        let profile = try #require(shown.json["organization_profile"] as? [String: Any])
        #expect(profile["organization_id"] as? String == "o-fhkmi6mek7wlqdp6nideqhb47qwtjdsv")
        #expect(profile["name"] as? String == "Example Corp")
        #expect(profile["country"] is NSNull)

        let edited = try gateway.call(
            "PATCH", "/v1/organizations/profile", as: "admin",
            body: #"{"address": "1 Main St", "country": "DE", "scale": "50-99", "organization_code": "HRB-12345"}"#)
        #expect(edited.status == 200)
        let after = try #require(edited.json["organization_profile"] as? [String: Any])
        #expect(after["country"] as? String == "DE")
        // The guide's editable "Organization ID" is the organization's own code; the system ID stays.
        #expect(after["organization_code"] as? String == "HRB-12345")
        #expect(after["organization_id"] as? String == "o-fhkmi6mek7wlqdp6nideqhb47qwtjdsv")
        #expect(after["address"] as? String == "1 Main St")
        let audited = try #require(try gateway.auditLines().last)
        #expect(audited["action"] as? String == "organizations:profile:update")
        let changes = try #require(audited["changes"] as? [String: [String: Any]])
        #expect(Set(changes.keys) == ["address", "country", "scale", "organization_code"])
        #expect(changes["country"]?["old"] is NSNull)
        #expect(changes["country"]?["new"] as? String == "DE")
        #expect(
            try gateway.call("PATCH", "/v1/organizations/profile", as: "owner", body: #"{"name": "Example Group", "address": null}"#).status == 200)
        let renamed = try #require(try gateway.auditLines().last?["changes"] as? [String: [String: Any]])
        #expect(renamed["name"]?["old"] as? String == "Example Corp")
        #expect(renamed["address"]?["new"] is NSNull)

        // Policies decide first; then only the owner or an administrator may edit.
        let developer = try gateway.call("PATCH", "/v1/organizations/profile", as: "dev_only", body: #"{"industry": "x"}"#)
        #expect(developer.status == 403)
        #expect(developer.errorCode == "Organizations.1007")
        #expect(
            try CLI.run(["directory", "add-user", "--db", gateway.db, "--name", "carol", "--account", "0a6d25d23900d45c0faac010e0fb4de0"]).status == 0
        )
        #expect(try CLI.run(["directory", "add-member", "--db", gateway.db, "--group", "org-admins", "--user", "carol"]).status == 0)
        let carol = try gateway.issueToken("carol")
        #expect(try await gateway.eventually { try gateway.call("GET", "/v1/organizations/profile", token: carol).status == 200 })
        let notAdmin = try gateway.call("PATCH", "/v1/organizations/profile", token: carol, body: #"{"industry": "x"}"#)
        #expect(notAdmin.status == 403)
        #expect(notAdmin.errorCode == "Gatehouse.0403")
        #expect(try gateway.auditLines().last?["reason"] as? String == "not_owner_or_admin")

        for (body, field) in [
            (#"{"name": ""}"#, "name"), (#"{"name": null}"#, "name"), (#"{"country": "Germany"}"#, "country"), (#"{"scale": "huge"}"#, "scale"),
            (#"{"organization_id": "o-x"}"#, "organization_id"), (#"{"colour": "red"}"#, "colour"), (#"{"industry": 5}"#, "industry"),
            (#"{"business_license_number": "12 34"}"#, "business_license_number"), ("[]", "JSON object"), ("{}", "no field"),
            (#"{"organization_code": "o code"}"#, "organization_code"),
        ] {
            let refused = try gateway.call("PATCH", "/v1/organizations/profile", as: "admin", body: body)
            #expect(refused.status == 400, "\(body)")
            #expect((refused.json["error_msg"] as? String)?.contains(field) == true, "\(body): \(refused.body)")
        }
        let unchanged = try #require(try gateway.call("GET", "/v1/organizations/profile", as: "admin").json["organization_profile"] as? [String: Any])
        #expect(unchanged["name"] as? String == "Example Group")
        #expect(unchanged["country"] as? String == "DE")
        #expect(await gateway.stop() == 0)
    }

    @Test func ownershipTransferByEmailedLink() async throws {
        let gateway = try await Fixture()
        // Only the owner starts one; not to themselves.
        #expect(try gateway.call("POST", "/v1/organizations/owner-transfers", as: "admin", body: #"{"target_user_id": "u-0003"}"#).status == 403)
        #expect(try gateway.call("POST", "/v1/organizations/owner-transfers", as: "owner", body: #"{"target_user_id": "u-0001"}"#).status == 400)
        #expect(try gateway.call("POST", "/v1/organizations/owner-transfers", as: "owner", body: #"{"target_user_id": "u-9"}"#).status == 400)
        let started = try gateway.call("POST", "/v1/organizations/owner-transfers", as: "owner", body: #"{"target_user_id": "u-0002"}"#)
        #expect(started.status == 201)
        let transfer = try #require(started.json["owner_transfer"] as? [String: Any])
        let id = try #require(transfer["id"] as? String)
        #expect(transfer["state"] as? String == "pending")
        #expect(try gateway.call("POST", "/v1/organizations/owner-transfers", as: "owner", body: #"{"target_user_id": "u-0003"}"#).status == 409)
        #expect(try gateway.call("GET", "/v1/organizations/owner-transfers/\(id)", as: "admin").json["owner_transfer"] != nil)

        // The email arrives with a link; the directory never holds the link itself.
        #expect(try await gateway.eventually { gateway.mail().count == 1 })
        let message = try #require(gateway.mail().first)
        #expect(message.contains("To: admin@example.com"))
        let link = try #require(message.split(separator: "\r\n").first { $0.contains("/owner-transfer/confirm?token=") })
        let target = String(link[link.range(of: "/owner-transfer/confirm")!.lowerBound...]).trimmingCharacters(in: .whitespaces)
        let token = String(target.split(separator: "=", maxSplits: 1)[1])
        let directoryBytes = try Data(contentsOf: URL(fileURLWithPath: gateway.db))
        #expect(directoryBytes.range(of: Data(token.utf8)) == nil)

        let ownerToken = gateway.tokens["owner"]!
        let page = try gateway.call("GET", target)
        #expect(page.status == 200)
        #expect(page.header("Content-Type")?.hasPrefix("text/html") == true)
        #expect(page.body.contains("<form method=\"post\" action=\"/owner-transfer/confirm\">"))
        let accepted = try gateway.accept(token)
        #expect(accepted.status == 200)
        #expect(accepted.body.contains("You now own"))
        let audited = try #require(try gateway.auditLines().last)
        #expect(audited["reason"] as? String == "confirmation_link")
        #expect(audited["user"] as? String == "admin")
        let changes = try #require(audited["changes"] as? [String: [String: Any]])
        #expect(changes["owner"]?["new"] as? String == "admin")
        #expect(changes["former_owner_groups"]?["old"] as? String == "org-admins")

        // The former owner's next call: login expired; a new login has no permissions.
        let former = try gateway.call("GET", "/v1/organizations/accounts", token: ownerToken)
        #expect(former.status == 401)
        #expect(former.json["error_msg"] as? String == "login expired")
        // (A token issued by the CLI reaches the gateway with its next directory refresh.)
        let fresh = try gateway.issueToken("owner")
        #expect(try await gateway.eventually { try gateway.call("GET", "/v1/organizations/accounts", token: fresh).status != 401 })
        #expect(try gateway.call("GET", "/v1/organizations/accounts", token: fresh).status == 403)
        // The new owner has owner rights at once: starting a transfer is the owner's alone.
        let next = try gateway.call("POST", "/v1/organizations/owner-transfers", as: "admin", body: #"{"target_user_id": "u-0003"}"#)
        #expect(next.status == 201)
        let nextId = try #require((next.json["owner_transfer"] as? [String: Any])?["id"] as? String)

        // The used link, an unknown one, and a cancelled transfer each say so.
        #expect(try gateway.call("GET", target).status == 409)
        #expect(try gateway.call("GET", "/owner-transfer/confirm?token=ot_nothing").status == 404)
        #expect(try gateway.call("DELETE", "/v1/organizations/owner-transfers/\(nextId)", as: "owner", token: fresh).status == 403)
        let cancelled = try gateway.call("DELETE", "/v1/organizations/owner-transfers/\(nextId)", as: "admin")
        #expect((cancelled.json["owner_transfer"] as? [String: Any])?["state"] as? String == "cancelled")
        #expect(try await gateway.eventually { gateway.mail().count >= 1 })
        #expect(await gateway.stop() == 0)
    }

    /// The OU management guide: a target with no registered address gets the link at the
    /// address the owner enters; one with an address gets it only there.
    @Test func aTargetWithoutAnAddressGetsTheLinkAtTheAddressEntered() async throws {
        let gateway = try await Fixture()
        let added = try CLI.run(["directory", "add-user", "--db", gateway.db, "--name", "newbie", "--account", "0a6d25d23900d45c0faac010e0fb4de0"])
        #expect(added.status == 0)
        let newbie = try #require(added.stdout.split(separator: "(").dropFirst().first?.split(separator: ")").first.map(String.init))
        func start(_ body: String) throws -> RawHTTP.Response {
            try gateway.call("POST", "/v1/organizations/owner-transfers", as: "owner", body: body)
        }
        let missing = try start(#"{"target_user_id": "\#(newbie)"}"#)
        #expect(missing.status == 400 && (missing.json["error_msg"] as? String)?.contains("email") == true, "\(missing.body)")
        #expect(try start(#"{"target_user_id": "u-0002", "email": "elsewhere@example.com"}"#).status == 400)
        #expect(try start(#"{"target_user_id": "\#(newbie)", "email": "not an address"}"#).status == 400)
        #expect(try start(#"{"target_user_id": "\#(newbie)", "email": 5}"#).status == 400)
        let started = try start(#"{"target_user_id": "\#(newbie)", "email": "newbie@example.com"}"#)
        #expect(started.status == 201, "\(started.body)")
        #expect((started.json["owner_transfer"] as? [String: Any])?["email_entered"] as? Bool == true)
        #expect(try await gateway.eventually { gateway.mail().count == 1 })
        let message = try #require(gateway.mail().first)
        #expect(message.contains("To: newbie@example.com"))
        #expect(try gateway.accept(try Fixture.linkToken(in: message)).status == 200)
        #expect(await gateway.stop() == 0)
    }

    @Test func anExpiredLinkChangesNothing() async throws {
        // A link valid for two seconds, left to expire for real.
        let gateway = try await Fixture(settings: ["transfers": ["validity_seconds": 2]])
        let started = try gateway.call("POST", "/v1/organizations/owner-transfers", as: "owner", body: #"{"target_user_id": "u-0002"}"#)
        let id = try #require((started.json["owner_transfer"] as? [String: Any])?["id"] as? String)
        let expires = try #require(gatewayTime((started.json["owner_transfer"] as? [String: Any])?["expires_at"]))
        #expect(try await gateway.eventually { gateway.mail().count == 1 })
        let token = try Fixture.linkToken(in: try #require(gateway.mail().first))
        try await Task.sleep(for: .seconds(max(0, expires.timeIntervalSinceNow) + 0.2))
        let page = try gateway.call("GET", "/owner-transfer/confirm?token=\(token)")
        #expect(page.status == 410)
        #expect(page.body.contains("expired"))
        #expect(try gateway.accept(token).status == 410)
        let shown = try gateway.call("GET", "/v1/organizations/owner-transfers/\(id)", as: "owner").json["owner_transfer"] as? [String: Any]
        #expect(shown?["state"] as? String == "expired")
        // Nothing changed: the owner still owns, and may start another.
        #expect(try gateway.call("POST", "/v1/organizations/owner-transfers", as: "owner", body: #"{"target_user_id": "u-0003"}"#).status == 201)
        #expect(await gateway.stop() == 0)
    }

    @Test func transferMailGoesThroughARealSMTPServer() async throws {
        let gateway = try await Fixture(smtp: .init(mode: "starttls"))
        // A first transfer, cancelled: its link then says so and changes nothing.
        let first = try gateway.call("POST", "/v1/organizations/owner-transfers", as: "owner", body: #"{"target_user_id": "u-0003"}"#)
        let firstId = try #require((first.json["owner_transfer"] as? [String: Any])?["id"] as? String)
        #expect(try await gateway.eventually { gateway.mail().count == 1 })
        let envelope = try #require(try gateway.envelopes().first)
        #expect(envelope["tls"] as? Bool == true)
        #expect(envelope["login"] as? String == "gatehouse")
        #expect(envelope["mail_from"] as? String == "gatehouse@localhost")
        #expect(envelope["rcpt_tos"] as? [String] == ["dev@example.com"])
        #expect((envelope["mail_options"] as? [String])?.contains("BODY=8BITMIME") == true)
        let cancelledToken = try Fixture.linkToken(in: gateway.mail()[0])
        #expect(try gateway.call("DELETE", "/v1/organizations/owner-transfers/\(firstId)", as: "owner").status == 200)
        let cancelledPage = try gateway.call("GET", "/owner-transfer/confirm?token=\(cancelledToken)")
        #expect(cancelledPage.status == 410)
        #expect(cancelledPage.body.contains("cancelled"))
        #expect(try gateway.accept(cancelledToken).status == 410)

        // A second, accepted by two racing posts of its link: exactly one wins.
        let ownerToken = gateway.tokens["owner"]!
        #expect(try gateway.call("POST", "/v1/organizations/owner-transfers", as: "owner", body: #"{"target_user_id": "u-0002"}"#).status == 201)
        #expect(try await gateway.eventually { gateway.mail().count == 2 })
        let message = gateway.mail()[1]
        #expect(message.contains("To: admin@example.com"))
        let token = try Fixture.linkToken(in: message)
        #expect(try gateway.call("GET", "/owner-transfer/confirm?token=\(token)").status == 200)
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<2 { group.addTask { try gateway.accept(token).status } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.sorted() == [200, 409])
        #expect(try gateway.call("GET", "/v1/organizations/accounts", token: ownerToken).json["error_msg"] as? String == "login expired")
        // The new owner's rights hold from the next call: only the owner may start a transfer.
        #expect(try gateway.call("POST", "/v1/organizations/owner-transfers", as: "admin", body: #"{"target_user_id": "u-0003"}"#).status == 201)
        #expect(try await gateway.eventually { gateway.mail().count == 3 })
        // /readyz shows the backlog as read after each delivery round.
        #expect(
            try await gateway.eventually { (try gateway.admin("/readyz").json["mail"] as? [String: Any])?["waiting"] as? Int == 0 })
        let ready = try #require(try gateway.admin("/readyz").json["mail"] as? [String: Any])
        #expect(ready["transport"] as? String == "smtp")
        #expect(await gateway.stop() == 0)
    }

    @Test func aRefusedRecipientFailsTheTransferOverTLSFromTheFirstByte() async throws {
        let gateway = try await Fixture(smtp: .init(mode: "tls", refuse: ["admin@example.com"]))
        let started = try gateway.call("POST", "/v1/organizations/owner-transfers", as: "owner", body: #"{"target_user_id": "u-0002"}"#)
        let id = try #require((started.json["owner_transfer"] as? [String: Any])?["id"] as? String)
        // 550 is final: the transfer fails with the server's words, and no longer blocks a new one.
        #expect(
            try await gateway.eventually {
                (try gateway.call("GET", "/v1/organizations/owner-transfers/\(id)", as: "owner").json["owner_transfer"] as? [String: Any])?["state"]
                    as? String == "failed"
            })
        let failed = try #require(
            try gateway.call("GET", "/v1/organizations/owner-transfers/\(id)", as: "owner").json["owner_transfer"] as? [String: Any])
        #expect((failed["failure"] as? String)?.contains("550") == true)
        #expect(gateway.mail().isEmpty)
        #expect(try gateway.call("POST", "/v1/organizations/owner-transfers", as: "owner", body: #"{"target_user_id": "u-0003"}"#).status == 201)
        #expect(try await gateway.eventually { gateway.mail().count == 1 })
        #expect(try gateway.envelopes().first?["tls"] as? Bool == true)
        #expect(await gateway.stop() == 0)
    }

    @Test func aRefusedLoginIsRetriedAndShownInReadyz() async throws {
        let gateway = try await Fixture(smtp: .init(gatewayPassword: "wrong"))
        let started = try gateway.call("POST", "/v1/organizations/owner-transfers", as: "owner", body: #"{"target_user_id": "u-0002"}"#)
        let id = try #require((started.json["owner_transfer"] as? [String: Any])?["id"] as? String)
        #expect(
            try await gateway.eventually {
                ((try gateway.admin("/readyz").json["mail"] as? [String: Any])?["last_error"] as? String)?.contains("535") == true
            })
        let ready = try gateway.admin("/readyz")
        #expect(ready.status == 200)
        #expect((ready.json["mail"] as? [String: Any])?["waiting"] as? Int == 1)
        // A login problem is ours to fix, not the recipient's: the transfer stays pending.
        let transfer = try gateway.call("GET", "/v1/organizations/owner-transfers/\(id)", as: "owner").json["owner_transfer"] as? [String: Any]
        #expect(transfer?["state"] as? String == "pending")
        #expect(gateway.mail().isEmpty)
        #expect(await gateway.stop() == 0)
    }

    @Test func policiesReloadAndABadSetIsRefused() async throws {
        let gateway = try await Fixture()
        #expect(try gateway.update(Fixture.prodAccount, as: "dev_only").status == 403)
        let file = "\(gateway.policies)/dev-accounts-update.json"
        let original = try String(contentsOfFile: file, encoding: .utf8)
        try original.replacingOccurrences(of: #""g:ResourceTag/env": ["dev"]"#, with: #""g:ResourceTag/env": ["dev", "prod"]"#)
            .write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await gateway.eventually { try gateway.update(Fixture.prodAccount, as: "dev_only").status == 200 })
        let revision = try #require(try gateway.auditLines().last?["policy_revision"] as? String)

        // One broken file refuses the whole new set; the last good one keeps deciding.
        try original.write(toFile: file, atomically: true, encoding: .utf8)
        try
            #"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": ["organizations:*:*"], "Resource": ["*"], "Condition": {"StringEqualz": {"g:UserAgent": "x"}}}]}"#
            .write(toFile: "\(gateway.policies)/broken.json", atomically: true, encoding: .utf8)
        #expect(
            try await gateway.eventually {
                (try gateway.admin("/readyz").json["policies"] as? [String: Any])?["last_refused"] is String
            })
        let ready = try gateway.admin("/readyz")
        #expect(ready.status == 200)
        let refused = try #require((ready.json["policies"] as? [String: Any])?["last_refused"] as? String)
        #expect(refused.contains("broken.json:1:"))
        #expect(refused.contains("StringEqualz"))
        #expect(try gateway.update(Fixture.prodAccount, as: "dev_only").status == 200)
        #expect(try gateway.auditLines().last?["policy_revision"] as? String == revision)
        #expect(try gateway.admin("/metrics").body.contains(#"gatehouse_policy_reloads_total{result="refused"} 1"#))

        // Removing the broken file brings the edited set in, and nothing is refused any more.
        try FileManager.default.removeItem(atPath: "\(gateway.policies)/broken.json")
        #expect(try await gateway.eventually { try gateway.update(Fixture.prodAccount, as: "dev_only").status == 403 })
        #expect(try await gateway.eventually { (try gateway.admin("/readyz").json["policies"] as? [String: Any])?["last_refused"] is NSNull })
        #expect(await gateway.stop() == 0)
    }

    @Test func sighupReloadsWhenWatchingIsOff() async throws {
        let gateway = try await Fixture(settings: ["policies": ["watch_interval_ms": 0]])
        #expect(try gateway.update(Fixture.prodAccount, as: "dev_only").status == 403)
        let file = "\(gateway.policies)/dev-accounts-update.json"
        try String(contentsOfFile: file, encoding: .utf8)
            .replacingOccurrences(of: #""g:ResourceTag/env": ["dev"]"#, with: #""g:ResourceTag/env": ["dev", "prod"]"#)
            .write(toFile: file, atomically: true, encoding: .utf8)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try gateway.update(Fixture.prodAccount, as: "dev_only").status == 403)
        kill(gateway.gateway.pid, SIGHUP)
        #expect(try await gateway.eventually { try gateway.update(Fixture.prodAccount, as: "dev_only").status == 200 })
        #expect(await gateway.stop() == 0)
    }

    @Test func ambiguousPathsNeverReachTheService() async throws {
        let gateway = try await Fixture(upstream: .echo)
        for target in [
            "/v1/organizations/accounts/..%2F05261f923e80d3890f33c0056e9b3f80", "/v1/organizations/accounts/%2e%2e",
            "/v1/organizations/./accounts/x", "/v1/organizations//accounts/x", "/v1/organizations/accounts/%252Fx",
            "/v1/organizations/accounts/a%5Cb", "/v1/organizations/accounts/x%00",
        ] {
            let answer = try gateway.call("GET", target, as: "admin")
            #expect(answer.status == 400, "\(target)")
            #expect(answer.errorCode == "Gatehouse.0400", "\(target)")
            #expect(answer.header("X-Echo") == nil, "\(target)")
        }
        let unknown = try gateway.call("GET", "/v1/organizations/secrets", as: "admin")
        #expect(unknown.status == 404)
        #expect(unknown.errorCode == "Gatehouse.0404")
        // Requests that are not HTTP at all: a 400 in the service's error style, and audited.
        for garbage in [
            "GARBAGE\r\n\r\n", "GET /v1/organizations HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            "GET /v1/organizations HTTP/1.1\r\nHost x\r\n\r\n",
        ] {
            let answer = try gateway.raw(garbage)
            #expect(answer.status == 400, "\(garbage)")
            #expect(answer.errorCode == "Gatehouse.0400", "\(garbage)")
            #expect(answer.header("Connection")?.lowercased() == "close", "\(garbage)")
            #expect(answer.header("X-Echo") == nil)
        }
        let audited = try gateway.auditLines().suffix(3)
        #expect(audited.allSatisfy { ($0["reason"] as? String)?.hasPrefix("malformed_request: ") == true && $0["status"] as? Int == 400 })
        #expect(await gateway.stop() == 0)
    }

    @Test func forwardsTheCallUnchangedButForTheGatewaysOwnHeaders() async throws {
        let gateway = try await Fixture(upstream: .echo)
        let answer = try gateway.call(
            "GET", "/v1/organizations/accounts?limit=5&marker=a%20b", as: "admin",
            headers: [
                ("X-Custom", "kept"), ("X-Request-Id", "trace-123"), ("X-Gatehouse-Principal", "forged"), ("Connection", "close, X-Custom-Hop"),
                ("X-Custom-Hop", "dropped"),
            ])
        #expect(answer.status == 200)
        #expect(answer.header("X-Echo") == "yes")
        #expect(answer.header("X-Request-Id") == "trace-123")
        let echoed = answer.json
        #expect(echoed["method"] as? String == "GET")
        #expect(echoed["path"] as? String == "/v1/organizations/accounts?limit=5&marker=a%20b")
        let headers = try #require(echoed["headers"] as? [[String]])
        func forwarded(_ name: String) -> [String] { headers.filter { $0[0].lowercased() == name.lowercased() }.map { $0[1] } }
        #expect(forwarded("X-Custom") == ["kept"])
        #expect(forwarded("X-Auth-Token").isEmpty)
        #expect(forwarded("X-Custom-Hop").isEmpty)
        #expect(forwarded("X-Request-Id") == ["trace-123"])
        #expect(forwarded("X-Gatehouse-Principal") == ["iam::0a6d25d23900d45c0faac010e0fb4de0:user:admin"])
        #expect(forwarded("X-Forwarded-For") == ["127.0.0.1"])

        // Tagging needs no resource tags for the admin's policies, so it reaches the echo server.
        let body = #"{"tags":  [{"key": "note", "value": "exact bytes \u00e9"}]}"#
        let tagged = try gateway.call("POST", "/v1/organizations/resources/\(Fixture.devAccount)/tag", as: "admin", body: body)
        #expect(tagged.json["body"] as? String == body)
        // Calls that need tags are denied when the tags cannot be read (the echo server fails them).
        let needsTags = try gateway.update(Fixture.devAccount, as: "dev_only")
        #expect(needsTags.status == 503)
        #expect(needsTags.errorCode == "Gatehouse.0503")
        #expect(await gateway.stop() == 0)
    }

    @Test func bodiesAndAnswersAreReframedNeverPassedOnAmbiguously() async throws {
        let gateway = try await Fixture(upstream: .echo, settings: ["limits": ["max_head_bytes": 2048]])
        let token = gateway.tokens["admin"]!
        let tagPath = "/v1/organizations/resources/\(Fixture.devAccount)/tag"
        let body = #"{"tags": [{"key": "note", "value": "chunked"}]}"#
        let chunks = stride(from: 0, to: body.utf8.count, by: 10).map { start -> String in
            let piece = String(decoding: Array(body.utf8)[start..<min(start + 10, body.utf8.count)], as: UTF8.self)
            return String(piece.utf8.count, radix: 16) + "\r\n" + piece + "\r\n"
        }
        // A chunked request reaches the service as the same bytes with a length.
        let chunked = try gateway.raw(
            "POST \(tagPath) HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + chunks.joined() + "0\r\n\r\n")
        #expect(chunked.status == 200)
        #expect(chunked.json["body"] as? String == body)
        let forwarded = try #require(chunked.json["headers"] as? [[String]])
        #expect(forwarded.contains(["Content-Length", String(body.utf8.count)]))
        #expect(!forwarded.contains { $0[0].lowercased() == "transfer-encoding" })

        // Expect: 100-continue is answered by the gateway, which then reads the body itself.
        let continued = try gateway.rawText(
            "POST \(tagPath) HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\nExpect: 100-continue\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
        #expect(continued.hasPrefix("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"))
        #expect(!continued.lowercased().contains("\"expect\""))

        // An answer without a length: chunked again for HTTP/1.1, until close for HTTP/1.0.
        for framing in ["chunked", "close"] {
            let answer = try gateway.call("GET", "/v1/organizations/accounts?f=\(framing)", as: "admin", headers: [("X-Test-Framing", framing)])
            #expect(answer.status == 200)
            #expect(answer.header("Transfer-Encoding") == "chunked")
            #expect(answer.json["path"] as? String == "/v1/organizations/accounts?f=\(framing)")
            #expect(answer.header("X-Trailer") == nil)
            let old = try gateway.raw(
                "GET /v1/organizations/accounts?f=\(framing) HTTP/1.0\r\nX-Auth-Token: \(token)\r\nX-Test-Framing: \(framing)\r\n\r\n")
            #expect(old.status == 200)
            #expect(old.header("Transfer-Encoding") == nil)
            #expect(old.header("Connection")?.lowercased() == "close")
            #expect(old.json["path"] as? String == "/v1/organizations/accounts?f=\(framing)")
        }

        // Framing two parsers could read differently is refused, never forwarded.
        for smuggled in [
            "POST \(tagPath) HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST \(tagPath) HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
            "GET /v1/organizations/accounts HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\nX-A: 1\r\n folded\r\n\r\n",
        ] {
            let answer = try gateway.raw(smuggled)
            #expect(answer.status == 400, "\(smuggled)")
            #expect(answer.header("X-Echo") == nil)
        }
        let huge = try gateway.raw("GET /v1/organizations/accounts HTTP/1.1\r\nX-Big: \(String(repeating: "b", count: 3000))\r\n\r\n")
        #expect(huge.status == 431)
        #expect(huge.errorCode == "Gatehouse.0431")
        let reasons = try gateway.auditLines().suffix(4).map { $0["reason"] as? String }
        #expect(
            reasons == [
                "malformed_request: both Content-Length and Transfer-Encoding", "malformed_request: a Transfer-Encoding other than chunked",
                "malformed_request: a malformed header field line", "head_too_large",
            ])
        #expect(await gateway.stop() == 0)
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let gateway = try await Fixture(upstream: .echo)
        let token = gateway.tokens["admin"]!
        func request(_ path: String, close: Bool = false) -> String {
            "GET \(path) HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\n\(close ? "Connection: close\r\n" : "")\r\n"
        }
        let raw = try RawHTTP.exchange(
            port: gateway.port,
            bytes: Array(
                (request("/v1/organizations/accounts?n=1") + request("/v1/nothing") + request("/v1/organizations/accounts?n=3", close: true)).utf8),
            timeout: 15)
        let text = String(decoding: raw, as: UTF8.self)
        // Bodies do not end in a line break, so status lines are found by their text.
        let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
        #expect(statuses == ["200", "404", "200"])
        let first = try #require(text.range(of: "n=1"))
        let third = try #require(text.range(of: "n=3"))
        #expect(first.lowerBound < third.lowerBound)
        #expect(await gateway.stop() == 0)
    }

    @Test func anIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout() async throws {
        let gateway = try await Fixture(upstream: .echo, settings: ["limits": ["idle_timeout_ms": 1000]])
        let request = "GET /v1/organizations/accounts HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(gateway.tokens["admin"]!)\r\n\r\n"
        let idle = try RawHTTP.closesWhenIdle(port: gateway.port, request: request, wait: 10)
        #expect(idle.answer.status == 200)
        #expect(idle.closed)
        #expect(await gateway.stop() == 0)
        // With the default (75 s) the same connection stays open.
        let patient = try await Fixture(upstream: .echo)
        let open = try RawHTTP.closesWhenIdle(
            port: patient.port, request: "GET /v1/organizations/accounts HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(patient.tokens["admin"]!)\r\n\r\n",
            wait: 2)
        #expect(open.answer.status == 200)
        #expect(!open.closed)
        #expect(await patient.stop() == 0)
    }

    @Test func aFloodOfPipelinedRequestsPausesReadingAndIsAnsweredInOrder() async throws {
        let gateway = try await Fixture(upstream: .echo)
        let token = gateway.tokens["admin"]!
        let pad = String(repeating: "p", count: 2048)
        // The first call waits a second at the service while 1.2 MiB more arrives: past the
        // gateway's 1 MiB, it stops reading until it has answered.
        var text = "GET /v1/organizations/accounts?n=0 HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\nX-Test-Sleep: 1\r\n\r\n"
        for n in 1...600 {
            text += "GET /v1/organizations/accounts?n=\(n) HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\nX-Pad: \(pad)\r\n"
            text += n == 600 ? "Connection: close\r\n\r\n" : "\r\n"
        }
        let answers = try gateway.rawText(text)
        let order = answers.components(separatedBy: "accounts?n=").dropFirst().map { Int($0.prefix { $0.isNumber }) }
        #expect(order.count == 601)
        #expect(order.enumerated().allSatisfy { $0.offset == $0.element }, "answered out of order")
        #expect(answers.components(separatedBy: "HTTP/1.1 200 OK\r\n").count == 602)
        #expect(await gateway.stop() == 0)
    }

    @Test func aSlowClientHoldsTheUpstreamNotTheGatewaysMemory() async throws {
        let gateway = try await Fixture(upstream: .echo)
        // Warm up, then note the memory in use.
        #expect(try gateway.call("GET", "/v1/organizations/accounts", as: "admin").status == 200)
        let before = try gateway.residentBytes()
        let size = 96 << 20
        let token = gateway.tokens["admin"]!
        var during = 0
        let raw = try RawHTTP.exchange(
            port: gateway.port,
            bytes: Array(
                "GET /v1/organizations/accounts HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\nX-Test-Size: \(size)\r\nConnection: close\r\n\r\n"
                    .utf8),
            timeout: 30,
            beforeReading: {
                // The client reads nothing for a while; the upstream has long written it all.
                Thread.sleep(forTimeInterval: 2)
                during = try gateway.residentBytes()
            })
        let answer = try RawHTTP.parse(raw)
        #expect(answer.status == 200)
        #expect(answer.body.utf8.count == size)
        // Only socket buffers' worth is held, not the 96 MiB answer.
        #expect(during - before < 32 << 20, "grew by \(during - before) bytes")
        #expect(await gateway.stop() == 0)
    }

    @Test func upstreamTroubleAndLimits() async throws {
        let gateway = try await Fixture(
            upstream: .echo, settings: ["upstream": ["timeout_ms": 500], "limits": ["max_body_bytes": 1024, "request_timeout_ms": 300]])
        let slow = try gateway.call("GET", "/v1/organizations/accounts", as: "admin", headers: [("X-Test-Sleep", "2")])
        #expect(slow.status == 504)
        #expect(slow.errorCode == "Gatehouse.0504")
        let large = try gateway.call(
            "PATCH", "/v1/organizations/accounts/\(Fixture.devAccount)", as: "admin",
            body: #"{"description": "\#(String(repeating: "x", count: 2000))"}"#)
        #expect(large.status == 413)
        #expect(large.errorCode == "Gatehouse.0413")
        // A body that never finishes arriving.
        let token = gateway.tokens["admin"]!
        let stalled = try gateway.raw(
            "PATCH /v1/organizations/accounts/\(Fixture.devAccount) HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\nContent-Length: 100\r\n\r\n{\"desc"
        )
        #expect(stalled.status == 408)
        #expect(stalled.errorCode == "Gatehouse.0408")
        // A head that never ends gets the same limit, counted from its first bytes.
        let stalledHead = try gateway.raw("GET /v1/organizations/accounts HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(token)\r\n")
        #expect(stalledHead.status == 408)
        await gateway.upstream.stop()
        let down = try gateway.call("GET", "/v1/organizations/accounts", as: "admin")
        #expect(down.status == 502)
        #expect(down.errorCode == "Gatehouse.0502")
        let reasons = try gateway.auditLines().compactMap { $0["reason"] as? String }
        #expect(reasons.contains("upstream_timeout"))
        #expect(reasons.contains("body_too_large"))
        #expect(reasons.contains("request_timeout"))
        #expect(reasons.contains { $0.hasPrefix("upstream_unavailable") })
        #expect(await gateway.gateway.stop() == 0)
    }

    @Test func theAuditLogIsReopenedOnSIGHUPAndRequiredByDefault() async throws {
        let gateway = try await Fixture()
        #expect(try gateway.call("GET", "/v1/organizations/accounts", as: "admin").status == 200)
        let rotated = gateway.auditLog + ".1"
        try FileManager.default.moveItem(atPath: gateway.auditLog, toPath: rotated)
        kill(gateway.gateway.pid, SIGHUP)
        #expect(try await gateway.eventually { FileManager.default.fileExists(atPath: gateway.auditLog) })
        #expect(try gateway.call("GET", "/v1/organizations/accounts", as: "admin").status == 200)
        #expect(try gateway.auditLines().count == 1)
        #expect(try String(contentsOfFile: rotated, encoding: .utf8).split(separator: "\n").count == 1)

        // A log that cannot be reopened stops every call (audit.required defaults to true).
        try FileManager.default.removeItem(atPath: gateway.auditLog)
        try FileManager.default.createDirectory(atPath: gateway.auditLog, withIntermediateDirectories: false)
        kill(gateway.gateway.pid, SIGHUP)
        #expect(try await gateway.eventually { try gateway.admin("/readyz").status == 503 })
        let refused = try gateway.call("GET", "/v1/organizations/accounts", as: "admin")
        #expect(refused.status == 503)
        #expect(refused.errorCode == "Gatehouse.0503")
        #expect(await gateway.stop() == 0)
    }

    @Test func sigtermFinishesTheCallInFlight() async throws {
        let gateway = try await Fixture(upstream: .echo)
        let port = gateway.port
        let token = gateway.tokens["admin"]!
        let inFlight = Task.detached {
            try RawHTTP.send(
                port: port, method: "GET", target: "/v1/organizations/accounts", headers: [("X-Auth-Token", token), ("X-Test-Sleep", "1")])
        }
        // SIGTERM once the call is in flight: the upstream says it holds it.
        _ = try await gateway.upstream.line(startingWith: "holding /v1/organizations/accounts")
        kill(gateway.gateway.pid, SIGTERM)
        let answer = try await inFlight.value
        #expect(answer.status == 200)
        #expect(answer.header("X-Echo") == "yes")
        #expect(await gateway.gateway.stop() == 0)
        #expect(throws: HarnessError.self) { try gateway.call("GET", "/v1/organizations/accounts", as: "admin") }
        await gateway.upstream.stop()
    }

    /// The demo as a newcomer meets it: started outside the checkout (its files are built
    /// in), its contract files written for their owner only, the README's pasted lines
    /// answered, and a second run saying that it reuses the directory unless --fresh.
    @Test func theDemoWritesItsContract() async throws {
        let dir = try TempDir()
        let data = dir.url.appendingPathComponent("demo").path
        let elsewhere = dir.url.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        func start(_ extra: [String] = [], whenReusing: () throws -> Void = {}) async throws -> Spawned {
            let demo = try Spawned(CLI.binary, ["demo", "--data-dir", data, "--port", "0", "--authz-port", "0"] + extra, cwd: elsewhere)
            if extra.isEmpty, FileManager.default.fileExists(atPath: data + "/directory.sqlite") {
                _ = try await demo.line(startingWith: "Reusing ")
                try whenReusing()
            }
            let deadline = Date().addingTimeInterval(60)
            while !demo.output.contains("Denied before any policy"), Date() < deadline, demo.process.isRunning {
                try await Task.sleep(for: .milliseconds(50))
            }
            return demo
        }
        let demo = try await start()
        defer { kill(demo.pid, SIGKILL) }
        let contract = try jsonObject(try String(contentsOfFile: data + "/demo.json", encoding: .utf8))
        for key in ["gateway", "admin", "account_service", "organization_id", "management_account_id"] { #expect(contract[key] is String, "\(key)") }
        let tokens = try #require(contract["tokens"] as? [String: String])
        let users = try #require(contract["users"] as? [String: String])
        let accounts = try #require(contract["accounts"] as? [String: String])
        #expect(Set(tokens.keys) == ["owner", "admin", "dev_only", "member"])
        #expect(Set(users.keys) == ["owner", "admin", "dev_only", "member", "new_hire"])
        // The console's address and a password for each demo user (ConsoleBrowserTests signs in with them).
        #expect(contract["console"] as? String == (contract["gateway"] as? String).map { $0 + "/console" })
        let passwords = try #require(contract["passwords"] as? [String: String])
        #expect(Set(passwords.keys) == Set(users.keys) && passwords.values.allSatisfy { $0.count == 16 })
        #expect(demo.output.contains("/console") && demo.output.contains(passwords["owner"]!))
        let port = try #require(URL(string: contract["gateway"] as! String)?.port)
        func update(_ user: String, _ account: String) throws -> RawHTTP.Response {
            try RawHTTP.send(
                port: port, method: "PATCH", target: "/v1/organizations/accounts/\(account)", headers: [("X-Auth-Token", tokens[user]!)],
                body: #"{"description": "demo"}"#)
        }
        #expect(try update("dev_only", accounts["dev"]!).status == 200)
        #expect(try update("dev_only", accounts["prod"]!).errorCode == "Organizations.1007")
        #expect(try update("member", accounts["dev"]!).errorCode == "Organizations.1001")
        #expect(try update("admin", accounts["prod"]!).status == 200)
        // The decision listener, asked as nginx asks.
        let authzURL = try #require(contract["authz"] as? String)
        let authz = try #require(URL(string: authzURL)?.port)
        let asked = try RawHTTP.send(
            port: authz, method: "GET", target: "/auth/request",
            headers: [
                ("X-Original-Method", "GET"), ("X-Original-URI", "/v1/organizations/accounts/\(accounts["dev"]!)"), ("X-Original-Body", "none"),
                ("X-Auth-Token", tokens["dev_only"]!),
            ])
        #expect(asked.status == 200 && asked.header("X-Gatehouse-User") == "dev_only", "\(asked.status) \(asked.body)")
        #expect(demo.output.contains("curl"))
        #expect(!demo.output.contains("Reusing"))
        // The built-in example policies are policies/ as checked in, every one of them.
        let examples = CLI.packageRoot.appendingPathComponent("policies")
        let checkedIn = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter {
            $0.hasSuffix(".json") && !$0.hasSuffix(".test.json")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: data + "/policies").sorted() == checkedIn.sorted())
        for name in checkedIn {
            #expect(
                FileManager.default.contentsEqual(atPath: data + "/policies/" + name, andPath: examples.appendingPathComponent(name).path), "\(name)")
        }
        for file in ["demo.json", "env"] {
            let mode = try FileManager.default.attributesOfItem(atPath: data + "/" + file)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(file)")
        }

        // The README's lines after `source .build/demo/env`, pasted into a shell.
        let readme = try String(contentsOf: CLI.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let block = try #require(readme.components(separatedBy: "```sh\n").first { $0.hasPrefix("source .build/demo/env\n") })
        let lines = try #require(block.components(separatedBy: "```").first).replacingOccurrences(of: ".build/demo/env", with: data + "/env")
        let shell = try CLI.runProgram("/bin/bash", ["-euc", lines])
        #expect(shell.status == 0, "\(shell.stderr)")
        #expect(shell.stdout.contains(#""error_code":"Organizations.1007""#), "\(shell.stdout)")
        // The official SDK's update, AK/SK-signed with dev_only's temporary credentials.
        #expect(shell.stdout.contains(#""description": "updated with the official SDK""#), "\(shell.stdout)")
        let keys = try #require(contract["access_keys"] as? [String: [String: String]])
        #expect(Set(keys.keys) == ["owner", "admin", "dev_only", "member"] && keys.values.allSatisfy { $0["secret_key"]?.count == 40 })
        let temporary = try #require((contract["temporary_credentials"] as? [String: [String: String]])?["dev_only"])
        #expect(temporary["security_token"]?.hasPrefix("ghst_") == true && temporary["expires_at"]?.hasSuffix("Z") == true)
        #expect(await demo.stop() == 0)

        // A second run reuses the directory and says so; --fresh starts over.
        // The last run's env file names an address that is gone: from the moment the new run
        // says it reuses the directory, the file is absent or the new run's.
        let lastGateway = try #require(contract["gateway"] as? String)
        let again = try await start {
            let env = (try? String(contentsOfFile: data + "/env", encoding: .utf8)) ?? ""
            #expect(!env.contains("export GATEWAY='\(lastGateway)'"))
        }
        defer { kill(again.pid, SIGKILL) }
        #expect(again.output.contains("Reusing \(data) from an earlier run"))
        let banner = try #require(again.output.split(separator: "\n").first { $0.contains("gateway          http") })
        let address = try #require(banner.split(separator: " ").last)
        #expect(try String(contentsOfFile: data + "/env", encoding: .utf8).contains("export GATEWAY='\(address)'"))
        #expect(await again.stop() == 0)
        let fresh = try await start(["--fresh"])
        defer { kill(fresh.pid, SIGKILL) }
        #expect(fresh.output.contains("Denied before any policy"))
        #expect(!fresh.output.contains("Reusing"))
        #expect(await fresh.stop() == 0)
    }
}

/// A timestamp the gateway wrote (`2026-11-23T10:00:00.123Z`).
func gatewayTime(_ text: Any?) -> Date? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return (text as? String).flatMap(formatter.date(from:))
}
