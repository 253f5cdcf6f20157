import Crypto
import Foundation
import GatehouseDirectory
import GatehousePolicy

/// The console's HTML: every page is whole (no assets from elsewhere, no scripts), every
/// text escaped, and its one style sheet inline, allowed by its hash in a strict
/// Content-Security-Policy (`ConsolePages.securityFields`). The confirmation page the
/// emailed link opens uses the same layout.
enum ConsolePages {
    /// Labels as the OU management guide names the fields.
    static let labels: [(OrganizationProfile.Field, String)] = [
        (.name, "Organization name"), (.organizationCode, "Organization ID"), (.address, "Address"),
        (.businessLicenseNumber, "Business license No."), (.industry, "Industry"), (.country, "Country"), (.scale, "Scale"),
    ]

    static let style = """
        *{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2430;background:#f3f5f8}
        header{display:flex;align-items:center;gap:16px;padding:0 24px;height:52px;background:#17233d;color:#fff}
        header .brand{font-weight:600;letter-spacing:.02em}header nav{flex:1;color:#b8c2d6;font-size:14px}
        header .who{display:flex;align-items:center;gap:10px;font-size:14px}header form{margin:0}
        header button{background:transparent;color:#fff;border:1px solid #5a6a8c;padding:3px 10px;border-radius:4px;cursor:pointer}
        main{max-width:860px;margin:28px auto;padding:0 20px}h1{font-size:22px;margin:0 0 18px}h2{font-size:17px;margin:0}
        .card{background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:20px 24px;margin-bottom:20px}
        .card-head{display:flex;justify-content:space-between;align-items:center;margin-bottom:14px}
        dl{display:grid;grid-template-columns:200px 1fr;gap:8px 16px;margin:0}dt{color:#5b6478}dd{margin:0}
        .muted{color:#8a92a3}.button,button.primary{display:inline-block;background:#1e63d6;color:#fff;border:0;border-radius:4px;padding:7px 18px;
        font:inherit;text-decoration:none;cursor:pointer}.button.plain,button.plain{background:#fff;color:#1f2430;border:1px solid #c5ccd8}
        button.danger{background:#fff;color:#c0352b;border:1px solid #e3a6a0;border-radius:4px;padding:5px 14px;font:inherit;cursor:pointer}
        label{display:block;font-weight:500;margin-bottom:4px}.field{margin-bottom:14px}
        input[type=text],input[type=email],input[type=password],select{width:100%;max-width:420px;padding:7px 9px;border:1px solid #c5ccd8;
        border-radius:4px;font:inherit;background:#fff}.invalid input,.invalid select{border-color:#c0352b}
        .error{color:#c0352b;font-size:13px;margin-top:3px}.req{color:#c0352b}.actions{display:flex;gap:10px;margin-top:18px}
        .notice{background:#e8f4ea;border:1px solid #a9d5b1;color:#1d5a2a;padding:10px 14px;border-radius:4px;margin-bottom:18px}
        .alert{background:#fdecea;border:1px solid #f0b4ae;color:#8c2219;padding:10px 14px;border-radius:4px;margin-bottom:18px}
        .pending{background:#fff8e5;border:1px solid #f0d48a;padding:12px 14px;border-radius:4px;margin-top:14px;display:flex;
        justify-content:space-between;align-items:center;gap:12px}.pending form{margin:0}.code{font-family:ui-monospace,monospace;font-size:13px}
        .narrow{max-width:420px;margin:60px auto}
        """

