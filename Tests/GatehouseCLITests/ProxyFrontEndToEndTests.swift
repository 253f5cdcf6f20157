import Foundation
import Testing

/// A proxy the team already runs, in front, asking Gatehouse's decision listener: real
/// nginx (`auth_request`) and real Envoy (HTTP `ext_authz`), each started from the sample
/// configuration in `samples/` with only its ports changed.
enum ProxyPeer: String, CaseIterable, CustomStringConvertible {
    case nginx, envoy

    var description: String { rawValue }

    /// Where the audit log says the question came from.
    var via: String { self == .nginx ? "auth_request" : "ext_authz" }

    /// The sample, with the test's ports; each placeholder must be there, so the sample and
    /// the test cannot drift apart silently.
    func configuration(listen: Int, authz: Int, service: Int) throws -> String {
        let sample = CLI.packageRoot.appendingPathComponent(self == .nginx ? "samples/nginx-auth-request.conf" : "samples/envoy-ext-authz.yaml")
        var text = try String(contentsOf: sample, encoding: .utf8)
        let swaps: [(String, String)] =
            self == .nginx
            ? [("127.0.0.1:8000", "127.0.0.1:\(listen)"), ("127.0.0.1:8181", "127.0.0.1:\(authz)"), ("127.0.0.1:8081", "127.0.0.1:\(service)")]
            : [
                ("port_value: 8001", "port_value: \(listen)"), ("port_value: 8181", "port_value: \(authz)"),
                ("http://127.0.0.1:8181", "http://127.0.0.1:\(authz)"), ("port_value: 8081", "port_value: \(service)"),
            ]
        for (placeholder, value) in swaps {
            guard text.contains(placeholder) else { throw HarnessError.http("\(sample.lastPathComponent) no longer has \(placeholder)") }
            text = text.replacingOccurrences(of: placeholder, with: value)
        }
        return text
    }

    /// Stops a proxy `start` started, by PID: SIGKILL, since the test runner starts children
    /// with SIGTERM blocked and Envoy keeps it so.
    static func stop(_ process: Spawned) async {
        #expect(process.process.isRunning, "the proxy died during the test")
        await process.stop(SIGKILL)
    }

