import Foundation
import Testing

@testable import GatehouseMail

/// A one-connection SMTP peer on loopback that answers each command from a script, for the
/// misbehaving servers a real one (aiosmtpd, in the end-to-end tests) will not play.
final class ScriptedSMTPServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var received: [String] = []
    private let done = DispatchSemaphore(value: 0)

    /// `answers` maps a command's first word to the bytes sent back; the body after DATA is
    /// recorded as one entry and answered by `answers["."]`.
    init(greeting: String = "220 scripted\r\n", answers: [String: String]) throws {
        // Close-on-exec: tests elsewhere in this process start children, which must not hold our sockets.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        listener = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 1) == 0 else { throw CocoaError(.fileWriteUnknown) }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            defer { done.signal() }
            // A child process ending elsewhere in the test run (SIGCHLD) interrupts accept and
            // recv: retried, or the client would see the connection closed before the greeting.
            var connection: Int32
            repeat { connection = accept(listener, nil, nil) } while connection < 0 && errno == EINTR
            if connection >= 0 { _ = fcntl(connection, F_SETFD, FD_CLOEXEC) }
            guard connection >= 0 else { return }
            defer { close(connection) }
            // Generous: with every suite running at once, the client may be slow to get a thread.
            var limit = timeval(tv_sec: 120, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            send(connection, greeting)
            var pending = ""
            var inData = false
            var body = ""
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(connection, &chunk, chunk.count, 0)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return }
                pending += String(decoding: chunk[..<count], as: UTF8.self)
                while let end = pending.range(of: "\r\n") {
                    let line = String(pending[..<end.lowerBound])
                    pending.removeSubrange(..<end.upperBound)
                    if inData {
                        guard line == "." else {
                            body += line + "\r\n"
                            continue
                        }
                        inData = false
                        record(body)
                        send(connection, answers["."] ?? "250 ok\r\n")
                        continue
                    }
                    record(line)
                    let verb = String(line.split(separator: " ").first ?? "").uppercased()
                    guard let answer = answers[verb] else { return }
                    send(connection, answer)
                    if verb == "DATA" && answer.hasPrefix("354") { inData = true }
                    if verb == "QUIT" { return }
                }
            }
        }
    }

    /// Sends all of `text`, retrying an interrupted or partial send: a greeting lost to
    /// EINTR left client and server each waiting for the other until a 30 s timeout.
    private func send(_ socket: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            sent += count
        }
    }

    private func record(_ line: String) { lock.withLock { received.append(line) } }

    /// What the client sent, once it has hung up (bounded wait).
    func commands() -> [String] {
        _ = done.wait(timeout: .now() + 120)
        return lock.withLock { received }
    }

    deinit { close(listener) }
}

@Suite struct SMTPClientTests {
    let message = MailMessage(from: "gatehouse@example.com", to: "admin@example.com", subject: "Grüße", body: "line one\n.starts with a dot\nend")

    func transport(_ server: ScriptedSMTPServer, _ security: SMTPSettings.Security, username: String = "") throws -> SMTPTransport {
        try SMTPTransport(
            settings: SMTPSettings(
                host: "127.0.0.1", port: server.port, security: security, username: username, password: username.isEmpty ? "" : "secret",
                timeout: .seconds(120)))
    }

    @Test func aPlainConversationStuffsDotsAndEncodesTheSubject() async throws {
        let server = try ScriptedSMTPServer(answers: [
            "EHLO": "250-scripted\r\n250-SIZE 1000\r\n250 8BITMIME\r\n", "MAIL": "250 ok\r\n", "RCPT": "250 ok\r\n", "DATA": "354 go on\r\n",
            ".": "250 queued\r\n", "QUIT": "221 bye\r\n",
        ])
        try await transport(server, .none).deliver(message, now: Date())
        let sent = server.commands()
        #expect(sent.first?.hasPrefix("EHLO [127.0.0.1]") == true)
        #expect(sent.contains("MAIL FROM:<gatehouse@example.com> BODY=8BITMIME"))
        #expect(sent.contains("RCPT TO:<admin@example.com>"))
        let body = try #require(sent.first { $0.contains("Subject:") })
        #expect(body.contains("Subject: =?UTF-8?B?\(Data("Grüße".utf8).base64EncodedString())?="))
        #expect(body.contains("\r\n..starts with a dot\r\n"))
        #expect(sent.last == "QUIT")
    }

