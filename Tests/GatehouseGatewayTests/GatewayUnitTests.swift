import Foundation
import GatehouseDirectory
import GatehousePolicy
import NIOCore
import Testing

@testable import GatehouseGateway

@Suite struct GatewayConfigTests {
    @Test func fileThenEnvironment() throws {
        let config = try withFile(
            #"{"listen": {"port": 7000}, "audit": {"required": false}, "network": {"trusted_proxies": ["10.0.0.0/8", "192.0.2.7"]}}"#
        ) {
            try GatewayConfig.load(file: $0, environment: ["GATEHOUSE_LISTEN_PORT": "7100", "GATEHOUSE_TAGS_CACHE_TTL_MS": "0", "PATH": "/bin"])
        }
        #expect(config.listenPort == 7100)
        #expect(config.auditRequired == false)
        #expect(config.tagsCacheTTLMs == 0)
        #expect(config.adminPort == 9090)
        #expect(config.trustedNetworks.count == 2)
        #expect(config.trustedNetworks[1].contains(IPAddress("192.0.2.7")!))
        #expect(!config.trustedNetworks[1].contains(IPAddress("192.0.2.8")!))
    }

    /// The sample configuration the docs point to loads as it is.
    @Test func theSampleConfigurationLoads() throws {
        let config = try GatewayConfig.load(file: root.appendingPathComponent("samples/gateway.json").path, environment: [:])
        #expect(config.listenPort == 8080)
        #expect(config.auditPath == "data/audit.log")
        #expect(config.auditRequired)
    }

    @Test func mistakesAreNamedWithTheirPlace() throws {
        let errors = try loadErrors(
            """
            {"listen": {"port": "8080"},
             "upstream": {"url": "https://example.com"},
             "audit": {"requried": true}}
            """
        ) { _ = try GatewayConfig.load(file: $0, environment: [:]) }
        #expect(errors.count == 3)
        #expect(errors.allSatisfy { $0.code == .badConfig })
        #expect(errors[0].message == "listen.port must be a whole number, not a string")
        #expect(errors[0].location.line == 1)
        #expect(errors[1].message.contains("upstream.url must look like http://host:port"))
        #expect(errors[1].location.line == 2)
        #expect(errors[2].message == "unknown option audit.requried")
        #expect(errors[2].hint?.contains("audit.required") == true)
        #expect(errors[2].location.line == 3)
    }

    @Test func environmentMistakes() {
        func problems(_ environment: [String: String]) -> [String] {
            do {
                _ = try GatewayConfig.load(file: nil, environment: environment)
                return []
            } catch {
                return error.diagnostics.map { "\($0.location.file): \($0.message)" }
            }
        }
        #expect(
            problems(["GATEHOUSE_LISTEN_PORT": "70000"]) == [
                "environment variable GATEHOUSE_LISTEN_PORT: listen.port must be a whole number between 0 and 65535, not \"70000\""
            ])
        #expect(problems(["GATEHOUSE_AUDIT_REQUIRED": "maybe"]).first?.contains("true or false") == true)
        #expect(problems(["GATEHOUSE_LISTEN_PROT": "1"]) == ["environment variable GATEHOUSE_LISTEN_PROT: no option is named GATEHOUSE_LISTEN_PROT"])
        #expect(problems(["GATEHOUSE_NETWORK_TRUSTED_PROXIES": "10.0.0.0/8, nonsense"]).first?.contains("nonsense") == true)
        #expect(problems(["GATEHOUSE_ADMIN_PORT": "8080"]).first?.contains("must differ") == true)
        #expect(problems([:]).isEmpty)
    }

    /// docs/OPERATIONS.md documents every option with its default.
    @Test func everyOptionIsDocumented() throws {
        let doc = try String(contentsOf: root.appendingPathComponent("docs/OPERATIONS.md"), encoding: .utf8)
        let defaults = GatewayConfig()
        for option in GatewayConfig.options {
            let row = try #require(doc.split(separator: "\n").first { $0.hasPrefix("| `\(option.name)` |") }, "\(option.name)")
            switch option.binding {
            case .string(let path):
                let value = defaults[keyPath: path]
                #expect(value.isEmpty ? row.contains("| empty |") : row.contains("`\(value)`"), "\(option.name)")
            case .int(let path, _): #expect(row.contains("`\(defaults[keyPath: path])`"), "\(option.name)")
            case .bool(let path): #expect(row.contains("`\(defaults[keyPath: path])`"), "\(option.name)")
            case .list(let path): #expect(defaults[keyPath: path].isEmpty && row.contains("none"), "\(option.name)")
            }
        }
    }
}

