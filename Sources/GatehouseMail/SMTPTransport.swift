import Foundation
import GatehousePolicy
import NIOCore
import NIOPosix
import NIOSSL

/// Where and how to reach the SMTP relay (the `mail.smtp.*` options).
public struct SMTPSettings: Sendable, Equatable {
    /// How the connection is protected. `starttls` and `tls` verify the server's certificate
    /// against the system's roots or `caFile`; `none` is for a relay on the same host only.
    public enum Security: String, Sendable, CaseIterable {
        case starttls, tls, none
    }

    public var host: String
    public var port: Int
    public var security: Security
    /// Empty: no AUTH.
    public var username: String
    public var password: String
    /// PEM file of the certificates to trust instead of the system's roots; empty: the system's.
    public var caFile: String
    public var timeout: TimeAmount

    public init(
        host: String, port: Int, security: Security, username: String = "", password: String = "", caFile: String = "",
        timeout: TimeAmount = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.caFile = caFile
        self.timeout = timeout
    }
}

/// Why a message did not go out, with the step it failed at and what the server said.
public struct SMTPError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The server answered with an error reply.
        case refused(code: Int, text: String)
        /// The server lacks something we need (STARTTLS, AUTH with a mechanism we speak).
        case unsupported(String)
        /// The conversation broke: a malformed reply, bytes sent before TLS started, the
        /// connection closing, or the time running out.
        case failed(String)
        /// An address we will not put on the wire (line breaks, angle brackets, spaces).
        case badAddress(String)
    }

    public var step: String
    public var kind: Kind

    /// True when retrying cannot help this recipient: the server refused the recipient or
    /// the message itself with a permanent (5xx) reply, or the address is unusable. A
    /// refused login or sender is a configuration problem and is retried once fixed.
    public var refusesRecipient: Bool {
        switch kind {
        case .refused(let code, _): (500..<600).contains(code) && (step == "RCPT TO" || step == "DATA")
        case .badAddress: step == "RCPT TO"
        case .unsupported, .failed: false
        }
    }

    public var description: String {
        switch kind {
        case .refused(let code, let text): "SMTP \(step): the server answered \(code) \(text)"
        case .unsupported(let what): "SMTP \(step): the server does not offer \(what)"
        case .failed(let why): "SMTP \(step): \(why)"
        case .badAddress(let address): "SMTP \(step): cannot send to or from \(JSONWriter.quoted(address))"
        }
    }
}

/// Sends mail through an SMTP relay: EHLO, STARTTLS (or TLS from the first byte), AUTH
/// PLAIN or LOGIN, then one message per connection. Certificates are always verified when
/// TLS is on; a login is never sent over a connection without it (the configuration refuses
/// that combination).
public struct SMTPTransport: MailTransport {
    public let settings: SMTPSettings
    let tls: NIOSSLContext?
    let group: any EventLoopGroup

    /// Builds the TLS context once, so a bad `caFile` is reported when the gateway starts.
    public init(settings: SMTPSettings, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        self.settings = settings
        self.group = group
        if settings.security == .none {
            tls = nil
        } else {
            tls = try ClientTLS.context(caFile: settings.caFile)
        }
    }

    public func deliver(_ message: MailMessage, now: Date) async throws {
        for address in [message.from, message.to] where !Self.isSafeAddress(address) {
            throw SMTPError(step: address == message.from ? "MAIL FROM" : "RCPT TO", kind: .badAddress(address))
        }
        let text = message.rendered(date: now, messageId: MailMessage.uniqueName(now: now) + "@gatehouse")
        let session = try await SMTPSession.open(settings: settings, tls: tls, group: group)
        do {
            try await session.send(text, from: message.from, to: message.to)
            session.close()
        } catch {
            session.close()
            throw error
        }
    }

    /// A mailbox we can put between angle brackets on a command line without changing its meaning.
    public static func isSafeAddress(_ address: String) -> Bool {
        !address.isEmpty && address.utf8.count <= 254 && address.contains("@")
            && !address.unicodeScalars.contains { $0.value < 0x21 || $0 == "<" || $0 == ">" || $0.value == 0x7F }
    }
}

/// One SMTP conversation over one connection. Commands go out in lockstep (no PIPELINING):
/// each waits for its reply before the next is written.
final class SMTPSession: Sendable {
    let channel: any Channel
    let replies: SMTPReplyHandler
    let settings: SMTPSettings
    let tls: NIOSSLContext?
    let deadline: Scheduled<Void>

    private init(channel: any Channel, replies: SMTPReplyHandler, settings: SMTPSettings, tls: NIOSSLContext?) {
        self.channel = channel
        self.replies = replies
        self.settings = settings
        self.tls = tls
        // One deadline for the whole message: a stalled server is cut off rather than
        // holding the outbox up.
        let handler = replies
        deadline = channel.eventLoop.scheduleTask(in: settings.timeout) {
            handler.fail(with: "no answer within \(settings.timeout.nanoseconds / 1_000_000) ms")
            channel.close(promise: nil)
        }
    }

