import CJansson

/// Limits on a JSON document, checked before and while it is read so that a huge or
/// hostile file is refused with a clear message instead of exhausting the process.
public struct JSONLimits: Sendable, Equatable {
    /// Largest accepted document, in bytes.
    public var maxBytes: Int
    /// Deepest accepted nesting of arrays and objects (jansson itself stops at 2048).
    public var maxDepth: Int

    public init(maxBytes: Int = 8 << 20, maxDepth: Int = 32) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }
}

/// A syntax-level failure: where jansson (or a limit) stopped reading.
public struct JSONSyntaxError: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case syntax
        case tooLarge
        case tooDeep
    }
    public var kind: Kind
    public var line: Int
    public var column: Int
    public var message: String
}

/// Reads JSON text with jansson (`json_loadb` with `JSON_REJECT_DUPLICATES`) and converts
/// it into a `JSONValue`, releasing the jansson tree before returning.
public enum JSONLoader {
    /// Parses `bytes` as one JSON document.
    ///
    /// A leading UTF-8 byte-order mark is skipped (RFC 8259 lets parsers ignore it, and
    /// some editors write one); line and column numbers then count from after it.
    /// Invalid UTF-8, `\u0000`, raw control characters, duplicate keys and trailing
    /// garbage are syntax errors.
    public static func parse(_ bytes: [UInt8], limits: JSONLimits = JSONLimits()) throws(JSONSyntaxError) -> JSONValue {
        guard bytes.count <= limits.maxBytes else {
            throw JSONSyntaxError(
                kind: .tooLarge, line: 1, column: 1,
                message: "document is \(byteCount(bytes.count)), more than the limit of \(byteCount(limits.maxBytes))")
        }
        let start = hasBOM(bytes) ? 3 : 0
        var error = json_error_t()
        let root: UnsafeMutablePointer<json_t>? = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { base in
                json_loadb(base + start, buffer.count - start, gh_json_reject_duplicates(), &error)
            }
        }
        guard let root else {
            let text = withUnsafeBytes(of: error.text) { raw -> String in
                let chars = raw.prefix { $0 != 0 }
                return String(decoding: chars, as: UTF8.self)
            }
            let kind: JSONSyntaxError.Kind = text.contains("maximum parsing depth") ? .tooDeep : .syntax
            return try { () throws(JSONSyntaxError) -> JSONValue in
                throw JSONSyntaxError(kind: kind, line: max(Int(error.line), 1), column: max(Int(error.column), 1), message: text)
            }()
        }
        defer { json_decref(root) }
        var converter = Converter(maxDepth: limits.maxDepth)
        let value = converter.convert(root, depth: 1)
        if let tooDeep = converter.tooDeepAt {
            // Re-locate the first over-deep value so the message points at it.
            let position = SourceLocator(bytes: bytes).position(of: tooDeep) ?? (1, 1)
            throw JSONSyntaxError(
                kind: .tooDeep, line: position.line, column: position.column,
                message: "nesting deeper than \(limits.maxDepth) levels at \(tooDeep)")
        }
        return value
    }

    static func hasBOM(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
    }

    static func byteCount(_ count: Int) -> String {
        if count >= 1 << 20 { return String(format1: Double(count) / Double(1 << 20)) + " MiB" }
        if count >= 1 << 10 { return String(format1: Double(count) / Double(1 << 10)) + " KiB" }
        return "\(count) bytes"
    }

    private struct Converter {
        let maxDepth: Int
        var tooDeepAt: JSONPath?
        var path: [JSONPath.Component] = []

        mutating func convert(_ json: UnsafeMutablePointer<json_t>, depth: Int) -> JSONValue {
            switch json_type(rawValue: UInt32(gh_json_typeof(json))) {
            case JSON_OBJECT, JSON_ARRAY:
                guard depth <= maxDepth else {
                    if tooDeepAt == nil { tooDeepAt = JSONPath(path) }
                    return .null
                }
                if gh_json_typeof(json) == Int32(JSON_ARRAY.rawValue) {
                    let count = json_array_size(json)
                    var items: [JSONValue] = []
                    items.reserveCapacity(count)
                    for index in 0..<count {
                        path.append(.index(index))
                        items.append(convert(json_array_get(json, index), depth: depth + 1))
                        path.removeLast()
                        if tooDeepAt != nil { break }
                    }
                    return .array(items)
                }
                var members: [(key: String, value: JSONValue)] = []
                members.reserveCapacity(json_object_size(json))
                var iterator = json_object_iter(json)
                while let current = iterator {
                    let keyPointer = json_object_iter_key(current)!
                    let keyLength = json_object_iter_key_len(current)
                    let key = keyPointer.withMemoryRebound(to: UInt8.self, capacity: keyLength) {
                        String(decoding: UnsafeBufferPointer(start: $0, count: keyLength), as: UTF8.self)
                    }
                    path.append(.key(key))
                    members.append((key, convert(json_object_iter_value(current), depth: depth + 1)))
                    path.removeLast()
                    if tooDeepAt != nil { break }
                    iterator = json_object_iter_next(json, current)
                }
                return .object(members)
            case JSON_STRING:
                let length = json_string_length(json)
                guard let pointer = json_string_value(json) else { return .string("") }
                return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
                    .string(String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self))
                }
            case JSON_INTEGER:
                return .integer(Int64(json_integer_value(json)))
            case JSON_REAL:
                return .real(json_real_value(json))
            case JSON_TRUE:
                return .bool(true)
            case JSON_FALSE:
                return .bool(false)
            default:
                return .null
            }
        }
    }
}

extension String {
    /// One decimal place, without Foundation's formatter.
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(tenths % 10)"
    }
}
