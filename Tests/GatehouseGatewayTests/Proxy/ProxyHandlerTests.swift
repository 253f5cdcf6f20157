import Foundation
import GatehouseDirectory
import GatehousePolicy
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import GatehouseGateway

/// The proxy handler in process, on NIO's `EmbeddedChannel`: the calls the gateway answers
/// itself, where a spawned gateway and a socket add nothing. (Forwarding, with a real
/// account service, is in the end-to-end tests.)
@Suite struct ProxyHandlerTests {
    /// A gateway runtime over the sample catalog, directory and policies, with its audit log
    /// in a temporary directory, and one client connection to it.
    final class Connection {
        let directory: URL
        let runtime: GatewayRuntime
        let channel: EmbeddedChannel
        let adminToken: String

        init(maxBodyBytes: Int = 1 << 20) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-proxy-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let database = directory.appendingPathComponent("directory.sqlite").path
            let store = try DirectoryStore(path: database)
            try store.importSeed(try DirectorySeed.load(sampleDirectory), path: database)
            adminToken = try store.issueToken(user: "admin", validFor: 3600, label: "test").token
            var config = GatewayConfig()
            config.catalog = sampleCatalog
            config.policiesDir = root.appendingPathComponent("policies").path
            config.directoryPath = database
            config.auditPath = directory.appendingPathComponent("audit.log").path
            config.mailMaildir = directory.appendingPathComponent("maildir").path
            config.maxBodyBytes = maxBodyBytes
            runtime = try GatewayRuntime(config: config, logger: Logger(label: "test"))
            let loop = EmbeddedEventLoop()
            // No call here is forwarded: the pool is never asked for a connection.
            let pool = UpstreamPool(eventLoop: loop, address: runtime.upstream, connectTimeout: .seconds(1), maxIdle: 1, maxHeadBytes: 1 << 16)
            channel = EmbeddedChannel(handler: ProxyHandler(runtime: runtime, pool: pool), loop: loop)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
        }

        deinit {
            _ = try? channel.finish()
            try? FileManager.default.removeItem(at: directory)
        }

        /// Sends bytes as the client, in pieces of `piece` bytes, and returns everything the
        /// gateway wrote back.
        func send(_ text: String, piece: Int = .max) throws -> String {
            let bytes = Array(text.utf8)
            var start = 0
            while start < bytes.count {
                let end = min(bytes.count, start + piece)
                try channel.writeInbound(ByteBuffer(bytes: bytes[start..<end]))
                start = end
            }
            channel.embeddedEventLoop.run()
            var answer = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { answer += String(buffer: buffer) }
            return answer
        }

        func auditLines() throws -> [[String: Any]] {
            channel.embeddedEventLoop.run()
            let text = try String(contentsOf: directory.appendingPathComponent("audit.log"), encoding: .utf8)
            return try text.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        }
    }

    /// The answers in `text`: status and the JSON body of each.
    static func answers(_ text: String) throws -> [(status: Int, body: [String: Any])] {
        var result: [(Int, [String: Any])] = []
        var rest = Substring(text)
        while let headEnd = rest.range(of: "\r\n\r\n") {
            let head = rest[..<headEnd.lowerBound]
            let status = try #require(Int(head.split(separator: " ")[1]))
            let length = try #require(
                head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }.flatMap {
                    Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces))
                })
            let body = rest[headEnd.upperBound...].prefix(length)
            result.append((status, try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])))
            rest = rest[headEnd.upperBound...].dropFirst(length)
        }
        return result
    }

    @Test func aRequestTheReaderRefusesIsAnsweredAuditedAndEndsTheConnection() throws {
        let connection = try Connection()
        // Whole, then byte by byte: one answer either way.
        for piece in [Int.max, 1] {
            let fresh = piece == 1 ? try Connection() : connection
            let text = try fresh.send("GET /v1/organizations/accounts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", piece: piece)
            let answers = try Self.answers(text)
            #expect(answers.count == 1)
            #expect(answers.first?.status == 400)
            #expect(answers.first?.body["error_code"] as? String == "Gatehouse.0400")
            #expect((answers.first?.body["error_msg"] as? String)?.contains("Host is repeated") == true)
            #expect(text.contains("Connection: close"))
            #expect(!fresh.channel.isActive)
            let line = try #require(try fresh.auditLines().last)
            #expect(line["reason"] as? String == "malformed_request: Host is repeated")
            #expect(line["decision"] as? String == "deny" && line["status"] as? Int == 400)
            #expect(line["request_id"] as? String == answers.first?.body["request_id"] as? String)
        }
    }

    @Test func pipelinedCallsAreAnsweredInOrderEachWithItsOwnError() throws {
        let connection = try Connection()
        let text = try connection.send(
            "GET /v1/organizations/accounts HTTP/1.1\r\nHost: gw\r\n\r\n"
                + "GET /v1/organizations/accounts HTTP/1.1\r\nHost: gw\r\nX-Auth-Token: gh_unknown\r\n\r\n"
                + "GET /v1/nothing-here HTTP/1.1\r\nHost: gw\r\nX-Auth-Token: \(connection.adminToken)\r\n\r\n")
        let answers = try Self.answers(text)
        #expect(answers.map(\.status) == [401, 401, 404])
        #expect(answers.map { $0.body["error_code"] as? String } == ["APIGW.0301", "APIGW.0301", "Gatehouse.0404"])
        #expect(Set(answers.compactMap { $0.body["request_id"] as? String }).count == 3)
        #expect(connection.channel.isActive)
        let reasons = try connection.auditLines().map { $0["reason"] as? String }
        #expect(reasons == ["token_missing", "token_unknown", "no_route"])
    }

    @Test func aBodyOverTheLimitIsRefusedBeforeItIsRead() throws {
        let connection = try Connection(maxBodyBytes: 16)
        let text = try connection.send(
            "PATCH /v1/organizations/accounts/05261f923e80d3890f33c0056e9b3f80 HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n")
        let answers = try Self.answers(text)
        #expect(answers.map(\.status) == [413])
        #expect(answers.first?.body["error_code"] as? String == "Gatehouse.0413")
        #expect(!connection.channel.isActive)
        #expect(try connection.auditLines().last?["reason"] as? String == "body_too_large")
    }
}
