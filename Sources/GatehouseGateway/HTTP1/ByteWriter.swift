import NIOCore

/// Writes bytes straight into memory reserved beforehand for the most they can come to,
/// without checking for room on each write (debug builds assert every one).
///
/// For what the gateway writes on every call: the forwarded request's head, the answer's
/// head and the audit line. Written piece by piece into a `ByteBuffer` or an array, each
/// piece paid for a capacity check, a uniqueness check and (in NIO's build) an exclusivity
/// check, some sixty times a call. Get one with `ByteBuffer.write(atMost:_:)`.
struct ByteWriter {
    private let out: UnsafeMutableBufferPointer<UInt8>
    /// Bytes written so far.
    private(set) var count = 0

    init(_ out: UnsafeMutableBufferPointer<UInt8>) { self.out = out }

    @inline(__always)
    mutating func byte(_ byte: UInt8) {
        assert(count < out.count, "wrote past the room reserved")
        out[count] = byte
        count += 1
    }

    mutating func bytes(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        assert(count + bytes.count <= out.count, "wrote past the room reserved")
        (out.baseAddress! + count).update(from: source, count: bytes.count)
        count += bytes.count
    }

    mutating func bytes(_ bytes: UnsafeRawBufferPointer) { self.bytes(bytes.bindMemory(to: UInt8.self)) }

    mutating func raw(_ text: StaticString) { text.withUTF8Buffer { bytes($0) } }

    /// A string's UTF-8 bytes, as they are.
    mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { bytes($0) }
    }

    /// Decimal digits, a sign for negatives (at most 20 bytes).
    mutating func decimal(_ value: Int) {
        if value < 0 { byte(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits = 1
        var probe = magnitude
        while probe >= 10 {
            probe /= 10
            digits += 1
        }
        assert(count + digits <= out.count, "wrote past the room reserved")
        var index = count + digits
        repeat {
            index -= 1
            out[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        count += digits
    }

    /// Lends the next `length` bytes to a function that writes up to that many and says how
    /// many it wrote (such as `UTCTime.write(_:to:)`).
    mutating func append(upTo length: Int, _ write: (UnsafeMutablePointer<UInt8>) -> Int) {
        assert(count + length <= out.count, "wrote past the room reserved")
        let written = write(out.baseAddress! + count)
        assert(written <= length)
        count += written
    }
}

extension ByteBuffer {
    /// Writes through a `ByteWriter` that must write no more than `maxBytes`: the buffer
    /// makes that much room first.
    mutating func write(atMost maxBytes: Int, _ body: (inout ByteWriter) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: maxBytes) { raw in
            let start = raw.baseAddress?.assumingMemoryBound(to: UInt8.self)
            var writer = ByteWriter(UnsafeMutableBufferPointer(start: start, count: start == nil ? 0 : maxBytes))
            body(&writer)
            return writer.count
        }
    }
}
