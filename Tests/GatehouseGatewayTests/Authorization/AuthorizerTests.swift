import Foundation
import GatehouseDirectory
import GatehousePolicy
import NIOCore
import Testing

@testable import GatehouseGateway

@Suite struct AuthorizerTests {
    /// A directory in a temporary SQLite file with one extra user in a member account that is
    /// not a delegated administrator, and tokens for everyone.
    struct World {
        let view: DirectoryView
        let tokens: [String: String]
        let policies: PolicySnapshot
        let authorizer: Authorizer
    }

    static func world(
        trusted: [String] = [], attach: [(String, String)] = [], organizationId: String? = nil, policies extra: [String: String] = [:],
        changing change: (inout DirectorySeed) -> Void = { _ in }
    ) throws -> World {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-authz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var seed = try DirectorySeed.load(sampleDirectory)
        var outsider = try #require(seed.users.first { $0.name == "member" })
        outsider.id = "u-0099"
        outsider.name = "prod_user"
        outsider.accountId = "7d1f6a0c2b9e4e55a1c3d2f0e8b7a6c5"
        seed.users.append(outsider)
        if let organizationId { seed.organization.id = organizationId }
        change(&seed)
        let store = try DirectoryStore(path: dir.appendingPathComponent("d.sqlite").path)
        try store.importSeed(seed)
        for (policy, user) in attach { try store.attach(policy: policy, to: .user(user)) }
        var tokens: [String: String] = [:]
        for user in seed.users {
            tokens[user.name] = try store.issueToken(user: user.name, validFor: 3600, mfa: true).token
            // A console session each, under "console/<name>" (`ConsoleTests`).
            tokens["console/" + user.name] = try store.issueToken(user: user.name, validFor: 3600, consoleSession: true).token
        }
        var config = GatewayConfig()
        config.trustedProxies = trusted
        return World(
            view: try store.view(), tokens: tokens, policies: try Self.reloaded(extra),
            authorizer: Authorizer(catalog: try RouteCatalog.load(sampleCatalog), trustedProxies: config.trustedNetworks))
    }

    func authorize(
        _ world: World, _ method: String, _ target: String, as user: String, body: String = "", peer: String = "127.0.0.1",
        forwardedFor: String? = nil
    )
        -> AuthorizationResult
    {
        world.authorizer.authorize(
            RequestAttributes(
                method: method, target: target, token: world.tokens[user], forwardedFor: forwardedFor, peer: peer, body: Array(body.utf8)),
            requestId: "r", policies: world.policies, directory: world.view)
    }

    /// The request context of a decided call. A pending one is recorded as a failure, so that
    /// `requestContext(...)?.gatewayError == nil` cannot pass for a call that was never decided.
    func requestContext(_ authorization: AuthorizationResult, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> RequestContext? {
        if case .decided(let requestContext) = authorization { return requestContext }
        Issue.record("the call waits for tags instead of being decided", sourceLocation: sourceLocation)
        return nil
    }

    @Test func callerRulesComeFirst() throws {
        let world = try Self.world()
        let list = requestContext(authorize(world, "GET", "/v1/organizations/accounts", as: "prod_user"))
        #expect(list?.gatewayError == .notDelegatedAdministrator)
        #expect(list?.record.action == "organizations:accounts:list")
        // The delegated administrator's account may list, not update.
        #expect(requestContext(authorize(world, "GET", "/v1/organizations/accounts", as: "member"))?.gatewayError == nil)
        #expect(
            requestContext(authorize(world, "PATCH", "/v1/organizations/accounts/x", as: "member", body: "{}"))?.gatewayError == .notManagementAccount
        )
        // Any member account may read its organization (its policies allow it).
        let organization = requestContext(authorize(world, "GET", "/v1/organizations", as: "prod_user"))
        #expect(organization?.gatewayError == nil)
        #expect(organization?.record.reason == "explicit_allow")
    }