    /// Starts the proxy on a free port; returns it and its port once it accepts connections.
    func start(authz: Int, service: Int, in dir: TempDir) async throws -> (Spawned, Int) {
        let listen = try freeLoopbackPort()
        let text = try configuration(listen: listen, authz: authz, service: service)
        let process: Spawned
        switch self {
        case .nginx:
            let prefix = dir.url.appendingPathComponent("nginx").path
            try FileManager.default.createDirectory(atPath: prefix + "/tmp", withIntermediateDirectories: true)
            // One process (no master and workers), so stopping it by PID stops all of it.
            let file = try dir.write("nginx/nginx.conf", "master_process off;\n" + text)
            let binary = FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx"
            process = try Spawned(URL(fileURLWithPath: "/usr/bin/env"), [binary, "-p", prefix, "-c", file])
        case .envoy:
            let file = try dir.write("envoy.yaml", text)
            process = try Spawned(
                URL(fileURLWithPath: "/usr/bin/env"), ["envoy", "-c", file, "--disable-hot-restart", "--log-level", "error", "--concurrency", "1"])
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let fd = try? RawHTTP.connected(port: listen, timeout: 1) {
                close(fd)
                return (process, listen)
            }
            guard process.process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        await process.stop(SIGKILL)
        throw HarnessError.http("\(self) did not start listening on \(listen) (is it installed? make test-deps installs both)")
    }
}

/// A loopback port nobody listens on now.
func freeLoopbackPort() throws -> Int {
    // Close-on-exec: a child started meanwhile elsewhere in the run must not keep the port.
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw HarnessError.http("no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

@Suite(.serialized) struct ProxyFrontEndToEndTests {
    typealias Fixture = GatewayFixture
    static var authzOn: [String: Any] { ["authz": ["listen": ["port": 0]]] }

    /// The echo upstream, answering tag lookups of the dev and prod accounts as the sample
    /// service would (the policies need them).
    static var echo: GatewayFixture.UpstreamKind {
        .command([
            "python3", CLI.packageRoot.appendingPathComponent("Tests/GatehouseCLITests/Fixtures/echo_upstream.py").path, "--tags",
            "\(Fixture.devAccount)=env:dev", "--tags", "\(Fixture.prodAccount)=env:prod",
        ])
    }

    /// Allowed calls reach the service as the principal Gatehouse authenticated, with no
    /// credential; denied ones never do and get the service's error; a decision that needs
    /// a body the proxy cannot pass is refused; with Gatehouse gone, calls fail closed.
    @Test(arguments: ProxyPeer.allCases)
    func decidesForTheProxyInFront(_ peer: ProxyPeer) async throws {
        let gateway = try await Fixture(upstream: Self.echo, settings: Self.authzOn)
        let (proxy, port) = try await peer.start(authz: try #require(gateway.authzPort), service: try Self.upstreamPort(gateway), in: gateway.dir)
        let dev = "/v1/organizations/accounts/\(Fixture.devAccount)"
        let token = gateway.tokens["dev_only"]!

        // Allowed: forwarded with the principal, never the credential or a principal the client made up.
        let allowed = try RawHTTP.send(
            port: port, method: "GET", target: dev, headers: [("X-Auth-Token", token), ("X-Gatehouse-Principal", "iam::evil:user:root")])
        #expect(allowed.status == 200, "\(allowed.body)")
        #expect(allowed.header("X-Echo") == "yes")
        let forwarded = Dictionary(
            ((allowed.json["headers"] as? [[String]]) ?? []).map { ($0[0].lowercased(), $0[1]) }, uniquingKeysWith: { first, _ in first })
        #expect(forwarded["x-gatehouse-principal"]?.hasSuffix(":user:dev_only") == true, "\(forwarded)")
        #expect(forwarded["x-auth-token"] == nil)

        // Denied by policy: the service's error, and the service never sees the call.
        let denied = try RawHTTP.send(
            port: port, method: "PATCH", target: "/v1/organizations/accounts/\(Fixture.prodAccount)",
            headers: [("X-Auth-Token", token), ("Content-Type", "application/json")], body: #"{"description": "no"}"#)
        #expect(denied.status == 403)
        #expect(denied.errorCode == "Organizations.1007")
        #expect(denied.header("X-Echo") == nil)
        // Unauthenticated: 401 in the service's format.
        let anonymous = try RawHTTP.send(port: port, method: "GET", target: dev)
        #expect(anonymous.status == 401)
        #expect(anonymous.errorCode == "APIGW.0301")

        // A tagging call: the tags it sets are policy context, so the body matters. Envoy
        // passes it (decided); nginx cannot (refused, never guessed).
        let tagging = try RawHTTP.send(
            port: port, method: "POST", target: "/v1/organizations/resources/\(Fixture.devAccount)/tag",
            headers: [("X-Auth-Token", gateway.tokens["admin"]!), ("Content-Type", "application/json")],
            body: #"{"tags": [{"key": "team", "value": "a"}]}"#)
        // Audit lines are written at the end of the listener's event-loop tick, after the
        // answer went to the proxy: wait (bounded) for the tagging call's.
        let lines = try await Self.auditLines(gateway) { $0.contains { ($0["path"] as? String)?.hasSuffix("/tag") == true } }
        let tagLine = try #require(lines.last { ($0["path"] as? String)?.hasSuffix("/tag") == true })
        if peer == .nginx {
            #expect(tagging.status == 403 && tagging.errorCode == "Gatehouse.0403", "\(tagging.body)")
            #expect((tagLine["reason"] as? String)?.hasPrefix("body_withheld") == true, "\(tagLine)")
        } else {
            #expect((tagLine["reason"] as? String)?.hasPrefix("body_withheld") == false, "\(tagLine)")
        }
        #expect(lines.allSatisfy { $0["via"] as? String == peer.via }, "\(lines)")

        // Gatehouse gone: fail closed (nginx answers 500, Envoy 403), nothing forwarded.
        #expect(await gateway.gateway.stop() == 0)
        let closed = try RawHTTP.send(port: port, method: "GET", target: dev, headers: [("X-Auth-Token", token)])
        #expect(closed.status == (peer == .nginx ? 500 : 403))
        #expect(closed.header("X-Echo") == nil)
        await ProxyPeer.stop(proxy)
    }

    /// The path tricks and the outside inputs, sent through the proxy: whatever reached the
    /// service must be exactly a call Gatehouse allowed, method and target byte for byte (a
    /// proxy that forwarded another path than the one it asked about would be a bypass).
    @Test(arguments: ProxyPeer.allCases)
    func theProxyForwardsOnlyThePathGatehouseAuthorized(_ peer: ProxyPeer) async throws {
        let gateway = try await Fixture(upstream: Self.echo, settings: Self.authzOn)
        let (proxy, port) = try await peer.start(authz: try #require(gateway.authzPort), service: try Self.upstreamPort(gateway), in: gateway.dir)
        let dev = Fixture.devAccount
        let prod = Fixture.prodAccount
        let base = "/v1/organizations/accounts/"
        let targets = [
            base + dev, base + dev + "/", base + "/" + dev, "/v1//organizations/accounts/" + dev, "//v1/organizations/accounts/" + dev,
            base + "./" + dev, base + prod + "/../" + dev, base + dev + "/../" + prod, base + "%2e%2e/" + dev, base + dev + "%2F..%2F" + prod,
            base + dev + "%2f", base + dev + ";x=1", base + dev + "?x=1", base + dev + "?x=%2F..%2F" + prod, base + dev + "#fragment",
            "/v1/organizations/accounts\\" + dev, "/v1/organizations/Accounts/" + dev, base + "%30" + dev.dropFirst(), base + dev + "%00",
            base + dev + "/%2e", base + dev + "%3F", "http://127.0.0.1" + base + dev, base + dev + "%20", base + "%C0%AE%C0%AE/" + dev,
        ]
        let token = gateway.tokens["dev_only"]!
        // Each with how long to wait for the proxy to close: the outside inputs keep the
        // connection open (no Connection: close), so their answers are read for 2 s.
        var requests = targets.map { ("GET \($0) HTTP/1.1\r\nHost: gw\r\nX-Auth-Token: \(token)\r\nConnection: close\r\n\r\n", 15) }
        // The outside inputs (../shared/outside-inputs/http), tokens filled in.
        let outside = CLI.packageRoot.appendingPathComponent("../shared/outside-inputs/http")
        for name in ["tagfetch-qmark-admin-vault.bin", "two-host.bin", "trailer-bare-cr.bin"] {
            let raw = try String(contentsOf: outside.appendingPathComponent(name), encoding: .utf8)
            requests.append(
                (
                    raw.replacingOccurrences(of: "@ADMIN_TOKEN@", with: gateway.tokens["admin"]!).replacingOccurrences(
                        of: "@DEV_ONLY_TOKEN@", with: token), 2
                ))
        }
        var reached: [(method: String, path: String)] = []
        for (index, (request, wait)) in requests.enumerated() {
            let text = String(decoding: try RawHTTP.exchange(port: port, bytes: Array(request.utf8), timeout: wait), as: UTF8.self)
            // Every answer on the connection (a pipelined second request gets its own).
            for part in text.components(separatedBy: "HTTP/1.1 ").dropFirst() {
                guard let answer = try? RawHTTP.parse(Array(("HTTP/1.1 " + part).utf8)), answer.header("X-Echo") == "yes" else { continue }
                reached.append((answer.json["method"] as? String ?? "?", answer.json["path"] as? String ?? "?"))
                // Each outside input's right answer is a refusal, whoever gives it: none may
                // reach the service (Envoy folds two-host.bin's Host lines into "gw,evil").
                #expect(index < targets.count, "\(peer) let an outside input through: \(request.debugDescription)")
            }
        }
        // Each line is written just after its answer: wait (bounded) until every call that
        // reached the service has one (a bypass never will).
        func isAllowed(_ line: [String: Any]) -> Bool { line["decision"] as? String == "allow" }
        let lines = try await Self.auditLines(gateway) { lines in
            reached.allSatisfy { call in
                lines.contains { isAllowed($0) && $0["method"] as? String == call.method && $0["path"] as? String == call.path }
            }
        }
        let allowed = lines.filter(isAllowed).map { ($0["method"] as? String ?? "", $0["path"] as? String ?? "") }
        #expect(!reached.isEmpty, "the plain call must go through")
        for call in reached {
            #expect(
                allowed.contains { $0 == call }, "\(peer) forwarded \(call.method) \(call.path), which Gatehouse did not allow as such: \(allowed)")
        }
        // Nothing but the dev account was ever allowed: the tricks toward prod all failed.
        #expect(allowed.allSatisfy { !($0.1.split(separator: "?").first ?? "").contains(prod) }, "\(allowed)")
        await ProxyPeer.stop(proxy)
    }

    /// The official SDK, AK/SK-signed, through Envoy (which passes the body the signature
    /// covers) and through nginx (which cannot: a signed update is refused, a signed read
    /// without a body goes through).
    @Test(arguments: ProxyPeer.allCases)
    func signedCallsFromTheOfficialSDK(_ peer: ProxyPeer) async throws {
        try SDKEndToEndTests.requireSDK()
        let gateway = try await Fixture(settings: Self.authzOn)
        let (proxy, port) = try await peer.start(authz: try #require(gateway.authzPort), service: try Self.upstreamPort(gateway), in: gateway.dir)
        let keys = try SDKEndToEndTests.temporaryCredentials(gateway, user: "dev_only", mfa: true)
        typealias Call = SDKEndToEndTests.Call
        let answers = try SDKEndToEndTests.run(
            [
                Call(name: "show", keys: keys, operation: "show_account", args: ["account_id": Fixture.devAccount]),
                Call(
                    name: "update", keys: keys, operation: "update_account", args: ["account_id": Fixture.devAccount, "description": "via \(peer)"]),
                Call(
                    name: "tampered", keys: keys, operation: "update_account", args: ["account_id": Fixture.devAccount, "description": "x"],
                    tamper: "body"),
            ], endpoint: "http://127.0.0.1:\(port)", caFile: nil)
        #expect(answers["show"]?["ok"] as? Bool == true, "\(answers)")
        if peer == .envoy {
            #expect(answers["update"]?["ok"] as? Bool == true, "\(answers)")
            #expect(answers["tampered"]?["status"] as? Int == 401, "\(answers)")
        } else {
            #expect(answers["update"]?["status"] as? Int == 403 && answers["update"]?["error_code"] as? String == "Gatehouse.0403", "\(answers)")
        }
        await ProxyPeer.stop(proxy)
    }

    /// The gateway's audit lines once `ready` holds of them, or after 10 s as they are.
    static func auditLines(_ gateway: GatewayFixture, until ready: ([[String: Any]]) -> Bool) async throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(10)
        var lines = try gateway.auditLines()
        while !ready(lines), Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
            lines = try gateway.auditLines()
        }
        return lines
    }

    static func upstreamPort(_ gateway: GatewayFixture) throws -> Int {
        let line = gateway.upstream.output.split(separator: "\n").first { $0.hasPrefix("listening on ") }
        let url = line.flatMap { URL(string: String($0.dropFirst("listening on ".count))) }
        guard let port = url?.port else { throw HarnessError.http("the upstream's address is not known") }
        return port
    }
}
