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
