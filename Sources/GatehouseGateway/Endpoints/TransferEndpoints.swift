import Foundation
import GatehouseDirectory
import GatehousePolicy

/// `POST /v1/organizations/owner-transfers`, `GET`/`DELETE .../{transfer_id}`, and the
/// confirmation page the emailed link opens (`GET`/`POST /owner-transfer/confirm`).
enum TransferAPI {
    static func handle(_ call: LocalCall, store: DirectoryStore, validity: TimeInterval) throws -> Result<LocalAnswer, Refusal> {
        guard let session = call.session else { return .failure(.credentialRefused(nil)) }
        switch call.handler {
        case .transferCreate:
            guard let json = try? JSONLoader.parse(call.body, limits: JSONLimits(maxBytes: max(call.body.count, 1), maxDepth: 4)),
                case .object(let members) = json, case .string(let target)? = json["target_user_id"], !target.isEmpty
            else { return .failure(bad("The body must be {\"target_user_id\": \"<user id>\"}.")) }
            if let extra = members.first(where: { $0.key != "target_user_id" }) {
                return .failure(bad("\(JSONWriter.quoted(extra.key)) is not a field of a transfer; send target_user_id only."))
            }
            let transfer = try store.startTransfer(by: session.user.name, to: target, validFor: validity, now: call.now)
            return .success(LocalAnswer(status: 201, json: Self.json(transfer)))
        case .transferGet:
            let id = call.parameters["transfer_id"] ?? ""
            guard let transfer = try store.transfer(id, now: call.now) else { throw TransferError.notFound(id) }
            let mayLook =
                session.user.name == call.organization.owner || session.user.role == .admin || session.user.name == transfer.targetUser
                || session.user.name == transfer.fromUser
            guard mayLook else { return .failure(refusal(.notOwner)) }
            return .success(LocalAnswer(status: 200, json: Self.json(transfer)))
        default:
            let transfer = try store.cancelTransfer(call.parameters["transfer_id"] ?? "", by: session.user.name, now: call.now)
            return .success(LocalAnswer(status: 200, json: Self.json(transfer)))
        }
    }

    /// The confirmation page (GET) and the acceptance its button posts (POST).
    static func confirm(_ call: LocalCall, store: DirectoryStore) throws -> LocalAnswer {
        let organization = call.organization.name
        if call.handler == .transferConfirmPage {
            let token = formValue("token", in: call.query ?? "") ?? ""
            switch try store.transferForLink(token, now: call.now) {
            case .failure(let error): return page(status: status(error), title: "This link cannot be used", message: error.description)
            case .success(let transfer):
                return page(
                    status: 200, title: "Become the owner of \(organization)?",
                    message:
                        "\(transfer.fromUser) asks you, \(transfer.targetUser), to take over ownership of \(organization). The link is valid until \(AuditRecord.timestamp(transfer.expiresAt)).",
                    form: token)
            }
        }
        let token = formValue("token", in: String(decoding: call.body, as: UTF8.self)) ?? ""
        switch try store.acceptTransfer(token, now: call.now) {
        case .failure(let error):
            return page(status: status(error), title: "Ownership was not transferred", message: error.description)
        case .success(let accepted):
            return LocalAnswer(
                status: 200,
                html: html(
                    title: "You now own \(organization)",
                    message: "\(accepted.formerOwner) is now an ordinary user of the organization. Your owner rights apply from your next call."),
                actingUser: accepted.newOwner,
                changes: [
                    FieldChange(field: "owner", old: accepted.formerOwner, new: accepted.newOwner),
                    FieldChange(field: "former_owner_role", old: accepted.formerRole, new: "user"),
                    FieldChange(field: "former_owner_groups", old: accepted.revokedGroups.joined(separator: ", "), new: nil),
                    FieldChange(field: "former_owner_policies", old: accepted.revokedPolicies.joined(separator: ", "), new: nil),
                    FieldChange(field: "former_owner_sessions", old: "active", new: "ended"),
                ])
        }
    }

    static func json(_ transfer: OwnerTransfer) -> JSONValue {
        return .object([
            (
                "owner_transfer",
                .object([
                    ("id", .string(transfer.id)),
                    ("state", .string(transfer.state.rawValue)),
                    ("from_user", .string(transfer.fromUser)),
                    ("target_user", .string(transfer.targetUser)),
                    ("created_at", .string(AuditRecord.timestamp(transfer.createdAt))),
                    ("expires_at", .string(AuditRecord.timestamp(transfer.expiresAt))),
                    ("ended_at", .string(orNull: transfer.endedAt.map(AuditRecord.timestamp))),
                    ("failure", .string(orNull: transfer.failure)),
                ])
            )
        ])
    }

    static func bad(_ message: String) -> Refusal {
        Refusal(status: 400, code: "Gatehouse.0400", message: message, reason: "bad_transfer")
    }

    /// The API's answer to a transfer error.
    static func refusal(_ error: TransferError) -> Refusal {
        switch error {
        case .notOwner: Refusal(status: 403, code: "Gatehouse.0403", message: error.description, reason: "not_owner")
        case .notFound: Refusal(status: 404, code: "Gatehouse.0404", message: error.description, reason: "no_such_transfer")
        case .alreadyPending, .notPending: Refusal(status: 409, code: "Gatehouse.0409", message: error.description, reason: "transfer_conflict")
        default: bad(error.description)
        }
    }

    static func status(_ error: TransferError) -> Int {
        switch error {
        case .unknownLink: 404
        case .linkExpired, .linkCancelled: 410
        default: 409
        }
    }

    /// `name=value` from a query or a form body (`application/x-www-form-urlencoded`).
    static func formValue(_ name: String, in text: String) -> String? {
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            return String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        }
        return nil
    }

    static func page(status: Int, title: String, message: String, form token: String? = nil) -> LocalAnswer {
        LocalAnswer(status: status, html: html(title: title, message: message, form: token))
    }

    /// A small page that works without scripts; every text is escaped.
    static func html(title: String, message: String, form token: String? = nil) -> String {
        let button =
            token.map {
                """
                <form method="post" action="/owner-transfer/confirm">
                <input type="hidden" name="token" value="\(escape($0))">
                <button type="submit">Accept ownership</button>
                </form>
                """
            } ?? ""
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title></head>
            <body><h1>\(escape(title))</h1><p>\(escape(message))</p>\(button)</body></html>

            """
    }

    static func escape(_ text: String) -> String { MarkupEscaping.escape(text) }
}
