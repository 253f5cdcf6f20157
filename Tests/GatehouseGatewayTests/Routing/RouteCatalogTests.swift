import Foundation
import GatehouseDirectory
import GatehousePolicy
import Testing

@testable import GatehouseGateway

/// The repository: this file is Tests/GatehouseGatewayTests/Routing/RouteCatalogTests.swift.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let sampleCatalog = root.appendingPathComponent("samples/catalog.json").path
let sampleDirectory = root.appendingPathComponent("samples/directory.json").path

/// Writes `text` to a temporary file, runs `body` with its path, removes it.
func withFile<T>(_ text: String, _ body: (String) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-\(UUID().uuidString).json")
    try Data(text.utf8).write(to: url)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url.path)
}

/// The diagnostics of loading `text` as a file with `load` (empty when it loads).
func loadErrors(_ text: String, _ load: (String) throws -> Void) throws -> [Diagnostic] {
    try withFile(text) { path in
        do {
            try load(path)
            return []
        } catch {
            return (error as? PolicyLoadError)?.diagnostics ?? []
        }
    }
}

func catalogErrors(_ text: String) throws -> [Diagnostic] { try loadErrors(text) { _ = try RouteCatalog.load($0) } }

@Suite struct RouteCatalogTests {
    @Test func sampleCatalogMapsTheAccountAPIs() throws {
        let catalog = try RouteCatalog.load(sampleCatalog)
        let (route, parameters) = try #require(catalog.match(method: "PATCH", path: "/v1/organizations/accounts/05261f923e80d3890f33c0056e9b3f80"))
        #expect(route.action == "organizations:accounts:update")
        #expect(route.callers == .management)
        #expect(parameters == ["account_id": "05261f923e80d3890f33c0056e9b3f80"])
        #expect(
            route.resourceURN(parameters: parameters, organizationId: "o-1", managementAccountId: "0a6d")
                == "organizations::0a6d:account:o-1/05261f923e80d3890f33c0056e9b3f80")
        #expect(catalog.match(method: "GET", path: "/v1/organizations/accounts")?.route.action == "organizations:accounts:list")
        #expect(
            catalog.match(method: "POST", path: "/v1/organizations/organizations:accounts/a1/tags/create")?.route.action
                == "organizations:resources:tag")
        // Fail closed: anything else matches no route.
        #expect(catalog.match(method: "DELETE", path: "/v1/organizations/accounts/a1") == nil)
        #expect(catalog.match(method: "PATCH", path: "/v1/organizations/accounts/") == nil)
        #expect(catalog.match(method: "PATCH", path: "/v1/organizations/accounts/a1/extra") == nil)
        // Every action in the sample catalog is one the organizations service has, but the
        // security-token API Gatehouse answers itself, which is IAM's.
        for route in catalog.routes where route.handler != .temporaryCredentials && route.identityPolicy {
            #expect(!ServiceCatalog.organizations.actions(matching: route.action).isEmpty, "\(route.action)")
        }
        #expect(catalog.routes.filter { $0.action.hasPrefix("iam:") }.map(\.handler) == [.temporaryCredentials])
    }

    /// Every operation of the documented service (the SDK's 69, from the data file) is a
    /// route of the sample catalog with its method, path, action and caller rule; the
    /// resource is built from wherever the operation names it.
    @Test func sampleCatalogIsTheWholeDocumentedService() throws {
        let dataFile = root.deletingLastPathComponent().appendingPathComponent("shared/data/organizations-catalog.json")
        let data = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: dataFile)) as? [String: Any])
        let operations = try #require(data["operations"] as? [[String: Any]])
        #expect(operations.count == 69)
        let catalog = try RouteCatalog.load(sampleCatalog)
        for operation in operations {
            let name = operation["sdk_name"] as? String ?? ""
            let method = operation["method"] as? String ?? ""
            let path = operation["path"] as? String ?? ""
            let route = try #require(catalog.routes.first { $0.method == method && $0.path == path }, "\(name)")
            if let action = operation["action"] as? String {
                #expect(route.action == action && route.identityPolicy, "\(name)")
            } else {
                #expect(!route.identityPolicy, "\(name): no documented action, no identity policy")
            }
            let expectedCallers: CallerRule =
                switch operation["caller"] as? String {
                case "management_or_delegated": .managementOrDelegated
                case "any_member": .member
                default: .management  // stated, or the strictest where the reference is silent
                }
            #expect(route.callers == expectedCallers, "\(name)")
            let keys = operation["condition_keys"] as? [String] ?? []
            #expect(route.carriesRequestTags == keys.contains("g:RequestTag/<tag-key>"), "\(name)")
            #expect(route.carriesServicePrincipal == keys.contains("organizations:ServicePrincipal"), "\(name)")
            if keys.contains("g:ResourceTag/<tag-key>") && route.resource != "*" { #expect(route.carriesResourceTags, "\(name)") }
        }
        func urn(_ method: String, _ path: String, extra: [String: String] = [:]) -> String? {
            guard let (route, parameters) = catalog.match(method: method, path: path) else { return nil }
            return route.resourceURN(parameters: parameters.merging(extra) { $1 }, organizationId: "o-1", managementAccountId: "m")
        }
        // The tag APIs' resource type comes from the path's type, or from the ID's form.
        #expect(urn("GET", "/v1/organizations/organizations:ous/ou-abcdefgh/tags") == "organizations::m:ou:o-1/ou-abcdefgh")
        #expect(urn("POST", "/v1/organizations/resources/p-abcdefgh/tag") == "organizations::m:policy:o-1/p-abcdefgh")
        #expect(urn("POST", "/v1/organizations/resources/r-abcd/untag") == "organizations::m:root:o-1/r-abcd")
        #expect(urn("POST", "/v1/organizations/resources/05261f923e80d3890f33c0056e9b3f80/tag")?.contains(":account:") == true)
        // A resource type outside the documented four matches no tag API.
        #expect(catalog.match(method: "GET", path: "/v1/organizations/organizations:users/u1/tags") == nil)
        #expect(catalog.match(method: "GET", path: "/v1/organizations/accounts/a1")?.route.action == "organizations:accounts:get")
        // Named in the body or the query.
        let register = try #require(catalog.match(method: "POST", path: "/v1/organizations/delegated-administrators/register")?.route)
        #expect(register.bodyReferences == ["body:account_id"] && register.tagSubject == "body:account_id")
        let config = try #require(catalog.match(method: "GET", path: "/v1/organizations/dry-run-config")?.route)
        #expect(config.queryReferences == ["query:root_id"])
        #expect(config.malformedParameter(in: ["query:root_id": "r-a,r-b"])?.format == .root)
        #expect(
            urn("POST", "/v1/organizations/organizational-units", extra: ["body:parent_id": "ou-12345678"]) == "organizations::m:ou:o-1/ou-12345678")
    }

    @Test func whatARouteCarries() throws {
        let catalog = try RouteCatalog.load(sampleCatalog)
        let update = try #require(catalog.match(method: "PATCH", path: "/v1/organizations/accounts/a")?.route)
        #expect(update.carries("g:resourcetag/env") && update.carries("g:sourceip"))
        #expect(!update.carries("g:requesttag/env") && !update.carries("g:tagkeys"))
        let tag = try #require(catalog.match(method: "POST", path: "/v1/organizations/resources/a/tag")?.route)
        #expect(tag.carries("g:requesttag/env") && tag.carries("g:tagkeys"))
    }

    @Test func invalidCatalogsReportEveryProblemWithItsPlace() throws {
        let errors = try catalogErrors(
            """
            {"routes": [
              {"method": "PATCH", "path": "/v1/accounts/{account_id}", "action": "organizations:accounts:update",
               "resource": "organizations::{management_account_id}:account:{organization_id}/{acount_id}", "callers": "management"},
              {"method": "FETCH", "path": "/v1/x", "action": "a:b:c", "resource": "*", "callers": "anyone"},
              {"method": "GET", "path": "v1/y", "action": "a:b:c", "resource": "*", "callers": "member", "extra": 1}
            ]}
            """)
        #expect(errors.allSatisfy { $0.code == .badRouteCatalog })
        #expect(errors.contains { $0.message.contains("{acount_id}") && $0.location.line == 3 })
        #expect(errors.contains { $0.message.contains("callers must be") })
        #expect(errors.contains { $0.message.contains("path must start with /") })
        #expect(errors.contains { $0.message.contains("unknown route member \"extra\"") })
        #expect(try catalogErrors(#"{"routes": []}"#).first?.message.contains("no routes") == true)
        #expect(
            try catalogErrors(
                #"{"routes": [{"method": "GET", "path": "/a/{account_id}", "action": "a:b:c", "resource": "*", "callers": "member"}, {"method": "GET", "path": "/a/{account_id}", "action": "a:b:d", "resource": "*", "callers": "member"}]}"#
            ).first?.message.contains("listed twice") == true)
        #expect(try catalogErrors("{").first?.location.line == 1)
        // Resource placeholders read from the query or body, and templates the reader refuses.
        let resources = try catalogErrors(
            """
            {"routes": [
              {"method": "GET", "path": "/a", "action": "a:b:c", "resource": "x:{query:root_id}:{body:nope}", "callers": "member"},
              {"method": "GET", "path": "/b", "action": "a:b:c", "resource": "x:{query:}/{type_of:elsewhere}", "callers": "member"},
              {"method": "GET", "path": "/c", "action": "a:b:c", "resource": "x:{organization_id}/{open", "callers": "member", "note": 1}
            ]}
            """)
        #expect(resources.contains { $0.message.contains("{body:nope} has no documented ID format") && $0.location.line == 2 })
        #expect(!resources.contains { $0.message.contains("query:root_id") })
        #expect(resources.contains { $0.message.contains("{query:} names no query parameter") && $0.location.line == 3 })
        #expect(resources.contains { $0.message.contains("placeholder {elsewhere}") && $0.location.line == 3 })
        #expect(resources.contains { $0.message.contains("unclosed { in resource") && $0.location.line == 4 })
        #expect(resources.contains { $0.message.contains("note must be a string") && $0.location.line == 4 })
    }

    /// Routes of these paths; every parameter is an account ID.
    func routes(_ paths: [String]) -> String {
        let items = paths.map { path in
            let formats = path.split(separator: "/").filter { $0.hasPrefix("{") }.map { #""\#($0.dropFirst().dropLast())": "account""# }
            return
                #"{"method": "GET", "path": "\#(path)", "action": "a:b:c", "resource": "*", "callers": "member", "formats": {\#(formats.joined(separator: ", "))}}"#
        }
        return #"{"routes": ["# + items.joined(separator: ", ") + "]}"
    }

    @Test func overlappingTemplatesMatchTheMostSpecificOrAreRefused() throws {
        // A literal wins over a parameter wherever the two are listed.
        let catalog = try withFile(routes(["/a/{x}", "/a/summary", "/a/{x}/b"])) { try RouteCatalog.load($0) }
        #expect(catalog.match(method: "GET", path: "/a/summary")?.route.path == "/a/summary")
        #expect(catalog.match(method: "GET", path: "/a/other")?.route.path == "/a/{x}")
        #expect(catalog.routes.map(\.path) == ["/a/{x}", "/a/summary", "/a/{x}/b"])

        // Neither more specific: refused, with a path both would match.
        let ambiguous = try catalogErrors(routes(["/a/{x}/b", "/a/c/{y}"]))
        #expect(ambiguous.count == 1)
        #expect(ambiguous.first?.message.contains("/a/c/b") == true)
        #expect(ambiguous.first?.location.line == 1)
        // The same template under other parameter names is the same route.
        #expect(try catalogErrors(routes(["/a/{x}", "/a/{y}"])).first?.message.contains("listed twice") == true)
    }
}

