import Foundation
import Testing

@testable import GatehouseGateway

@Suite struct SMTPConfigTests {
    func problems(_ environment: [String: String]) -> [String] {
        do {
            _ = try GatewayConfig.load(file: nil, environment: environment)
            return []
        } catch {
            return error.diagnostics.map(\.message)
        }
    }

    @Test func smtpOptionsAreChecked() {
        #expect(problems(["GATEHOUSE_MAIL_TRANSPORT": "smtp"]).isEmpty)
        #expect(problems(["GATEHOUSE_MAIL_TRANSPORT": "carrier-pigeon"]).first?.contains("maildir or smtp") == true)
        #expect(problems(["GATEHOUSE_MAIL_SMTP_SECURITY": "maybe"]).first?.contains("starttls, tls or none") == true)
        #expect(problems(["GATEHOUSE_MAIL_FROM": "Gatehouse <gatehouse@example.com>"]).first?.contains("plain address") == true)
        #expect(
            problems(["GATEHOUSE_MAIL_TRANSPORT": "smtp", "GATEHOUSE_MAIL_SMTP_USERNAME": "gatehouse"]).first?.contains("go together") == true)
        #expect(
            problems([
                "GATEHOUSE_MAIL_TRANSPORT": "smtp", "GATEHOUSE_MAIL_SMTP_USERNAME": "gatehouse", "GATEHOUSE_MAIL_SMTP_PASSWORD_FILE": "/run/pw",
                "GATEHOUSE_MAIL_SMTP_SECURITY": "none",
            ]).first?.contains("in the clear") == true)
    }

    @Test func anUnreadableCAOrPasswordFileStopsTheStart() throws {
        var config = GatewayConfig()
        config.mailTransport = "smtp"
        config.smtpCAFile = "/nonexistent/ca.pem"
        #expect(throws: GatewayStartError.self) { try config.makeMailTransport() }
        config.smtpCAFile = ""
        config.smtpUsername = "gatehouse"
        config.smtpPasswordFile = "/nonexistent/password"
        #expect(throws: GatewayStartError.self) { try config.makeMailTransport() }
    }
}
