import Foundation
import GatehouseDirectory
import GatehousePolicy
import GatehouseSigning
import Hummingbird

/// A stand-in for the Organizations account service, as its API reference describes it:
/// show, list and update accounts, and the tag APIs of an account. Gatehouse fronts it in
/// `gatehouse demo` and in tests; it can also run alone (`gatehouse sample-account-service`).
public struct SampleAccountService: Sendable {
    public let store: SampleAccountStore
    /// When set, every call must be AK/SK-signed with these credentials (the management
    /// account's, as the real endpoint wants them); anything else gets 401 `APIGW.0301`.
    public let requiredSignature: SigningCredentials?

    public init(store: SampleAccountStore, requiredSignature: SigningCredentials? = nil) {
        self.store = store
        self.requiredSignature = requiredSignature
    }

    /// The service's answer to a call: a status and a JSON body (none for 204).
    struct Reply: ResponseGenerator, Error {
        var status: HTTPResponse.Status
        var body: JSONValue?

        func response(from request: Request, context: some RequestContext) throws -> Response {
            guard let body else { return Response(status: status) }
            return Response(
                status: status, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: JSONWriter.compact(body))))
        }

        static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Reply {
            Reply(status: status, body: .object([("error_code", .string(code)), ("error_msg", .string(message))]))
        }

        static func notFound(_ id: String) -> Reply { .error(.notFound, "Organizations.1010", "Account \(id) does not exist.") }

        /// A 501 for the tags of an OU, a root or a policy (the tag APIs take any of them):
        /// the sample keeps accounts only, and "no such account" would read as a 404 for a
        /// resource that may well exist.
        static func notAnAccount(_ id: String) -> Reply? {
            guard [IdentifierFormat.organizationalUnit, .root, .policy].contains(where: { $0.accepts(id) }) else { return nil }
            return .error(
                .notImplemented, "Sample.0501",
                "The sample account service keeps the tags of accounts only; a real Organizations endpoint serves those of \(id).")
        }

        static func badRequest(_ message: String) -> Reply { .error(.badRequest, "Organizations.1000", message) }
    }

    /// Bodies are small JSON objects; anything larger is refused.
    static let maxBody = 64 * 1024

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let store = self.store
        if let requiredSignature { router.add(middleware: SignatureMiddleware(credentials: requiredSignature)) }
        router.add(middleware: NotImplementedMiddleware())
        router.get("/v1/organizations/accounts") { request, _ -> Reply in
            let parameters = request.uri.queryParameters
            var limit = 200
            if let text = parameters.get("limit") {
                guard let value = Int(text), (1...2000).contains(value) else { return .badRequest("limit must be a number from 1 to 2000.") }
                limit = value
            }
            let marker = parameters.get("marker").map { String($0) }
            if let marker, try store.account(marker) == nil { return .badRequest("marker \(marker) is not an account ID.") }
            let page = try store.accounts(limit: limit, after: marker)
            var pageInfo: [(key: String, value: JSONValue)] = [("current_count", .integer(Int64(page.accounts.count)))]
            if let next = page.nextMarker { pageInfo.insert(("next_marker", .string(next)), at: 0) }
            return Reply(status: .ok, body: .object([("accounts", .array(page.accounts.map(Self.json))), ("page_info", .object(pageInfo))]))
        }
        router.get("/v1/organizations/accounts/:account_id") { _, context -> Reply in
            let id = try context.parameters.require("account_id")
            guard let account = try store.account(id) else { return .notFound(id) }
            return Reply(status: .ok, body: .object([("account", Self.json(account))]))
        }
        router.patch("/v1/organizations/accounts/:account_id") { request, context -> Reply in
            let id = try context.parameters.require("account_id")
            let change: SampleAccountStore.DescriptionChange
            switch try await Self.body(request) {
            case .failure(let reply): return reply
            case .success(let json):
                guard case .object(let members) = json else { return .badRequest("The body must be a JSON object.") }
                if let unknown = members.first(where: { $0.key != "description" }) {
                    return .badRequest("Unknown parameter \(unknown.key); an account's description is the one field that can be updated.")
                }
                switch json["description"] {
                case nil, .null?: change = .unchanged
                case .string(let text)?:
                    guard text.count <= SampleAccountStore.maxDescriptionLength else {
                        return .badRequest(
                            "description has \(text.count) characters; at most \(SampleAccountStore.maxDescriptionLength) are allowed.")
                    }
                    change = .set(text)
                default: return .badRequest("description must be a string (an empty string clears it) or null (no change).")
                }
            }
            guard let account = try store.update(id, description: change) else { return .notFound(id) }
            return Reply(status: .ok, body: .object([("account", Self.json(account))]))
        }
        // The tag APIs, under both URL styles the reference lists; the typed style's type as
        // written and as the SDK sends it (`:` percent-encoded), since the router matches the
        // path undecoded.
        for prefix in [
            "/v1/organizations/resources/:resource_id", "/v1/organizations/organizations:accounts/:resource_id",
            "/v1/organizations/organizations%3Aaccounts/:resource_id",
        ] {
            let isTypedStyle = !prefix.contains("/resources/")
            router.get("\(prefix)/tags") { _, context -> Reply in
                let id = try context.parameters.require("resource_id")
                if let reply = Reply.notAnAccount(id) { return reply }
                guard let tags = try store.tags(id) else { return .notFound(id) }
                return Reply(
                    status: .ok,
                    body: .object([
                        ("tags", .array(tags.map { .object([("key", .string($0.key)), ("value", .string($0.value))]) })),
                        ("page_info", .object([("current_count", .integer(Int64(tags.count)))])),
                    ]))
            }
            router.post(isTypedStyle ? "\(prefix)/tags/create" : "\(prefix)/tag") { request, context -> Reply in
                let id = try context.parameters.require("resource_id")
                if let reply = Reply.notAnAccount(id) { return reply }
                switch try await Self.body(request) {
                case .failure(let reply): return reply
                case .success(let json):
                    switch Self.tags(json) {
                    case .failure(let reply): return reply
                    case .success(let tags): return try store.tag(id, tags) ? Reply(status: .noContent) : .notFound(id)
                    }
                }
            }
            router.post(isTypedStyle ? "\(prefix)/tags/delete" : "\(prefix)/untag") { request, context -> Reply in
                let id = try context.parameters.require("resource_id")
                if let reply = Reply.notAnAccount(id) { return reply }
                switch try await Self.body(request) {
                case .failure(let reply): return reply
                case .success(let json):
                    // The untag API takes tag_keys; the typed delete API takes tags (keys, values ignored).
                    let keys: [String]
                    if isTypedStyle {
                        switch Self.tags(json, valuesRequired: false) {
                        case .failure(let reply): return reply
                        case .success(let tags): keys = tags.map(\.key)
                        }
                    } else {
                        guard case .array(let items)? = json["tag_keys"], !items.isEmpty else {
                            return .badRequest("tag_keys must be a non-empty list of tag keys.")
                        }
                        var collected: [String] = []
                        for item in items {
                            guard case .string(let key) = item, (1...128).contains(key.count) else {
                                return .badRequest("Tag keys have 1 to 128 characters.")
                            }
                            collected.append(key)
                        }
                        keys = collected
                    }
                    return try store.untag(id, keys) ? Reply(status: .noContent) : .notFound(id)
                }
            }
        }
        return router
    }

    /// The request body as JSON, or the 400 that says why it is not.
    static func body(_ request: Request) async throws -> Result<JSONValue, Reply> {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maxBody)
        } catch {
            return .failure(.error(.contentTooLarge, "Organizations.1000", "The body is larger than \(maxBody) bytes."))
        }
        do {
            return .success(try JSONLoader.parse(Array(buffer.readableBytesView), limits: JSONLimits(maxBytes: maxBody, maxDepth: 8)))
        } catch {
            return .failure(.badRequest("The body is not valid JSON: \(error.message) at line \(error.line), column \(error.column)."))
        }
    }

    /// `{"tags": [{"key": ..., "value": ...}]}`: keys 1 to 128 characters, values strings (maybe empty), never null.
    static func tags(_ json: JSONValue, valuesRequired: Bool = true) -> Result<[(key: String, value: String)], Reply> {
        guard case .array(let items)? = json["tags"], !items.isEmpty else {
            return .failure(.badRequest("tags must be a non-empty list of {key, value}."))
        }
        var tags: [(key: String, value: String)] = []
        for item in items {
            guard case .string(let key)? = item["key"], (1...128).contains(key.count) else {
                return .failure(.badRequest("Each tag needs a key of 1 to 128 characters."))
            }
            switch item["value"] {
            case .string(let value)?:
                guard value.count <= 255 else { return .failure(.badRequest("Tag values have at most 255 characters.")) }
                tags.append((key, value))
            case nil where !valuesRequired: tags.append((key, ""))
            default: return .failure(.badRequest("Tag \(key) needs a string value (it may be empty, never null)."))
            }
        }
        return .success(tags)
    }

    static func json(_ account: SampleAccountStore.Account) -> JSONValue {
        return .object([
            ("id", .string(account.id)),
            ("urn", .string(account.urn)),
            ("join_method", .string(account.joinMethod)),
            ("status", .string(account.status)),
            ("joined_at", .string(account.joinedAt)),
            ("name", .string(account.name)),
            ("mobile_phone", .string(orNull: account.mobilePhone)),
            ("intl_number_prefix", .string(orNull: account.intlNumberPrefix)),
            ("email", .string(orNull: account.email)),
            ("description", .string(account.description)),
        ])
    }
}

