import Foundation
import Testing

/// A process a test starts; its standard output is collected line by line, and it is
/// stopped by PID (SIGKILL as a last resort) when the test lets go of it.
final class Spawned: @unchecked Sendable {
    let process = Process()
    /// What the process wrote so far. Apart from `self`: the reading loop holds it until the
    /// pipe closes, and holding `self` there kept a process that a failed fixture let go of
    /// alive, and running, for good.
    private final class Collected: @unchecked Sendable {
        let lock = NSLock()
        var text = ""
    }
    private let collected = Collected()

    init(_ executable: URL, _ arguments: [String], cwd: URL = CLI.packageRoot, environment: [String: String]? = nil) throws {
        _ = CLI.ignoreBrokenPipes
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = cwd
        // GATEHOUSE_BIN picks the binary under test; `serve` would take it for an option.
        process.environment = environment ?? ProcessInfo.processInfo.environment.filter { $0.key != "GATEHOUSE_BIN" }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let reader = out.fileHandleForReading
        DispatchQueue.global().async { [collected] in
            while true {
                let chunk = CLI.readChunk(reader)
                if chunk.isEmpty { return }
                collected.lock.withLock { collected.text += String(decoding: chunk, as: UTF8.self) }
            }
        }
    }

    var pid: Int32 { process.processIdentifier }
    var output: String { collected.lock.withLock { collected.text } }

    /// The rest of the first output line starting with `prefix`, waiting up to `timeout`.
    func line(startingWith prefix: String, timeout: TimeInterval = 60) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(line.dropFirst(prefix.count)) }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError.noLine(prefix, output)
    }

    /// Sends `signal` and waits (bounded) for the exit; returns the exit status or nil.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM, timeout: TimeInterval = 20) async -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(pid, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(pid, SIGKILL)
            return nil
        }
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(pid, SIGKILL) } }
}

enum HarnessError: Error, CustomStringConvertible {
    case noLine(String, String)
    case http(String)

    var description: String {
        switch self {
        case .noLine(let prefix, let output): "no line starting with \(prefix) in: \(output)"
        case .http(let message): message
        }
    }
}

/// An HTTP/1.1 exchange over a plain socket: the request target goes out byte for byte
/// (URLSession would normalise dot segments and encodings, which the tests must send).
struct RawHTTP {
    struct Response {
        var status: Int
        var headers: [(String, String)]
        var body: String

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
        var errorCode: String? { json["error_code"] as? String }
    }

    static func send(
        port: Int, method: String, target: String, headers: [(String, String)] = [], body: String? = nil, timeout: Int = 15
    ) throws -> Response {
        var request = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        if let body { request += "Content-Length: \(body.utf8.count)\r\n" }
        request += "\r\n" + (body ?? "")
        let raw = try exchange(port: port, bytes: Array(request.utf8), timeout: timeout)
        return try parse(raw)
    }

    /// Sends a keep-alive request, reads its answer (framed by `Content-Length`), then waits
    /// up to `wait` seconds: whether the server closed the connection meanwhile.
    static func closesWhenIdle(port: Int, request: String, wait: Int) throws -> (answer: Response, closed: Bool) {
        let fd = try connected(port: port, timeout: 15)
        defer { close(fd) }
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw HarnessError.http("cannot send")
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let answer = try? parse(received), let length = answer.header("Content-Length").flatMap(Int.init), answer.body.utf8.count >= length {
                var limit = timeval(tv_sec: wait, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                return (answer, recv(fd, &buffer, buffer.count, 0) == 0)
            }
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { throw HarnessError.http("no complete answer") }
            received += buffer[..<count]
        }
    }

    static func connected(port: Int, timeout: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError.http("socket failed") }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw HarnessError.http("cannot connect to port \(port)")
        }
        return fd
    }

    static func exchange(port: Int, bytes: [UInt8], timeout: Int, beforeReading: () throws -> Void = {}) throws -> [UInt8] {
        let fd = try connected(port: port, timeout: timeout)
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            // The server may answer (413) and close before reading everything; read what it said.
            guard sent > 0 else { break }
            offset += sent
        }
        try beforeReading()
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer[..<count]
        }
        return received
    }

    static func parse(_ raw: [UInt8]) throws -> Response {
        let text = String(decoding: raw, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw HarnessError.http("no complete answer: \(text)") }
        let lines = text[..<split.lowerBound].split(separator: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw HarnessError.http("bad status line: \(text)") }
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var body = String(text[split.upperBound...])
        if headers.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased().contains("chunked") }) {
            body = dechunk(body)
        }
        return Response(status: status, headers: headers, body: body)
    }

    static func dechunk(_ text: String) -> String {
        var rest = Substring(text)
        var body = ""
        while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let bytes = Array(rest[start...].utf8)
            body += String(decoding: bytes.prefix(size), as: UTF8.self)
            rest = Substring(String(decoding: bytes.dropFirst(size + 2), as: UTF8.self))
        }
        return body
    }
}

