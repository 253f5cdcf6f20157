import Foundation

/// An ownership transfer: started by the owner, accepted by the target through an emailed
/// single-use link. The link's token is never stored, only its hash.
public struct OwnerTransfer: Sendable, Equatable {
    public enum State: String, Sendable {
        case pending, accepted, cancelled, expired, failed
    }

    public var id: String
    public var fromUser: String
    public var targetUser: String
    public var state: State
    public var createdAt: Date
    public var expiresAt: Date
    public var endedAt: Date?
    public var failure: String?
    /// The address entered when the transfer started because the target had none (the
    /// OU management guide's "manually enter the user's email address"); nil when the link
    /// went to the target's registered address.
    public var enteredEmail: String?
}

/// Why a transfer could not be started, changed or accepted. Each reads well on its own:
/// the confirmation page shows the acceptance ones as they are.
public enum TransferError: Error, Sendable, Equatable, CustomStringConvertible {
    case notOwner
    case targetIsSelf
    case unknownTarget(String)
    case targetDisabled(String)
    case targetHasNoEmail(String)
    case targetHasEmail(String)
    case badEmail
    case alreadyPending(String)
    case notFound(String)
    case notPending(OwnerTransfer.State)
    case unknownLink
    case linkExpired
    case linkCancelled
    case linkUsed
    case transferFailed(String)
    case ownerChanged
    case targetUnavailable

    public var description: String {
        switch self {
        case .notOwner: "Only the organization's owner can transfer ownership."
        case .targetIsSelf: "The owner cannot transfer ownership to themselves."
        case .unknownTarget(let id): "No user has the ID \(id)."
        case .targetDisabled(let id): "The user \(id) is disabled."
        case .targetHasNoEmail(let id):
            "The user \(id) has no registered email address: give the address to send the confirmation link to in email."
        case .targetHasEmail(let id):
            "The user \(id) has a registered email address, and the confirmation link goes only there: send no email."
        case .badEmail: "email must be one plain address, name@example.com (at most 254 characters, no spaces or angle brackets)."
        case .alreadyPending(let id): "Transfer \(id) is already pending; cancel it first."
        case .notFound(let id): "No ownership transfer has the ID \(id)."
        case .notPending(let state): "The transfer is \(state.rawValue), not pending."
        case .unknownLink: "This confirmation link is not valid. Use the link in the most recent email."
        case .linkExpired: "This confirmation link has expired. Ask the owner to start a new transfer."
        case .linkCancelled: "This transfer was cancelled by the owner."
        case .linkUsed: "This confirmation link was already used."
        case .transferFailed(let why): "This transfer can no longer complete: \(why)"
        case .ownerChanged: "The organization's owner changed since this transfer started, so it can no longer complete."
        case .targetUnavailable: "Your account cannot take over the organization now (it is disabled or gone). Nothing was changed."
        }
    }
}

/// What an accepted transfer did, for the audit log: who owns the organization now and what
/// the former owner lost.
public struct AcceptedTransfer: Sendable, Equatable {
    public var transfer: OwnerTransfer
    public var formerOwner: String
    public var newOwner: String
    public var revokedGroups: [String]
    public var revokedPolicies: [String]
    public var formerRole: String
}

/// A message waiting in the outbox (written in the same transaction as what it announces).
public struct OutboxItem: Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var subjectId: String
    public var recipient: String
    public var attempts: Int
}

