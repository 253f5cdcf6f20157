import CLibFuzzer
import NIOCore
import NIOEmbedded
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// The program's entry point. SwiftPM links an executable target's entry point as `main`,
/// in place of libFuzzer's, so it hands over to libFuzzer's driver with the arguments
/// (`-runs=`, `-max_total_time=`, corpus folders: the usual libFuzzer flags).
@_cdecl("HTTP1Differential_main")
func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOne(data, size) }
}

/// The libFuzzer target: the same bytes go to Gatehouse's `HTTP1.Decoder` and to llhttp
/// (through NIOHTTP1's `HTTPRequestDecoder`), and any input both accept but frame
/// differently is a finding: another method, target, version, field name or value, body,
/// or another place where the next request starts. A crash is a finding too (libFuzzer
/// reports it). Inputs one reader refuses and the other accepts are not findings: refusing
/// is always safe for the gateway, which then answers 400 and closes.
///
/// Two more invariants of Gatehouse's reader alone: fed in two pieces (split where the
/// input's hash says) it reads exactly what it reads fed whole; and it never yields a body
/// for a message whose head it refused.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    Differential.check(bytes)
    return 0
}

/// One request as a reader framed it.
struct Message: Equatable, CustomStringConvertible {
    var method: String
    var target: String
    var version: String
    var fields: [Field]
    var body: [UInt8]

    struct Field: Equatable {
        var name: String
        var value: String
    }

    var description: String {
        "\(method) \(target) \(version) \(fields.map { "\($0.name): \($0.value.debugDescription)" }) body \(body.count) bytes \(String(decoding: body.prefix(64), as: UTF8.self).debugDescription)"
    }
}

/// What a reader made of the bytes: the complete messages, then whether it refused the rest
/// (`failed`), stopped reading HTTP after an upgrade (`upgraded`), or waits for more bytes.
struct Reading: Equatable {
    var messages: [Message] = []
    var failed = false
    var upgraded = false
}

enum Differential {
    /// `GATEHOUSE_FUZZ_TRACE=1`: print what each reader made of every input (to look at a
    /// corpus with `-runs=0`).
    static let trace = getenv("GATEHOUSE_FUZZ_TRACE") != nil

    static func check(_ bytes: [UInt8]) {
        let whole = gatehouse(bytes, pieces: [bytes.count])
        let split = 1 + Int(fnv(bytes) % UInt64(max(bytes.count - 1, 1)))
        let twoPieces = gatehouse(bytes, pieces: [min(split, bytes.count), bytes.count - min(split, bytes.count)])
        guard whole == twoPieces else {
            fatalError("Gatehouse reads the input differently fed whole and split at \(split):\n\(whole)\n\(twoPieces)")
        }
        let other = llhttp(bytes)
        if trace {
            print("== \(bytes.count) bytes")
            print("gatehouse: \(whole.messages.count) messages, failed \(whole.failed): \(whole.messages)")
            print("llhttp:    \(other.messages.count) messages, failed \(other.failed), upgraded \(other.upgraded): \(other.messages)")
        }
        let common = min(whole.messages.count, other.messages.count)
        for index in 0..<common where whole.messages[index] != other.messages[index] {
            fatalError("message \(index) framed differently:\n gatehouse: \(whole.messages[index])\n llhttp:    \(other.messages[index])")
        }
        // Both read the same messages so far; a reader that completed more while the other
        // neither refused nor stopped at an upgrade puts a message boundary elsewhere.
        if whole.messages.count > common, !other.failed, !other.upgraded {
            fatalError("Gatehouse completed message \(common) (\(whole.messages[common])), llhttp still waits for more of it")
        }
        if other.messages.count > common, !whole.failed, !other.upgraded || other.messages.count - 1 > common {
            fatalError("llhttp completed message \(common) (\(other.messages[common])), Gatehouse still waits for more of it")
        }
    }

    /// Gatehouse's reader, fed the input in the given pieces.
    static func gatehouse(_ bytes: [UInt8], pieces: [Int]) -> Reading {
        var decoder = HTTP1.Decoder(kind: .request, maxHeadBytes: 65536)
        var reading = Reading()
        var current: Message?
        var offset = 0
        for length in pieces where length > 0 {
            decoder.feed(ByteBuffer(bytes: bytes[offset..<offset + length]))
            offset += length
            do {
                while let event = try decoder.next() {
                    switch event {
                    case .head(let head):
                        precondition(current == nil, "a head inside a message")
                        current = Message(
                            method: head.method, target: head.target, version: "HTTP/1.\(head.minorVersion)",
                            fields: head.fields.map { field in
                                head.bytes.withUnsafeReadableBytes { raw in
                                    Message.Field(
                                        name: String(decoding: raw[Int(field.nameStart)..<Int(field.nameEnd)], as: UTF8.self),
                                        value: String(decoding: raw[Int(field.valueStart)..<Int(field.valueEnd)], as: UTF8.self))
                                }
                            }, body: [])
                    case .body(let part):
                        precondition(current != nil, "a body without a head")
                        current!.body += part.readableBytesView
                    case .end:
                        precondition(current != nil, "an end without a head")
                        reading.messages.append(current!)
                        current = nil
                    }
                }
            } catch {
                reading.failed = true
                return reading
            }
        }
        return reading
    }

    /// llhttp, as NIOHTTP1's request decoder runs it.
    static func llhttp(_ bytes: [UInt8]) -> Reading {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        var reading = Reading()
        do {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
        } catch {
            reading.failed = true
        }
        var current: Message?
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            switch part {
            case .head(let head):
                current = Message(
                    method: head.method.rawValue, target: head.uri, version: "HTTP/\(head.version.major).\(head.version.minor)",
                    fields: head.headers.map { Message.Field(name: $0.name, value: trimmed($0.value)) }, body: [])
            case .body(let part):
                current?.body += part.readableBytesView
            case .end:
                if let message = current {
                    reading.messages.append(message)
                    // llhttp hands what follows a CONNECT, or a request with Upgrade that
                    // Connection names, to another protocol.
                    if message.method == "CONNECT" || isUpgrade(message) { reading.upgraded = true }
                }
                current = nil
            }
        }
        _ = try? channel.finish(acceptAlreadyClosed: true)
        return reading
    }

    /// `Upgrade` present and `upgrade` among the `Connection` options (llhttp's rule).
    static func isUpgrade(_ message: Message) -> Bool {
        guard message.fields.contains(where: { $0.name.lowercased() == "upgrade" }) else { return false }
        return message.fields.contains { field in
            field.name.lowercased() == "connection"
                && field.value.split(separator: ",").contains { trimmed(String($0)).lowercased() == "upgrade" }
        }
    }

    static func trimmed(_ value: String) -> String {
        var bytes = Array(value.utf8)[...]
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes = bytes.dropLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func fnv(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}