@Suite struct AuthorizerTests {
    /// A directory in a temporary SQLite file with one extra user in a member account that is
    /// not a delegated administrator, and tokens for everyone.
    struct World {
        let view: DirectoryView
        let tokens: [String: String]
        let policies: PolicySnapshot
        let authorizer: Authorizer
    }

    static func world(trusted: [String] = [], attach: [(String, String)] = [], organizationId: String? = nil) throws -> World {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-authz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var seed = try DirectorySeed.load(sampleDirectory)
        var outsider = try #require(seed.users.first { $0.name == "member" })
        outsider.id = "u-0005"
        outsider.name = "prod_user"
        outsider.accountId = "7d1f6a0c2b9e4e55a1c3d2f0e8b7a6c5"
        seed.users.append(outsider)
        if let organizationId { seed.organization.id = organizationId }
        let store = try DirectoryStore(path: dir.appendingPathComponent("d.sqlite").path)
        try store.importSeed(seed)
        for (policy, user) in attach { try store.attach(policy: policy, to: .user(user)) }
        var tokens: [String: String] = [:]
        for user in seed.users { tokens[user.name] = try store.issueToken(user: user.name, validFor: 3600, mfa: true).token }
        var config = GatewayConfig()
        config.trustedProxies = trusted
        return World(
            view: try store.view(), tokens: tokens, policies: try PolicySnapshot.load(directory: root.appendingPathComponent("policies").path),
            authorizer: Authorizer(catalog: try RouteCatalog.load(sampleCatalog), trustedProxies: config.trustedNetworks))
    }

    func authorize(
        _ world: World, _ method: String, _ target: String, as user: String, body: String = "", peer: String = "127.0.0.1",
        forwardedFor: String? = nil
    )
        -> Authorization
    {
        world.authorizer.authorize(
            Call(method: method, target: target, token: world.tokens[user], forwardedFor: forwardedFor, peer: peer, body: Array(body.utf8)),
            requestId: "r", policies: world.policies, directory: world.view)
    }