    @Test func tagsAreFetchedOnlyWhenAStatementNeedsThem() throws {
        let world = try Self.world()
        let dev = "05261f923e80d3890f33c0056e9b3f80"
        // The admin's statements test no tags when reading an account.
        #expect(requestContext(authorize(world, "GET", "/v1/organizations/accounts/\(dev)", as: "admin"))?.gatewayError == nil)
        // dev_only's Allow depends on g:ResourceTag/env.
        guard case .needsTags(let account, let pending) = authorize(world, "PATCH", "/v1/organizations/accounts/\(dev)", as: "dev_only", body: "{}")
        else {
            Issue.record("expected a pending decision")
            return
        }
        #expect(account == dev)
        #expect(pending.finish(tags: ResourceTags(["env": "dev"])).gatewayError == nil)
        #expect(pending.finish(tags: ResourceTags(["env": "prod"])).gatewayError?.reason == "implicit_deny")
        // A lookup that fails denies, whatever the failure, and says why: never "no tags".
        let missing = pending.finish(.failure(.notFound(path: "/v1/organizations/resources/\(dev)/tags")))
        #expect(missing.gatewayError?.status == 403)
        #expect(missing.gatewayError?.code == "Organizations.1007")
        #expect(missing.record.reason == "tags_not_found: GET /v1/organizations/resources/\(dev)/tags answered 404")
        #expect(missing.record.decision == "deny")
        let broken = pending.finish(.failure(.unavailable("GET /x answered 500")))
        #expect(broken.gatewayError?.status == 503)
        #expect(broken.record.reason == "tags_unavailable: GET /x answered 500")
        // Tags already at hand (the cache) decide at once; they are asked for only when needed.
        var asked: [String] = []
        func withKnown(_ user: String, _ method: String, _ tags: [String: String]) -> AuthorizationResult {
            var memory = ConnectionCache()
            let call = RequestAttributes(
                method: method, target: "/v1/organizations/accounts/\(dev)", token: world.tokens[user], peer: "127.0.0.1", body: Array("{}".utf8))
            return world.authorizer.authorize(call, requestId: "r", policies: world.policies, directory: world.view, remembering: &memory) {
                asked.append($0)
                return ResourceTags(tags)
            }
        }
        #expect(requestContext(withKnown("dev_only", "PATCH", ["env": "dev"]))?.gatewayError == nil)
        #expect(requestContext(withKnown("dev_only", "PATCH", ["env": "prod"]))?.gatewayError?.reason == "implicit_deny")
        // Condition keys ignore case, the tag key in them too.
        #expect(requestContext(withKnown("dev_only", "PATCH", ["Env": "dev"]))?.gatewayError == nil)
        #expect(asked == [dev, dev, dev])
        #expect(requestContext(withKnown("admin", "GET", ["env": "prod"]))?.gatewayError == nil)
        #expect(asked.count == 3)
    }

    @Test func theContextASetTestsIsThereAndDecides() throws {
        // office-network-only denies outside its networks (g:SourceIp, from a trusted proxy's
        // X-Forwarded-For); require-mfa (dev_only's) tests g:MFAPresent.
        let world = try Self.world(trusted: ["10.0.0.0/8"], attach: [("office-network-only", "admin")])
        let list = "/v1/organizations/accounts"
        #expect(requestContext(authorize(world, "GET", list, as: "admin", peer: "203.0.113.9"))?.gatewayError == nil)
        let outside = requestContext(authorize(world, "GET", list, as: "admin", peer: "192.0.2.1"))
        #expect(outside?.gatewayError?.reason == "explicit_deny")
        #expect(outside?.record.line.contains(#""statements":["office-network-only:DenyOutsideOfficeNetworks"]"#) == true)
        #expect(requestContext(authorize(world, "GET", list, as: "admin", peer: "10.1.2.3", forwardedFor: "198.51.100.7"))?.gatewayError == nil)
        #expect(requestContext(authorize(world, "GET", list, as: "admin", peer: "10.1.2.3", forwardedFor: "192.0.2.1"))?.gatewayError != nil)
        let policies = try #require(try? world.policies.policySet(for: world.view.authenticate(world.tokens["dev_only"]!).get().policies).get())
        #expect(policies.tests("g:mfapresent") && !policies.tests("g:sourceip"))
        let globals = GlobalKeys(testedBy: policies)
        #expect(globals.contains(.mfaPresent) && !globals.contains(.sourceIp))
        #expect(Set(GlobalKeys.keys.map(\.1)).count == GlobalKeys.keys.count && Set(GlobalKeys.keys.map(\.0.rawValue)).count == GlobalKeys.keys.count)
        // Every key the gateway fills is a known global key.
        #expect(GlobalKeys.keys.allSatisfy { GlobalConditionKeys.isKnown($0.1) })
    }