    static func open(settings: SMTPSettings, tls: NIOSSLContext?, group: any EventLoopGroup) async throws -> SMTPSession {
        let replies = SMTPReplyHandler(settings: settings)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(settings.timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if settings.security == .tls, let tls {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: tls, serverHostname: SMTPReplyHandler.sniName(settings.host)))
                        }
                        try channel.pipeline.syncOperations.addHandler(replies)
                    }
                }
                .connect(host: settings.host, port: settings.port).get()
        } catch {
            throw SMTPError(step: "connect", kind: .failed("cannot reach \(settings.host):\(settings.port): \(error)"))
        }
        return SMTPSession(channel: channel, replies: replies, settings: settings, tls: tls)
    }

    func close() {
        deadline.cancel()
        channel.close(promise: nil)
    }

    /// Runs the conversation for one message; throws at the first step that goes wrong.
    func send(_ text: String, from: String, to: String) async throws {
        try await expect("greeting", nil, 220)
        let hello = "EHLO " + helloName()
        var extensions = try await expect("EHLO", hello, 250).extensions
        switch settings.security {
        case .starttls:
            guard extensions.keys.contains("STARTTLS") else { throw SMTPError(step: "STARTTLS", kind: .unsupported("STARTTLS")) }
            try await replies.startTLS(on: channel, context: tls!).get()
            extensions = try await expect("EHLO", hello, 250).extensions
        case .tls, .none: break
        }
        if !settings.username.isEmpty { try await authenticate(offered: extensions["AUTH"] ?? []) }
        let body = extensions.keys.contains("8BITMIME") ? " BODY=8BITMIME" : ""
        try await expect("MAIL FROM", "MAIL FROM:<\(from)>" + body, 250)
        try await expect("RCPT TO", "RCPT TO:<\(to)>", 250, 251)
        try await expect("DATA", "DATA", 354)
        try await expect("DATA", Self.dotStuffed(text) + ".", 250)
        _ = try? await expect("QUIT", "QUIT", 221)
    }

    private func authenticate(offered: [String]) async throws {
        let user = settings.username
        let password = settings.password
        if offered.contains("PLAIN") {
            let credentials = Data(("\0" + user + "\0" + password).utf8).base64EncodedString()
            try await expect("AUTH", "AUTH PLAIN " + credentials, 235)
        } else if offered.contains("LOGIN") {
            try await expect("AUTH", "AUTH LOGIN", 334)
            try await expect("AUTH", Data(user.utf8).base64EncodedString(), 334)
            try await expect("AUTH", Data(password.utf8).base64EncodedString(), 235)
        } else {
            throw SMTPError(step: "AUTH", kind: .unsupported("AUTH PLAIN or LOGIN (offered: \(offered.joined(separator: " ")))"))
        }
    }

    @discardableResult
    private func expect(_ step: String, _ command: String?, _ codes: Int...) async throws -> SMTPReply {
        let reply: SMTPReply
        do {
            reply = try await replies.exchange(command, on: channel, step: step).get()
        } catch let error as SMTPError {
            throw error
        } catch {
            throw SMTPError(step: step, kind: .failed("\(error)"))
        }
        guard codes.contains(reply.code) else {
            throw SMTPError(step: step, kind: .refused(code: reply.code, text: reply.lines.joined(separator: " / ")))
        }
        return reply
    }

    /// An address literal for EHLO: the address this connection comes from, which is true
    /// even where the machine has no DNS name of its own.
    private func helloName() -> String {
        switch channel.localAddress {
        case .v4(let address)?: "[\(address.host)]"
        case .v6(let address)?: "[IPv6:\(address.host)]"
        default: "localhost"
        }
    }

    /// The message with every line that starts with a dot given another (RFC 5321 4.5.2).
    static func dotStuffed(_ text: String) -> String {
        var lines = text.components(separatedBy: "\r\n")
        for index in lines.indices where lines[index].hasPrefix(".") { lines[index] = "." + lines[index] }
        var joined = lines.joined(separator: "\r\n")
        if !joined.hasSuffix("\r\n") { joined += "\r\n" }
        return joined
    }
}

/// A reply: its code and the text of each line.
struct SMTPReply: Sendable, Equatable {
    var code: Int
    var lines: [String]

    /// EHLO keywords (upper-cased) and their parameters (upper-cased, for AUTH mechanisms).
    var extensions: [String: [String]] {
        var found: [String: [String]] = [:]
        for line in lines.dropFirst() {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "=" }).map { $0.uppercased() }
            guard let keyword = words.first else { continue }
            found[keyword, default: []] += words.dropFirst()
        }
        return found
    }
}