/// Refuses calls not AK/SK-signed with the service's credentials, in Huawei API Gateway's
/// words ("Incorrect IAM authentication information: verify aksk signature fail, ...").
/// Every other operation of the Organizations API (the gateway routes all 69) gets a 501 in
/// the service's error shape, naming the call: the sample implements what the demo and the
/// tests use, and says plainly that the rest reached it and is not served.
struct NotImplementedMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return try SampleAccountService.Reply.error(
                .notImplemented, "Sample.0501",
                "The sample account service does not implement \(request.method) \(request.uri.path); a real Organizations endpoint serves it."
            ).response(from: request, context: context)
        }
    }
}

struct SignatureMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let credentials: SigningCredentials

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: SampleAccountService.maxBody)
        let signed = RequestSigning.Request(
            method: request.method.rawValue, target: request.head.path ?? "/",
            // HTTP/1's Host is the authority pseudo-field here, not among the fields.
            fields: request.headers.map { ($0.name.rawName, $0.value) } + (request.head.authority.map { [("Host", $0)] } ?? []),
            body: Array(body.readableBytesView))
        if let rejection = credentials.verify(signed, authorization: request.headers[.authorization], now: Date()) {
            return try SampleAccountService.Reply.error(
                .unauthorized, "APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail, \(rejection.description)"
            ).response(from: request, context: context)
        }
        return try await next(request, context)
    }
}