    /// `g:Referer` is the call's `Referer`; `g:MFAAge` the seconds since the MFA login that
    /// issued the credential (every world token here is issued on one).
    @Test func refererAndMFAAgeComeFromTheCallAndItsCredential() throws {
        let world = try Self.world()
        let policies = try Self.reloaded([
            "organizations-admin": """
            {"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": ["organizations:accounts:list"], "Resource": ["*"],
              "Condition": {"StringLike": {"g:Referer": "https://console.example.com/*"}, "NumberLessThan": {"g:MFAAge": 900}}}]}
            """
        ])
        func list(referer: String?, after seconds: TimeInterval = 0) -> RequestContext? {
            var call = RequestAttributes(
                method: "GET", target: "/v1/organizations/accounts", token: world.tokens["admin"], peer: "127.0.0.1",
                now: Date().addingTimeInterval(seconds))
            call.referer = referer
            return requestContext(world.authorizer.authorize(call, requestId: "r", policies: policies, directory: world.view))
        }
        #expect(list(referer: "https://console.example.com/org")?.gatewayError == nil)
        #expect(list(referer: "https://evil.example.com/")?.gatewayError?.reason == "implicit_deny")
        #expect(list(referer: nil)?.gatewayError?.reason == "implicit_deny")
        // Half an hour after the login: the token is still valid, the MFA too old.
        #expect(list(referer: "https://console.example.com/org", after: 1800)?.gatewayError?.reason == "implicit_deny")
    }

