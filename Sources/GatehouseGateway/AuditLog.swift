import Foundation
import GatehousePolicy
import NIOCore
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
    /// Fields a local API changed (the organization profile), old and new.
    public var changes: [FieldChange] = []

    public init(time: Date, requestId: String, method: String, path: String, sourceIp: String, policyRevision: String) {
        self.time = time
        self.requestId = requestId
        self.method = method
        self.path = path
        self.sourceIp = sourceIp
        self.policyRevision = policyRevision
    }

    /// The record as one line of compact JSON, newline included. Built directly rather than
    /// through `JSONValue`: it runs for every call.
    public var line: String {
        var writer = LineWriter()
        writer.number("schema", Self.schemaVersion)
        writer.string("time", Self.timestamp(time))
        writer.string("request_id", requestId)
        writer.string("method", method)
        writer.string("path", path)
        writer.string("source_ip", sourceIp)
        writer.string("user", user)
        writer.string("principal", principal)
        writer.string("action", action)
        writer.string("resource", resource)
        writer.string("decision", decision)
        writer.string("reason", reason)
        writer.strings("statements", statements)
        writer.string("policy_revision", policyRevision)
        writer.number("status", status)
        writer.number("authorize_us", authorizeMicros)
        writer.number("upstream_us", upstreamMicros)
        writer.number("total_us", totalMicros)
        if !changes.isEmpty { writer.changes(changes) }
        return writer.finish()
    }

    /// Members of one flat JSON object, in order.
    struct LineWriter {
        var out = "{"

        init() { out.reserveCapacity(640) }

        mutating func key(_ name: String) {
            if out.utf8.count > 1 { out += "," }
            out += "\""
            out += name
            out += "\":"
        }

        mutating func string(_ name: String, _ value: String?) {
            key(name)
            if let value { JSONWriter.writeString(value, into: &out) } else { out += "null" }
        }

        mutating func number(_ name: String, _ value: Int?) {
            key(name)
            out += value.map { String($0) } ?? "null"
        }

        mutating func strings(_ name: String, _ values: [String]) {
            key(name)
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                JSONWriter.writeString(value, into: &out)
            }
            out += "]"
        }

        /// `{"field": {"old": ..., "new": ...}}`.
        mutating func changes(_ changes: [FieldChange]) {
            key("changes")
            out += "{"
            for (index, change) in changes.enumerated() {
                if index > 0 { out += "," }
                JSONWriter.writeString(change.field, into: &out)
                out += ":{\"old\":"
                if let old = change.old { JSONWriter.writeString(old, into: &out) } else { out += "null" }
                out += ",\"new\":"
                if let new = change.new { JSONWriter.writeString(new, into: &out) } else { out += "null" }
                out += "}"
            }
            out += "}"
        }

        mutating func finish() -> String {
            out += "}\n"
            return out
        }
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
///
/// Lines are gathered and written once per event-loop tick (`write(_:flushingOn:)`), so a
/// busy gateway makes one `write(2)` for many calls instead of one each.
public final class AuditLog: Sendable {
    let path: String
    private struct State {
        var descriptor: Int32
        var healthy: Bool
        var pending: [UInt8] = []
    }

    private let state: Mutex<State>

    /// Opens (creating) the log; `-` is standard output.
    public init(path: String) throws {
        self.path = path
        let descriptor = try Self.open(path)
        state = Mutex(State(descriptor: descriptor, healthy: true))
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

    /// Appends one line now; a failed write marks the log unhealthy until a write succeeds.
    public func write(_ record: AuditRecord) {
        append(record)
        flush()
    }

    /// Queues one line and makes sure it is written at the end of the event loop's tick.
    func write(_ record: AuditRecord, flushingOn loop: EventLoop) {
        if append(record) { loop.execute { self.flush() } }
    }

    /// Queues a line; true when the queue was empty (the caller schedules the flush).
    @discardableResult
    private func append(_ record: AuditRecord) -> Bool {
        let line = record.line
        return state.withLock { state in
            let wasEmpty = state.pending.isEmpty
            state.pending.append(contentsOf: line.utf8)
            return wasEmpty
        }
    }

    /// Writes every queued line.
    public func flush() {
        state.withLock { state in
            guard !state.pending.isEmpty else { return }
            let ok = state.pending.withUnsafeBytes { buffer -> Bool in
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(state.descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else { return false }
                    offset += written
                }
                return true
            }
            state.pending.removeAll(keepingCapacity: true)
            state.healthy = ok
        }
    }

    /// Closes and reopens the file (after rotation). If it cannot be reopened the log stays
    /// unhealthy and, with `audit.required`, calls are refused until it can.
    public func reopen() -> Bool {
        flush()
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
        flush()
        state.withLock { if $0.descriptor != STDOUT_FILENO { close($0.descriptor) } }
    }
}

/// A gateway that cannot start: the message says what to fix.
public struct GatewayStartError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
