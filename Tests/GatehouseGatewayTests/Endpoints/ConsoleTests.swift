import Foundation
import GatehouseDirectory
import Testing

@testable import GatehouseGateway

/// The console's cookies, forms and CSRF rules, and which credential a console page and an
/// API take (the browser test clicks through the pages themselves).
@Suite struct ConsoleTests {
    @Test func cookiesAreReadOnlyWhenEachNameIsSentOnce() {
        #expect(ConsoleCookies(fields: ["a=1; gatehouse_console=gh_x ;gatehouse_csrf=c"]) == ConsoleCookies(session: "gh_x", signInCSRF: "c"))
        #expect(ConsoleCookies(fields: ["gatehouse_console=gh_x", "other=2"]).session == "gh_x")
        // Tossed from elsewhere: two values, neither believed.
        #expect(ConsoleCookies(fields: ["gatehouse_console=gh_a; gatehouse_console=gh_b"]).session == nil)
        #expect(ConsoleCookies(fields: ["gatehouse_console=gh_a", "gatehouse_console=gh_b"]).session == nil)
        #expect(ConsoleCookies(fields: ["gatehouse_console=", "gatehouse_consolex=1", "nonsense"]) == ConsoleCookies())
    }

    /// A form that cannot be read exactly is no form: nothing is cleared or kept escaped.
    @Test func aFormWithBadEscapesOrBytesIsRefusedWhole() throws {
        for body in ["csrf=x&industry", "industry=%C3%28", "industry=%zz", "industry=a%2", "industry=%", "a=1&&b=2", "=%FF"] {
            #expect(FormFields.decode(Array(body.utf8)) == .failure(.malformed(String(describing: Self.malformedWhy(body)))), "\(body)")
        }
        #expect(try FormFields.decode(Array("a=%E2%82%AC+x&b=".utf8)).get().values == ["a": "€ x", "b": ""])
        #expect(try FormFields.decode([]).get().values.isEmpty)
        #expect(TransferEndpoints.formValue("token", in: "token=ot_a&token=ot_b") == nil)
        #expect(TransferEndpoints.formValue("token", in: "token=ot_a") == "ot_a")
    }

    static func malformedWhy(_ body: String) -> String {
        body.split(separator: "&", omittingEmptySubsequences: false).contains { !$0.contains("=") }
            ? "a field without '='" : "a '%' not followed by two hex digits, or text that is not UTF-8"
    }