    @Test func noSTARTTLSOfferedMeansNothingIsSent() async throws {
        let server = try ScriptedSMTPServer(answers: ["EHLO": "250-scripted\r\n250 AUTH PLAIN\r\n", "QUIT": "221 bye\r\n"])
        await #expect {
            try await transport(server, .starttls, username: "gatehouse").deliver(message, now: Date())
        } throws: { error in
            (error as? SMTPError)?.kind == .unsupported("STARTTLS")
        }
        // A stripped STARTTLS (a downgrade) never gets the password or the message.
        #expect(server.commands() == ["EHLO [127.0.0.1]"])
    }

    @Test func bytesSentAfterAgreeingToSTARTTLSEndTheConversation() async throws {
        // The 220 and an injected reply in one write: the second would otherwise be read as
        // if it had come over TLS (the STARTTLS command-injection problem).
        let server = try ScriptedSMTPServer(answers: ["EHLO": "250-scripted\r\n250 STARTTLS\r\n", "STARTTLS": "220 go ahead\r\n250 injected\r\n"])
        await #expect {
            try await transport(server, .starttls).deliver(message, now: Date())
        } throws: { error in
            "\(error)".contains("after agreeing to STARTTLS")
        }
        #expect(server.commands() == ["EHLO [127.0.0.1]", "STARTTLS"])
    }

    @Test func refusalsSayWhichStepAndWhetherToRetry() async throws {
        let refusedRecipient = try ScriptedSMTPServer(answers: [
            "EHLO": "250 scripted\r\n", "MAIL": "250 ok\r\n", "RCPT": "550 5.1.1 no such user\r\n", "QUIT": "221 bye\r\n",
        ])
        await #expect {
            try await transport(refusedRecipient, .none).deliver(message, now: Date())
        } throws: { error in
            guard let error = error as? SMTPError else { return false }
            return error.refusesRecipient && error.description == "SMTP RCPT TO: the server answered 550 5.1.1 no such user"
        }
        let busy = try ScriptedSMTPServer(answers: ["EHLO": "250 scripted\r\n", "MAIL": "451 try later\r\n", "QUIT": "221 bye\r\n"])
        await #expect {
            try await transport(busy, .none).deliver(message, now: Date())
        } throws: { error in
            (error as? SMTPError).map { !$0.refusesRecipient && $0.step == "MAIL FROM" } ?? false
        }
        let garbled = try ScriptedSMTPServer(greeting: "hello there\r\n", answers: [:])
        await #expect {
            try await transport(garbled, .none).deliver(message, now: Date())
        } throws: { error in
            "\(error)".contains("malformed reply line")
        }
    }

    @Test func addressesThatCouldChangeACommandAreRefused() async throws {
        for address in ["a@b.c>\r\nRCPT TO:<x@y.z", "has space@b.c", "no-at-sign", ""] {
            var bad = message
            bad.to = address
            await #expect {
                try await SMTPTransport(settings: SMTPSettings(host: "127.0.0.1", port: 1, security: .none)).deliver(bad, now: Date())
            } throws: { error in
                (error as? SMTPError)?.refusesRecipient == true
            }
        }
        // Header values lose line breaks, so a name cannot add a header.
        let injected = MailMessage(from: "a@b.c", to: "d@e.f", subject: "hi\r\nBcc: x@y.z", body: "b").rendered(date: Date(), messageId: "m")
        #expect(!injected.contains("\r\nBcc:"))
    }
}
