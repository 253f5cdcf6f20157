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
    /// The deciding statements, written as `policy:Sid` (or `policy:Statement[i]`). Kept as
    /// the engine's references: a label string for each would be built on every call.
    public var statements: [StatementRef] = []
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

    /// The record as one line of compact JSON, newline included.
    public var line: String {
        var bytes: [UInt8] = []
        write(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the line's UTF-8 bytes. Written byte by byte rather than through `JSONValue`
    /// or `String` appends: it runs for every call.
    func write(into out: inout [UInt8]) {
        // The writer takes the array over (a swap, not a copy) and hands it back at the end.
        var writer = LineWriter()
        swap(&writer.out, &out)
        writer.begin()
        writer.number("schema", Self.schemaVersion)
        writer.key("time")
        writer.out.append(UInt8(ascii: "\""))
        UTCTime.write(time, into: &writer.out)
        writer.out.append(UInt8(ascii: "\""))
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
        writer.statements("statements", statements)
        writer.string("policy_revision", policyRevision)
        writer.number("status", status)
        writer.number("authorize_us", authorizeMicros)
        writer.number("upstream_us", upstreamMicros)
        writer.number("total_us", totalMicros)
        if !changes.isEmpty { writer.changes(changes) }
        writer.out.append(UInt8(ascii: "}"))
        writer.out.append(UInt8(ascii: "\n"))
        swap(&writer.out, &out)
    }

    /// Members of one flat JSON object, in order, as bytes.
    struct LineWriter {
        var out: [UInt8] = []
        private var first = true

        mutating func begin() {
            out.reserveCapacity(out.count + 640)
            out.append(UInt8(ascii: "{"))
        }

        mutating func key(_ name: StaticString) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            name.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }

        mutating func raw(_ text: StaticString) { text.withUTF8Buffer { out.append(contentsOf: $0) } }

        mutating func string(_ name: StaticString, _ value: String?) {
            key(name)
            if let value { Self.quoted(value, into: &out) } else { raw("null") }
        }

        mutating func number(_ name: StaticString, _ value: Int?) {
            key(name)
            guard let value else { return raw("null") }
            Self.decimal(value, into: &out)
        }

        mutating func statements(_ name: StaticString, _ refs: [StatementRef]) {
            key(name)
            out.append(UInt8(ascii: "["))
            for (index, ref) in refs.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append(UInt8(ascii: "\""))
                Self.escaped(ref.policy, into: &out)
                out.append(UInt8(ascii: ":"))
                Self.escaped(ref.displayName, into: &out)
                out.append(UInt8(ascii: "\""))
            }
            out.append(UInt8(ascii: "]"))
        }

        /// `{"field": {"old": ..., "new": ...}}`.
        mutating func changes(_ changes: [FieldChange]) {
            key("changes")
            out.append(UInt8(ascii: "{"))
            for (index, change) in changes.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.quoted(change.field, into: &out)
                raw(":{\"old\":")
                if let old = change.old { Self.quoted(old, into: &out) } else { raw("null") }
                raw(",\"new\":")
                if let new = change.new { Self.quoted(new, into: &out) } else { raw("null") }
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "}"))
        }

        /// A JSON string.
        static func quoted(_ value: String, into out: inout [UInt8]) {
            out.append(UInt8(ascii: "\""))
            escaped(value, into: &out)
            out.append(UInt8(ascii: "\""))
        }

        /// A JSON string's contents, without the quotes: most need no escape and are copied whole.
        static func escaped(_ value: String, into out: inout [UInt8]) {
            var value = value
            value.withUTF8 { bytes in
                if !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                    out.append(contentsOf: bytes)
                } else {
                    var escaped = ""
                    JSONWriter.writeString(String(decoding: bytes, as: UTF8.self), into: &escaped)
                    // writeString adds its own quotes.
                    out.append(contentsOf: escaped.utf8.dropFirst().dropLast())
                }
            }
        }

        /// Decimal digits; `String(Int)` stays a small string (no allocation) at these sizes.
        static func decimal(_ value: Int, into out: inout [UInt8]) {
            out.append(contentsOf: String(value).utf8)
        }
    }

    /// UTC to the nearest millisecond: `2026-11-23T10:00:00.123Z`.
    static func timestamp(_ date: Date) -> String {
        var bytes: [UInt8] = []
        UTCTime.write(date, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
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
        var record = record
        append(&record)
        flush()
    }

    /// Queues one line and makes sure it is written at the end of the event loop's tick.
    /// `inout` only so the record is read where it lies, in its call's verdict: passed by
    /// value it was copied, and its strings retained and released, on every call.
    func write(_ record: inout AuditRecord, flushingOn loop: EventLoop) {
        if append(&record) { loop.execute { self.flush() } }
    }

    /// Queues a line; true when the queue was empty (the caller schedules the flush).
    @discardableResult
    private func append(_ record: inout AuditRecord) -> Bool {
        state.withLock { state in
            let wasEmpty = state.pending.isEmpty
            record.write(into: &state.pending)
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
