import Foundation

/// A request target (`/path?query`) checked for everything that could make the gateway
/// authorize one path and the account service act on another.
///
/// The raw path is what gets forwarded, unchanged; `segments` are its decoded segments, used
/// for route matching. To keep the two equivalent, anything that decodes ambiguously is
/// refused instead of normalised: encoded slashes or backslashes, encoded `%` (double
/// encoding), dot segments in any spelling, empty segments (`//`), NUL and other control
/// characters, malformed escapes, and fragments.
public struct RequestTarget: Sendable, Equatable {
    /// The path exactly as received (forwarded as is).
    public let rawPath: String
    /// The query exactly as received, without `?` (forwarded as is).
    public let rawQuery: String?
    /// The path's segments, percent-decoded once.
    public let segments: [String]

    /// Why a target was refused; the gateway answers 400 with the reason.
    public enum Rejection: Error, Sendable, Equatable, CustomStringConvertible {
        case notAbsolute, tooLong, fragment, emptySegment, dotSegment, encodedSeparator, doubleEncoding, badEscape, controlCharacter, backslash

        public var description: String {
            switch self {
            case .notAbsolute: "the path must start with /"
            case .tooLong: "the request target is longer than \(RequestTarget.maxLength) bytes"
            case .fragment: "a request target cannot carry a fragment (#)"
            case .emptySegment: "the path has an empty segment (//) or a trailing /"
            case .dotSegment: "the path has a . or .. segment"
            case .encodedSeparator: "the path has an encoded / or \\"
            case .doubleEncoding: "the path has an encoded % (double encoding)"
            case .badEscape: "the path has a malformed %-escape or is not UTF-8 once decoded"
            case .controlCharacter: "the path has a control character"
            case .backslash: "the path has a backslash"
            }
        }
    }

    public static let maxLength = 4096

    public static func parse(_ target: String) -> Result<RequestTarget, Rejection> {
        guard target.utf8.count <= maxLength else { return .failure(.tooLong) }
        var bytes = target
        return bytes.withUTF8 { parse($0, whole: target) }
    }

    /// One pass over the bytes; `whole` is reused as the raw path when there is no query.
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>, whole: String) -> Result<RequestTarget, Rejection> {
        var question: Int?
        for index in bytes.indices {
            switch bytes[index] {
            case UInt8(ascii: "#"): return .failure(.fragment)
            case UInt8(ascii: "?") where question == nil: question = index
            default: break
            }
        }
        let pathEnd = question ?? bytes.count
        guard pathEnd > 0, bytes[0] == UInt8(ascii: "/") else { return .failure(.notAbsolute) }
        var segments: [String] = []
        // "/" alone has no segments; otherwise every segment must be non-empty.
        if pathEnd > 1 {
            segments.reserveCapacity(8)
            var start = 1
            for index in 1...pathEnd where index == pathEnd || bytes[index] == UInt8(ascii: "/") {
                switch decode(UnsafeBufferPointer(rebasing: bytes[start..<index])) {
                case .failure(let rejection): return .failure(rejection)
                case .success(let segment):
                    guard !segment.isEmpty else { return .failure(.emptySegment) }
                    guard segment != ".", segment != ".." else { return .failure(.dotSegment) }
                    segments.append(segment)
                }
                start = index + 1
            }
        }
        let rawPath = question == nil ? whole : String(decoding: UnsafeBufferPointer(rebasing: bytes[..<pathEnd]), as: UTF8.self)
        let query = question.map { String(decoding: UnsafeBufferPointer(rebasing: bytes[($0 + 1)...]), as: UTF8.self) }
        return .success(RequestTarget(rawPath: rawPath, rawQuery: query, segments: segments))
    }

    /// Decodes one segment's %-escapes, refusing every escape that changes the path's structure.
    static func decode(_ raw: UnsafeBufferPointer<UInt8>) -> Result<String, Rejection> {
        // Most segments are plain ASCII without escapes: checked and taken as they are.
        if raw.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "%") && $0 != UInt8(ascii: "\\") }) {
            return .success(String(decoding: raw, as: UTF8.self))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            if byte == UInt8(ascii: "\\") { return .failure(.backslash) }
            if byte < 0x20 || byte == 0x7F { return .failure(.controlCharacter) }
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                index += 1
                continue
            }
            guard index + 2 < raw.count, let high = hex(raw[index + 1]), let low = hex(raw[index + 2]) else { return .failure(.badEscape) }
            let decoded = high << 4 | low
            switch decoded {
            case UInt8(ascii: "/"), UInt8(ascii: "\\"): return .failure(.encodedSeparator)
            case UInt8(ascii: "%"): return .failure(.doubleEncoding)
            case 0..<0x20, 0x7F: return .failure(.controlCharacter)
            default: bytes.append(decoded)
            }
            index += 3
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { return .failure(.badEscape) }
        return .success(text)
    }

    static func hex(_ byte: UInt8) -> UInt8? { HTTP1.hex(byte) }

    /// A value as one URL component: every byte but RFC 3986's unreserved characters
    /// (`A-Z a-z 0-9 - . _ ~`) percent-encoded, uppercase. A value put into a path or query
    /// this way can never end its segment, start a query or a fragment, or break the request
    /// line; every URL the gateway builds (tag lookups, confirmation links) takes its values
    /// through here.
    public static func percentEncoded(_ value: String) -> String {
        // Foundation encodes (UTF-8, uppercase hex); a String is always valid Unicode, so it
        // never answers nil. Not on the per-call path: tag lookups on a cache miss and links.
        value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    /// RFC 3986's unreserved characters, the only ones a component keeps as they are.
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