extension DirectoryStore {
    /// Starts a transfer from the owner to another enabled user, and queues its email in the
    /// same transaction. At most one transfer is pending at a time.
    ///
    /// The link goes to the target's registered address. A target without one needs
    /// `email`, the address the owner entered (the OU management guide), kept with the
    /// transfer; it becomes the target's registered address only when the link is accepted,
    /// which proves the target reads it. `email` beside a registered address is refused, so
    /// a link can never be sent elsewhere.
    public func startTransfer(
        by owner: String, to targetId: String, email entered: String? = nil, validFor lifetime: TimeInterval, now: Date = Date()
    ) throws
        -> OwnerTransfer
    {
        try database.write { db in
            try Self.expireOverdue(db, now: now)
            let ownerId = try db.value(as: String.self, "SELECT owner_user_id FROM organization")
            guard let from = try db.fetchOne("SELECT id, name FROM users WHERE name = ?", [owner]),
                try from["id"] as String == ownerId
            else { throw TransferError.notOwner }
            guard let target = try db.fetchOne("SELECT * FROM users WHERE id = ?", [targetId]) else {
                throw TransferError.unknownTarget(targetId)
            }
            let targetUserId: String = try target["id"]
            guard try targetUserId != from["id"] as String else { throw TransferError.targetIsSelf }
            guard !(try target["disabled"] as Bool) else { throw TransferError.targetDisabled(targetId) }
            let registered: String? = try target["email"]
            let email: String
            switch (registered.flatMap { $0.isEmpty ? nil : $0 }, entered) {
            case (let registered?, nil): email = registered
            case (_?, _?): throw TransferError.targetHasEmail(targetId)
            case (nil, nil): throw TransferError.targetHasNoEmail(targetId)
            case (nil, let entered?):
                guard Self.isPlainEmailAddress(entered) else { throw TransferError.badEmail }
                email = entered
            }
            if let pending = try db.value(as: String.self, "SELECT id FROM owner_transfers WHERE state = 'pending'") {
                throw TransferError.alreadyPending(pending)
            }
            let id = "ot-" + String(UInt64.random(in: .min ... .max), radix: 16)
            try db.execute(
                """
                INSERT INTO owner_transfers (id, from_user_id, target_user_id, state, created_at, expires_at, email)
                VALUES (?, ?, ?, 'pending', ?, ?, ?)
                """,
                [
                    id, from["id"] as String, targetId, now.timeIntervalSince1970, now.addingTimeInterval(lifetime).timeIntervalSince1970,
                    entered == nil ? nil : email,
                ])
            try db.execute(
                "INSERT INTO outbox (kind, subject_id, recipient, created_at, next_attempt_at) VALUES ('owner_transfer', ?, ?, ?, ?)",
                [id, email, now.timeIntervalSince1970, now.timeIntervalSince1970])
            return try Self.transfer(db, id)!
        }
    }

    /// A transfer as it stands (a pending one past its expiry reads as expired).
    public func transfer(_ id: String, now: Date = Date()) throws -> OwnerTransfer? {
        try database.write { db in
            try Self.expireOverdue(db, now: now)
            return try Self.transfer(db, id)
        }
    }

    /// The transfer waiting for its link to be accepted, if any (at most one is pending).
    public func pendingTransfer(now: Date = Date()) throws -> OwnerTransfer? {
        try database.write { db in
            try Self.expireOverdue(db, now: now)
            guard let id = try db.value(as: String.self, "SELECT id FROM owner_transfers WHERE state = 'pending'") else { return nil }
            return try Self.transfer(db, id)
        }
    }

    /// Cancels a pending transfer (the owner only).
    public func cancelTransfer(_ id: String, by owner: String, now: Date = Date()) throws -> OwnerTransfer {
        try database.write { db in
            try Self.expireOverdue(db, now: now)
            guard let transfer = try Self.transfer(db, id) else { throw TransferError.notFound(id) }
            guard transfer.fromUser == owner, try Self.isOwner(db, owner) else { throw TransferError.notOwner }
            guard transfer.state == .pending else { throw TransferError.notPending(transfer.state) }
            try db.execute("UPDATE owner_transfers SET state = 'cancelled', ended_at = ? WHERE id = ?", [now.timeIntervalSince1970, id])
            return try Self.transfer(db, id)!
        }
    }

    /// Mints the link token for a pending transfer's email, right before it is sent: only
    /// its hash is stored, and a newer link replaces an older one. Nil when the transfer is
    /// no longer pending (the email is then dropped).
    public func issueTransferLink(_ id: String, now: Date = Date()) throws -> (token: String, transfer: OwnerTransfer)? {
        try database.write { db in
            try Self.expireOverdue(db, now: now)
            guard let transfer = try Self.transfer(db, id), transfer.state == .pending else { return nil }
            let token = Self.randomSecret(prefix: "ot_")
            try db.execute("UPDATE owner_transfers SET token_hash = ? WHERE id = ?", [Self.hash(token), id])
            return (token, transfer)
        }
    }

    /// The pending transfer a link belongs to, or why it cannot be accepted (for the
    /// confirmation page, before anything is posted).
    public func transferForLink(_ token: String, now: Date = Date()) throws -> Result<OwnerTransfer, TransferError> {
        try database.write { db in
            try Self.expireOverdue(db, now: now)
            guard let id = try db.value(as: String.self, "SELECT id FROM owner_transfers WHERE token_hash = ?", [Self.hash(token)]),
                let transfer = try Self.transfer(db, id)
            else { return .failure(.unknownLink) }
            if let problem = Self.problem(transfer) { return .failure(problem) }
            return .success(transfer)
        }
    }

