import Foundation
import Testing

/// Several `gatehouse serve` processes on one PostgreSQL directory (issue 16): what one
/// replica or the CLI changes, every replica enforces at once; races between replicas end
/// with one outcome; a lost database is answered with 503 and recovered from without a
/// restart.
@Suite(.enabled(if: !PostgresTestServer.skipped, "GATEHOUSE_SKIP_POSTGRES=1"), .serialized)
struct ReplicaEndToEndTests {
    typealias Fixture = GatewayFixture
    static let accountPath = "/v1/organizations/accounts/\(GatewayFixture.devAccount)"

    /// GET an account through one replica with a token; the status.
    static func status(_ port: Int, token: String) throws -> Int {
        try RawHTTP.send(port: port, method: "GET", target: accountPath, headers: [("X-Auth-Token", token)]).status
    }

    /// Waits (bounded) until `check` holds; returns the seconds it took, or nil.
    static func secondsUntil(timeout: TimeInterval = 10, _ check: () throws -> Bool) async throws -> TimeInterval? {
        let start = Date()
        while Date().timeIntervalSince(start) < timeout {
            if try check() { return Date().timeIntervalSince(start) }
            try await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    @Test func aTokenRevokedThroughTheCLIIsRefusedByEveryReplicaWithinASecond() async throws {
        let database = try PostgresTestServer.createDatabase()
        defer { PostgresTestServer.dropDatabase(database) }
        let gateway = try await Fixture(directoryURL: database, replicas: 3)
        let token = try gateway.issueToken("admin")
        // Issued through the CLI: every replica sees it once announced.
        for port in gateway.replicaPorts {
            #expect(try await Self.secondsUntil { try Self.status(port, token: token) == 200 } != nil)
        }
        let revoked = try CLI.run(["directory", "revoke-token", "--db", database, "--token", "-"], stdin: token)
        #expect(revoked.status == 0)
        let committed = Date()
        // Every replica refuses in the end; each keeps being asked until it does.
        let refused = try await withThrowingTaskGroup(of: TimeInterval?.self) { group in
            for port in gateway.replicaPorts { group.addTask { try await Self.secondsUntil { try Self.status(port, token: token) == 401 } } }
            return try await group.reduce(into: [TimeInterval?]()) { $0.append($1) }
        }
        #expect(refused.count == 3 && refused.allSatisfy { $0 != nil }, "seconds until each replica refused: \(refused)")
        // How long each replica went on allowing the token after the commit, by its own
        // audit log: the time it received its last call that it still allowed. (Not the
        // test's polling delay, which the other suites running beside it stretch.)
        let stamps = ISO8601DateFormatter()
        stamps.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var lags: [TimeInterval] = []
        for index in gateway.replicaPorts.indices {
            let allowed = try gateway.auditLines(replica: index).filter { $0["user"] as? String == "admin" && $0["decision"] as? String == "allow" }
            let last = allowed.compactMap { ($0["time"] as? String).flatMap(stamps.date(from:)) }.max() ?? committed
            lags.append(max(0, last.timeIntervalSince(committed)))
        }
        #expect(lags.allSatisfy { $0 < 1 }, "seconds each replica still allowed the revoked token: \(lags); first refusal seen after \(refused)")
        for port in gateway.replicaAdminPorts {
            let ready = try RawHTTP.send(port: port, method: "GET", target: "/readyz")
            #expect(ready.status == 200)
            #expect((try jsonObject(ready.body)["directory"] as? [String: Any])?["shared"] as? Bool == true)
        }
        #expect(await gateway.stop() == 0)
    }

    /// 50 ownership transfers, each link clicked on two replicas at the same moment: exactly
    /// one click wins every time, the organization never has two owners, each email goes out
    /// once although three replicas poll the outbox, and the former owner is refused on
    /// every replica.
    @Test func aLinkClickedOnTwoReplicasAtOnceWinsOnceIn50Races() async throws {
        let database = try PostgresTestServer.createDatabase()
        defer { PostgresTestServer.dropDatabase(database) }
        let gateway = try await Fixture(directoryURL: database, replicas: 3)
        let ids = ["owner": "u-0001", "admin": "u-0002"]
        var owner = "owner"
        var tokens = ["owner": gateway.tokens["owner"]!, "admin": gateway.tokens["admin"]!]
        var wins = 0
        var seen = Set<String>()
        for round in 0..<50 {
            let target = owner == "owner" ? "admin" : "owner"
            let starter = gateway.replicaPorts[round % 3]
            // A transfer strips the former owner's policies; the owner again gets them back
            // (through the CLI, so the starting replica may see it a moment later).
            let attached = try CLI.run(["directory", "attach", "--db", database, "--policy", "organizations-admin", "--user", owner])
            try #require(attached.status == 0, "round \(round): \(attached.stderr)")
            var started = RawHTTP.Response(status: 0, headers: [], body: "")
            _ = try await Self.secondsUntil {
                started = try RawHTTP.send(
                    port: starter, method: "POST", target: "/v1/organizations/owner-transfers",
                    headers: [("X-Auth-Token", tokens[owner]!), ("Content-Type", "application/json")],
                    body: #"{"target_user_id": "\#(ids[target]!)"}"#)
                return started.status != 403
            }
            try #require(started.status == 201, "round \(round): \(started.status) \(started.body)")
            #expect(try await gateway.eventually { gateway.mail().count >= round + 1 }, "round \(round): no email")
            // Replicas name their files apart: the new message is the one with a link not seen yet.
            let link = try #require(try gateway.mail().map { try Fixture.linkToken(in: $0) }.first { !seen.contains($0) })
            seen.insert(link)
            let body = "token=" + link
            let request =
                "POST /owner-transfer/confirm HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            let (first, second) = (gateway.replicaPorts[round % 3], gateway.replicaPorts[(round + 1) % 3])
            async let a = RawHTTP.parse(try RawHTTP.exchange(port: first, bytes: Array(request.utf8), timeout: 15))
            async let b = RawHTTP.parse(try RawHTTP.exchange(port: second, bytes: Array(request.utf8), timeout: 15))
            let statuses = try await [a.status, b.status].sorted()
            #expect(statuses == [200, 409], "round \(round): \(statuses)")
            if statuses.first == 200 { wins += 1 }
            // The former owner's sessions ended: refused on every replica.
            let former = tokens[owner]!
            for port in gateway.replicaPorts {
                #expect(try await Self.secondsUntil { try Self.status(port, token: former) == 401 } != nil, "round \(round), replica \(port)")
            }
            tokens[owner] = try gateway.issueToken(owner)
            owner = target
        }
        #expect(wins == 50)
        // One email per transfer, none twice.
        let messages = gateway.mail()
        #expect(messages.count == 50)
        #expect(Set(try messages.map { try Fixture.linkToken(in: $0) }).count == 50)
        let shown = try CLI.run(["directory", "show", "--db", database])
        #expect(shown.stdout.contains(", owner \(owner),"))
        #expect(shown.stdout.split(separator: "\n").filter { $0.hasPrefix("user ") && $0.contains(" (owner) ") }.count == 1)
        #expect(await gateway.stop() == 0)
    }

    /// PostgreSQL stops under a load of calls: the replicas answer 503 in the service's
    /// format and say why in /readyz; a write tried meanwhile is not half-applied; when the
    /// server returns they serve again, without a restart.
    @Test func aLostDatabaseIsAnswered503AndRecoveredFromWithoutARestart() async throws {
        let cluster = try PrivateCluster()
        let database = try cluster.database("outage")
        let gateway = try await Fixture(directoryURL: database, replicas: 2)
        let token = gateway.tokens["admin"]!
        for port in gateway.replicaPorts {
            #expect(try await Self.secondsUntil { try Self.status(port, token: token) == 200 } != nil)
        }
        // A load through both replicas the whole time: every answer is the call's own or a 503.
        let loading = Flag()
        let ports = gateway.replicaPorts
        let load = Task.detached { () -> [Int: Int] in
            var statuses: [Int: Int] = [:]
            var index = 0
            while !loading.isSet {
                let status = (try? Self.status(ports[index % ports.count], token: token)) ?? -1
                statuses[status, default: 0] += 1
                index += 1
            }
            return statuses
        }
        try cluster.stop()
        for (port, admin) in zip(gateway.replicaPorts, gateway.replicaAdminPorts) {
            #expect(try await Self.secondsUntil { try Self.status(port, token: token) == 503 } != nil)
            let refused = try RawHTTP.send(port: port, method: "GET", target: Self.accountPath, headers: [("X-Auth-Token", token)])
            let error = try jsonObject(refused.body)
            #expect(error["error_code"] as? String == "Gatehouse.0503")
            #expect(error["request_id"] is String)
            let ready = try RawHTTP.send(port: admin, method: "GET", target: "/readyz")
            #expect(ready.status == 503)
            let directory = try #require(try jsonObject(ready.body)["directory"] as? [String: Any])
            // Why: whichever noticed first, the lost change listener or a failed read; both
            // name the database.
            let stale = try #require(directory["stale"] as? String, "\(directory)")
            #expect(stale.contains(directory["location"] as? String ?? "?"), "\(directory)")
            #expect(stale.contains("cannot be reached") || stale.contains("lost the connection"), "\(directory)")
        }
        // A profile edit during the outage: refused whole.
        let edit = try RawHTTP.send(
            port: gateway.replicaPorts[0], method: "PATCH", target: "/v1/organizations/profile",
            headers: [("X-Auth-Token", token), ("Content-Type", "application/json")], body: #"{"industry": "Outage"}"#)
        #expect(edit.status == 503)
        try cluster.start()
        for (port, admin) in zip(gateway.replicaPorts, gateway.replicaAdminPorts) {
            #expect(try await Self.secondsUntil(timeout: 20) { try Self.status(port, token: token) == 200 } != nil)
            #expect(try RawHTTP.send(port: admin, method: "GET", target: "/readyz").status == 200)
        }
        loading.set()
        let statuses = await load.value
        #expect(Set(statuses.keys).isSubset(of: [200, 503]), "answers during the outage: \(statuses)")
        #expect(statuses[503, default: 0] > 0 && statuses[200, default: 0] > 0, "\(statuses)")
        let profile = try RawHTTP.send(
            port: gateway.replicaPorts[1], method: "GET", target: "/v1/organizations/profile", headers: [("X-Auth-Token", token)])
        #expect(profile.status == 200)
        #expect(!profile.body.contains("Outage"))
        let audited = try gateway.auditLines().compactMap { $0["reason"] as? String }
        #expect(audited.contains { $0.hasPrefix("directory_unavailable") })
        // More outages, each right after a change: a read cut off mid-way must end (every
        // statement has a deadline), and every replica must see the change once it is back.
        for cycle in 0..<3 {
            let fresh = try gateway.issueToken("admin")
            try cluster.stop()
            try await Task.sleep(for: .milliseconds(300))
            try cluster.start()
            for (port, admin) in zip(gateway.replicaPorts, gateway.replicaAdminPorts) {
                #expect(
                    try await Self.secondsUntil(timeout: 20) { try Self.status(port, token: fresh) == 200 } != nil,
                    "cycle \(cycle): replica \(port) does not know the new token")
                #expect(try RawHTTP.send(port: admin, method: "GET", target: "/healthz").status == 200)
            }
        }
        #expect(await gateway.stop() == 0)
    }
}

/// A flag one task sets and another reads.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
