import Foundation
import Testing

/// The store's tests, one at a time: each blocks its thread on SQLite, PostgreSQL and the
/// `psql` it runs, and Swift Testing's pool has one thread per core; run side by side they
/// starved other suites' tasks for tens of seconds.
@Suite(.serialized) enum StoreSuites {}

/// Which database a directory test runs on. Store tests run on both: the statements are
/// shared, and the transactions' guarantees (one outcome of two races) must hold on each.
enum Backend: String, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    var testDescription: String { rawValue }

    /// SQLite always; PostgreSQL unless `GATEHOUSE_SKIP_POSTGRES=1` (a developer's explicit
    /// opt-out, never used in CI).
    static var all: [Backend] { PostgresTestServer.skipped ? [.sqlite] : [.sqlite, .postgres] }
}

/// The PostgreSQL server the tests use: `GATEHOUSE_TEST_POSTGRES_URL`, a superuser's URL
/// (`make test` and `.ci/run` start a throwaway cluster with `scripts/postgres-cluster.sh`
/// and set it). Each test gets a database of its own, dropped when it ends.
enum PostgresTestServer {
    static let urlVariable = "GATEHOUSE_TEST_POSTGRES_URL"

    static var skipped: Bool { ProcessInfo.processInfo.environment["GATEHOUSE_SKIP_POSTGRES"] == "1" }

    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// The server's URL, or a failure that says how to get one.
    static func adminURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment[urlVariable], !url.isEmpty else {
            throw Unavailable(
                description:
                    "no PostgreSQL for the tests: run them with make test (it starts a throwaway cluster), or set \(urlVariable) to a superuser's URL (scripts/postgres-cluster.sh start DIR prints one); GATEHOUSE_SKIP_POSTGRES=1 skips the PostgreSQL cases"
            )
        }
        return url
    }

    /// A new, empty database; returns its URL.
    static func createDatabase() throws -> String {
        let admin = try adminURL()
        let name = "gatehouse_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try run("psql", [admin, "-v", "ON_ERROR_STOP=1", "-qAtc", "CREATE DATABASE \(name)"])
        return url(admin, database: String(name))
    }

    /// Drops a database made by `createDatabase` (its connections closed first).
    static func dropDatabase(_ url: String) {
        guard let admin = try? adminURL(), let name = url.split(separator: "/").last.map(String.init) else { return }
        _ = try? run("psql", [admin, "-qAtc", "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"])
    }

    /// Everything the database holds, as `pg_dump` writes it (schema and rows).
    static func dump(_ url: String) throws -> Data {
        try run("pg_dump", ["--dbname=\(url)", "--no-owner"])
    }

    /// `admin` with its database replaced by `database`.
    static func url(_ admin: String, database: String) -> String {
        var components = URLComponents(string: admin)!
        components.path = "/" + database
        return components.string!
    }

    /// Runs a PostgreSQL client program; returns its output, throws with its error output.
    @discardableResult
    static func run(_ program: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Read before waiting, so a large dump cannot fill the pipe and stall the program.
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Unavailable(description: "\(program) failed: \(String(decoding: message, as: UTF8.self))")
        }
        return data
    }
}

/// A PostgreSQL cluster of one test's own (`scripts/postgres-cluster.sh`), for a test that
/// stops the server and starts it again (the shared one serves every other test). Stopped
/// and deleted when released.
final class PrivateCluster: @unchecked Sendable {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/postgres-cluster.sh").path
    let folder: URL
    /// The superuser's URL (the `postgres` database).
    let url: String

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // The server may run as the postgres user (when the tests run as root): it must reach the folder.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
        let output = try PostgresTestServer.run("bash", [Self.script, "start", folder.appendingPathComponent("pg").path])
        url = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A database in this cluster.
    func database(_ name: String) throws -> String {
        try PostgresTestServer.run("psql", [url, "-v", "ON_ERROR_STOP=1", "-qAtc", "CREATE DATABASE \(name)"])
        return PostgresTestServer.url(url, database: name)
    }

    func stop() throws { try PostgresTestServer.run("bash", [Self.script, "stop", folder.appendingPathComponent("pg").path]) }
    func start() throws { try PostgresTestServer.run("bash", [Self.script, "start", folder.appendingPathComponent("pg").path]) }

    deinit {
        try? stop()
        try? FileManager.default.removeItem(at: folder)
    }
}