    @Test func formsAreURLEncodedWithOneValuePerName() throws {
        let form = try FormFields.parse(Array("user=a+b&password=p%26q%3D&csrf=".utf8), contentType: "application/x-www-form-urlencoded").get()
        #expect(form["user"] == "a b" && form["password"] == "p&q=" && form["csrf"] == "")
        #expect(
            FormFields.parse(Array("a=1&a=2".utf8), contentType: "application/x-www-form-urlencoded; charset=UTF-8") == .failure(.repeated("a")))
        #expect(FormFields.parse(Array(#"{"a": 1}"#.utf8), contentType: "application/json") == .failure(.notAForm))
        #expect(FormFields.parse(Array("a=1".utf8), contentType: nil) == .failure(.notAForm))
        #expect(
            FormFields.parse([0x61, 0x3D, 0xFF], contentType: "application/x-www-form-urlencoded")
                == .failure(.malformed("a '%' not followed by two hex digits, or text that is not UTF-8")))
    }

    @Test func theCSRFTokenBelongsToOneSession() {
        let token = ConsoleSession.csrfToken(forSession: "gh_one")
        #expect(token.count == 32 && token == ConsoleSession.csrfToken(forSession: "gh_one"))
        #expect(token != ConsoleSession.csrfToken(forSession: "gh_two"))
        #expect(ConsoleSession.csrfMatches(token, expected: token))
        #expect(!ConsoleSession.csrfMatches(String(token.dropLast()) + (token.hasSuffix("0") ? "1" : "0"), expected: token))
        #expect(!ConsoleSession.csrfMatches(nil, expected: token) && !ConsoleSession.csrfMatches("", expected: token))
        #expect(ConsoleSession.newSignInCSRF() != ConsoleSession.newSignInCSRF())
    }

    @Test func cookiesAreHttpOnlyStrictAndSecureWithTLS() {
        #expect(ConsoleSession.setCookie("n", "v", maxAge: 60, secure: false) == "n=v; Path=/console; Max-Age=60; HttpOnly; SameSite=Strict")
        #expect(ConsoleSession.setCookie("n", "v", maxAge: 60, secure: true).hasSuffix("; SameSite=Strict; Secure"))
    }

    static let organization = try! DirectorySeed.load(sampleDirectory).organization

    func call(_ handler: BuiltInEndpoint, body: String, fetchSite: String? = nil) -> EndpointRequest {
        var call = EndpointRequest(
            handler: handler, session: nil, organization: Self.organization, parameters: [:], query: nil, body: Array(body.utf8), now: Date())
        call.contentType = "application/x-www-form-urlencoded"
        call.fetchSite = fetchSite
        return call
    }

    @Test func aFormFromAnotherSiteOrWithoutItsTokenIsRefusedFirst() throws {
        let expected = ConsoleSession.csrfToken(forSession: "gh_s")
        let good = "csrf=\(expected)&name=X"
        #expect(try ConsoleEndpoints.checkedForm(call(.consoleProfileSave, body: good), expectedCSRF: expected).get()["name"] == "X")
        #expect(
            try ConsoleEndpoints.checkedForm(call(.consoleProfileSave, body: good, fetchSite: "same-origin"), expectedCSRF: expected).get()["name"]
                == "X")
        for site in ["cross-site", "same-site"] {
            let refused = ConsoleEndpoints.checkedForm(call(.consoleProfileSave, body: good, fetchSite: site), expectedCSRF: expected)
            #expect(refused.failureReason?.hasPrefix("console_form_refused: the browser says") == true, "\(site)")
        }
        #expect(
            ConsoleEndpoints.checkedForm(call(.consoleProfileSave, body: "name=X"), expectedCSRF: expected).failureReason
                == "console_form_refused: the form has no CSRF token")
        #expect(
            ConsoleEndpoints.checkedForm(call(.consoleProfileSave, body: "csrf=00&name=X"), expectedCSRF: expected).failureReason
                == "console_form_refused: the form's CSRF token does not match")
        // No double-submit cookie for the sign-in form: nothing can match.
        #expect(ConsoleEndpoints.checkedForm(call(.consoleSignIn, body: "csrf=&user=u"), expectedCSRF: nil).failureReason != nil)
    }

    /// A console page takes only its cookie, and the cookie is no credential for the API:
    /// a page of another site cannot spend it, and a stolen API token opens no page.
    @Test func theSessionCookieIsTheConsolesCredentialAndNothingElses() throws {
        let world = try AuthorizerTests.world()
        let token = try #require(world.tokens["console/owner"])
        let apiToken = try #require(world.tokens["owner"])
        func decide(_ method: String, _ target: String, token header: String?, cookie: String?) -> RequestContext? {
            var attributes = RequestAttributes(method: method, target: target, token: header, peer: "127.0.0.1")
            attributes.cookies = ConsoleCookies(session: cookie)
            guard case .decided(let decided) = world.authorizer.authorize(attributes, requestId: "r", policies: world.policies, directory: world.view)
            else { return nil }
            return decided
        }
        let page = decide("GET", "/console/profile", token: nil, cookie: token)
        #expect(page?.gatewayError == nil && page?.record.credential == "console_session" && page?.isConsole == true)
        #expect(decide("GET", "/console/profile", token: token, cookie: nil)?.gatewayError?.kind == .credentialMissing)
        #expect(decide("GET", "/console/profile", token: nil, cookie: apiToken)?.gatewayError?.kind == .credentialMissing)
        #expect(decide("GET", "/v1/organizations/profile", token: nil, cookie: token)?.gatewayError?.kind == .credentialMissing)
        #expect(decide("GET", "/v1/organizations/profile", token: token, cookie: nil)?.gatewayError?.reason == "token_console_session")
        #expect(decide("GET", "/v1/organizations/profile", token: apiToken, cookie: nil)?.gatewayError == nil)
        // Paths under /console that are no page are still answered as pages.
        #expect(decide("GET", "/console/", token: nil, cookie: token)?.isConsole == true)
        #expect(decide("DELETE", "/console/profile", token: nil, cookie: token)?.gatewayError?.kind == .noRoute)
        // Sign-in is reached without a session; Sign out needs one.
        #expect(decide("POST", "/console/sign-in", token: nil, cookie: nil)?.record.reason == "console_sign_in")
        #expect(decide("POST", "/console/sign-out", token: nil, cookie: nil)?.gatewayError?.kind == .credentialMissing)
    }

    /// The guide gives the owner the profile and the owner change by role: allowed with no
    /// policy attached, so the rights move with a transfer; an explicit Deny still refuses,
    /// and nothing else is given.
    @Test func theOwnerHasTheGuidesRightsWithoutPolicies() throws {
        let deny = #"{"Version": "5.0", "Statement": [{"Effect": "Deny", "Action": ["organizations:profile:update"], "Resource": ["*"]}]}"#
        let world = try AuthorizerTests.world(policies: ["deny-profile-edits": deny]) { seed in
            seed.organization.owner = "new_hire"
            for index in seed.users.indices where seed.users[index].name == "new_hire" {
                seed.users[index].role = .owner
                seed.users[index].policies = ["deny-profile-edits"]
            }
            for index in seed.users.indices where seed.users[index].name == "owner" { seed.users[index].role = .user }
            for index in seed.users.indices where seed.users[index].name == "dev_only" { seed.users[index].policies.append("deny-profile-edits") }
        }
        func decide(_ method: String, _ target: String, as user: String) -> RequestContext? {
            let attributes = RequestAttributes(method: method, target: target, token: world.tokens[user], peer: "127.0.0.1")
            guard case .decided(let decided) = world.authorizer.authorize(attributes, requestId: "r", policies: world.policies, directory: world.view)
            else { return nil }
            return decided
        }
        #expect(decide("GET", "/v1/organizations/profile", as: "new_hire")?.record.reason == "owner_rights")
        #expect(decide("PATCH", "/v1/organizations/profile", as: "new_hire")?.record.reason == "explicit_deny")
        #expect(decide("DELETE", "/v1/organizations/owner-transfers/ot-1", as: "new_hire")?.record.reason == "owner_rights")
        #expect(decide("GET", "/v1/organizations/accounts", as: "new_hire")?.record.reason == "implicit_deny")
        // Not the owner: the policies alone (dev_only's deny, the former owner's none).
        #expect(decide("PATCH", "/v1/organizations/profile", as: "dev_only")?.record.reason == "explicit_deny")
        #expect(decide("GET", "/v1/organizations/profile", as: "member")?.record.reason == "explicit_allow")
    }

    /// Cookies are `Secure` when the call came over TLS as `g:SecureTransport` reads it: the
    /// gateway's own, or a trusted proxy's `X-Forwarded-Proto: https`, never an untrusted one's.
    @Test func aConsoleCallIsSecureAsSecureTransportSays() throws {
        let world = try AuthorizerTests.world(trusted: ["10.0.0.0/8"])
        func secure(peer: String, proto: String?, tls: Bool = false) -> Bool? {
            var attributes = RequestAttributes(method: "GET", target: "/console/sign-in", forwardedProto: proto, peer: peer)
            attributes.isTLS = tls
            guard case .decided(let decided) = world.authorizer.authorize(attributes, requestId: "r", policies: world.policies, directory: world.view)
            else { return nil }
            return decided.secureTransport
        }
        #expect(secure(peer: "10.1.2.3", proto: "https") == true)
        #expect(secure(peer: "192.0.2.1", proto: "https") == false)
        #expect(secure(peer: "192.0.2.1", proto: nil, tls: true) == true)
        #expect(secure(peer: "10.1.2.3", proto: "http") == false)
    }

    /// Refused pages: without a live session, back to sign-in ("login expired" when one
    /// ended, its cookie deleted); anything else shown as the API's refusal.
    @Test func refusalsAreAnsweredAsPages() throws {
        let ended = ConsoleEndpoints.refusal(
            .credentialRefused(.sessionEnded), requestId: "r", session: nil, cookies: ConsoleCookies(session: "gh_x"), isTLS: true)
        #expect(ended.status == 303 && ended.fields.contains { $0.0.description == "Location" && $0.1 == "/console/sign-in?expired=1" })
        #expect(ended.fields.contains { $0.0.description == "Set-Cookie" && $0.1.hasPrefix("gatehouse_console=; ") && $0.1.hasSuffix("Secure") })
        let missing = ConsoleEndpoints.refusal(.credentialRefused(nil), requestId: "r", session: nil, cookies: ConsoleCookies(), isTLS: false)
        #expect(missing.fields.contains { $0.0.description == "Location" && $0.1 == "/console/sign-in" })
        #expect(!missing.fields.contains { $0.0.description == "Set-Cookie" })
        let denied = ConsoleEndpoints.refusal(.notOwnerOrAdmin, requestId: "r-1", session: nil, cookies: ConsoleCookies(), isTLS: false)
        #expect(denied.status == 403 && denied.body.contains("Gatehouse.0403") && denied.body.contains("r-1"))
        #expect(denied.fields.contains { $0.0.description == "Content-Security-Policy" && $0.1.hasPrefix("default-src 'none'; style-src 'sha256-") })
    }
}

extension Result where Failure == GatewayError {
    var failureReason: String? {
        if case .failure(let error) = self { return error.reason }
        return nil
    }
}