/// A gateway under test: a directory seeded from `samples/directory.json`, a copy of
/// `policies/`, an upstream process (the sample account service or an echo server), and
/// `gatehouse serve` in front of it, all on free loopback ports in a temporary directory.
final class GatewayFixture: @unchecked Sendable {
    enum UpstreamKind {
        case sampleService, echo
        /// Any peer started by this command line that prints "listening on URL".
        case command([String])
    }

    /// A real SMTP server (Fixtures/smtp_peer.py, aiosmtpd) for the gateway to deliver to,
    /// with its own certificate and one login.
    struct SMTPPeer {
        /// starttls or tls, for both the server and the gateway.
        var mode = "starttls"
        /// Recipients the server refuses for good (550).
        var refuse: [String] = []
        /// The password the gateway is given; the server accepts only "peer-password".
        var gatewayPassword = "peer-password"
    }

    let dir: TempDir
    let db: String
    /// The directory's key-encryption key (`directory.key_file`), for access keys.
    let keyFile: String
    let policies: String
    let auditLog: String
    var upstream: Spawned
    private(set) var gateway: Spawned
    private(set) var port: Int
    private(set) var adminPort: Int
    /// The decision listener's port, when the settings turn it on (`authz.listen.port`).
    private(set) var authzPort: Int?
    /// The gateway's configuration file, for a restart on the same data.
    private let configFile: String
    let tokens: [String: String]
    let smtp: Spawned?
    /// Calls made through `call`: each writes one audit line.
    private var calls = 0

    static let devAccount = "05261f923e80d3890f33c0056e9b3f80"
    static let prodAccount = "7d1f6a0c2b9e4e55a1c3d2f0e8b7a6c5"
    static let protectedAccount = "3c9b8a7d6e5f40312a1b0c9d8e7f6a5b"

    /// Every gateway process: `gateway` and `port` are the first; `replicas` more than one
    /// share a PostgreSQL directory.
    private(set) var replicas: [Spawned] = []
    private(set) var replicaPorts: [Int] = []
    private(set) var replicaAdminPorts: [Int] = []