    /// Accepts a transfer through its link, all in one transaction: the target becomes
    /// owner; the former owner becomes an ordinary user without groups or attachments, and
    /// their sessions end. Any failure changes nothing about the organization.
    public func acceptTransfer(_ token: String, now: Date = Date()) throws -> Result<AcceptedTransfer, TransferError> {
        try database.write { db in
            try Self.expireOverdue(db, now: now)
            guard let id = try db.value(as: String.self, "SELECT id FROM owner_transfers WHERE token_hash = ?", [Self.hash(token)]),
                let transfer = try Self.transfer(db, id),
                let row = try db.fetchOne("SELECT * FROM owner_transfers WHERE id = ?", [id])
            else { return .failure(.unknownLink) }
            if let problem = Self.problem(transfer) { return .failure(problem) }
            let fromId: String = try row["from_user_id"]
            let targetId: String = try row["target_user_id"]
            guard try db.value(as: String.self, "SELECT owner_user_id FROM organization") == fromId else {
                try db.execute(
                    "UPDATE owner_transfers SET state = 'failed', ended_at = ?, failure = ? WHERE id = ?",
                    [now.timeIntervalSince1970, "the owner changed", id])
                return .failure(.ownerChanged)
            }
            guard let target = try db.fetchOne("SELECT * FROM users WHERE id = ?", [targetId]), !(try target["disabled"] as Bool)
            else { return .failure(.targetUnavailable) }
            let formerRole = try db.value(as: String.self, "SELECT role FROM users WHERE id = ?", [fromId]) ?? "owner"
            let groups = try db.column(as: String.self, "SELECT group_name FROM group_members WHERE user_id = ? ORDER BY group_name", [fromId])
            let policies = try Self.attachedPolicies(db, "user", fromId)
            try db.execute("UPDATE organization SET owner_user_id = ?", [targetId])
            try db.execute("UPDATE users SET role = 'owner' WHERE id = ?", [targetId])
            // The address entered for a target without one is theirs now: the link reached them there.
            if let entered = transfer.enteredEmail {
                try db.execute("UPDATE users SET email = ? WHERE id = ? AND (email IS NULL OR email = '')", [entered, targetId])
            }
            try db.execute("UPDATE users SET role = 'user', session_generation = session_generation + 1 WHERE id = ?", [fromId])
            try db.execute("DELETE FROM group_members WHERE user_id = ?", [fromId])
            try db.execute("DELETE FROM attachments WHERE principal_kind = 'user' AND principal = ?", [fromId])
            let revoked = "groups: \(groups.joined(separator: ", ")); policies: \(policies.joined(separator: ", ")); role: \(formerRole)"
            try db.execute(
                "UPDATE owner_transfers SET state = 'accepted', ended_at = ?, revoked = ? WHERE id = ?",
                [now.timeIntervalSince1970, revoked, id])
            return .success(
                AcceptedTransfer(
                    transfer: try Self.transfer(db, id)!, formerOwner: transfer.fromUser, newOwner: transfer.targetUser, revokedGroups: groups,
                    revokedPolicies: policies, formerRole: formerRole))
        }
    }

    // MARK: outbox

    /// Messages due for (another) delivery attempt, without claiming them (`claimDueMail`).
    public func dueMail(now: Date = Date(), limit: Int = 32) throws -> [OutboxItem] {
        try database.read { db in
            try db.fetchAll(
                "SELECT * FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                [now.timeIntervalSince1970, limit]
            ).map {
                OutboxItem(
                    id: try $0["id"], kind: try $0["kind"], subjectId: try $0["subject_id"], recipient: try $0["recipient"],
                    attempts: try $0["attempts"])
            }
        }
    }

    /// How long a claimed message is left to the gateway that claimed it: if that gateway
    /// stops before recording the outcome, another sends it after this (at least once, then).
    public static let outboxClaimLease: TimeInterval = 300

    /// Claims the messages due for (another) attempt, for this gateway alone: their next
    /// attempt moves `outboxClaimLease` ahead in the same transaction, so gateways polling
    /// one shared outbox never both send a message. On PostgreSQL the rows another gateway is
    /// claiming at that moment are skipped (`FOR UPDATE SKIP LOCKED`), not waited for.
    public func claimDueMail(now: Date = Date(), limit: Int = 32) throws -> [OutboxItem] {
        // The outbox is in no gateway's view: its changes are not announced.
        try database.write(announce: false) { db in
            let items = try db.fetchAll(
                "SELECT * FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?" + database.skipLockedRows,
                [now.timeIntervalSince1970, limit]
            ).map {
                OutboxItem(
                    id: try $0["id"], kind: try $0["kind"], subjectId: try $0["subject_id"], recipient: try $0["recipient"],
                    attempts: try $0["attempts"])
            }
            for item in items {
                try db.execute(
                    "UPDATE outbox SET next_attempt_at = ? WHERE id = ?",
                    [now.addingTimeInterval(Self.outboxClaimLease).timeIntervalSince1970, item.id])
            }
            return items
        }
    }

    /// Records a delivery (or a message dropped because it no longer applies).
    public func markDelivered(_ id: Int64, now: Date = Date(), note: String? = nil) throws {
        try database.write(announce: false) { db in try Self.closeOutboxItem(db, id, now: now, note: note) }
    }

