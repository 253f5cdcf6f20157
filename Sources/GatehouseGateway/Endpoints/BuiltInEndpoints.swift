import Foundation
import GatehouseDirectory
import GatehousePolicy

/// The APIs Gatehouse answers itself: routes with a `handler` in the catalog. They go
/// through the same authentication, caller rule, policy evaluation and audit as forwarded
/// calls; only the last step differs.
public enum BuiltInEndpoint: String, Sendable, CaseIterable {
    case profileGet = "profile.get"
    case profileUpdate = "profile.update"
    case transferCreate = "transfer.create"
    case transferGet = "transfer.get"
    case transferCancel = "transfer.cancel"
    case transferConfirmPage = "transfer.confirm-page"
    case transferAccept = "transfer.accept"
    case temporaryCredentials = "credentials.temporary"
    /// The organization console's pages and forms (`ConsoleEndpoints`).
    case consoleHome = "console.home"
    case consoleSignInPage = "console.sign-in-page"
    case consoleSignIn = "console.sign-in"
    case consoleSignOut = "console.sign-out"
    case consoleProfile = "console.profile"
    case consoleProfileEdit = "console.profile-edit"
    case consoleProfileSave = "console.profile-save"
    case consoleOwnerChange = "console.owner-change"
    case consoleOwnerTransfer = "console.owner-transfer"
    case consoleOwnerCancel = "console.owner-cancel"

    /// Why a route that takes no session may be called, or nil for every other route: the
    /// confirmation page and its form take the emailed link as their credential (the target
    /// may hold no token at all); the console's sign-in takes a password, and its front
    /// page only points there. These skip authentication, the caller rule and policies.
    public var authenticatesItself: String? {
        switch self {
        case .transferConfirmPage, .transferAccept: "confirmation_link"
        case .consoleHome, .consoleSignInPage, .consoleSignIn: "console_sign_in"
        default: nil
        }
    }

    /// A console page or form: authenticated by the console's session cookie only (never by
    /// a token or signature), answered in HTML, refused as a page.
    public var isConsole: Bool { rawValue.hasPrefix("console.") }
}

/// One call to a local API.
public struct EndpointRequest: Sendable {
    public var handler: BuiltInEndpoint
    public var session: Session?
    public var organization: DirectorySeed.Organization
    public var parameters: [String: String]
    public var query: String?
    public var body: [UInt8]
    public var now: Date
    /// The directory's users (the console's owner drop-down).
    public var users: [DirectorySeed.User] = []
    /// What the console reads besides the body: its cookies, the form's media type, the
    /// browser's `Sec-Fetch-Site` and whether the connection is TLS (the cookie's `Secure`).
    public var cookies = ConsoleCookies()
    public var contentType: String?
    public var fetchSite: String?
    public var isTLS = false
}

/// A local API's answer, and what it changed (for the audit line).
public struct EndpointResponse: Sendable {
    public var status: Int
    public var contentType = "application/json"
    public var body: String
    public var changes: [FieldChange] = []
    /// Who acted, when the call had no token (an accepted transfer: the new owner).
    public var actingUser: String?
    /// Fields besides the body's: every HTML answer's security fields
    /// (`ConsolePages.securityFields`), a console's `Set-Cookie` and `Location`.
    public var fields: [(StaticString, String)] = []
    /// Set when the answer is a refusal shown as a page (a console form with errors beside
    /// its fields, a refused password): the audit line records it as this gateway error.
    public var refusal: GatewayError?

    init(status: Int, json: JSONValue, changes: [FieldChange] = []) {
        self.status = status
        self.body = JSONWriter.compact(json)
        self.changes = changes
    }

    init(status: Int, html: String, actingUser: String? = nil, changes: [FieldChange] = [], refusal: GatewayError? = nil) {
        self.status = status
        self.contentType = "text/html; charset=utf-8"
        self.body = html
        self.actingUser = actingUser
        self.changes = changes
        self.fields = ConsolePages.securityFields
        self.refusal = refusal
    }

