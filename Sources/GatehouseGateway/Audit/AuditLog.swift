import Foundation
import GatehousePolicy
import NIOCore
import Synchronization

/// One audit line: who asked for what, what was decided and why, and how it ended. Never
/// the token or the body.
///
/// Written with our own byte writer rather than Foundation's `JSONEncoder` or the engine's
/// `JSONWriter`: a line is written for every call, and writing it as bytes into memory
/// reserved once was measured to matter (`docs/PERFORMANCE.md`, "fewer allocations").
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
    /// The kind of credential the call presented (`CredentialKind`: `token`, `access_key`,
    /// `temporary_access_key`), once known.
    public var credential: String?
    /// The access key ID of a signed call, even a refused one (never the secret or the signature).
    public var accessKey: String?
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
    /// The proxy that asked, for a decision listener's call (`auth_request`, `ext_authz`);
    /// nil (and not written) for a call proxied by the gateway itself.
    public var via: String?
    /// The shadow set's decision (`policies.shadow_dir`): `allow`/`deny`, the engine's reason
    /// (or `attached_policy_missing: <name>`) and its deciding statements; nil when the
    /// call never reached the decide stage or no shadow set is configured.
    public var shadowDecision: String?
    public var shadowReason: String?
    public var shadowStatements: [StatementRef] = []
    /// False for a call `mode: shadow` forwarded although it was refused (`decision` and
    /// `reason` say why); written only then.
    public var enforced = true

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
        var buffer = ByteBuffer()
        write(into: &buffer)
        return String(buffer: buffer)
    }

    /// Appends the line's UTF-8 bytes, written straight into the buffer's free space after
    /// making room for the longest the line could be: it runs for every call, and appending
    /// byte by byte to a growing array (each append checking capacity and uniqueness) took
    /// about a tenth of the gateway's user time.
    func write(into out: inout ByteBuffer) {
        out.write(atMost: maxLineBytes) { bytes in
            var writer = LineWriter(bytes)
            writer.begin()
            writer.number("schema", Self.schemaVersion)
            writer.key("time")
            writer.byte(UInt8(ascii: "\""))
            writer.time(time)
            writer.byte(UInt8(ascii: "\""))
            writer.string("request_id", requestId)
            writer.string("method", method)
            writer.string("path", path)
            writer.string("source_ip", sourceIp)
            writer.string("user", user)
            writer.string("principal", principal)
            writer.string("credential", credential)
            writer.string("access_key", accessKey)
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
            if let via { writer.string("via", via) }
            if let shadowDecision {
                writer.string("shadow_decision", shadowDecision)
                writer.string("shadow_reason", shadowReason)
                writer.statements("shadow_statements", shadowStatements)
            }
            if !enforced {
                writer.key("enforced")
                writer.raw("false")
            }
            writer.byte(UInt8(ascii: "}"))
            writer.byte(UInt8(ascii: "\n"))
            bytes = writer.out
        }
    }

    /// An upper bound on the line's length: every byte of every text value escaped at the
    /// longest (`\u00XX`, six bytes; `null` counted as text), and generous room for the
    /// rest: keys, punctuation and numbers (about 370 bytes at most), each statement's
    /// (`Statement[<index>]`, quotes, commas: under 40) and each change's (under 32).
    var maxLineBytes: Int {
        func length(_ text: String?) -> Int { text?.utf8.count ?? 4 }
        var texts = length(requestId) + length(method) + length(path) + length(sourceIp) + length(user) + length(principal) + length(credential)
        texts += length(accessKey) + length(via) + length(shadowDecision) + length(shadowReason)
        for ref in shadowStatements { texts += length(ref.policy) + (ref.sid?.utf8.count ?? 0) }
        texts += length(action) + length(resource) + length(decision) + length(reason) + length(policyRevision)
        for ref in statements { texts += length(ref.policy) + (ref.sid?.utf8.count ?? 0) }
        for change in changes { texts += length(change.field) + length(change.old) + length(change.new) }
        return 600 + 40 * (statements.count + shadowStatements.count) + 32 * changes.count + 6 * texts
    }

    /// Members of one flat JSON object, written into memory already sized for the whole
    /// line (`maxLineBytes`).
    struct LineWriter {
        var out: ByteWriter
        private var first = true

        init(_ out: ByteWriter) { self.out = out }

        mutating func byte(_ byte: UInt8) { out.byte(byte) }
        mutating func raw(_ text: StaticString) { out.raw(text) }
        mutating func decimal(_ value: Int) { out.decimal(value) }

        mutating func begin() { byte(UInt8(ascii: "{")) }

        mutating func key(_ name: StaticString) {
            if !first { byte(UInt8(ascii: ",")) }
            first = false
            byte(UInt8(ascii: "\""))
            raw(name)
            byte(UInt8(ascii: "\""))
            byte(UInt8(ascii: ":"))
        }

        mutating func string(_ name: StaticString, _ value: String?) {
            key(name)
            if let value { quoted(value) } else { raw("null") }
        }

        mutating func number(_ name: StaticString, _ value: Int?) {
            key(name)
            guard let value else { return raw("null") }
            decimal(value)
        }

        mutating func time(_ date: Date) { out.append(upTo: UTCTime.maxLength) { UTCTime.write(date, to: $0) } }

        mutating func statements(_ name: StaticString, _ refs: [StatementRef]) {
            key(name)
            byte(UInt8(ascii: "["))
            for (index, ref) in refs.enumerated() {
                if index > 0 { byte(UInt8(ascii: ",")) }
                byte(UInt8(ascii: "\""))
                escaped(ref.policy)
                byte(UInt8(ascii: ":"))
                if let sid = ref.sid {
                    escaped(sid)
                } else {
                    raw("Statement[")
                    decimal(ref.index)
                    byte(UInt8(ascii: "]"))
                }
                byte(UInt8(ascii: "\""))
            }
            byte(UInt8(ascii: "]"))
        }

        /// `{"field": {"old": ..., "new": ...}}`.
        mutating func changes(_ changes: [FieldChange]) {
            key("changes")
            byte(UInt8(ascii: "{"))
            for (index, change) in changes.enumerated() {
                if index > 0 { byte(UInt8(ascii: ",")) }
                quoted(change.field)
                raw(":{\"old\":")
                if let old = change.old { quoted(old) } else { raw("null") }
                raw(",\"new\":")
                if let new = change.new { quoted(new) } else { raw("null") }
                byte(UInt8(ascii: "}"))
            }
            byte(UInt8(ascii: "}"))
        }

        /// A JSON string.
        mutating func quoted(_ value: String) {
            byte(UInt8(ascii: "\""))
            escaped(value)
            byte(UInt8(ascii: "\""))
        }

        /// A JSON string's contents, without the quotes, escaped as `JSONWriter` does: `"`,
        /// `\\` and control characters; other bytes (UTF-8 included) are copied as they are,
        /// in runs between escapes.
        mutating func escaped(_ value: String) {
            var value = value
            value.withUTF8 { bytes in
                guard !bytes.isEmpty else { return }
                var start = 0
                while true {
                    let index = Self.firstEscape(in: bytes, from: start)
                    out.bytes(UnsafeBufferPointer(rebasing: bytes[start..<index]))
                    guard index < bytes.count else { return }
                    escape(bytes[index])
                    start = index + 1
                }
            }
        }

        private mutating func escape(_ byte: UInt8) {
            self.byte(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): self.byte(byte)
            case 0x0A: self.byte(UInt8(ascii: "n"))
            case 0x0D: self.byte(UInt8(ascii: "r"))
            case 0x09: self.byte(UInt8(ascii: "t"))
            case 0x08: self.byte(UInt8(ascii: "b"))
            case 0x0C: self.byte(UInt8(ascii: "f"))
            default:
                let digits: StaticString = "0123456789abcdef"
                raw("u00")
                self.byte(digits.utf8Start[Int(byte >> 4)])
                self.byte(digits.utf8Start[Int(byte & 0xF)])
            }
        }

        /// The index of the first byte from `start` that needs escaping, or the count.
        /// Eight bytes are checked at a time, as one word (nearly every value has none):
        /// `(w - 0x01…01 * n) & ~w & 0x80…80` is nonzero exactly when some byte of `w` is
        /// below `n` (for `n` up to 128), and a byte equal to `c` is a zero byte of `w ^ c…c`.
        static func firstEscape(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            func hasByteBelow(_ word: UInt64, _ limit: UInt64) -> Bool { (word &- ones &* limit) & ~word & highs != 0 }
            var index = start
            let raw = UnsafeRawPointer(bytes.baseAddress!)
            while index + 8 <= bytes.count {
                let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                if hasByteBelow(word, 0x20) || hasByteBelow(word ^ (ones &* 0x22), 1) || hasByteBelow(word ^ (ones &* 0x5C), 1) { break }
                index += 8
            }
            while index < bytes.count {
                let byte = bytes[index]
                if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return index }
                index += 1
            }
            return index
        }
    }

    /// UTC to the nearest millisecond: `2026-11-23T10:00:00.123Z`.
    static func timestamp(_ date: Date) -> String {
        UTCTime.string(date)
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
        /// Lines waiting for the tick's flush (cleared in place after each, so its memory is reused).
        var pending = ByteBuffer()
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
    /// `inout` only so the record is read where it lies, in its request context: passed by
    /// value it was copied, and its strings retained and released, on every call.
    func write(_ record: inout AuditRecord, flushingOn loop: EventLoop) {
        if append(&record) { loop.execute { self.flush() } }
    }

    /// Queues a line; true when the queue was empty (the caller schedules the flush).
    @discardableResult
    private func append(_ record: inout AuditRecord) -> Bool {
        state.withLock { state in
            let wasEmpty = state.pending.readableBytes == 0
            record.write(into: &state.pending)
            return wasEmpty
        }
    }

    /// Writes every queued line.
    public func flush() {
        state.withLock { state in
            guard state.pending.readableBytes > 0 else { return }
            let ok = state.pending.withUnsafeReadableBytes { buffer -> Bool in
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(state.descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else { return false }
                    offset += written
                }
                return true
            }
            state.pending.clear()
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