    /// Takes a message off the outbox for good (sent, dropped or given up), with why.
    static func closeOutboxItem(_ db: any SQLTransaction, _ id: Int64, now: Date, note: String?) throws {
        try db.execute(
            "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ?",
            [now.timeIntervalSince1970, note, id])
    }

    /// Gives up on a message the mail server refused for good, and fails the pending transfer
    /// it announced, in one transaction: the link can never arrive, and a failed transfer no
    /// longer blocks the owner from starting another.
    public func markUndeliverable(_ item: OutboxItem, reason: String, now: Date = Date()) throws {
        try database.write { db in
            try Self.closeOutboxItem(db, item.id, now: now, note: "undeliverable: " + reason)
            guard item.kind == "owner_transfer" else { return }
            try db.execute(
                "UPDATE owner_transfers SET state = 'failed', ended_at = ?, failure = ? WHERE id = ? AND state = 'pending'",
                [now.timeIntervalSince1970, "the confirmation email could not be delivered (\(reason))", item.subjectId])
        }
    }

    /// Messages not delivered yet and the latest delivery error among them, for `/readyz`.
    public func outboxBacklog() throws -> (waiting: Int, lastError: String?) {
        try database.read { db in
            let waiting = try db.value(as: Int.self, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL") ?? 0
            let lastError = try db.value(
                as: String.self, "SELECT last_error FROM outbox WHERE delivered_at IS NULL AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1")
            return (waiting, lastError)
        }
    }

    /// Records a failed attempt and when to try again.
    public func markAttemptFailed(_ id: Int64, error: String, retryAt: Date) throws {
        try database.write(announce: false) { db in
            try db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                [error, retryAt.timeIntervalSince1970, id])
        }
    }

    // MARK: helpers

    static func transfer(_ db: any SQLTransaction, _ id: String) throws -> OwnerTransfer? {
        guard
            let row = try db.fetchOne(
                """
                SELECT t.*, f.name AS from_name, g.name AS target_name FROM owner_transfers t
                JOIN users f ON f.id = t.from_user_id JOIN users g ON g.id = t.target_user_id WHERE t.id = ?
                """, [id])
        else { return nil }
        return OwnerTransfer(
            id: try row["id"], fromUser: try row["from_name"], targetUser: try row["target_name"],
            state: OwnerTransfer.State(rawValue: try row["state"]) ?? .failed,
            createdAt: Date(timeIntervalSince1970: try row["created_at"]), expiresAt: Date(timeIntervalSince1970: try row["expires_at"]),
            endedAt: (try row["ended_at"] as Double?).map(Date.init(timeIntervalSince1970:)), failure: try row["failure"],
            enteredEmail: try row["email"])
    }

    /// A plain address, `local@domain`, as an owner would type it: at most 254 bytes, one
    /// `@`, a local part of 1 to 64 printable ASCII characters without spaces, quotes,
    /// angle brackets or separators, and a domain of dot-separated labels of letters, digits
    /// and `-`, with at least one dot. (No quoted local parts or address literals.)
    public static func isPlainEmailAddress(_ address: String) -> Bool {
        let bytes = Array(address.utf8)
        guard bytes.count <= 254, let at = bytes.firstIndex(of: UInt8(ascii: "@")), bytes.lastIndex(of: UInt8(ascii: "@")) == at else {
            return false
        }
        let local = bytes[..<at]
        let domain = bytes[(at + 1)...]
        let forbidden = Set(" \"(),:;<>[\\]@".utf8)
        guard (1...64).contains(local.count), local.allSatisfy({ (0x21...0x7E).contains($0) && !forbidden.contains($0) }) else { return false }
        let labels = domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return labels.count >= 2
            && labels.allSatisfy { label in
                (1...63).contains(label.count) && label.first != UInt8(ascii: "-") && label.last != UInt8(ascii: "-")
                    && label.allSatisfy {
                        $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
                    }
            }
    }

    /// Marks pending transfers past their expiry as expired.
    static func expireOverdue(_ db: any SQLTransaction, now: Date) throws {
        try db.execute(
            "UPDATE owner_transfers SET state = 'expired', ended_at = expires_at WHERE state = 'pending' AND expires_at <= ?",
            [now.timeIntervalSince1970])
    }

    static func isOwner(_ db: any SQLTransaction, _ name: String) throws -> Bool {
        try db.value(as: String.self, "SELECT u.name FROM organization o JOIN users u ON u.id = o.owner_user_id") == name
    }

    /// Why a transfer cannot be accepted, by its state.
    static func problem(_ transfer: OwnerTransfer) -> TransferError? {
        switch transfer.state {
        case .pending: nil
        case .accepted: .linkUsed
        case .cancelled: .linkCancelled
        case .expired: .linkExpired
        case .failed: .transferFailed(transfer.failure ?? "it failed")
        }
    }
}