@Suite struct RequestGeneratorTests {
    func generator(_ policies: [String]) throws -> RequestGenerator {
        let documents = try policies.map { name in
            try PolicyFiles.loadDocument(root.appendingPathComponent("policies/\(name).json").path)
        }
        return RequestGenerator(
            catalog: try RouteCatalog.load(sampleCatalog), directory: try DirectorySeed.load(sampleDirectory), documents: documents)
    }

    @Test func valuesComeFromThePoliciesAndIncludeAbsence() throws {
        let generator = try generator(["dev-accounts-update", "office-network-only", "require-mfa"])
        #expect(generator.values["g:resourcetag/env"] == [.string("dev"), nil])
        #expect(generator.values["g:mfapresent"] == [.bool(false), .bool(true), nil])
        let addresses = try #require(generator.values["g:sourceip"]).compactMap { $0?.text }
        #expect(addresses.contains("203.0.113.0") && addresses.contains("192.0.2.1"))
        // Principal keys come from the directory, never varied.
        #expect(generator.values["g:principaltag/role"] == nil)
    }

    /// The caller's keys from the directory are each user's own in every generated request,
    /// as the gateway fills them, never varied with values the policies mention.
    @Test func generatedRequestsCarryTheCallersDirectoryKeys() throws {
        var generator = try generator(["dev-accounts-update"])
        generator.limit = 5_000
        let seed = try DirectorySeed.load(sampleDirectory)
        var seen = 0
        generator.generate { user, request in
            seen += 1
            let expected = Dictionary(seed.callerKeys(for: user).map { ($0.key, $0.values) }, uniquingKeysWith: { first, _ in first })
            for key in DirectorySeed.callerKeyNames {
                #expect(request.context[key] == expected[key], "\(user.name) \(key)")
            }
        }
        #expect(seen > 0)
        let member = try #require(seed.users.first { $0.name == "member" })
        let path = seed.callerKeys(for: member).first { $0.key == "g:principalorgpath" }?.values
        #expect(path == [.string("o-fhkmi6mek7wlqdp6nideqhb47qwtjdsv/r-9f2c1a7b/ou-c2d4e6f8a0b1/5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b")])
        // The gateway's flags for them are the same keys.
        #expect(Set(GlobalKeys.keys.filter { GlobalKeys.fromDirectory.contains($0.0) }.map(\.1)) == DirectorySeed.callerKeyNames)
    }

