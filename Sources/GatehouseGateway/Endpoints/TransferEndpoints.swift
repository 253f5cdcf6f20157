import Foundation
import GatehouseDirectory
import GatehousePolicy

/// `POST /v1/organizations/owner-transfers`, `GET`/`DELETE .../{transfer_id}`, and the
/// confirmation page the emailed link opens (`GET`/`POST /owner-transfer/confirm`).
enum TransferEndpoints {
    static func handle(_ call: EndpointRequest, store: DirectoryStore, validity: TimeInterval) throws -> Result<EndpointResponse, GatewayError> {
        guard let session = call.session else { return .failure(.credentialRefused(nil)) }
        switch call.handler {
        case .transferCreate:
            let shape = "The body must be {\"target_user_id\": \"<user id>\"}, with \"email\" when that user has no registered address."
            guard let json = try? JSONLoader.parse(call.body, limits: JSONLimits(maxBytes: max(call.body.count, 1), maxDepth: 4)),
                case .object(let members) = json, case .string(let target)? = json["target_user_id"], !target.isEmpty
            else { return .failure(.badTransfer(shape)) }
            if let extra = members.first(where: { $0.key != "target_user_id" && $0.key != "email" }) {
                return .failure(
                    .badTransfer("\(JSONWriter.quoted(extra.key)) is not a field of a transfer; send target_user_id, and email if needed."))
            }
            var email: String?
            switch json["email"] {
            case nil: break
            case .string(let entered)?: email = entered
            default: return .failure(.badTransfer("email must be a string. \(shape)"))
            }
            let transfer = try store.startTransfer(by: session.user.name, to: target, email: email, validFor: validity, now: call.now)
            return .success(EndpointResponse(status: 201, json: Self.json(transfer)))
        case .transferGet:
            let id = call.parameters["transfer_id"] ?? ""
            guard let transfer = try store.transfer(id, now: call.now) else { throw TransferError.notFound(id) }
            let mayLook =
                session.user.name == call.organization.owner || session.user.role == .admin || session.user.name == transfer.targetUser
                || session.user.name == transfer.fromUser
            guard mayLook else { return .failure(.transfer(.notOwner)) }
            return .success(EndpointResponse(status: 200, json: Self.json(transfer)))
        default:
            let transfer = try store.cancelTransfer(call.parameters["transfer_id"] ?? "", by: session.user.name, now: call.now)
            return .success(EndpointResponse(status: 200, json: Self.json(transfer)))
        }
    }

    /// The confirmation page (GET) and the acceptance its button posts (POST), in the
    /// console's layout. Every reason a link fails for that the guide lists (expired,
    /// cancelled, already used, any other) has its own heading and message.
    static func confirm(_ call: EndpointRequest, store: DirectoryStore) throws -> EndpointResponse {
        let organization = call.organization.name
        if call.handler == .transferConfirmPage {
            let token = formValue("token", in: call.query ?? "") ?? ""
            switch try store.transferForLink(token, now: call.now) {
            case .failure(let error): return failed(error)
            case .success(let transfer):
                return EndpointResponse(
                    status: 200,
                    html: ConsolePages.confirmation(
                        heading: "Become the owner of \(organization)?",
                        detail:
                            "\(transfer.fromUser) asks you, \(transfer.targetUser), to take over ownership of \(organization). The link is valid until \(AuditRecord.timestamp(transfer.expiresAt)).",
                        outcome: "pending", form: token))
            }
        }
        let token = formValue("token", in: String(decoding: call.body, as: UTF8.self)) ?? ""
        switch try store.acceptTransfer(token, now: call.now) {
        case .failure(let error): return failed(error)
        case .success(let accepted):
            return EndpointResponse(
                status: 200,
                html: ConsolePages.confirmation(
                    heading: "You now own \(organization)",
                    detail:
                        "\(accepted.formerOwner) is now an ordinary user of the organization. Your owner rights apply from your next call or click.",
                    outcome: "accepted"),
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

    /// A link that cannot be used, as a page for the person who opened it: a heading per
    /// reason, the transfer error's message, and the gateway error's status.
    static func failed(_ error: TransferError) -> EndpointResponse {
        let (heading, outcome) =
            switch error {
            case .linkExpired: ("This link has expired", "expired")
            case .linkCancelled: ("This transfer was cancelled", "cancelled")
            case .linkUsed: ("This link was already used", "used")
            case .unknownLink: ("This link is not valid", "invalid")
            default: ("Ownership was not transferred", "failed")
            }
        return EndpointResponse(
            status: GatewayError.link(error).status, html: ConsolePages.confirmation(heading: heading, detail: error.description, outcome: outcome))
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
                    ("email_entered", .bool(transfer.enteredEmail != nil)),
                ])
            )
        ])
    }

    /// `name=value` from a query or a form body (`FormFields.decode`); nil when absent or
    /// when the text is not one valid form.
    static func formValue(_ name: String, in text: String) -> String? {
        (try? FormFields.decode(Array(text.utf8)).get())?[name]
    }

}
