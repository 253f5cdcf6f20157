import Foundation
import Testing

/// The organization console in a real browser: headless Chromium (Debian's `chromium` and
/// `chromium-driver`, driven by Selenium from PyPI; `make test-deps` and .ci/run install
/// them) clicks through `gatehouse demo` as the OU management guide describes
/// (Fixtures/console_browser.py). Its screenshots go to a temporary folder, or to
/// `SCREENSHOT_DIR` (`make screenshots` writes docs/screenshots).
@Suite(.serialized) struct ConsoleBrowserTests {
    static let script = CLI.packageRoot.appendingPathComponent("Tests/GatehouseCLITests/Fixtures/console_browser.py")

    static func requireBrowser() throws {
        for path in ["/usr/bin/chromium", "/usr/bin/chromedriver"] where !FileManager.default.isExecutableFile(atPath: path) {
            throw HarnessError.http("\(path) is missing: apt-get install chromium chromium-driver (make test-deps does)")
        }
        let probe = try CLI.runProgram("/usr/bin/env", ["python3", "-c", "import selenium"])
        guard probe.status == 0 else { throw HarnessError.http("Selenium is not installed for python3 (make test-deps): \(probe.stderr)") }
    }

    /// Sign in, a wrong password, a member's refused edit, cookie flags and CSRF, Edit with
    /// errors beside the fields and Save, Change to a user with an address and Cancel, Change
    /// to one without (the address entered, the link from the maildir opened and accepted,
    /// opened again), and the former owner's next click: "login expired".
    @Test func theGuidesFlowClickedThroughInChromium() async throws {
        try Self.requireBrowser()
        let dir = try TempDir()
        let data = dir.url.appendingPathComponent("demo").path
        let demo = try Spawned(CLI.binary, ["demo", "--data-dir", data, "--port", "0", "--authz-port", "0"])
        defer { kill(demo.pid, SIGKILL) }
        let contract = data + "/demo.json"
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: contract), Date() < deadline, demo.process.isRunning {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(FileManager.default.fileExists(atPath: contract), "the demo wrote no demo.json: \(demo.output)")
        let shots = ProcessInfo.processInfo.environment["SCREENSHOT_DIR"] ?? dir.url.appendingPathComponent("shots").path
        let run = try CLI.runProgram("/usr/bin/env", ["python3", Self.script.path, contract, shots])
        #expect(run.status == 0 && run.stdout.hasSuffix("done\n"), "\(run.stdout)\n\(run.stderr)")
        let checks = run.stdout.split(separator: "\n").filter { $0.hasPrefix("ok ") }
        #expect(checks.count >= 30, "\(run.stdout)")
        for page in [
            "sign-in", "profile", "edit", "edit-errors", "refused-edit", "change-owner", "change-owner-email", "pending-transfer", "confirm",
            "accepted", "link-cancelled", "link-used", "login-expired",
        ] {
            #expect(FileManager.default.fileExists(atPath: "\(shots)/\(page).png"), "\(page).png")
        }
        // Every click is in the audit log: the sign-ins, the refused forms and edit, the transfer.
        let audit = try String(contentsOfFile: data + "/audit.log", encoding: .utf8)
        #expect(audit.contains(#""reason":"console_form_refused: the form has no CSRF token""#))
        #expect(audit.contains(#""reason":"sign_in_refused: owner""#))
        #expect(audit.contains(#""credential":"console_session""#))
        #expect(audit.contains(#""changes":{"owner":{"old":"owner","new":"new_hire"}"#))
    }

    /// A browser's side of a console session, over raw HTTP: its cookies, kept as a browser
    /// would keep them for `/console`.
    struct Browser {
        let gateway: GatewayFixture
        var cookies: [String: String] = [:]

        var cookieHeader: [(String, String)] {
            cookies.isEmpty ? [] : [("Cookie", cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))]
        }

        mutating func send(_ method: String, _ target: String, form: [(String, String)]? = nil) throws -> RawHTTP.Response {
            var headers = cookieHeader
            let body = form.map { fields in
                fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
            }
            if body != nil { headers.append(("Content-Type", "application/x-www-form-urlencoded")) }
            let answer = try RawHTTP.send(port: gateway.port, method: method, target: target, headers: headers, body: body)
            for (name, value) in answer.headers where name.lowercased() == "set-cookie" {
                let pair = value.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let cookie = String(pair[0])
                if value.contains("Max-Age=0") { cookies[cookie] = nil } else { cookies[cookie] = String(pair[1]) }
            }
            return answer
        }