    /// `Content-Security-Policy` and the other fields every console page is answered with:
    /// nothing loads from anywhere, the inline style by its hash, forms post only here, no
    /// framing, no referrer (the confirmation page's URL holds its link), no caching.
    static let securityFields: [(StaticString, String)] = {
        let hash = Data(SHA256.hash(data: Array(style.utf8))).base64EncodedString()
        return [
            (
                "Content-Security-Policy",
                "default-src 'none'; style-src 'sha256-\(hash)'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            ),
            ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
            ("Cache-Control", "no-store"),
        ]
    }()

    static func escape(_ text: String) -> String { MarkupEscaping.escape(text) }

    /// The whole document: the bar (who is signed in, with Sign out) and `main`.
    static func document(title: String, signedIn: (user: String, csrf: String)? = nil, main: String) -> String {
        let who =
            signedIn.map {
                """
                <span class="who"><span>\(escape($0.user))</span><form method="post" action="/console/sign-out">\
                <input type="hidden" name="csrf" value="\(escape($0.csrf))"><button type="submit">Sign out</button></form></span>
                """
            } ?? ""
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) - Gatehouse</title><style>\(style)</style></head>
            <body><header><span class="brand">Gatehouse</span><nav>IAM &rsaquo; \(escape(title))</nav>\(who)</header>
            <main>\(main)</main></body></html>

            """
    }

    static func notice(_ text: String?) -> String { text.map { "<p class=\"notice\" role=\"status\">\(escape($0))</p>" } ?? "" }

    static func alert(_ text: String?) -> String { text.map { "<p class=\"alert\" role=\"alert\">\(escape($0))</p>" } ?? "" }

    /// The sign-in page; `prompt` is the guide's "login expired" or a refused password.
    static func signIn(csrf: String, user: String = "", prompt: String? = nil) -> String {
        document(
            title: "Sign in",
            main: """
                <div class="card narrow"><h1>Sign in to the console</h1>\(alert(prompt))
                <form method="post" action="/console/sign-in">
                <input type="hidden" name="csrf" value="\(escape(csrf))">
                <div class="field"><label for="user">User name</label><input type="text" id="user" name="user" value="\(escape(user))" \
                autocomplete="username"></div>
                <div class="field"><label for="password">Password</label><input type="password" id="password" name="password" \
                autocomplete="current-password"></div>
                <div class="actions"><button class="primary" type="submit" id="sign-in">Sign in</button></div>
                </form></div>
                """)
    }

    /// What the profile page shows of the owner: the name, and the pending transfer if any.
    struct OwnerSection {
        var owner: String
        var pending: OwnerTransfer?
        /// The signed-in user owns the organization: Change and Cancel are theirs.
        var mayChange: Bool
    }

    /// IAM > Organization Profile: every field, Edit for the owner or an administrator,
    /// and the Organization Owner with Change and the pending transfer.
    static func profile(
        _ profile: OrganizationProfile, owner: OwnerSection, mayEdit: Bool, signedIn: (user: String, csrf: String), notice text: String?
    ) -> String {
        let rows = labels.map { field, label in
            let value = profile[field].map(escape) ?? "<span class=\"muted\">Not set</span>"
            return "<dt>\(escape(label))</dt><dd id=\"field-\(field.rawValue)\">\(value)</dd>"
        }
        let edit = mayEdit ? "<a class=\"button\" id=\"edit\" href=\"/console/profile/edit\">Edit</a>" : ""
        let change =
            owner.mayChange && owner.pending == nil ? "<a class=\"button plain\" id=\"change-owner\" href=\"/console/owner/change\">Change</a>" : ""
        var pending = ""
        if let transfer = owner.pending {
            let cancel =
                owner.mayChange
                ? """
                <form method="post" action="/console/owner/cancel"><input type="hidden" name="csrf" value="\(escape(signedIn.csrf))">\
                <input type="hidden" name="transfer_id" value="\(escape(transfer.id))"><button class="danger" type="submit" id="cancel-transfer">Cancel</button></form>
                """ : ""
            pending = """
                <div class="pending" id="pending-transfer"><span>Transfer to <strong>\(escape(transfer.targetUser))</strong> is waiting for \
                confirmation. The link is valid until \(escape(AuditRecord.timestamp(transfer.expiresAt))).</span>\(cancel)</div>
                """
        }
        return document(
            title: "Organization Profile", signedIn: signedIn,
            main: """
                <h1>Organization Profile</h1>\(notice(text))
                <section class="card" id="basic"><div class="card-head"><h2>Basic information</h2>\(edit)</div>
                <dl>\(rows.joined())<dt>System ID</dt><dd class="code">\(escape(profile.id))</dd></dl></section>
                <section class="card" id="owner"><div class="card-head"><h2>Organization Owner</h2>\(change)</div>
                <dl><dt>Owner</dt><dd id="owner-name">\(escape(owner.owner))</dd></dl>\(pending)</section>
                """)
    }

    /// The Edit form: `values` as entered (or stored), `errors` beside their fields.
    static func editProfile(
        values: [OrganizationProfile.Field: String], errors: [OrganizationProfile.Field: String], signedIn: (user: String, csrf: String)
    ) -> String {
        let fields = labels.map { field, label -> String in
            let value = values[field] ?? ""
            let id = field.rawValue
            let control: String
            switch field {
            case .country:
                control = select(id, value, [("", "Not set")] + CountryCodes.all.sorted().map { ($0, $0) })
            case .scale:
                control = select(id, value, [("", "Not set")] + ProfileEndpoint.scales.map { ($0, "\($0) employees") })
            default:
                control = "<input type=\"text\" id=\"\(id)\" name=\"\(id)\" value=\"\(escape(value))\">"
            }
            let mark = field == .name ? " <span class=\"req\" title=\"required\">*</span>" : ""
            let error = errors[field].map { "<div class=\"error\" id=\"error-\(id)\">\(escape($0))</div>" } ?? ""
            return
                "<div class=\"field\(errors[field] == nil ? "" : " invalid")\"><label for=\"\(id)\">\(escape(label))\(mark)</label>\(control)\(error)</div>"
        }
        let summary = errors.isEmpty ? "" : alert("The profile was not saved: correct the fields marked below.")
        return document(
            title: "Organization Profile", signedIn: signedIn,
            main: """
                <h1>Edit organization profile</h1>\(summary)
                <form class="card" method="post" action="/console/profile">
                <input type="hidden" name="csrf" value="\(escape(signedIn.csrf))">\(fields.joined())
                <div class="actions"><button class="primary" type="submit" id="save">Save</button>\
                <a class="button plain" href="/console/profile">Cancel</a></div></form>
                """)
    }

    static func select(_ id: String, _ chosen: String, _ options: [(value: String, text: String)]) -> String {
        let items = options.map { option in
            "<option value=\"\(escape(option.value))\"\(option.value == chosen ? " selected" : "")>\(escape(option.text))</option>"
        }
        return "<select id=\"\(id)\" name=\"\(id)\">\(items.joined())</select>"
    }

    /// Change under the Organization Owner: a drop-down of the users who can take over;
    /// the email field once the chosen user has no registered address (the guide's
    /// "manually enter the user's email address").
    static func changeOwner(
        candidates: [DirectorySeed.User], chosen: String?, askEmail: Bool, email: String, error: String?,
        signedIn: (user: String, csrf: String)
    ) -> String {
        let options =
            [("", "Select a user")]
            + candidates.map { user in (user.id, user.name + ((user.email ?? "").isEmpty ? " (no email address)" : "")) }
        let emailField =
            askEmail
            ? """
            <div class="field"><label for="email">Email address <span class="req">*</span></label>\
            <input type="email" id="email" name="email" value="\(escape(email))">\
            <div class="muted">This user has not registered an email address. The confirmation email goes to the address you enter; \
            it becomes theirs when they accept.</div></div>
            """ : ""
        return document(
            title: "Organization Profile", signedIn: signedIn,
            main: """
                <h1>Change organization owner</h1>\(alert(error))
                <form class="card" method="post" action="/console/owner/transfer">
                <input type="hidden" name="csrf" value="\(escape(signedIn.csrf))">
                <div class="field"><label for="target">New owner</label>\(select("target", chosen ?? "", options))</div>\(emailField)
                <p class="muted">The user becomes the owner after clicking the link in the confirmation email. You become an ordinary \
                user with your permissions revoked, and your login ends.</p>
                <div class="actions"><button class="primary" type="submit" id="confirm">Confirm</button>\
                <a class="button plain" href="/console/profile">Cancel</a></div></form>
                """)
    }

    /// A refusal as a page: the API's status, code and message, and the request ID; a link
    /// back to the profile unless that is the page refused.
    static func refusal(_ error: GatewayError, requestId: String, signedIn: (user: String, csrf: String)?, backToProfile: Bool = true) -> String {
        let back =
            backToProfile ? "<div class=\"actions\"><a class=\"button plain\" href=\"/console/profile\">Back to the profile</a></div>" : ""
        return document(
            title: "Not allowed", signedIn: signedIn,
            main: """
                <h1>\(error.status == 403 ? "You are not allowed to do this" : "This could not be done")</h1>
                <div class="card"><p class="alert" role="alert" id="refusal">\(escape(error.message))</p>
                <dl><dt>Error code</dt><dd class="code" id="error-code">\(escape(error.code))</dd>\
                <dt>Request ID</dt><dd class="code">\(escape(requestId))</dd></dl>\(back)</div>
                """)
    }

    /// The page the emailed link opens, before and after its button, and when it cannot be
    /// used: `heading` names the outcome, `detail` explains it.
    static func confirmation(heading: String, detail: String, outcome: String, form token: String? = nil) -> String {
        let button =
            token.map {
                """
                <form method="post" action="/owner-transfer/confirm">
                <input type="hidden" name="token" value="\(escape($0))">
                <div class="actions"><button class="primary" type="submit" id="accept">Accept ownership</button></div>
                </form>
                """
            } ?? ""
        return document(
            title: "Ownership transfer",
            main: """
                <div class="card narrow" id="confirmation" data-outcome="\(escape(outcome))"><h1>\(escape(heading))</h1>\
                <p>\(escape(detail))</p>\(button)</div>
                """)
    }
}
