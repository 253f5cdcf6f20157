import Foundation
import GatehouseDirectory
import GatehousePolicy

/// The organization console (the OU management guide's IAM > Organization Profile pages):
/// sign-in, the profile with Edit and Save, and the owner with Change, Confirm and Cancel.
///
/// Each page is a route of the catalog like any API (`samples/catalog.json`, `/console/...`),
/// so the same authentication, caller rule, policies and audit apply; pages that change
/// something check the same rules as their API (`ProfileEndpoint.problem`,
/// `DirectoryStore.startTransfer`). Every form is checked for CSRF before it is read
/// further; after a form the browser is sent on with `303 See Other`.
struct ConsoleEndpoints {
    let store: DirectoryStore
    let sessionLifetime: TimeInterval
    let transferValidity: TimeInterval

    typealias Answer = Result<EndpointResponse, GatewayError>

    func handle(_ call: EndpointRequest) throws -> Answer {
        switch call.handler {
        case .consoleHome: return .success(.redirect(to: "/console/profile"))
        case .consoleSignInPage: return .success(signInPage(call))
        case .consoleSignIn: return try signIn(call)
        default: break
        }
        // Every other page was reached with a live session cookie (the authorizer saw to it).
        guard let session = call.session, let token = call.cookies.session else { return .failure(.credentialRefused(nil)) }
        let signedIn = (user: session.user.name, csrf: ConsoleSession.csrfToken(forSession: token))
        var form = FormFields(values: [:])
        if Self.postsForm(call.handler) {
            switch Self.checkedForm(call, expectedCSRF: signedIn.csrf) {
            case .failure(let refusal): return .failure(refusal)
            case .success(let read): form = read
            }
        }
        let isOwner = session.user.name == call.organization.owner
        switch call.handler {
        case .consoleSignOut:
            try store.revokeToken(token, now: call.now)
            var response = EndpointResponse.redirect(
                to: "/console/sign-in", changes: [FieldChange(field: "console_session", old: "active", new: "ended")])
            response.fields.append(("Set-Cookie", ConsoleSession.setCookie(ConsoleSession.sessionCookie, "", maxAge: 0, secure: call.isTLS)))
            return .success(response)
        case .consoleProfile:
            let pending = try store.pendingTransfer(now: call.now)
            let notice = Self.notices[TransferEndpoints.formValue("notice", in: call.query ?? "") ?? ""]
            let page = ConsolePages.profile(
                try store.profile(), owner: .init(owner: call.organization.owner, pending: pending, mayChange: isOwner),
                mayEdit: ProfileEndpoint.mayEdit(session, in: call.organization), signedIn: signedIn, notice: notice)
            return .success(EndpointResponse(status: 200, html: page))
        case .consoleProfileEdit, .consoleProfileSave:
            // The API's rule: the owner or an administrator (the guide), besides the policies.
            guard ProfileEndpoint.mayEdit(session, in: call.organization) else { return .failure(.notOwnerOrAdmin) }
            let profile = try store.profile()
            guard call.handler == .consoleProfileSave else {
                let values = Dictionary(uniqueKeysWithValues: OrganizationProfile.Field.allCases.compactMap { f in profile[f].map { (f, $0) } })
                return .success(EndpointResponse(status: 200, html: ConsolePages.editProfile(values: values, errors: [:], signedIn: signedIn)))
            }
            return try saveProfile(form, current: profile, signedIn: signedIn)
        case .consoleOwnerChange:
            guard isOwner else { return .failure(.transfer(.notOwner)) }
            let page = ConsolePages.changeOwner(
                candidates: Self.candidates(call), chosen: nil, askEmail: false, email: "", error: nil, signedIn: signedIn)
            return .success(EndpointResponse(status: 200, html: page))
        case .consoleOwnerTransfer:
            return try startTransfer(call, form: form, by: session.user.name, signedIn: signedIn)
        case .consoleOwnerCancel:
            do {
                let transfer = try store.cancelTransfer(form["transfer_id"] ?? "", by: session.user.name, now: call.now)
                return .success(
                    .redirect(
                        to: "/console/profile?notice=transfer-cancelled",
                        changes: [FieldChange(field: "owner_transfer \(transfer.id)", old: "pending", new: "cancelled")]))
            } catch let error as TransferError {
                return .failure(.transfer(error))
            }
        default:
            return .failure(.localFailure("\(call.handler.rawValue) is not a console page"))
        }
    }

