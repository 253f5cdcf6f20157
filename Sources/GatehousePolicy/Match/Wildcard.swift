#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `*`/`?` pattern compiled once: `*` matches any run of characters (including `:` and
/// `/`), `?` exactly one character. Literal patterns and the common shapes (`prefix*`,
/// `*suffix`, `*`) get their own fast paths; the rest use an iterative matcher whose time
/// is linear in the subject for each `*`, so no pattern can make matching explode.
public struct Wildcard: Sendable, Hashable, CustomStringConvertible {
    enum Shape: Sendable, Hashable {
        case any, exact, prefix, suffix, general
    }

    /// One step of a general pattern. Plain data, so the matcher copies tokens without
    /// reference counting; literals are ranges of `bytes`.
    struct Token: Sendable, Hashable {
        enum Kind: UInt8, Sendable {
            case literal, one, star
        }
        var kind: Kind
        var start: Int32 = 0
        var count: Int32 = 0
    }

    /// The pattern as written (lowercased when compiled case-insensitively).
    public let pattern: String
    let shape: Shape
    /// The literal bytes: the whole literal for `exact`/`prefix`/`suffix`, the tokens'
    /// literals one after another for `general`.
    let bytes: [UInt8]
    let tokens: [Token]

    /// Compiles `pattern`; with `caseInsensitive` the pattern is lowercased, and subjects
    /// must then be lowercased by the caller (once per request, not once per pattern).
    public init(_ pattern: String, caseInsensitive: Bool = false) {
        self.init(segments: [(pattern, false)], caseInsensitive: caseInsensitive)
    }