    /// A resource named in the body or the query is read from there (and a call that does
    /// not name it exactly once, in its format, is refused before any policy); the
    /// delegated-administrator APIs carry `organizations:ServicePrincipal`; an operation
    /// documented as needing no identity-policy permission is decided by the caller rule.
    @Test func resourcesAndServicePrincipalsNamedOutsideThePath() throws {
        let world = try Self.world()
        let policies = try Self.reloaded([
            "organizations-admin": """
            {"Version": "5.0", "Statement": [
              {"Effect": "Allow", "Action": ["organizations:delegatedAdministrators:register"],
               "Resource": ["organizations::*:account:*/05261f923e80d3890f33c0056e9b3f80"],
               "Condition": {"StringEquals": {"organizations:ServicePrincipal": "service.ConfigService"}}},
              {"Effect": "Allow", "Action": ["organizations:policies:getDryRunConfig"], "Resource": ["organizations::*:root:*/r-abcd1234"]},
              {"Effect": "Allow", "Action": ["organizations:ous:create"], "Resource": ["*"],
               "Condition": {"ForAllValues:StringEquals": {"g:TagKeys": ["team"]}}}]}
            """
        ])
        func call(_ method: String, _ target: String, body: String = "", as user: String = "admin") -> RequestContext? {
            requestContext(
                world.authorizer.authorize(
                    RequestAttributes(method: method, target: target, token: world.tokens[user], peer: "127.0.0.1", body: Array(body.utf8)),
                    requestId: "r", policies: policies, directory: world.view))
        }
        let register = "/v1/organizations/delegated-administrators/register"
        let allowed = call(
            "POST", register, body: #"{"account_id": "05261f923e80d3890f33c0056e9b3f80", "service_principal": "service.ConfigService"}"#)
        #expect(allowed?.gatewayError == nil)
        #expect(allowed?.record.resource?.hasSuffix(":account:o-fhkmi6mek7wlqdp6nideqhb47qwtjdsv/05261f923e80d3890f33c0056e9b3f80") == true)
        let otherService = call("POST", register, body: #"{"account_id": "05261f923e80d3890f33c0056e9b3f80", "service_principal": "service.Other"}"#)
        #expect(otherService?.gatewayError?.reason == "implicit_deny")
        let otherAccount = call(
            "POST", register, body: #"{"account_id": "7d1f6a0c2b9e4e55a1c3d2f0e8b7a6c5", "service_principal": "service.ConfigService"}"#)
        #expect(otherAccount?.gatewayError?.reason == "implicit_deny")
        // Not there, not a string, not in its format, spelled in another case: refused, 400.
        for body in [
            #"{"service_principal": "service.ConfigService"}"#, #"{"account_id": 5}"#, #"{"account_id": "a/b"}"#,
            #"{"account_id": "05261f923e80d3890f33c0056e9b3f80", "Account_Id": "7d1f6a0c2b9e4e55a1c3d2f0e8b7a6c5"}"#, "not json", "",
        ] {
            #expect(call("POST", register, body: body)?.gatewayError?.kind.answer.status == 400, "\(body)")
        }
        let config = "/v1/organizations/dry-run-config"
        #expect(call("GET", config + "?root_id=r-abcd1234&policy_type=tag_policy")?.gatewayError == nil)
        #expect(call("GET", config + "?root_id=r-abcd5678")?.gatewayError?.reason == "implicit_deny")
        // Twice (which would the service read?), or missing: refused.
        #expect(call("GET", config + "?root_id=r-abcd1234&root_id=r-abcd5678")?.gatewayError?.kind.answer.status == 400)
        #expect(call("GET", config)?.gatewayError?.kind.answer.status == 400)
        // Creating takes optional tags: none is no g:TagKeys (ForAllValues holds vacuously);
        // the tagging calls need them (their body is the tags).
        let ous = "/v1/organizations/organizational-units"
        #expect(call("POST", ous, body: #"{"name": "x", "parent_id": "r-abcd1234"}"#)?.gatewayError == nil)
        #expect(call("POST", ous, body: #"{"name": "x", "parent_id": "r-abcd1234", "tags": [{"key": "team", "value": "a"}]}"#)?.gatewayError == nil)
        #expect(
            call("POST", ous, body: #"{"name": "x", "parent_id": "r-abcd1234", "tags": [{"key": "env", "value": "a"}]}"#)?.gatewayError?.reason
                == "implicit_deny")
        #expect(
            call("POST", "/v1/organizations/resources/05261f923e80d3890f33c0056e9b3f80/tag", body: #"{"name": "x"}"#)?.gatewayError?.kind.answer
                .status == 400)
        // No identity policy needed (the reference says so), but the caller rule holds.
        let createResourceAccount = call("POST", "/v2/organizations/accounts", body: #"{"name": "x"}"#)
        #expect(createResourceAccount?.gatewayError == nil && createResourceAccount?.record.action == nil)
        #expect(
            call("POST", "/v2/organizations/accounts", body: #"{"name": "x"}"#, as: "prod_user")?.gatewayError?.reason == "not_management_account")
    }

    /// The sample policies with some files replaced, loaded as a reload would load them.
    static func reloaded(_ replacements: [String: String]) throws -> PolicySnapshot {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-reload-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: root.appendingPathComponent("policies"), to: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, text) in replacements { try text.write(to: dir.appendingPathComponent("\(name).json"), atomically: true, encoding: .utf8) }
        return try PolicySnapshot.load(directory: dir.path)
    }

    /// A connection reuses its last policy set only while the snapshot it came from serves:
    /// the same policy names in a reloaded snapshot decide by the reloaded files.
    @Test func aConnectionsMemoryFollowsAReloadedPolicySet() throws {
        let world = try Self.world()
        let reloaded = try Self.reloaded([
            "organizations-admin":
                #"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": ["organizations:accounts:get"], "Resource": ["*"]}]}"#
        ])
        var memory = ConnectionCache()
        func list(_ policies: PolicySnapshot) -> RequestContext? {
            let call = RequestAttributes(method: "GET", target: "/v1/organizations/accounts", token: world.tokens["admin"], peer: "127.0.0.1")
            return requestContext(world.authorizer.authorize(call, requestId: "r", policies: policies, directory: world.view, remembering: &memory))
        }
        #expect(list(world.policies)?.gatewayError == nil)
        #expect(list(world.policies)?.gatewayError == nil)
        #expect(list(reloaded)?.gatewayError?.reason == "implicit_deny")
        #expect(list(world.policies)?.gatewayError == nil)
    }

    /// Whether a call waits for tags is remembered per set: after a reload whose statements
    /// no longer test tags, the same call on the same connection is decided at once.
    @Test func aConnectionAsksAReloadedSetAboutTagsAgain() throws {
        let world = try Self.world()
        let reloaded = try Self.reloaded([
            "dev-accounts-update":
                #"{"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": ["organizations:accounts:update"], "Resource": ["*"]}]}"#,
            "deny-protected-accounts":
                #"{"Version": "5.0", "Statement": [{"Effect": "Deny", "Action": ["organizations:accounts:delete"], "Resource": ["*"]}]}"#,
        ])
        var memory = ConnectionCache()
        func update(_ policies: PolicySnapshot) -> AuthorizationResult {
            let call = RequestAttributes(
                method: "PATCH", target: "/v1/organizations/accounts/05261f923e80d3890f33c0056e9b3f80", token: world.tokens["dev_only"],
                peer: "127.0.0.1", body: Array("{}".utf8))
            return world.authorizer.authorize(call, requestId: "r", policies: policies, directory: world.view, remembering: &memory)
        }
        for _ in 0..<2 {
            guard case .needsTags = update(world.policies) else {
                Issue.record("dev_only's update depends on the account's tags")
                return
            }
        }
        let decided = try #require(requestContext(update(reloaded)), "decided at once: no statement of the reloaded set tests tags")
        #expect(decided.gatewayError == nil)
        guard case .needsTags = update(world.policies) else {
            Issue.record("back on the first set, the update depends on tags again")
            return
        }
    }

    /// A connection reuses its last call's target, route and resource only for the same
    /// method and target in the same directory view.
    @Test func aConnectionsMemoryResolvesEachTargetInItsDirectoryView() throws {
        let world = try Self.world()
        let renamed = try Self.world(organizationId: "o-renamed")
        let dev = "05261f923e80d3890f33c0056e9b3f80"
        let prod = "9b3f8005261f923e80d3890f33c0056e"
        var memory = ConnectionCache()
        func authorize(_ method: String, _ target: String, in world: World) -> AuthorizationResult {
            let call = RequestAttributes(method: method, target: target, token: world.tokens["admin"], peer: "127.0.0.1", body: Array("{}".utf8))
            return world.authorizer.authorize(call, requestId: "r", policies: world.policies, directory: world.view, remembering: &memory)
        }
        func call(_ method: String, _ target: String, in world: World) -> RequestContext? { requestContext(authorize(method, target, in: world)) }
        let first = call("GET", "/v1/organizations/accounts/\(dev)", in: world)
        #expect(first?.gatewayError == nil)
        #expect(first?.record.resource?.hasSuffix(":account:\(world.view.organization.id)/\(dev)") == true)
        #expect(call("GET", "/v1/organizations/accounts/\(dev)", in: world)?.record.resource == first?.record.resource)
        #expect(call("GET", "/v1/organizations/accounts/\(prod)", in: world)?.record.resource?.hasSuffix("/\(prod)") == true)
        // Another method on the same target is another route (whose Deny reads the account's tags).
        guard case .needsTags(let account, _) = authorize("PATCH", "/v1/organizations/accounts/\(prod)", in: world) else {
            Issue.record("expected the update to wait for the account's tags")
            return
        }
        #expect(account == prod)
        #expect(call("GET", "/v1/organizations/accounts/\(prod)/..", in: world)?.gatewayError?.status == 400)
        // Another view of the directory: the URN is built from its organization.
        let moved = call("GET", "/v1/organizations/accounts/\(dev)", in: renamed)
        #expect(moved?.record.resource?.hasSuffix(":account:o-renamed/\(dev)") == true)
        #expect(call("GET", "/v1/organizations/accounts/\(dev)", in: world)?.record.resource == first?.record.resource)
    }

    @Test func aMissingAttachedPolicyDenies() throws {
        let world = try Self.world(attach: [("no-such-policy", "admin")])
        let refused = requestContext(authorize(world, "GET", "/v1/organizations/accounts", as: "admin"))
        #expect(refused?.gatewayError?.status == 403)
        #expect(refused?.gatewayError?.reason == "attached_policy_missing: no-such-policy")
    }

    @Test func sourceAddressTrustsOnlyConfiguredProxies() throws {
        let untrusted = try Self.world()
        let call = RequestAttributes(method: "GET", target: "/", forwardedFor: "203.0.113.9", peer: "10.1.2.3")
        #expect(untrusted.authorizer.sourceAddress(of: call) == "10.1.2.3")
        let trusted = try Self.world(trusted: ["10.0.0.0/8"])
        #expect(trusted.authorizer.sourceAddress(of: call) == "203.0.113.9")
        // The right-most address not itself a trusted proxy; a client cannot prepend its way in.
        let chained = RequestAttributes(method: "GET", target: "/", forwardedFor: "198.51.100.1, 203.0.113.9, 10.0.0.5", peer: "10.1.2.3")
        #expect(trusted.authorizer.sourceAddress(of: chained) == "203.0.113.9")
    }

    @Test func requestTagsFromTheBody() {
        guard
            case .success(let (tags, keys)) = Authorizer.requestTags(
                Array(#"{"tags": [{"key": "env", "value": "dev"}, {"key": "team"}]}"#.utf8), required: true)
        else {
            Issue.record("expected tags")
            return
        }
        #expect(tags.map(\.0) == ["env"])
        #expect(keys == ["env", "team"])
        if case .success(let (_, keys)) = Authorizer.requestTags(Array(#"{"tag_keys": ["protected"]}"#.utf8), required: true) {
            #expect(keys == ["protected"])
        }
        // Anything the policy could not read as the account service does is refused: a value
        // that is no string would otherwise never reach g:RequestTag/<k>.
        for bad in [
            "", "{", "[]", #"{"tags": [{"key": 1}]}"#, #"{"tag_keys": [1]}"#, "{}", #"{"tags": null}"#,
            #"{"tags": [{"key": "env", "value": ["prod"]}]}"#,
            #"{"tags": [{"key": "env", "value": null}]}"#, #"{"tags": {"env": "prod"}, "tag_keys": ["x"]}"#, #"{"tags": [], "tag_keys": "x"}"#,
            #""tags""#, #"{"tags": [{"key": "x", "value": "y"}], "Tags": [{"key": "env", "value": "prod"}]}"#,
            #"{"tags": [{"key": "x", "value": "y", "Value": "prod"}]}"#, #"{"TAG_KEYS": ["protected"], "tag_keys": ["x"]}"#,
        ] {
            guard case .failure(let gatewayError) = Authorizer.requestTags(Array(bad.utf8), required: true) else {
                Issue.record("accepted \(bad)")
                continue
            }
            #expect(gatewayError.status == 400)
        }
        // Creating with tags optional: no tags (or an empty list) is no RequestTag and no
        // TagKeys, and the call is decided; an unreadable body is still refused.
        for body in [
            #"{"name": "x", "parent_id": "r-9f2c1a7b"}"#, #"{"name": "x", "tags": []}"#, "{}", #"{"name": "x", "tags": null, "tag_keys": null}"#,
        ] {
            guard case .success(let (tags, keys)) = Authorizer.requestTags(Array(body.utf8), required: false) else {
                Issue.record("refused \(body)")
                continue
            }
            #expect(tags.isEmpty && keys.isEmpty)
        }
        for bad in ["", "[]", #"{"name": "x", "tags": {"env": "prod"}}"#] {
            if case .success = Authorizer.requestTags(Array(bad.utf8), required: false) { Issue.record("accepted \(bad)") }
        }
    }

    /// The line is written into room reserved beforehand: values that all need escaping,
    /// at their longest, must still fit (debug builds assert every write).
}
