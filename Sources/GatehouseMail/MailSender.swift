import Foundation
import GatehouseDirectory
import Logging
import Synchronization

/// One email as the gateway writes it.
public struct MailMessage: Sendable, Equatable {
    public var from: String
    public var to: String
    public var subject: String
    public var body: String

    /// RFC 5322 text with CRLF line ends. Header values lose any line break (no header can be
    /// smuggled in through a name or address) and a non-ASCII subject is encoded (RFC 2047).
    public func rendered(date: Date, messageId: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        func field(_ value: String) -> String {
            String(value.unicodeScalars.map { $0 == "\r" || $0 == "\n" ? " " : Character($0) })
        }
        let subject = field(subject)
        let encodedSubject = subject.allSatisfy(\.isASCII) ? subject : "=?UTF-8?B?" + Data(subject.utf8).base64EncodedString() + "?="
        let headers = [
            "From: \(field(from))", "To: \(field(to))", "Subject: \(encodedSubject)", "Date: \(formatter.string(from: date))",
            "Message-ID: <\(field(messageId))>", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
        ]
        return (headers + ["", body]).joined(separator: "\r\n").replacingOccurrences(of: "\r\n", with: "\n")
            .replacingOccurrences(of: "\n", with: "\r\n") + "\r\n"
    }
}

extension MailMessage {
    /// A name no other message gets: a maildir file name, and the local part of a Message-ID.
    static func uniqueName(now: Date) -> String {
        "\(Int(now.timeIntervalSince1970)).\(UInt64.random(in: .min ... .max)).gatehouse"
    }
}

/// A way to hand a message over for delivery.
public protocol MailTransport: Sendable {
    /// Delivers one message or throws why not; `now` dates it.
    func deliver(_ message: MailMessage, now: Date) async throws
}

/// Delivers into a maildir folder (`tmp/`, then renamed into `new/`), the embedded default:
/// any mail client or a test can read it, and a message is never seen half-written.
public struct MaildirTransport: MailTransport {
    public let folder: String

    public init(folder: String) throws {
        self.folder = folder
        for sub in ["tmp", "new", "cur"] {
            try FileManager.default.createDirectory(atPath: folder + "/" + sub, withIntermediateDirectories: true)
        }
    }

    public func deliver(_ message: MailMessage, now: Date) throws {
        let unique = MailMessage.uniqueName(now: now)
        let text = message.rendered(date: now, messageId: unique + "@gatehouse")
        let temporary = folder + "/tmp/" + unique
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        try FileManager.default.moveItem(atPath: temporary, toPath: folder + "/new/" + unique)
    }
}

/// Works through the outbox: composes each due message (minting a transfer's link only now,
/// so no link is ever stored), delivers it, and retries failures with growing delays.
public struct MailSender: Sendable {
    let store: DirectoryStore
    let transport: any MailTransport
    let from: String
    /// A transfer's confirmation link for its token. The gateway builds it (`mail.link_base`,
    /// or its own address once it listens, and the token percent-encoded), as it builds every
    /// URL it hands out.
    let confirmationLink: @Sendable (_ token: String) -> String
    let organizationName: @Sendable () -> String
    let logger: Logger
    /// The last reason the outbox could not be read: logged once, not on every poll (a
    /// shared directory that is down fails each poll the same way until it returns).
    private let outboxProblem = OutboxProblem()

    public init(
        store: DirectoryStore, transport: any MailTransport, from: String, confirmationLink: @escaping @Sendable (_ token: String) -> String,
        organizationName: @escaping @Sendable () -> String, logger: Logger
    ) {
        self.store = store
        self.transport = transport
        self.from = from
        self.confirmationLink = confirmationLink
        self.organizationName = organizationName
        self.logger = logger
    }

    /// Delivers what is due; returns how many messages went out.
    @discardableResult
    public func deliverDue(now: Date = Date()) async -> Int {
        var sent = 0
        do {
            for item in try store.claimDueMail(now: now) {
                do {
                    guard let message = try compose(item, now: now) else {
                        try store.markDelivered(item.id, now: now, note: "dropped: no longer applies")
                        continue
                    }
                    try await transport.deliver(message, now: now)
                    try store.markDelivered(item.id, now: now)
                    sent += 1
                } catch let error as SMTPError where error.refusesRecipient {
                    // Retrying cannot help; the transfer fails so the owner can start another.
                    try? store.markUndeliverable(item, reason: error.description, now: now)
                    logger.error("mail refused for good", metadata: ["outbox_id": "\(item.id)", "error": "\(error)"])
                } catch {
                    // 5 s, 10 s, 20 s, ... at most an hour between attempts.
                    let delay = min(3600, 5 * pow(2, Double(min(item.attempts, 10))))
                    try? store.markAttemptFailed(item.id, error: "\(error)", retryAt: now.addingTimeInterval(delay))
                    logger.error("mail delivery failed; will retry", metadata: ["outbox_id": "\(item.id)", "error": "\(error)"])
                }
            }
            if outboxProblem.update(nil) != nil { logger.info("the outbox can be read again") }
        } catch {
            if outboxProblem.update("\(error)") != "\(error)" { logger.error("cannot read the outbox", metadata: ["error": "\(error)"]) }
        }
        return sent
    }

    /// `2026-11-23T10:00:00.123Z`, as the audit log writes times.
    static let expiryFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    func compose(_ item: OutboxItem, now: Date) throws -> MailMessage? {
        guard item.kind == "owner_transfer", let (token, transfer) = try store.issueTransferLink(item.subjectId, now: now) else { return nil }
        let link = confirmationLink(token)
        let organization = organizationName()
        return MailMessage(
            from: from, to: item.recipient, subject: "Confirm: become the owner of \(organization)",
            body: """
                Hello \(transfer.targetUser),

                \(transfer.fromUser) asks you to take over ownership of the organization \(organization).
                Open this link to confirm (valid until \(transfer.expiresAt.formatted(Self.expiryFormat))):

                \(link)

                If you did not expect this, ignore this message; nothing changes unless you confirm.
                """)
    }
}

/// `MailSender`'s last outbox failure, shared by its copies.
final class OutboxProblem: Sendable {
    private let last = Mutex<String?>(nil)

    /// Records `problem` (nil: none); returns the one recorded before.
    func update(_ problem: String?) -> String? {
        last.withLock { last in
            defer { last = problem }
            return last
        }
    }
}