    /// The verdict of a decided call. A pending one is recorded as a failure, so that
    /// `verdict(...)?.refusal == nil` cannot pass for a call that was never decided.
    func verdict(_ authorization: Authorization, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Verdict? {
        if case .decided(let verdict) = authorization { return verdict }
        Issue.record("the call waits for tags instead of being decided", sourceLocation: sourceLocation)
        return nil
    }

    @Test func callerRulesComeFirst() throws {
        let world = try Self.world()
        let list = verdict(authorize(world, "GET", "/v1/organizations/accounts", as: "prod_user"))
        #expect(list?.refusal == .notDelegatedAdministrator)
        #expect(list?.record.action == "organizations:accounts:list")
        // The delegated administrator's account may list, not update.
        #expect(verdict(authorize(world, "GET", "/v1/organizations/accounts", as: "member"))?.refusal == nil)
        #expect(verdict(authorize(world, "PATCH", "/v1/organizations/accounts/x", as: "member", body: "{}"))?.refusal == .notManagementAccount)
        // Any member account may read its organization (its policies allow it).
        let organization = verdict(authorize(world, "GET", "/v1/organizations", as: "prod_user"))
        #expect(organization?.refusal == nil)
        #expect(organization?.record.reason == "explicit_allow")
    }

    @Test func tagsAreFetchedOnlyWhenAStatementNeedsThem() throws {
        let world = try Self.world()
        let dev = "05261f923e80d3890f33c0056e9b3f80"
        // The admin's statements test no tags when reading an account.
        #expect(verdict(authorize(world, "GET", "/v1/organizations/accounts/\(dev)", as: "admin"))?.refusal == nil)
        // dev_only's Allow depends on g:ResourceTag/env.
        guard case .needsTags(let account, let pending) = authorize(world, "PATCH", "/v1/organizations/accounts/\(dev)", as: "dev_only", body: "{}")
        else {
            Issue.record("expected a pending decision")
            return
        }
        #expect(account == dev)
        #expect(pending.finish(tags: ResourceTags(["env": "dev"])).refusal == nil)
        #expect(pending.finish(tags: ResourceTags(["env": "prod"])).refusal?.reason == "implicit_deny")
        // A lookup that fails denies, whatever the failure, and says why: never "no tags".
        let missing = pending.finish(.failure(.notFound(path: "/v1/organizations/resources/\(dev)/tags")))
        #expect(missing.refusal?.status == 403)
        #expect(missing.refusal?.code == "Organizations.1007")
        #expect(missing.record.reason == "tags_not_found: GET /v1/organizations/resources/\(dev)/tags answered 404")
        #expect(missing.record.decision == "deny")
        let broken = pending.finish(.failure(.unavailable("GET /x answered 500")))
        #expect(broken.refusal?.status == 503)
        #expect(broken.record.reason == "tags_unavailable: GET /x answered 500")
        // Tags already at hand (the cache) decide at once; they are asked for only when needed.
        var asked: [String] = []
        func withKnown(_ user: String, _ method: String, _ tags: [String: String]) -> Authorization {
            var memory = ConnectionMemory()
            let call = Call(
                method: method, target: "/v1/organizations/accounts/\(dev)", token: world.tokens[user], peer: "127.0.0.1", body: Array("{}".utf8))
            return world.authorizer.authorize(call, requestId: "r", policies: world.policies, directory: world.view, remembering: &memory) {
                asked.append($0)
                return ResourceTags(tags)
            }
        }
        #expect(verdict(withKnown("dev_only", "PATCH", ["env": "dev"]))?.refusal == nil)
        #expect(verdict(withKnown("dev_only", "PATCH", ["env": "prod"]))?.refusal?.reason == "implicit_deny")
        // Condition keys ignore case, the tag key in them too.
        #expect(verdict(withKnown("dev_only", "PATCH", ["Env": "dev"]))?.refusal == nil)
        #expect(asked == [dev, dev, dev])
        #expect(verdict(withKnown("admin", "GET", ["env": "prod"]))?.refusal == nil)
        #expect(asked.count == 3)
    }

    @Test func theContextASetTestsIsThereAndDecides() throws {
        // office-network-only denies outside its networks (g:SourceIp, from a trusted proxy's
        // X-Forwarded-For); require-mfa (dev_only's) tests g:MFAPresent.
        let world = try Self.world(trusted: ["10.0.0.0/8"], attach: [("office-network-only", "admin")])
        let list = "/v1/organizations/accounts"
        #expect(verdict(authorize(world, "GET", list, as: "admin", peer: "203.0.113.9"))?.refusal == nil)
        let outside = verdict(authorize(world, "GET", list, as: "admin", peer: "192.0.2.1"))
        #expect(outside?.refusal?.reason == "explicit_deny")
        #expect(outside?.record.line.contains(#""statements":["office-network-only:DenyOutsideOfficeNetworks"]"#) == true)
        #expect(verdict(authorize(world, "GET", list, as: "admin", peer: "10.1.2.3", forwardedFor: "198.51.100.7"))?.refusal == nil)
        #expect(verdict(authorize(world, "GET", list, as: "admin", peer: "10.1.2.3", forwardedFor: "192.0.2.1"))?.refusal != nil)
        let policies = try #require(try? world.policies.policySet(for: world.view.authenticate(world.tokens["dev_only"]!).get().policies).get())
        #expect(policies.tests("g:mfapresent") && !policies.tests("g:sourceip"))
        let globals = GlobalKeys(testedBy: policies)
        #expect(globals.contains(.mfaPresent) && !globals.contains(.sourceIp))
        #expect(GlobalKeys.keys.count == 6 && Set(GlobalKeys.keys.map(\.1)).count == 6)
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
        var memory = ConnectionMemory()
        func list(_ policies: PolicySnapshot) -> Verdict? {
            let call = Call(method: "GET", target: "/v1/organizations/accounts", token: world.tokens["admin"], peer: "127.0.0.1")
            return verdict(world.authorizer.authorize(call, requestId: "r", policies: policies, directory: world.view, remembering: &memory))
        }
        #expect(list(world.policies)?.refusal == nil)
        #expect(list(world.policies)?.refusal == nil)
        #expect(list(reloaded)?.refusal?.reason == "implicit_deny")
        #expect(list(world.policies)?.refusal == nil)
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
        var memory = ConnectionMemory()
        func update(_ policies: PolicySnapshot) -> Authorization {
            let call = Call(
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
        let decided = try #require(verdict(update(reloaded)), "decided at once: no statement of the reloaded set tests tags")
        #expect(decided.refusal == nil)
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
        var memory = ConnectionMemory()
        func authorize(_ method: String, _ target: String, in world: World) -> Authorization {
            let call = Call(method: method, target: target, token: world.tokens["admin"], peer: "127.0.0.1", body: Array("{}".utf8))
            return world.authorizer.authorize(call, requestId: "r", policies: world.policies, directory: world.view, remembering: &memory)
        }
        func call(_ method: String, _ target: String, in world: World) -> Verdict? { verdict(authorize(method, target, in: world)) }
        let first = call("GET", "/v1/organizations/accounts/\(dev)", in: world)
        #expect(first?.refusal == nil)
        #expect(first?.record.resource?.hasSuffix(":account:\(world.view.organization.id)/\(dev)") == true)
        #expect(call("GET", "/v1/organizations/accounts/\(dev)", in: world)?.record.resource == first?.record.resource)
        #expect(call("GET", "/v1/organizations/accounts/\(prod)", in: world)?.record.resource?.hasSuffix("/\(prod)") == true)
        // Another method on the same target is another route (whose Deny reads the account's tags).
        guard case .needsTags(let account, _) = authorize("PATCH", "/v1/organizations/accounts/\(prod)", in: world) else {
            Issue.record("expected the update to wait for the account's tags")
            return
        }
        #expect(account == prod)
        #expect(call("GET", "/v1/organizations/accounts/\(prod)/..", in: world)?.refusal?.status == 400)
        // Another view of the directory: the URN is built from its organization.
        let moved = call("GET", "/v1/organizations/accounts/\(dev)", in: renamed)
        #expect(moved?.record.resource?.hasSuffix(":account:o-renamed/\(dev)") == true)
        #expect(call("GET", "/v1/organizations/accounts/\(dev)", in: world)?.record.resource == first?.record.resource)
    }

    @Test func aMissingAttachedPolicyDenies() throws {
        let world = try Self.world(attach: [("no-such-policy", "admin")])
        let refused = verdict(authorize(world, "GET", "/v1/organizations/accounts", as: "admin"))
        #expect(refused?.refusal?.status == 403)
        #expect(refused?.refusal?.reason == "attached_policy_missing: no-such-policy")
    }

    @Test func sourceAddressTrustsOnlyConfiguredProxies() throws {
        let untrusted = try Self.world()
        let call = Call(method: "GET", target: "/", forwardedFor: "203.0.113.9", peer: "10.1.2.3")
        #expect(untrusted.authorizer.sourceAddress(of: call) == "10.1.2.3")
        let trusted = try Self.world(trusted: ["10.0.0.0/8"])
        #expect(trusted.authorizer.sourceAddress(of: call) == "203.0.113.9")
        // The right-most address not itself a trusted proxy; a client cannot prepend its way in.
        let chained = Call(method: "GET", target: "/", forwardedFor: "198.51.100.1, 203.0.113.9, 10.0.0.5", peer: "10.1.2.3")
        #expect(trusted.authorizer.sourceAddress(of: chained) == "203.0.113.9")
    }

    @Test func requestTagsFromTheBody() {
        guard case .success(let (tags, keys)) = Authorizer.requestTags(Array(#"{"tags": [{"key": "env", "value": "dev"}, {"key": "team"}]}"#.utf8))
        else {
            Issue.record("expected tags")
            return
        }
        #expect(tags.map(\.0) == ["env"])
        #expect(keys == ["env", "team"])
        if case .success(let (_, keys)) = Authorizer.requestTags(Array(#"{"tag_keys": ["protected"]}"#.utf8)) { #expect(keys == ["protected"]) }
        // Anything the policy could not read as the account service does is refused: a value
        // that is no string would otherwise never reach g:RequestTag/<k>.
        for bad in [
            "", "{", "[]", #"{"tags": [{"key": 1}]}"#, #"{"tag_keys": [1]}"#, "{}", #"{"tags": [{"key": "env", "value": ["prod"]}]}"#,
            #"{"tags": [{"key": "env", "value": null}]}"#, #"{"tags": {"env": "prod"}, "tag_keys": ["x"]}"#, #"{"tags": [], "tag_keys": "x"}"#,
            #""tags""#, #"{"tags": [{"key": "x", "value": "y"}], "Tags": [{"key": "env", "value": "prod"}]}"#,
            #"{"tags": [{"key": "x", "value": "y", "Value": "prod"}]}"#, #"{"TAG_KEYS": ["protected"], "tag_keys": ["x"]}"#,
        ] {
            guard case .failure(let refusal) = Authorizer.requestTags(Array(bad.utf8)) else {
                Issue.record("accepted \(bad)")
                continue
            }
            #expect(refusal.status == 400)
        }
    }

    @Test func timesAreISO8601() {
        #expect(Authorizer.iso8601(Date(timeIntervalSince1970: 1_795_000_000)) == "2026-11-18T11:06:40Z")
        #expect(AuditRecord.timestamp(Date(timeIntervalSince1970: 1_795_000_000.25)) == "2026-11-18T11:06:40.250Z")
        // The hand-made calendar agrees with Foundation's across leap years, centuries and before 1970.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let millis = Int64.random(in: -2_208_988_800_000...7_258_118_400_000, using: &generator)
            let date = Date(timeIntervalSince1970: Double(millis) / 1000)
            #expect(AuditRecord.timestamp(date) == formatter.string(from: date), "\(millis)")
            let whole = Date(timeIntervalSince1970: (Double(millis) / 1000).rounded(.down))
            #expect(Authorizer.iso8601(date) == formatter.string(from: whole).replacingOccurrences(of: ".000Z", with: "Z"), "\(millis)")
        }
    }

    @Test func requestIdsShareTheProcessPrefixAndCountUp() throws {
        let first = RequestIds.next()
        let second = RequestIds.next()
        for id in [first, second] {
            #expect(id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }, "\(id)")
        }
        #expect(first.prefix(16) == second.prefix(16))
        #expect(UInt64(first.prefix(16), radix: 16) == RequestIds.prefix)
        let count = try #require(UInt64(first.suffix(16), radix: 16))
        #expect(try #require(UInt64(second.suffix(16), radix: 16)) > count)
    }

    @Test func anAuditLineIsOneJSONObjectWithEveryValueKept() throws {
        var record = AuditRecord(
            time: Date(timeIntervalSince1970: 1_795_000_000.5), requestId: "r-1", method: "PATCH", path: "/v1/a?x=\"q\"\\", sourceIp: "::1",
            policyRevision: "abc")
        record.user = "dev_only"
        record.principal = nil
        record.action = "organizations:accounts:update"
        record.reason = "line\nbreak\u{01} and ünïcode"
        record.statements = [
            StatementRef(policy: "p", sid: "A", index: 0, effect: .deny), StatementRef(policy: "p\"", sid: nil, index: 2, effect: .deny),
        ]
        record.status = 403
        record.authorizeMicros = 0
        record.upstreamMicros = nil
        record.totalMicros = Int.max
        record.changes = [FieldChange(field: "name", old: "Old", new: nil)]
        let line = record.line
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(json["schema"] as? Int == AuditRecord.schemaVersion)
        #expect(json["time"] as? String == "2026-11-18T11:06:40.500Z")
        #expect(json["path"] as? String == record.path)
        #expect(json["principal"] is NSNull)
        #expect(json["reason"] as? String == record.reason)
        #expect(json["statements"] as? [String] == ["p:A", "p\":Statement[2]"])
        #expect(json["status"] as? Int == 403)
        #expect(json["authorize_us"] as? Int == 0)
        #expect(json["upstream_us"] is NSNull)
        #expect(json["total_us"] as? Int == Int.max)
        let changes = try #require(json["changes"] as? [String: [String: Any]])
        #expect(changes["name"]?["old"] as? String == "Old")
        #expect(changes["name"]?["new"] is NSNull)
        #expect(line.contains(#""reason":"line\nbreak\u0001 and ünïcode""#))
    }

    @Test func theEscapeScanFindsTheFirstByteToEscapeWhereverItIs() {
        for special: UInt8 in [0x00, 0x1F, UInt8(ascii: "\""), UInt8(ascii: "\\")] {
            for position in 0..<41 {
                // Bytes that need no escape, high ones among them (UTF-8, DEL, space).
                let filler: [UInt8] = [0x61, 0xC3, 0xA9, 0x7F, 0x20, 0xFF, 0x80, 0x21, 0x5B, 0x5D]
                var bytes = (0..<41).map { filler[$0 % filler.count] }
                bytes[position] = special
                if position + 3 < 41 { bytes[position + 3] = UInt8(ascii: "\"") }
                bytes.withUnsafeBufferPointer { buffer in
                    #expect(AuditRecord.LineWriter.firstEscape(in: buffer, from: 0) == position)
                    #expect(AuditRecord.LineWriter.firstEscape(in: buffer, from: position + 1) == min(position + 3, 41))
                }
            }
        }
        let plain = [UInt8]("no escapes here, and ünïcode: 0x7F is \u{7F} fine".utf8)
        plain.withUnsafeBufferPointer { #expect(AuditRecord.LineWriter.firstEscape(in: $0, from: 0) == plain.count) }
    }

    /// The line is written into room reserved beforehand: values that all need escaping,
    /// at their longest, must still fit (debug builds assert every write).
    @Test func anAuditLineOfEscapesAndExtremesFits() throws {
        let worst = String(repeating: "\u{1b}\"\\\n", count: 300)
        var record = AuditRecord(
            time: Date(timeIntervalSince1970: 0), requestId: worst, method: worst, path: worst, sourceIp: worst, policyRevision: worst)
        record.user = worst
        record.principal = worst
        record.action = worst
        record.resource = worst
        record.decision = worst
        record.reason = worst
        record.statements =
            (0..<20).map { StatementRef(policy: worst, sid: $0 % 2 == 0 ? worst : nil, index: Int.max - $0, effect: .deny) }
            + (0..<50).map { StatementRef(policy: "", sid: nil, index: Int.max - $0, effect: .allow) }
        record.status = Int.min
        record.authorizeMicros = Int.max
        record.upstreamMicros = Int.min
        record.totalMicros = -1
        record.changes = (0..<5).map { FieldChange(field: worst, old: worst, new: $0 % 2 == 0 ? nil : worst) }
        let line = record.line
        #expect(line.utf8.count <= record.maxLineBytes)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(json["request_id"] as? String == worst)
        #expect(json["status"] as? Int == Int.min)
        #expect(json["time"] as? String == "1970-01-01T00:00:00.000Z")
        #expect((json["statements"] as? [String])?[19] == "\(worst):Statement[\(Int.max - 19)]")
        #expect((json["statements"] as? [String])?.last == ":Statement[\(Int.max - 49)]")
        var empty = AuditRecord(time: Date(), requestId: "", method: "", path: "", sourceIp: "", policyRevision: "")
        empty.decision = ""
        #expect(try JSONSerialization.jsonObject(with: Data(empty.line.utf8)) is [String: Any])
    }
}

@Suite struct TagCacheTests {
    @Test func aFetchThatRacedAnInvalidationIsNotKept() {
        let cache = TagCache(ttl: .seconds(60))
        let before = cache.generation("a")
        cache.invalidate("a")
        cache.store(ResourceTags(["env": "old"]), for: "a", fetchedAt: before)
        #expect(cache.lookup("a") == nil)
        cache.store(ResourceTags(["env": "new"]), for: "a", fetchedAt: cache.generation("a"))
        #expect(cache.lookup("a")?.tags == [ResourceTags.Tag(key: "env", value: "new")])
        cache.invalidate("a")
        #expect(cache.lookup("a") == nil)
    }

    @Test func aZeroTTLNeverKeeps() {
        let cache = TagCache(ttl: .zero)
        cache.store(ResourceTags(["env": "dev"]), for: "a", fetchedAt: cache.generation("a"))
        #expect(cache.lookup("a") == nil)
    }

    @Test func upstreamAddresses() {
        #expect(Upstream.Address(url: "http://127.0.0.1:8081") == Upstream.Address(url: "http://127.0.0.1:8081/"))
        #expect(Upstream.Address(url: "http://[::1]:80")?.host == "::1")
        for bad in ["https://a:1", "http://a", "http://a:0", "http://:80", "http://a:80/path", "ftp://a:1"] {
            #expect(Upstream.Address(url: bad) == nil, "\(bad)")
        }
    }
}

@Suite struct GatewayMetricsTests {
    @Test func decisionsAreCountedByDecisionAndReasonKindWhateverTheCacheHolds() {
        let metrics = GatewayMetrics()
        var cache = DecisionCounterCache()
        var other = DecisionCounterCache()
        for (decision, reason) in [
            ("allow", "explicit_allow"), ("allow", "explicit_allow"), ("deny", "explicit_deny"), ("allow", "explicit_allow"),
            ("deny", "attached_policy_missing: a"), ("deny", "attached_policy_missing: b"),
        ] {
            metrics.decided(decision: decision, reason: reason, totalMicros: 100, cache: &cache)
        }
        metrics.decided(decision: "allow", reason: "explicit_allow", totalMicros: 100, cache: &other)
        var bytes: [UInt8] = []
        metrics.registry.emit(into: &bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#"gatehouse_decisions_total{decision="allow",reason="explicit_allow"} 4"#))
        #expect(text.contains(#"gatehouse_decisions_total{decision="deny",reason="explicit_deny"} 1"#))
        #expect(text.contains(#"gatehouse_decisions_total{decision="deny",reason="attached_policy_missing"} 2"#))
    }
}

@Suite struct ReusableBufferTests {
    static func address(_ buffer: ByteBuffer) -> UnsafeRawPointer? { buffer.withVeryUnsafeBytes { $0.baseAddress } }

    @Test func aBufferNobodyElseHoldsIsReusedAndAHeldOneIsLeftAlone() {
        let allocator = ByteBufferAllocator()
        var reusable = ReusableBuffer()
        var first = reusable.take(capacity: 64, from: allocator)
        first.writeString("first call")
        reusable.keep(first)
        let firstStorage = Self.address(first)
        first = ByteBuffer()  // the socket took the bytes and NIO let go
        var second = reusable.take(capacity: 64, from: allocator)
        #expect(Self.address(second) == firstStorage)
        #expect(second.readableBytes == 0)
        second.writeString("second call")
        reusable.keep(second)
        // Still queued for the socket: the next call writes elsewhere.
        var third = reusable.take(capacity: 64, from: allocator)
        #expect(Self.address(third) != Self.address(second))
        third.writeString("third")
        #expect(String(buffer: second) == "second call")
        // A buffer grown large for one call is not kept.
        var large = reusable.take(capacity: ReusableBuffer.maxKeptBytes + 1, from: allocator)
        large.writeString("large")
        reusable.keep(large)
        let largeStorage = Self.address(large)
        large = ByteBuffer()
        #expect(Self.address(reusable.take(capacity: 64, from: allocator)) != largeStorage)
    }
}

@Suite struct ProfileRulesTests {
    func problem(_ body: String) -> String? {
        if case .failure(let refusal) = ProfileAPI.change(from: Array(body.utf8)) { return refusal.message }
        return nil
    }

    @Test func valuesWithinTheRules() throws {
        guard case .success(let change) = ProfileAPI.change(from: Array(#"{"name": "Ex", "address": "", "country": "CN", "scale": "5000+"}"#.utf8))
        else {
            Issue.record("refused a valid change")
            return
        }
        #expect(change[.name] == .some("Ex"))
        #expect(change[.address] == .some(nil))
        #expect(change[.country] == .some("CN"))
        #expect(change[.industry] == nil)
        #expect(problem(#"{"business_license_number": "91110000-ABC"}"#) == nil)
        #expect(problem(#"{"address": "\#(String(repeating: "ä", count: 256))"}"#) == nil)
    }

    @Test func refusalsNameTheField() {
        #expect(problem(#"{"name": " Ex"}"#) == "name cannot start or end with spaces.")
        #expect(problem(#"{"name": "\#(String(repeating: "x", count: 65))"}"#) == "name is at most 64 characters (it has 65).")
        #expect(problem(#"{"address": "\#(String(repeating: "ä", count: 257))"}"#) == "address is at most 256 characters (it has 257).")
        #expect(problem(#"{"industry": "a\u0007b"}"#) == "industry cannot contain control characters.")
        #expect(problem(#"{"country": "de"}"#)?.hasPrefix("country must be an ISO 3166-1 alpha-2 code") == true)
        #expect(problem(#"{"country": "XX"}"#)?.hasPrefix("country must be") == true)
        #expect(
            problem(#"{"business_license_number": "\#(String(repeating: "1", count: 33))"}"#)?.hasPrefix("business_license_number is at most 32")
                == true)
        #expect(problem(#"{"id": "x"}"#) == "id is read-only.")
        #expect(CountryCodes.all.count == 249)
    }
}
