/// Finds, among many `*`/`?` patterns, the ones that can match a text, without trying each.
///
/// A pattern matches a text only if every literal run of the pattern (the text between its
/// wildcards) occurs in the text. So each distinct pattern is filed under one of its runs,
/// the one fewest other patterns share (ties: the longer), and a lookup hashes every
/// substring of the text that is as long as some filed run: the patterns filed under those
/// are the only ones worth trying. Patterns with no literal run at all (`*`) are tried
/// every time. Hashes are 64-bit and rolling; a collision only costs a wasted try, since
/// every candidate is matched in full.
///
/// For lint (`ShadowFinder`), which asks this once per statement of documents with
/// thousands of statements.
struct PatternIndex {
    /// Distinct patterns, and for each, the statements that use it (ascending).
    private(set) var patterns: [Wildcard] = []
    private(set) var statements: [[Int32]] = []
    private var byText: [String: Int] = [:]
    /// Patterns without a literal run.
    private var anywhere: [Int] = []
    /// Run length -> run hash -> patterns filed under such a run.
    private var filed: [Int: [UInt64: [Int]]] = [:]
    private var lengths: [Int] = []

    var isEmpty: Bool { patterns.isEmpty }

    /// Adds a statement's pattern. Call `finish()` once all are in.
    mutating func insert(_ pattern: Wildcard, statement: Int32) {
        if let known = byText[pattern.pattern] {
            if statements[known].last != statement { statements[known].append(statement) }
            return
        }
        byText[pattern.pattern] = patterns.count
        patterns.append(pattern)
        statements.append([statement])
    }

    /// Files every pattern under its rarest run.
    mutating func finish() {
        let runs = patterns.map { Self.runs(of: Array($0.pattern.utf8)) }
        var frequency: [[UInt8]: Int] = [:]
        for list in runs {
            for run in Set(list) { frequency[run, default: 0] += 1 }
        }
        for (index, list) in runs.enumerated() {
            guard let rarest = list.min(by: { (frequency[$0]!, -$0.count) < (frequency[$1]!, -$1.count) }) else {
                anywhere.append(index)
                continue
            }
            filed[rarest.count, default: [:]][Self.hash(rarest[...]), default: []].append(index)
        }
        lengths = filed.keys.sorted()
    }

    /// Calls `body` with each distinct pattern (its index in `patterns`) that matches
    /// `text`, each once. `work` grows by what the lookup cost: a unit for every 16 bytes
    /// hashed or matched, and one for every pattern tried.
    func forEachMatch(of text: [UInt8], work: inout Int, _ body: (Int) -> Void) {
        var reported = Set<Int>()
        var spent = lengths.count * text.count / 16
        defer { work += spent }
        text.withUnsafeBufferPointer { bytes in
            func attempt(_ index: Int) {
                guard reported.insert(index).inserted else { return }
                spent += 1 + (patterns[index].pattern.utf8.count + bytes.count) / 16
                guard patterns[index].matches(utf8: bytes) else { return }
                body(index)
            }
            for index in anywhere { attempt(index) }
            for length in lengths where length <= bytes.count {
                guard let table = filed[length] else { continue }
                // A rolling polynomial hash over every window of this length.
                var power: UInt64 = 1
                for _ in 1..<length { power = power &* Self.base }
                var hash: UInt64 = 0
                for offset in 0..<length { hash = hash &* Self.base &+ UInt64(bytes[offset]) }
                var start = 0
                while true {
                    if let found = table[hash] { for index in found { attempt(index) } }
                    guard start + length < bytes.count else { break }
                    hash = (hash &- UInt64(bytes[start]) &* power) &* Self.base &+ UInt64(bytes[start + length])
                    start += 1
                }
            }
        }
    }

    private static let base: UInt64 = 0x100_0000_01B3

    static func hash(_ run: ArraySlice<UInt8>) -> UInt64 {
        var hash: UInt64 = 0
        for byte in run { hash = hash &* base &+ UInt64(byte) }
        return hash
    }

    /// The literal runs between the wildcards of a pattern's text.
    static func runs(of pattern: [UInt8]) -> [[UInt8]] {
        pattern.split(whereSeparator: { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") }).map(Array.init)
    }
}
