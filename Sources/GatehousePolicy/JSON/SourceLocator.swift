/// Finds the line and column of a value, named by its JSON path, in JSON text that has
/// already been parsed successfully.
///
/// jansson keeps no source positions for values, so for errors found after parsing
/// (a wrong `Effect`, an unknown operator) Gatehouse re-scans the text along the path.
/// It is only used when there is something to report, so a valid document pays nothing.
/// Lines and columns are 1-based; columns count Unicode scalars, as editors show them.
///
/// Every object and array the paths pass through is scanned once and its members'
/// positions remembered, so locating one finding per statement of a 10,000-statement
/// document costs one pass over the text, not one pass per finding. A locator is used
/// from one thread at a time (it is not `Sendable`).
public struct SourceLocator {
    private let bytes: [UInt8]
    private let memo = Memo()

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Where the value at `path` starts.
    public func position(of path: JSONPath) -> (line: Int, column: Int)? {
        locate(path, wantKey: false)
    }

    /// Where the member name of the last path component starts (for "unknown element"
    /// findings), or the value's position when the last component is an array index.
    public func keyPosition(of path: JSONPath) -> (line: Int, column: Int)? {
        locate(path, wantKey: true)
    }

    /// A place in the text: byte offset, line and column.
    private struct Mark {
        var index: Int
        var line: Int
        var column: Int
    }

    /// The members of the containers scanned so far, by the offset of their `{` or `[`.
    private final class Memo {
        var objects: [Int: [String: (key: Mark, value: Mark)]] = [:]
        var arrays: [Int: [Mark]] = [:]
    }

    private func locate(_ path: JSONPath, wantKey: Bool) -> (line: Int, column: Int)? {
        var cursor = Cursor(bytes: bytes)
        if JSONLoader.hasBOM(bytes) { cursor.index = 3 }
        cursor.skipWhitespace()
        for (depth, component) in path.components.enumerated() {
            let isLast = depth == path.components.count - 1
            switch component {
            case .key(let wanted):
                guard cursor.peek == UInt8(ascii: "{"), let members = members(of: cursor), let found = members[wanted] else { return nil }
                if isLast && wantKey { return (found.key.line, found.key.column) }
                cursor.move(to: found.value)
            case .index(let wanted):
                guard cursor.peek == UInt8(ascii: "["), let elements = elements(of: cursor), wanted < elements.count else { return nil }
                cursor.move(to: elements[wanted])
            }
        }
        return (cursor.line, cursor.column)
    }

    /// Every member of the object starting at the cursor: where its name and value start.
    private func members(of start: Cursor) -> [String: (key: Mark, value: Mark)]? {
        if let known = memo.objects[start.index] { return known }
        var cursor = start
        cursor.advance()
        var members: [String: (key: Mark, value: Mark)] = [:]
        cursor.skipWhitespace()
        if cursor.peek != UInt8(ascii: "}") {
            while true {
                cursor.skipWhitespace()
                guard cursor.peek == UInt8(ascii: "\"") else { return nil }
                let key = cursor.mark
                guard let name = cursor.readString() else { return nil }
                cursor.skipWhitespace()
                guard cursor.peek == UInt8(ascii: ":") else { return nil }
                cursor.advance()
                cursor.skipWhitespace()
                members[name] = (key, cursor.mark)
                guard cursor.skipValue() else { return nil }
                cursor.skipWhitespace()
                guard cursor.peek == UInt8(ascii: ",") else { break }
                cursor.advance()
            }
        }
        memo.objects[start.index] = members
        return members
    }

    /// Where every element of the array starting at the cursor starts.
    private func elements(of start: Cursor) -> [Mark]? {
        if let known = memo.arrays[start.index] { return known }
        var cursor = start
        cursor.advance()
        var elements: [Mark] = []
        cursor.skipWhitespace()
        if cursor.peek != UInt8(ascii: "]") {
            while true {
                cursor.skipWhitespace()
                elements.append(cursor.mark)
                guard cursor.skipValue() else { return nil }
                cursor.skipWhitespace()
                guard cursor.peek == UInt8(ascii: ",") else { break }
                cursor.advance()
            }
        }
        memo.arrays[start.index] = elements
        return elements
    }

    private struct Cursor {
        let bytes: [UInt8]
        var index = 0
        var line = 1
        var column = 1

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        var mark: Mark { Mark(index: index, line: line, column: column) }

        mutating func move(to mark: Mark) {
            index = mark.index
            line = mark.line
            column = mark.column
        }

        mutating func advance() {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                // Continuation bytes belong to the scalar already counted.
                column += 1
            }
        }

        mutating func skipWhitespace() {
            while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { advance() }
        }

        /// Reads a string token, decoding escapes, so member names compare as jansson saw them.
        mutating func readString() -> String? {
            guard peek == UInt8(ascii: "\"") else { return nil }
            advance()
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            func flush() {
                if !raw.isEmpty {
                    scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
                    raw.removeAll(keepingCapacity: true)
                }
            }
            var pendingHigh: UInt32?
            while let byte = peek {
                if byte == UInt8(ascii: "\"") {
                    advance()
                    flush()
                    return String(scalars)
                }
                if byte == UInt8(ascii: "\\") {
                    advance()
                    guard let escaped = peek else { return nil }
                    advance()
                    flush()
                    switch escaped {
                    case UInt8(ascii: "u"):
                        var code: UInt32 = 0
                        for _ in 0..<4 {
                            guard let hex = peek, let digit = Self.hexValue(hex) else { return nil }
                            advance()
                            code = code << 4 | digit
                        }
                        if (0xD800...0xDBFF).contains(code) {
                            pendingHigh = code
                            continue
                        }
                        if (0xDC00...0xDFFF).contains(code), let high = pendingHigh {
                            code = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)
                        }
                        pendingHigh = nil
                        if let scalar = Unicode.Scalar(code) { scalars.append(scalar) }
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    default: scalars.append(Unicode.Scalar(escaped))
                    }
                    continue
                }
                raw.append(byte)
                advance()
            }
            return nil
        }

        /// Skips one complete value without recursion, so depth costs no stack.
        mutating func skipValue() -> Bool {
            var depth = 0
            repeat {
                skipWhitespace()
                guard let byte = peek else { return false }
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    advance()
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    advance()
                case UInt8(ascii: "\""):
                    guard readString() != nil else { return false }
                case UInt8(ascii: ","), UInt8(ascii: ":"):
                    advance()
                default:
                    while let next = peek, !Self.isDelimiter(next) { advance() }
                }
            } while depth > 0
            return true
        }

        static func isDelimiter(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: ":"),
                0x20, 0x0A, 0x0D, 0x09:
                return true
            default: return false
            }
        }

        static func hexValue(_ byte: UInt8) -> UInt32? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }
    }
}
