/// A `*`/`?` pattern compiled once: `*` matches any run of characters (including `:` and
/// `/`), `?` exactly one character. Literal patterns and the common shapes (`prefix*`,
/// `*suffix`, `*`) get their own fast paths; the rest use an iterative matcher whose time
/// is linear in the subject for each `*`, so no pattern can make matching explode.
public struct Wildcard: Sendable, Hashable, CustomStringConvertible {
    enum Shape: Sendable, Hashable {
        case any
        case exact([UInt8])
        case prefix([UInt8])
        case suffix([UInt8])
        case general([Token])
    }

    enum Token: Sendable, Hashable {
        case literal([UInt8])
        case one
        case star
    }

    /// The pattern as written (lowercased when compiled case-insensitively).
    public let pattern: String
    let shape: Shape

    /// Compiles `pattern`; with `caseInsensitive` the pattern is lowercased, and subjects
    /// must then be lowercased by the caller (once per request, not once per pattern).
    public init(_ pattern: String, caseInsensitive: Bool = false) {
        let text = caseInsensitive ? pattern.lowercased() : pattern
        self.pattern = text
        var tokens: [Token] = []
        var literal: [UInt8] = []
        for byte in text.utf8 {
            if byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?") {
                if !literal.isEmpty {
                    tokens.append(.literal(literal))
                    literal = []
                }
                if byte == UInt8(ascii: "*") {
                    if tokens.last != .star { tokens.append(.star) }
                } else {
                    tokens.append(.one)
                }
            } else {
                literal.append(byte)
            }
        }
        if !literal.isEmpty { tokens.append(.literal(literal)) }
        switch tokens.count {
        case 0: shape = .exact([])
        case 1:
            switch tokens[0] {
            case .star: shape = .any
            case .literal(let bytes): shape = .exact(bytes)
            case .one: shape = .general(tokens)
            }
        case 2:
            if case .literal(let bytes) = tokens[0], tokens[1] == .star {
                shape = .prefix(bytes)
            } else if tokens[0] == .star, case .literal(let bytes) = tokens[1] {
                shape = .suffix(bytes)
            } else {
                shape = .general(tokens)
            }
        default: shape = .general(tokens)
        }
    }

    public var description: String { pattern }

    /// True when the pattern has no `*` or `?`.
    public var isLiteral: Bool {
        if case .exact = shape { return true }
        return false
    }

    /// The literal text before the first wildcard (the whole pattern when literal).
    public var literalPrefix: [UInt8] {
        switch shape {
        case .any, .suffix: return []
        case .exact(let bytes), .prefix(let bytes): return bytes
        case .general(let tokens):
            if case .literal(let bytes) = tokens.first { return bytes }
            return []
        }
    }

    public func matches(_ subject: String) -> Bool {
        var subject = subject
        return subject.withUTF8 { matches(utf8: $0) }
    }

    public func matches(utf8 subject: UnsafeBufferPointer<UInt8>) -> Bool {
        switch shape {
        case .any: return true
        case .exact(let bytes): return subject.elementsEqual(bytes)
        case .prefix(let bytes): return subject.count >= bytes.count && subject.prefix(bytes.count).elementsEqual(bytes)
        case .suffix(let bytes): return subject.count >= bytes.count && subject.suffix(bytes.count).elementsEqual(bytes)
        case .general(let tokens): return Self.matchGeneral(tokens, subject)
        }
    }

    /// Greedy matching with one backtrack point (the last `*`), the classic linear-space
    /// glob algorithm: when a later piece fails, the last `*` absorbs one more character.
    static func matchGeneral(_ tokens: [Token], _ subject: UnsafeBufferPointer<UInt8>) -> Bool {
        var t = 0
        var s = 0
        var starToken = -1
        var starSubject = 0
        while true {
            if t < tokens.count {
                switch tokens[t] {
                case .star:
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
                case .literal(let bytes):
                    if subject.count - s >= bytes.count, subject[s..<(s + bytes.count)].elementsEqual(bytes) {
                        s += bytes.count
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

    /// `?` and `*` step over whole characters (Unicode scalars), never into UTF-8 continuation bytes.
    @inline(__always)
    static func nextScalar(_ subject: UnsafeBufferPointer<UInt8>, _ index: Int) -> Int {
        var next = index + 1
        while next < subject.count, subject[next] & 0xC0 == 0x80 { next += 1 }
        return next
    }

    /// True when every string this pattern's *subject pattern* `other` can match is also
    /// matched by `self`: `*` here covers any run of `other`'s tokens, `?` here covers
    /// one literal character or `?`. Used by lint to prove a statement is shadowed; it
    /// may miss some coverings but never claims a false one.
    public func covers(_ other: Wildcard) -> Bool {
        let mine = Array(pattern.unicodeScalars)
        let theirs = Array(other.pattern.unicodeScalars)
        var memo: [Int: Bool] = [:]
        func go(_ i: Int, _ j: Int) -> Bool {
            let key = i * (theirs.count + 1) + j
            if let known = memo[key] { return known }
            let result: Bool
            if i == mine.count {
                result = j == theirs.count
            } else if mine[i] == "*" {
                result = go(i + 1, j) || (j < theirs.count && go(i, j + 1))
            } else if j == theirs.count {
                result = false
            } else if mine[i] == "?" {
                result = theirs[j] != "*" && go(i + 1, j + 1)
            } else {
                result = theirs[j] == mine[i] && go(i + 1, j + 1)
            }
            memo[key] = result
            return result
        }
        return go(0, 0)
    }
}
