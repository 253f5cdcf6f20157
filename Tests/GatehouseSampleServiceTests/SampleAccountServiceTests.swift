import Foundation
import GatehouseDirectory
import GatehousePolicy
import Hummingbird
import HummingbirdTesting
import Testing

@testable import GatehouseSampleService

let seedPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("samples/directory.json").path
let devAccount = "05261f923e80d3890f33c0056e9b3f80"

/// A seeded service in a temporary SQLite file, served on a free loopback port per test.
func withService(_ test: @Sendable @escaping (any TestClientProtocol, SampleAccountStore) async throws -> Void) async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-sample-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let store = try SampleAccountStore(path: folder.appendingPathComponent("accounts.sqlite").path)
    try store.seedIfEmpty(from: try DirectorySeed.load(seedPath))
    let app = Application(router: SampleAccountService(store: store).router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    try await app.test(.live) { client in try await test(client, store) }
}

func json(_ buffer: ByteBuffer) throws -> JSONValue { try JSONLoader.parse(Array(buffer.readableBytesView)) }

@Suite struct SampleAccountServiceTests {
    @Test func showAndUpdateAnAccountAsTheReferenceDescribes() async throws {
        try await withService { client, _ in
            try await client.execute(uri: "/v1/organizations/accounts/\(devAccount)", method: .get) { response throws in
                #expect(response.status == .ok)
                let account = try #require(try json(response.body)["account"])
                for key in ["id", "urn", "join_method", "status", "joined_at", "name", "mobile_phone", "intl_number_prefix", "email", "description"] {
                    #expect(account[key] != nil, "\(key)")
                }
                #expect(
                    account["urn"]
                        == .string("organizations::0a6d25d23900d45c0faac010e0fb4de0:account:o-fhkmi6mek7wlqdp6nideqhb47qwtjdsv/\(devAccount)"))
                #expect(account["status"] == .string("active"))
            }
            let uri = "/v1/organizations/accounts/\(devAccount)"
            try await client.execute(uri: uri, method: .patch, body: ByteBuffer(string: #"{"description": "sandbox for team core"}"#)) {
                response throws in
                #expect(response.status == .ok)
                #expect(try json(response.body)["account"]?["description"] == .string("sandbox for team core"))
            }
            // null and absent leave it; an empty string clears it.
            for body in [#"{"description": null}"#, "{}"] {
                try await client.execute(uri: uri, method: .patch, body: ByteBuffer(string: body)) { response throws in
                    #expect(try json(response.body)["account"]?["description"] == .string("sandbox for team core"))
                }
            }
            try await client.execute(uri: uri, method: .patch, body: ByteBuffer(string: #"{"description": ""}"#)) { response throws in
                #expect(try json(response.body)["account"]?["description"] == .string(""))
            }
        }
    }

    @Test func badUpdatesAreRefusedAndChangeNothing() async throws {
        try await withService { client, store in
            let uri = "/v1/organizations/accounts/\(devAccount)"
            let long = String(repeating: "x", count: SampleAccountStore.maxDescriptionLength + 1)
            for body in [#"{"description": 5}"#, #"{"name": "x"}"#, "[]", #"{"description": "#, #"{"description": "\#(long)"}"#] {
                try await client.execute(uri: uri, method: .patch, body: ByteBuffer(string: body)) { response throws in
                    #expect(response.status == .badRequest, "\(body.prefix(40))")
                    let error = try json(response.body)
                    #expect(error["error_code"] == .string("Organizations.1000"))
                    #expect(error["error_msg"] != nil)
                }
            }
            #expect(try store.account(devAccount)?.description == "")
            try await client.execute(uri: "/v1/organizations/accounts/nope", method: .patch, body: ByteBuffer(string: "{}")) { response throws in
                #expect(response.status == .notFound)
                #expect(try json(response.body)["error_code"] == .string("Organizations.1010"))
            }
        }
    }

    @Test func listingPages() async throws {
        try await withService { client, _ in
            let first = try await client.execute(uri: "/v1/organizations/accounts?limit=2", method: .get) { try json($0.body) }
            guard case .array(let accounts)? = first["accounts"], case .string(let marker)? = first["page_info"]?["next_marker"] else {
                Issue.record("no page: \(first)")
                return
            }
            #expect(accounts.count == 2)
            let rest = try await client.execute(uri: "/v1/organizations/accounts?limit=2000&marker=\(marker)", method: .get) { try json($0.body) }
            if case .array(let more)? = rest["accounts"] { #expect(more.count == 3) } else { Issue.record("no accounts") }
            #expect(rest["page_info"]?["next_marker"] == nil)
            for bad in ["limit=0", "limit=2001", "limit=x", "marker=unknown"] {
                try await client.execute(uri: "/v1/organizations/accounts?\(bad)", method: .get) { #expect($0.status == .badRequest, "\(bad)") }
            }
        }
    }

    @Test func tagAPIsInBothStyles() async throws {
        try await withService { client, store in
            let base = "/v1/organizations/resources/\(devAccount)"
            try await client.execute(
                uri: "\(base)/tag", method: .post,
                body: ByteBuffer(string: #"{"tags": [{"key": "owner", "value": "core"}, {"key": "empty", "value": ""}]}"#)
            ) {
                #expect($0.status == .noContent)
            }
            #expect(try store.tags(devAccount)?.map(\.key) == ["empty", "env", "owner"])
            try await client.execute(uri: "\(base)/untag", method: .post, body: ByteBuffer(string: #"{"tag_keys": ["empty", "absent"]}"#)) {
                #expect($0.status == .noContent)
            }
            let typed = "/v1/organizations/organizations:accounts/\(devAccount)"
            try await client.execute(
                uri: "\(typed)/tags/create", method: .post, body: ByteBuffer(string: #"{"tags": [{"key": "env", "value": "prod"}]}"#)
            ) {
                #expect($0.status == .noContent)
            }
            try await client.execute(uri: "\(typed)/tags", method: .get) { response throws in
                let tags = try json(response.body)["tags"]
                #expect(
                    tags
                        == .array([
                            .object([("key", .string("env")), ("value", .string("prod"))]),
                            .object([("key", .string("owner")), ("value", .string("core"))]),
                        ]))
            }
            try await client.execute(uri: "\(typed)/tags/delete", method: .post, body: ByteBuffer(string: #"{"tags": [{"key": "owner"}]}"#)) {
                #expect($0.status == .noContent)
            }
            #expect(try store.tags(devAccount)?.map(\.key) == ["env"])
            for body in [#"{"tags": [{"key": "k", "value": null}]}"#, #"{"tags": []}"#, #"{"tags": [{"key": "", "value": "v"}]}"#] {
                try await client.execute(uri: "\(base)/tag", method: .post, body: ByteBuffer(string: body)) {
                    #expect($0.status == .badRequest, "\(body)")
                }
            }
            try await client.execute(uri: "/v1/organizations/resources/nope/tags", method: .get) { #expect($0.status == .notFound) }
            // An OU's, a root's or a policy's tags: not kept here (501), not "no such account".
            for id in ["ou-4a7c2e9b1d3f", "r-9f2c1a7b", "p-abcd1234"] {
                try await client.execute(uri: "/v1/organizations/resources/\(id)/tags", method: .get) {
                    #expect($0.status == .notImplemented, "\(id)")
                }
                try await client.execute(
                    uri: "/v1/organizations/resources/\(id)/tag", method: .post, body: ByteBuffer(string: #"{"tags": [{"key": "k", "value": "v"}]}"#)
                ) { #expect($0.status == .notImplemented, "\(id)") }
            }
        }
    }

    @Test func stateSurvivesARestart() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-sample-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("accounts.sqlite").path
        let seed = try DirectorySeed.load(seedPath)
        let store = try SampleAccountStore(path: path)
        try store.seedIfEmpty(from: seed)
        _ = try store.update(devAccount, description: .set("kept"))
        let reopened = try SampleAccountStore(path: path)
        try reopened.seedIfEmpty(from: seed)
        #expect(try reopened.account(devAccount)?.description == "kept")
    }
}