    /// Compiles a pattern given in pieces: in a piece marked literal, `*` and `?` match only
    /// themselves (a policy variable's substituted value, or its `${*}`/`${?}` escape).
    public init(segments: [(text: String, literal: Bool)], caseInsensitive: Bool = false) {
        var pattern = ""
        var tokens: [Token] = []
        var bytes: [UInt8] = []
        var literalStart = 0
        func closeLiteral() {
            if bytes.count > literalStart {
                tokens.append(Token(kind: .literal, start: Int32(literalStart), count: Int32(bytes.count - literalStart)))
            }
        }
        for (segment, literal) in segments {
            // Lowercasing allocates; skip it for the usual all-lowercase ASCII pattern.
            let needsLowering = caseInsensitive && segment.utf8.contains { $0 >= 0x80 || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
            let text = needsLowering ? segment.lowercased() : segment
            pattern += text
            bytes.reserveCapacity(bytes.count + text.utf8.count)
            for byte in text.utf8 {
                if !literal && (byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?")) {
                    closeLiteral()
                    literalStart = bytes.count
                    if byte == UInt8(ascii: "*") {
                        if tokens.last?.kind != .star { tokens.append(Token(kind: .star)) }
                    } else {
                        tokens.append(Token(kind: .one))
                    }
                } else {
                    bytes.append(byte)
                }
            }
        }
        closeLiteral()
        self.pattern = pattern
        self.bytes = bytes
        switch (tokens.count, tokens.first?.kind, tokens.last?.kind) {
        case (0, _, _): shape = .exact
        case (1, .star, _): shape = .any
        case (1, .literal, _): shape = .exact
        case (2, .literal, .star): shape = .prefix
        case (2, .star, .literal): shape = .suffix
        default: shape = .general
        }
        self.tokens = shape == .general ? tokens : []
    }

    public var description: String { pattern }

    /// True when the pattern has no `*` or `?`.
    public var isLiteral: Bool { shape == .exact }

    /// Whether a pattern's text holds a wildcard, `*` or `?`: the one test for every place
    /// that asks (lint's checks of wildcards in values).
    public static func hasWildcard(_ pattern: String) -> Bool {
        pattern.utf8.contains { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") }
    }

    /// The literal text before the first wildcard (the whole pattern when literal).
    public var literalPrefix: [UInt8] {
        switch shape {
        case .any, .suffix: return []
        case .exact, .prefix: return bytes
        case .general:
            guard let first = tokens.first, first.kind == .literal else { return [] }
            return Array(bytes[Int(first.start)..<Int(first.start + first.count)])
        }
    }

    public func matches(_ subject: String) -> Bool {
        var subject = subject
        return subject.withUTF8 { matches(utf8: $0) }
    }

    public func matches(utf8 subject: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.withUnsafeBufferPointer { literal in
            switch shape {
            case .any: return true
            case .exact: return subject.count == literal.count && Self.equal(subject, 0, literal)
            case .prefix: return subject.count >= literal.count && Self.equal(subject, 0, literal)
            case .suffix: return subject.count >= literal.count && Self.equal(subject, subject.count - literal.count, literal)
            case .general: return tokens.withUnsafeBufferPointer { Self.matchGeneral($0, literal, subject) }
            }
        }
    }

    /// Greedy matching with one backtrack point (the last `*`), the classic linear-space
    /// glob algorithm: when a later piece fails, the last `*` absorbs more characters. A
    /// literal right after a `*` is found by searching forward rather than by stepping one
    /// character at a time, and a trailing literal after a `*` is settled by its suffix.
    static func matchGeneral(
        _ tokens: UnsafeBufferPointer<Token>, _ literals: UnsafeBufferPointer<UInt8>, _ subject: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        var t = 0
        var s = 0
        var starToken = -1
        var starSubject = 0
        while true {
            if t < tokens.count {
                let token = tokens[t]
                switch token.kind {
                case .star:
                    // A trailing star takes whatever is left.
                    if t == tokens.count - 1 { return true }
                    starToken = t
                    starSubject = s
                    t += 1
                    continue
                case .one:
                    if s < subject.count {
                        s = nextScalar(subject, s)
                        t += 1
                        continue
                    }
                case .literal:
                    let literal = UnsafeBufferPointer(rebasing: literals[Int(token.start)..<Int(token.start + token.count)])
                    // After a `*` (never for the first token: a pattern's leading literal is
                    // anchored at the subject's start, not searched for).
                    if starToken >= 0 && starToken == t - 1 {
                        if t == tokens.count - 1 {
                            return subject.count - s >= literal.count && equal(subject, subject.count - literal.count, literal)
                        }
                        guard let found = find(literal, in: subject, from: s) else { return false }
                        starSubject = found
                        s = found + literal.count
                        t += 1
                        continue
                    }
                    if subject.count - s >= literal.count, equal(subject, s, literal) {
                        s += literal.count
                        t += 1
                        continue
                    }
                }
            } else if s == subject.count {
                return true
            }
            guard starToken >= 0, starSubject < subject.count else { return false }
            starSubject = nextScalar(subject, starSubject)
            s = starSubject
            t = starToken + 1
        }
    }

    /// Whether `literal` occurs in `subject` at `at` (the caller checked the length).
    @inline(__always)
    static func equal(_ subject: UnsafeBufferPointer<UInt8>, _ at: Int, _ literal: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = subject.baseAddress, let other = literal.baseAddress else { return literal.isEmpty }
        return memcmp(base + at, other, literal.count) == 0
    }

    /// The first position at or after `start` where `literal` occurs. `memchr` finds each
    /// candidate first byte; a literal never starts with a UTF-8 continuation byte, so every
    /// position found is on a character boundary.
    static func find(_ literal: UnsafeBufferPointer<UInt8>, in subject: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        guard let first = literal.first else { return start }
        guard let base = subject.baseAddress else { return nil }
        var position = start
        while subject.count - position >= literal.count {
            guard let hit = memchr(base + position, Int32(first), subject.count - position - literal.count + 1) else { return nil }
            position = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if equal(subject, position, literal) { return position }
            position += 1
        }
        return nil
    }

    /// `?` and `*` step over whole characters (Unicode scalars), never into UTF-8 continuation bytes.
    @inline(__always)
    static func nextScalar(_ subject: UnsafeBufferPointer<UInt8>, _ index: Int) -> Int {
        var next = index + 1
        while next < subject.count, subject[next] & 0xC0 == 0x80 { next += 1 }
        return next
    }

    /// The pattern's scalars with each run of wildcards in one order: its `?`s, then one `*`
    /// if it has any. `*?` and `?*` both mean "one character or more", and writing them one
    /// way lets `covers` see that.
    static func canonical(_ pattern: String) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        var questions = 0
        var star = false
        func flush() {
            out.append(contentsOf: repeatElement("?", count: questions))
            if star { out.append("*") }
            questions = 0
            star = false
        }
        for scalar in pattern.unicodeScalars {
            switch scalar {
            case "?": questions += 1
            case "*": star = true
            default:
                flush()
                out.append(scalar)
            }
        }
        flush()
        return out
    }

    /// True when every string this pattern's *subject pattern* `other` can match is also
    /// matched by `self`: `*` here covers any run of `other`'s tokens, `?` here covers
    /// one literal character or `?`. Used by lint to prove a statement is shadowed; it
    /// may miss some coverings but never claims a false one.
    public func covers(_ other: Wildcard) -> Bool {
        let mine = Self.canonical(pattern)
        let theirs = Self.canonical(other.pattern)
        // table[i * width + j]: mine[i...] covers theirs[j...]; filled from the ends back, in
        // one flat array (lint asks this for many pairs of statements).
        let width = theirs.count + 1
        var table = [Bool](repeating: false, count: (mine.count + 1) * width)
        table[mine.count * width + theirs.count] = true
        for i in stride(from: mine.count - 1, through: 0, by: -1) {
            for j in stride(from: theirs.count, through: 0, by: -1) {
                let covered: Bool
                if mine[i] == "*" {
                    covered = table[(i + 1) * width + j] || (j < theirs.count && table[i * width + j + 1])
                } else if j == theirs.count {
                    covered = false
                } else if mine[i] == "?" {
                    covered = theirs[j] != "*" && table[(i + 1) * width + j + 1]
                } else {
                    covered = theirs[j] == mine[i] && table[(i + 1) * width + j + 1]
                }
                table[i * width + j] = covered
            }
        }
        return table[0]
    }
}