    /// A refused console page, for a browser: without a live session, back to sign-in (with
    /// the guide's "login expired" prompt when a session existed and is over, and the dead
    /// cookie deleted); anything else, the API's refusal as a page, with the status it has.
    static func refusal(
        _ error: GatewayError, requestId: String, session: Session?, cookies: ConsoleCookies, isTLS: Bool, page: BuiltInEndpoint? = nil
    ) -> EndpointResponse {
        switch error.kind {
        case .credentialMissing, .credentialUnknown, .sessionOver:
            var response = EndpointResponse.redirect(to: error.kind == .sessionOver ? "/console/sign-in?expired=1" : "/console/sign-in")
            if cookies.session != nil {
                response.fields.append(("Set-Cookie", ConsoleSession.setCookie(ConsoleSession.sessionCookie, "", maxAge: 0, secure: isTLS)))
            }
            return response
        default:
            let signedIn = session.flatMap { session in
                cookies.session.map { (user: session.user.name, csrf: ConsoleSession.csrfToken(forSession: $0)) }
            }
            let html = ConsolePages.refusal(error, requestId: requestId, signedIn: signedIn, backToProfile: page != .consoleProfile)
            return EndpointResponse(status: error.status, html: html)
        }
    }

    static let notices = [
        "saved": "The organization profile was saved.",
        "transfer-started": "A confirmation email was sent. The owner changes when the user clicks its link.",
        "transfer-cancelled": "The ownership transfer was cancelled; its link no longer works.",
    ]

    static func postsForm(_ handler: BuiltInEndpoint) -> Bool {
        [.consoleSignIn, .consoleSignOut, .consoleProfileSave, .consoleOwnerTransfer, .consoleOwnerCancel].contains(handler)
    }

    /// The form, once it is known to come from a console page: a browser that says the
    /// request is from another site (`Sec-Fetch-Site`) is refused outright, and the form's
    /// `csrf` must be `expectedCSRF`. Both before any field is looked at.
    static func checkedForm(_ call: EndpointRequest, expectedCSRF: String?) -> Result<FormFields, GatewayError> {
        if let site = call.fetchSite?.lowercased(), site != "same-origin", site != "none" {
            return .failure(.consoleFormRefused("the browser says the form was sent from another site (Sec-Fetch-Site: \(site))"))
        }
        switch FormFields.parse(call.body, contentType: call.contentType) {
        case .failure(let problem): return .failure(.consoleFormRefused(problem.description))
        case .success(let form):
            guard let expectedCSRF, ConsoleSession.csrfMatches(form["csrf"], expected: expectedCSRF) else {
                return .failure(.consoleFormRefused(form["csrf"] == nil ? "the form has no CSRF token" : "the form's CSRF token does not match"))
            }
            return .success(form)
        }
    }

    // MARK: sign-in

    /// The sign-in form, with a double-submit CSRF cookie (kept when the browser has one).
    func signInPage(
        _ call: EndpointRequest, user: String = "", prompt: String? = nil, status: Int = 200, refusal: GatewayError? = nil
    )
        -> EndpointResponse
    {
        let csrf = call.cookies.signInCSRF ?? ConsoleSession.newSignInCSRF()
        let expired = TransferEndpoints.formValue("expired", in: call.query ?? "") != nil
        var response = EndpointResponse(
            status: status, html: ConsolePages.signIn(csrf: csrf, user: user, prompt: prompt ?? (expired ? Self.loginExpired : nil)),
            refusal: refusal)
        response.fields.append(("Set-Cookie", ConsoleSession.setCookie(ConsoleSession.signInCookie, csrf, maxAge: 3600, secure: call.isTLS)))
        return response
    }

    /// The guide's prompt when a session has ended (transfer, `end-sessions`, disabled user,
    /// expiry): "a prompt indicating that the user's login has expired".
    static let loginExpired = "Your login has expired. Please sign in again."