        /// The sign-in page, then its form: the answer to the form.
        mutating func signIn(_ user: String, _ password: String) throws -> RawHTTP.Response {
            _ = try send("GET", "/console/sign-in")
            return try send("POST", "/console/sign-in", form: [("csrf", cookies["gatehouse_csrf"] ?? ""), ("user", user), ("password", password)])
        }
    }

    /// Every way a session ends is "login expired" at the next click, and the session cookie
    /// is no credential for the API (nor is a token one for a page).
    @Test func endedSessionsSendTheBrowserBackToSignIn() async throws {
        let gateway = try await GatewayFixture()
        let password = "console secret 1"
        #expect(try CLI.run(["directory", "set-password", "--db", gateway.db, "--user", "admin"], stdin: password + "\n").status == 0)
        var browser = Browser(gateway: gateway)
        func signedIn() throws -> Bool {
            browser.cookies = [:]
            return try browser.signIn("admin", password).header("Location") == "/console/profile" && browser.cookies["gatehouse_console"] != nil
        }
        func expired() throws -> Bool {
            let answer = try browser.send("GET", "/console/profile")
            return answer.status == 303 && answer.header("Location") == "/console/sign-in?expired=1" && browser.cookies["gatehouse_console"] == nil
        }
        // A wrong password, and a right one from a form without the sign-in page's token.
        #expect(try browser.signIn("admin", "wrong password").status == 401)
        browser.cookies = [:]
        #expect(try browser.send("POST", "/console/sign-in", form: [("user", "admin"), ("password", password)]).status == 403)

        #expect(try signedIn())
        #expect(try browser.send("GET", "/console/profile").status == 200)
        let session = try #require(browser.cookies["gatehouse_console"])
        let api = try gateway.call("GET", "/v1/organizations/profile", headers: [("Cookie", "gatehouse_console=\(session)")])
        #expect(api.status == 401 && api.errorCode == "APIGW.0301", "\(api.status) \(api.body)")
        #expect(try gateway.call("GET", "/console/profile", as: "admin").header("Location") == "/console/sign-in")

        #expect(try CLI.run(["directory", "end-sessions", "--db", gateway.db, "--user", "admin"]).status == 0)
        #expect(try await gateway.eventually { try expired() })

        #expect(try signedIn())
        #expect(try CLI.run(["directory", "disable", "--db", gateway.db, "--user", "admin"]).status == 0)
        #expect(try await gateway.eventually { try expired() })
        #expect(try CLI.run(["directory", "enable", "--db", gateway.db, "--user", "admin"]).status == 0)

        // Sign out revokes the session: the cookie is deleted, and a copy of it no longer works.
        #expect(try await gateway.eventually { try signedIn() })
        let kept = try #require(browser.cookies["gatehouse_console"])
        let csrf = try #require(browser.send("GET", "/console/profile").body.firstMatch(of: /name="csrf" value="([0-9a-f]{32})"/)?.1)
        #expect(try browser.send("POST", "/console/sign-out", form: [("csrf", String(csrf))]).header("Location") == "/console/sign-in")
        #expect(browser.cookies["gatehouse_console"] == nil)
        browser.cookies["gatehouse_console"] = kept
        #expect(try await gateway.eventually { try expired() })
        #expect(await gateway.stop() == 0)
    }

    /// Over TLS the console's cookies are `Secure`; over plain HTTP they cannot be (the
    /// browser test sees that side).
    @Test func cookiesAreSecureOverTLS() async throws {
        let (gateway, caFile, certificates) = try await SDKEndToEndTests.tlsGateway()
        defer { withExtendedLifetime(certificates) {} }
        let shown = try CLI.runProgram(
            "/usr/bin/env", ["curl", "-sS", "-D", "-", "-o", "/dev/null", "--cacert", caFile, "https://127.0.0.1:\(gateway.port)/console/sign-in"])
        let cookie = shown.stdout.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie: gatehouse_csrf=") }
        #expect(cookie?.hasSuffix("; HttpOnly; SameSite=Strict; Secure") == true, "\(shown.stdout) \(shown.stderr)")
        #expect(await gateway.stop() == 0)
    }
}