    /// `303 See Other` to a page of the console (after a form: the browser then GETs it).
    static func redirect(to location: String, changes: [FieldChange] = [], actingUser: String? = nil) -> EndpointResponse {
        var response = EndpointResponse(status: 303, html: "", actingUser: actingUser, changes: changes)
        response.contentType = "text/plain; charset=utf-8"
        response.fields.append(("Location", location))
        return response
    }
}

/// One field a call changed, old and new value (nil: empty).
public struct FieldChange: Sendable, Equatable {
    public var field: String
    public var old: String?
    public var new: String?
}

/// The local APIs over the directory. Blocking (SQLite): the proxy runs them off its event
/// loop.
public struct BuiltInEndpoints: Sendable {
    let store: DirectoryStore
    /// How long a transfer's confirmation link is valid.
    let transferValidity: TimeInterval
    /// How long a console sign-in lasts (its directory token's lifetime).
    let consoleSessionLifetime: TimeInterval

    public init(store: DirectoryStore, transferValidity: TimeInterval = 86_400, consoleSessionLifetime: TimeInterval = 28_800) {
        self.store = store
        self.transferValidity = transferValidity
        self.consoleSessionLifetime = consoleSessionLifetime
    }

    public func handle(_ call: EndpointRequest) -> Result<EndpointResponse, GatewayError> {
        do {
            switch call.handler {
            case .profileGet:
                return .success(EndpointResponse(status: 200, json: ProfileEndpoint.json(try store.profile())))
            case .profileUpdate:
                guard let session = call.session, ProfileEndpoint.mayEdit(session, in: call.organization) else {
                    return .failure(.notOwnerOrAdmin)
                }
                let change: [OrganizationProfile.Field: String?]
                switch ProfileEndpoint.change(from: call.body) {
                case .failure(let gatewayError): return .failure(gatewayError)
                case .success(let parsed): change = parsed
                }
                let (old, new) = try store.updateProfile(change)
                return .success(EndpointResponse(status: 200, json: ProfileEndpoint.json(new), changes: ProfileEndpoint.changes(old, new)))
            case .transferCreate, .transferGet, .transferCancel:
                return try TransferEndpoints.handle(call, store: store, validity: transferValidity)
            case .transferConfirmPage, .transferAccept:
                return .success(try TransferEndpoints.confirm(call, store: store))
            case .temporaryCredentials:
                return try SecurityTokenEndpoint.handle(call, store: store)
            case .consoleHome, .consoleSignInPage, .consoleSignIn, .consoleSignOut, .consoleProfile, .consoleProfileEdit, .consoleProfileSave,
                .consoleOwnerChange, .consoleOwnerTransfer, .consoleOwnerCancel:
                return try ConsoleEndpoints(store: store, sessionLifetime: consoleSessionLifetime, transferValidity: transferValidity)
                    .handle(call)
            }
        } catch let error as TransferError {
            return .failure(.transfer(error))
        } catch DirectoryError.unavailable(let why) {
            return .failure(.directoryUnavailable(why))
        } catch {
            return .failure(.localFailure("\(error)"))
        }
    }
}

/// `GET`/`PATCH /v1/organizations/profile`: the answer's shape and the rules a change must
/// follow. Every gateway error names the field.
public enum ProfileEndpoint {
    /// Company sizes a profile may state (number of employees).
    public static let scales = ["1-49", "50-99", "100-499", "500-999", "1000-4999", "5000+"]

    static func json(_ profile: OrganizationProfile) -> JSONValue {
        return .object([
            (
                "organization_profile",
                .object(
                    [("organization_id", .string(profile.id)), ("name", .string(profile.name))]
                        + OrganizationProfile.Field.allCases.filter { $0 != .name }.map { ($0.rawValue, .string(orNull: profile[$0])) })
            )
        ])
    }

    /// Whether a user may edit the profile by the guide's rule: the organization's owner or
    /// an administrator (the policies decide besides).
    static func mayEdit(_ session: Session, in organization: DirectorySeed.Organization) -> Bool {
        session.user.name == organization.owner || session.user.role == .admin
    }