    /// `directoryURL`: a PostgreSQL database to keep the directory in (`directory.url`)
    /// instead of a SQLite file; needed for `replicas` over 1. Each replica writes its own
    /// audit log (`audit-N.log`); they share the maildir.
    init(
        upstream kind: UpstreamKind = .sampleService, smtp peer: SMTPPeer? = nil, settings: [String: Any] = [:], directoryURL: String? = nil,
        replicas replicaCount: Int = 1
    ) async throws {
        dir = try TempDir()
        db = directoryURL ?? dir.url.appendingPathComponent("directory.sqlite").path
        policies = dir.url.appendingPathComponent("policies").path
        auditLog = dir.url.appendingPathComponent("audit.log").path
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        for name in ["organizations-admin", "dev-accounts-update", "deny-protected-accounts", "require-mfa", "office-network-only"] {
            try FileManager.default.copyItem(
                atPath: CLI.packageRoot.appendingPathComponent("policies/\(name).json").path, toPath: "\(policies)/\(name).json")
        }
        let initialised = try CLI.run(["directory", "init", "--db", db, "--seed", "samples/directory.json"])
        guard initialised.status == 0 else { throw HarnessError.http("directory init: \(initialised.stderr)") }
        keyFile = dir.url.appendingPathComponent("directory.key").path
        let generated = try CLI.run(["directory", "generate-key", "--out", keyFile])
        guard generated.status == 0 else { throw HarnessError.http("generate-key: \(generated.stderr)") }
        var tokens: [String: String] = [:]
        for user in ["owner", "admin", "dev_only", "member"] {
            tokens[user] = try Self.issueToken(db: db, user, extra: user == "dev_only" ? ["--mfa"] : [])
        }
        self.tokens = tokens
        switch kind {
        case .sampleService:
            upstream = try Spawned(
                CLI.binary,
                [
                    "sample-account-service", "--db", dir.url.appendingPathComponent("accounts.sqlite").path, "--seed", "samples/directory.json",
                    "--port", "0",
                ])
        case .echo:
            upstream = try Spawned(
                URL(fileURLWithPath: "/usr/bin/env"),
                ["python3", CLI.packageRoot.appendingPathComponent("Tests/GatehouseCLITests/Fixtures/echo_upstream.py").path])
        case .command(let arguments):
            upstream = try Spawned(URL(fileURLWithPath: "/usr/bin/env"), arguments)
        }
        let upstreamURL = try await upstream.line(startingWith: "listening on ")
        var mail: [String: Any] = ["maildir": dir.url.appendingPathComponent("maildir").path, "poll_interval_ms": 50]
        if let peer {
            let folder = dir.url.appendingPathComponent("smtp").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            var arguments = [
                "python3", CLI.packageRoot.appendingPathComponent("Tests/GatehouseCLITests/Fixtures/smtp_peer.py").path, "--dir", folder, "--mode",
                peer.mode, "--user", "gatehouse", "--password", "peer-password",
            ]
            for address in peer.refuse { arguments += ["--refuse", address] }
            let server = try Spawned(URL(fileURLWithPath: "/usr/bin/env"), arguments)
            smtp = server
            let smtpPort = try #require(Int(try await server.line(startingWith: "listening on ")))
            let passwordFile = try dir.write("smtp-password", peer.gatewayPassword + "\n")
            mail["transport"] = "smtp"
            mail["smtp"] = [
                "host": "127.0.0.1", "port": smtpPort, "security": peer.mode, "username": "gatehouse", "password_file": passwordFile,
                "ca_file": folder + "/ca.pem", "timeout_ms": 5000,
            ]
        } else {
            smtp = nil
        }
        var config: [String: Any] = [
            "listen": ["port": 0], "admin": ["port": 0], "upstream": ["url": upstreamURL],
            "catalog": CLI.packageRoot.appendingPathComponent("samples/catalog.json").path,
            "policies": ["dir": policies, "watch_interval_ms": 100],
            "directory": [directoryURL == nil ? "path" : "url": db, "refresh_interval_ms": 50, "key_file": keyFile],
            "audit": ["path": auditLog], "threads": 1, "mail": mail,
        ]
        for (key, value) in settings {
            if var section = config[key] as? [String: Any], let extra = value as? [String: Any] {
                section.merge(extra) { $1 }
                config[key] = section
            } else {
                config[key] = value
            }
        }
        configFile = try dir.write("gateway.json", String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self))
        gateway = try Spawned(CLI.binary, ["serve", "--config", configFile])
        port = try #require(URL(string: try await gateway.line(startingWith: "gateway listening on "))?.port)
        adminPort = try #require(URL(string: try await gateway.line(startingWith: "admin listening on "))?.port)
        if settings["authz"] != nil { authzPort = URL(string: try await gateway.line(startingWith: "authz listening on "))?.port }
        replicas = [gateway]
        replicaPorts = [port]
        replicaAdminPorts = [adminPort]
        for index in 1..<max(replicaCount, 1) {
            var own = config
            own["audit"] = ["path": dir.url.appendingPathComponent("audit-\(index).log").path]
            let file = try dir.write("gateway-\(index).json", String(decoding: try JSONSerialization.data(withJSONObject: own), as: UTF8.self))
            let replica = try Spawned(CLI.binary, ["serve", "--config", file])
            replicas.append(replica)
            replicaPorts.append(try #require(URL(string: try await replica.line(startingWith: "gateway listening on "))?.port))
            replicaAdminPorts.append(try #require(URL(string: try await replica.line(startingWith: "admin listening on "))?.port))
        }
    }

    /// Stops the gateway process and starts a new one on the same configuration and data (a
    /// new process: new hash seeds, empty caches). The upstream keeps running.
    func restartGateway() async throws {
        #expect(await gateway.stop() == 0)
        gateway = try Spawned(CLI.binary, ["serve", "--config", configFile])
        port = try #require(URL(string: try await gateway.line(startingWith: "gateway listening on "))?.port)
        adminPort = try #require(URL(string: try await gateway.line(startingWith: "admin listening on "))?.port)
    }

    /// Writes a policy into the gateway's policy folder and attaches it to a user with the
    /// CLI; returns once a call shows the gateway decides with it (`ready`).
    func attach(_ name: String, _ text: String, to user: String) throws {
        try text.write(toFile: "\(policies)/\(name).json", atomically: true, encoding: .utf8)
        let attached = try CLI.run(["directory", "attach", "--db", db, "--policy", name, "--user", user])
        guard attached.status == 0 else { throw HarnessError.http("attach: \(attached.stderr)") }
    }

    func issueToken(_ user: String, ttl: String = "1h", extra: [String] = []) throws -> String {
        try Self.issueToken(db: db, user, ttl: ttl, extra: extra)
    }

    static func issueToken(db: String, _ user: String, ttl: String = "1h", extra: [String] = []) throws -> String {
        let issued = try CLI.run(["directory", "issue-token", "--db", db, "--user", user, "--ttl", ttl] + extra)
        guard issued.status == 0 else { throw HarnessError.http("issue-token: \(issued.stderr)") }
        return issued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func call(
        _ method: String, _ target: String, as user: String? = nil, token: String? = nil, body: String? = nil, headers: [(String, String)] = []
    ) throws -> RawHTTP.Response {
        var all = headers
        if let token = token ?? user.flatMap({ tokens[$0] }) { all.append(("X-Auth-Token", token)) }
        if body != nil { all.append(("Content-Type", "application/json")) }
        calls += 1
        return try RawHTTP.send(port: port, method: method, target: target, headers: all, body: body)
    }

    /// Sends raw bytes (a request the client API cannot express) and reads the answer.
    func raw(_ text: String) throws -> RawHTTP.Response {
        try RawHTTP.parse(Array(rawText(text).utf8))
    }

    /// Sends raw bytes and returns everything the gateway wrote back, unparsed.
    func rawText(_ text: String) throws -> String {
        calls += 1
        return String(decoding: try RawHTTP.exchange(port: port, bytes: Array(text.utf8), timeout: 15), as: UTF8.self)
    }

    func update(_ account: String, as user: String?, token: String? = nil, description: String = "via the gateway") throws -> RawHTTP.Response {
        try call("PATCH", "/v1/organizations/accounts/\(account)", as: user, token: token, body: #"{"description": "\#(description)"}"#)
    }

    func admin(_ path: String) throws -> RawHTTP.Response { try RawHTTP.send(port: adminPort, method: "GET", target: path) }

    /// Audit lines written so far, parsed. Lines are written at the end of the gateway's
    /// event-loop tick, just after the answer, so this waits (bounded) for one per call made.
    func auditLines() throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(5)
        var lines: [Substring] = []
        repeat {
            let text = (try? String(contentsOfFile: auditLog, encoding: .utf8)) ?? ""
            lines = text.split(separator: "\n")
            if lines.count >= calls { break }
            usleep(10_000)
        } while Date() < deadline
        return try lines.map { try jsonObject(String($0)) }
    }

    /// The audit lines replica `index` (0: the first gateway) has written so far, parsed.
    func auditLines(replica index: Int) throws -> [[String: Any]] {
        let path = index == 0 ? auditLog : dir.url.appendingPathComponent("audit-\(index).log").path
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { try jsonObject(String($0)) }
    }

    /// Messages delivered so far, oldest first: from the maildir, or as the SMTP server got them.
    func mail() -> [String] {
        let folder = dir.url.appendingPathComponent(smtp == nil ? "maildir/new" : "smtp/inbox/new").path
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        return names.compactMap { try? String(contentsOfFile: folder + "/" + $0, encoding: .utf8) }
    }

    /// Polls until `check` holds (policy reloads and directory changes land asynchronously).
    func eventually(timeout: TimeInterval = 10, _ check: () throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try check() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try check()
    }

    /// How each message reached the SMTP server: envelope, TLS, login.
    func envelopes() throws -> [[String: Any]] {
        let text = (try? String(contentsOf: dir.url.appendingPathComponent("smtp/envelopes.jsonl"), encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { try jsonObject(String($0)) }
    }

    /// The link token in a delivered message.
    static func linkToken(in message: String) throws -> String {
        let line = try #require(message.split(separator: "\r\n").first { $0.contains("/owner-transfer/confirm?token=") })
        return String(try #require(line.split(separator: "token=").last)).trimmingCharacters(in: .whitespaces)
    }

    /// Posts the confirmation form, as the page's button does.
    func accept(_ token: String) throws -> RawHTTP.Response {
        let body = "token=" + token
        return try raw(
            "POST /owner-transfer/confirm HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        )
    }

    /// The gateway process's resident memory, in bytes.
    func residentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(gateway.pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        return try #require(Int(line.split(separator: " ")[1])) * 1024
    }

    func stop() async -> Int32? {
        for replica in replicas.dropFirst() { #expect(await replica.stop() == 0) }
        let status = await gateway.stop()
        await upstream.stop()
        // Its exit status says whether SIGTERM stopped it (nil: it had to be killed).
        #expect(await smtp?.stop() ?? 0 == 0)
        return status
    }
}