/// Reads replies off the connection and hands each to the command waiting for it. Lives on
/// the channel's event loop; every method that touches its state runs there.
final class SMTPReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Longest reply line and most lines in one reply we accept from a server.
    static let maxLineBytes = 4096
    static let maxLines = 64

    private var buffer = ByteBuffer()
    private var lines: [String] = []
    private var waiting: (promise: EventLoopPromise<SMTPReply>, step: String)?
    /// Set while STARTTLS is answered: the TLS handler goes in before any further byte is read.
    private var tlsToStart: NIOSSLContext?
    private var context: ChannelHandlerContext?
    private let settings: SMTPSettings
    private var failure: String?

    init(settings: SMTPSettings) {
        self.settings = settings
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Writes a command (nil: none, for the greeting) and waits for the reply to it.
    func exchange(_ command: String?, on channel: any Channel, step: String) -> EventLoopFuture<SMTPReply> {
        channel.eventLoop.flatSubmit {
            let promise = channel.eventLoop.makePromise(of: SMTPReply.self)
            if let failure = self.failure {
                promise.fail(SMTPError(step: step, kind: .failed(failure)))
                return promise.futureResult
            }
            self.waiting = (promise, step)
            if let command {
                var out = channel.allocator.buffer(capacity: command.utf8.count + 2)
                out.writeString(command)
                out.writeString("\r\n")
                channel.writeAndFlush(out, promise: nil)
            }
            // A reply may already be buffered (the greeting can arrive before anyone asks).
            self.deliverReplies()
            return promise.futureResult
        }
    }

    /// Sends STARTTLS; on its 220 the TLS handler is put in front before another byte is
    /// read, and bytes the server sent after the 220 in the clear end the conversation
    /// (they would otherwise be taken as coming over TLS).
    func startTLS(on channel: any Channel, context tls: NIOSSLContext) -> EventLoopFuture<Void> {
        channel.eventLoop.flatSubmit {
            self.tlsToStart = tls
            return self.exchange("STARTTLS", on: channel, step: "STARTTLS").flatMapThrowing { reply in
                guard reply.code == 220 else {
                    throw SMTPError(step: "STARTTLS", kind: .refused(code: reply.code, text: reply.lines.joined(separator: " / ")))
                }
            }
        }
    }

    func fail(with reason: String) {
        failure = failure ?? reason
        if let (promise, step) = waiting {
            waiting = nil
            promise.fail(SMTPError(step: step, kind: .failed(reason)))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        deliverReplies()
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(with: "the server closed the connection")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(with: "\(error)")
        context.close(promise: nil)
    }

    /// Parses whole lines while a command waits, and completes it when its reply's last line
    /// is in. Bytes that arrive before anyone asks (the greeting, often) wait in the buffer.
    private func deliverReplies() {
        while failure == nil, let (promise, step) = waiting, let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffer.readerIndex
            var line = buffer.readString(length: length) ?? ""
            buffer.moveReaderIndex(forwardBy: 1)
            if line.hasSuffix("\r") { line.removeLast() }
            guard let reply = accept(line) else { continue }
            waiting = nil
            if let tls = tlsToStart, reply.code == 220 {
                tlsToStart = nil
                guard buffer.readableBytes == 0 else {
                    protocolError("the server sent data after agreeing to STARTTLS")
                    promise.fail(SMTPError(step: step, kind: .failed("the server sent data after agreeing to STARTTLS")))
                    return
                }
                do {
                    let handler = try NIOSSLClientHandler(context: tls, serverHostname: Self.sniName(settings.host))
                    try context?.pipeline.syncOperations.addHandler(handler, position: .first)
                } catch {
                    protocolError("cannot start TLS: \(error)")
                    promise.fail(SMTPError(step: step, kind: .failed("cannot start TLS: \(error)")))
                    return
                }
            }
            tlsToStart = nil
            promise.succeed(reply)
        }
        if buffer.readableBytes > Self.maxLineBytes { protocolError("a reply line longer than \(Self.maxLineBytes) bytes") }
    }

    /// Takes one line; returns the reply when this line ends it.
    private func accept(_ line: String) -> SMTPReply? {
        let bytes = Array(line.utf8)
        guard bytes.count >= 3, let code = Int(String(decoding: bytes[0..<3], as: UTF8.self)), (200...599).contains(code),
            bytes.count == 3 || bytes[3] == UInt8(ascii: " ") || bytes[3] == UInt8(ascii: "-")
        else {
            protocolError("a malformed reply line \(JSONWriter.quoted(String(line.prefix(80))))")
            return nil
        }
        let text = bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : ""
        lines.append(text)
        guard lines.count <= Self.maxLines else {
            protocolError("a reply of more than \(Self.maxLines) lines")
            return nil
        }
        guard bytes.count == 3 || bytes[3] == UInt8(ascii: " ") else { return nil }
        defer { lines = [] }
        return SMTPReply(code: code, lines: lines)
    }

    private func protocolError(_ reason: String) {
        fail(with: reason)
        context?.close(promise: nil)
    }

    /// The name to send in SNI and verify the certificate against; nil for an address, whose
    /// certificate NIOSSL checks against the connected address instead.
    static func sniName(_ host: String) -> String? {
        IPAddress(host) == nil ? host : nil
    }
}