    /// The fields an update changed, old and new, for the audit line.
    static func changes(_ old: OrganizationProfile, _ new: OrganizationProfile) -> [FieldChange] {
        OrganizationProfile.Field.allCases.compactMap { field in
            old[field] == new[field] ? nil : FieldChange(field: field.rawValue, old: old[field], new: new[field])
        }
    }

    /// The fields a PATCH body sets (`nil`: cleared), or why it is refused.
    public static func change(from body: [UInt8]) -> Result<[OrganizationProfile.Field: String?], GatewayError> {
        func bad(_ message: String) -> Result<[OrganizationProfile.Field: String?], GatewayError> {
            .failure(.badProfile(message))
        }
        guard !body.isEmpty, let json = try? JSONLoader.parse(body, limits: JSONLimits(maxBytes: max(body.count, 1), maxDepth: 4)),
            case .object(let members) = json
        else { return bad("The body must be a JSON object of profile fields.") }
        let names = OrganizationProfile.Field.allCases.map(\.rawValue).joined(separator: ", ")
        var change: [OrganizationProfile.Field: String?] = [:]
        for (key, value) in members {
            if key == "organization_id" || key == "id" { return bad("\(key) is read-only.") }
            guard let field = OrganizationProfile.Field(rawValue: key) else {
                return bad("\(JSONWriter.quoted(key)) is not a profile field; the fields are \(names).")
            }
            let text: String?
            switch value {
            case .null: text = nil
            case .string(let string): text = string.isEmpty ? nil : string
            default: return bad("\(key) must be a string or null.")
            }
            if let problem = problem(field, text) { return bad(problem) }
            change[field] = .some(text)
        }
        if change.isEmpty { return bad("The body names no field to change; the fields are \(names).") }
        return .success(change)
    }

    /// The Unicode bidirectional formatting characters (UAX #9): embeddings and overrides,
    /// isolates, and the marks.
    static let bidirectionalControls: Set<UInt32> = [0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]

    /// What is wrong with a field's new value, or nil.
    static func problem(_ field: OrganizationProfile.Field, _ value: String?) -> String? {
        guard let value else { return field == .name ? "name is required and cannot be cleared." : nil }
        if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "\(field.rawValue) cannot contain control characters."
        }
        // Bidirectional overrides and isolates reorder what follows them wherever the value is
        // shown (pages, the transfer email's subject): "Trojan Source", CVE-2021-42574.
        if value.unicodeScalars.contains(where: { Self.bidirectionalControls.contains($0.value) }) {
            return "\(field.rawValue) cannot contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)."
        }
        func length(_ limit: Int) -> String? {
            value.count <= limit ? nil : "\(field.rawValue) is at most \(limit) characters (it has \(value.count))."
        }
        switch field {
        case .name:
            if value.trimmingCharacters(in: .whitespaces) != value { return "name cannot start or end with spaces." }
            return length(64)
        case .organizationCode:
            // The organization's own identifier (a registration or company code): the system
            // ID in URNs (organization_id) never changes.
            guard
                value.utf8.allSatisfy({
                    $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || (0x30...0x39).contains($0)
                        || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
                })
            else { return "organization_code takes letters, digits, '-', '_' and '.'." }
            return length(64)
        case .address: return length(256)
        case .industry: return length(64)
        case .businessLicenseNumber:
            guard
                value.utf8.allSatisfy({
                    $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
                })
            else { return "business_license_number takes letters, digits and '-'." }
            return length(32)
        case .country:
            return CountryCodes.all.contains(value)
                ? nil : "country must be an ISO 3166-1 alpha-2 code such as DE or CN, not \(JSONWriter.quoted(value))."
        case .scale:
            return scales.contains(value) ? nil : "scale must be one of \(scales.joined(separator: ", ")), not \(JSONWriter.quoted(value))."
        }
    }
}