    /// Checks the password (scrypt, on the thread pool, the same work for an unknown user)
    /// and starts a session: a directory token in the session cookie, then the profile.
    func signIn(_ call: EndpointRequest) throws -> Answer {
        let form: FormFields
        switch Self.checkedForm(call, expectedCSRF: call.cookies.signInCSRF) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let read): form = read
        }
        let user = form["user"] ?? ""
        guard !user.isEmpty, try store.checkPassword(user: user, form["password"] ?? "") else {
            return .success(
                signInPage(
                    call, user: user, prompt: "The user name or password is incorrect.", status: 401,
                    refusal: .consoleSignInRefused(user: user)))
        }
        let issued = try store.issueToken(
            user: user, validFor: sessionLifetime, now: call.now, label: ConsoleSession.tokenLabel, consoleSession: true)
        var response = EndpointResponse.redirect(
            to: "/console/profile", changes: [FieldChange(field: "console_session", old: nil, new: "started")], actingUser: user)
        response.fields.append(
            ("Set-Cookie", ConsoleSession.setCookie(ConsoleSession.sessionCookie, issued.token, maxAge: Int(sessionLifetime), secure: call.isTLS)))
        response.fields.append(("Set-Cookie", ConsoleSession.setCookie(ConsoleSession.signInCookie, "", maxAge: 0, secure: call.isTLS)))
        return .success(response)
    }

    // MARK: profile

    /// Save: every field checked by the API's rules, all errors shown beside their fields
    /// and nothing written unless all pass.
    func saveProfile(_ form: FormFields, current: OrganizationProfile, signedIn: (user: String, csrf: String)) throws -> Answer {
        var entered: [OrganizationProfile.Field: String] = [:]
        var errors: [OrganizationProfile.Field: String] = [:]
        var change: [OrganizationProfile.Field: String?] = [:]
        for field in OrganizationProfile.Field.allCases {
            // A field the form leaves out is left as it is.
            guard let raw = form[field.rawValue] else { continue }
            let value = raw.isEmpty ? nil : raw
            entered[field] = raw
            if let problem = ProfileEndpoint.problem(field, value) { errors[field] = problem } else { change[field] = .some(value) }
        }
        if !errors.isEmpty {
            let message = errors.sorted { $0.key < $1.key }.map(\.value).joined(separator: " ")
            return .success(
                EndpointResponse(
                    status: 400, html: ConsolePages.editProfile(values: entered, errors: errors, signedIn: signedIn),
                    refusal: .badProfile(message)))
        }
        let changed = change.filter { current[$0.key] != $0.value }
        guard !changed.isEmpty else { return .success(.redirect(to: "/console/profile?notice=saved")) }
        let (old, new) = try store.updateProfile(changed)
        return .success(.redirect(to: "/console/profile?notice=saved", changes: ProfileEndpoint.changes(old, new)))
    }

    // MARK: owner

    /// The users the drop-down offers: enabled, not the owner.
    static func candidates(_ call: EndpointRequest) -> [DirectorySeed.User] {
        call.users.filter { !$0.disabled && $0.name != call.organization.owner }.sorted { $0.name < $1.name }
    }

    /// Confirm: starts the transfer the API's way. A chosen user without an address first
    /// gets the email field; any refusal is shown on the form with the choice kept.
    func startTransfer(_ call: EndpointRequest, form: FormFields, by owner: String, signedIn: (user: String, csrf: String)) throws -> Answer {
        let candidates = Self.candidates(call)
        let target = form["target"] ?? ""
        let email = (form["email"] ?? "").trimmingCharacters(in: .whitespaces)
        let chosen = candidates.first { $0.id == target }
        let hasAddress = !(chosen?.email ?? "").isEmpty
        func again(_ error: TransferError?, status: Int, message: String? = nil) -> Answer {
            let page = ConsolePages.changeOwner(
                candidates: candidates, chosen: target, askEmail: chosen != nil && !hasAddress, email: email,
                error: message ?? error?.description, signedIn: signedIn)
            return .success(EndpointResponse(status: status, html: page, refusal: error.map { GatewayError.transfer($0) }))
        }
        guard chosen != nil else { return again(nil, status: 400, message: "Select the user who will become the owner.") }
        // First Confirm for a user without an address: ask for it (the guide), nothing started.
        if !hasAddress && email.isEmpty { return again(nil, status: 200) }
        do {
            // An address beside a registered one is refused by the store, as by the API.
            let transfer = try store.startTransfer(
                by: owner, to: target, email: email.isEmpty ? nil : email, validFor: transferValidity, now: call.now)
            return .success(
                .redirect(
                    to: "/console/profile?notice=transfer-started",
                    changes: [FieldChange(field: "owner_transfer \(transfer.id)", old: nil, new: "pending to \(transfer.targetUser)")]))
        } catch let error as TransferError {
            return again(error, status: GatewayError.transfer(error).status)
        }
    }
}
