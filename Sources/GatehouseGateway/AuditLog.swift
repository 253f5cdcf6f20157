import Foundation
import GatehousePolicy
import Synchronization

/// One audit line: who asked for what, what was decided and why, and how it ended. Never
/// the token or the body.
public struct AuditRecord: Sendable {
    /// Bumped when a field changes meaning or is removed, so readers can tell lines apart.
    public static let schemaVersion = 1

    public var time: Date
    public var requestId: String
    public var method: String
    public var path: String
    public var sourceIp: String
    public var policyRevision: String
    public var user: String?
    public var principal: String?
    public var action: String?
    public var resource: String?
    public var decision = "deny"
    public var reason = ""
    public var statements: [String] = []
    public var status = 0
    public var authorizeMicros = 0
    public var upstreamMicros: Int?
    public var totalMicros = 0

    public init(time: Date, requestId: String, method: String, path: String, sourceIp: String, policyRevision: String) {
        self.time = time
        self.requestId = requestId
        self.method = method
        self.path = path
        self.sourceIp = sourceIp
        self.policyRevision = policyRevision
    }

    public var json: JSONValue {
        func optional(_ text: String?) -> JSONValue { text.map(JSONValue.string) ?? .null }
        var members: [(key: String, value: JSONValue)] = [
            ("schema", .integer(Int64(Self.schemaVersion))),
            ("time", .string(Self.timestamp(time))),
            ("request_id", .string(requestId)),
            ("method", .string(method)),
            ("path", .string(path)),
            ("source_ip", .string(sourceIp)),
            ("user", optional(user)),
            ("principal", optional(principal)),
            ("action", optional(action)),
            ("resource", optional(resource)),
            ("decision", .string(decision)),
            ("reason", .string(reason)),
            ("statements", .array(statements.map(JSONValue.string))),
            ("policy_revision", .string(policyRevision)),
            ("status", .integer(Int64(status))),
            ("authorize_us", .integer(Int64(authorizeMicros))),
        ]
        members.append(("upstream_us", upstreamMicros.map { .integer(Int64($0)) } ?? .null))
        members.append(("total_us", .integer(Int64(totalMicros))))
        return .object(members)
    }

    /// UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        let whole = Authorizer.iso8601(date).dropLast()
        let millis = Int((date.timeIntervalSince1970 - date.timeIntervalSince1970.rounded(.down)) * 1000)
        return "\(whole).\(String(millis).leftPadded(to: 3))Z"
    }
}

/// The audit log: JSON lines appended to a file (or standard output), reopened on SIGHUP so
/// log rotation works. Whether the last write succeeded is what `audit.required` checks
/// before letting a call through.
public final class AuditLog: Sendable {
    let path: String
    private let state: Mutex<(descriptor: Int32, healthy: Bool)>

    /// Opens (creating) the log; `-` is standard output.
    public init(path: String) throws {
        self.path = path
        let descriptor = try Self.open(path)
        state = Mutex((descriptor, true))
    }

    static func open(_ path: String) throws -> Int32 {
        if path == "-" { return STDOUT_FILENO }
        let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw GatewayStartError("cannot open the audit log \(path): \(String(cString: strerror(errno)))")
        }
        return descriptor
    }

    public var isHealthy: Bool { state.withLock { $0.healthy } }

    /// Appends one line; a failed write marks the log unhealthy until a write succeeds.
    public func write(_ record: AuditRecord) {
        var line = JSONWriter.compact(record.json)
        line.append("\n")
        state.withLock { state in
            let ok = line.utf8.withContiguousStorageIfAvailable { buffer -> Bool in
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(state.descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else { return false }
                    offset += written
                }
                return true
            }
            state.healthy = ok ?? false
        }
    }

    /// Closes and reopens the file (after rotation). If it cannot be reopened the log stays
    /// unhealthy and, with `audit.required`, calls are refused until it can.
    public func reopen() -> Bool {
        guard path != "-" else { return true }
        return state.withLock { state in
            guard let descriptor = try? Self.open(path) else {
                state.healthy = false
                return false
            }
            close(state.descriptor)
            state.descriptor = descriptor
            state.healthy = true
            return true
        }
    }

    deinit {
        state.withLock { if $0.descriptor != STDOUT_FILENO { close($0.descriptor) } }
    }
}

/// A gateway that cannot start: the message says what to fix.
public struct GatewayStartError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