    @Test func onlyRoutesTheCallersAccountMayCall() throws {
        let generator = try generator(["dev-accounts-update"])
        var actionsByUser: [String: Set<String>] = [:]
        let outcome = generator.generate { user, request in actionsByUser[user.name, default: []].insert(request.action) }
        #expect(!outcome.truncated)
        #expect(actionsByUser["dev_only"]?.contains("organizations:accounts:update") == true)
        // member's account is a delegated administrator: reads, never management-only writes.
        #expect(actionsByUser["member"]?.contains("organizations:accounts:get") == true)
        #expect(actionsByUser["member"]?.contains("organizations:accounts:update") == false)
    }

    @Test func generationIsDeterministicAndBounded() throws {
        var generator = try generator(["dev-accounts-update", "deny-protected-accounts"])
        var first: [String] = []
        var second: [String] = []
        generator.generate { _, request in first.append("\(request.action) \(request.resource) \(request.context.sorted { $0.key < $1.key })") }
        generator.generate { _, request in second.append("\(request.action) \(request.resource) \(request.context.sorted { $0.key < $1.key })") }
        #expect(first == second && !first.isEmpty)
        generator.limit = 10
        var count = 0
        let outcome = generator.generate { _, _ in count += 1 }
        #expect(count == 10 && outcome.truncated)
    }
}
