/// A number from a policy or a request: integers stay exact (64-bit), decimals are
/// doubles, and comparisons between the two are exact rather than through a lossy cast.
public enum NumberValue: Sendable, Hashable, Comparable, CustomStringConvertible {
    case integer(Int64)
    case decimal(Double)

    /// Parses `"42"`, `"-7"`, `"3.25"`, `"1e3"`; rejects empty text, hex, `inf`, `nan`,
    /// and surrounding spaces.
    public init?(text: String) {
        guard !text.isEmpty, text.utf8.allSatisfy({ Self.isNumberByte($0) }) else { return nil }
        if let integer = Int64(text) {
            self = .integer(integer)
        } else if let double = Double(text), double.isFinite {
            self = .decimal(double)
        } else {
            return nil
        }
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
            || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
    }

    public var description: String {
        switch self {
        case .integer(let value): return String(value)
        case .decimal(let value): return String(value)
        }
    }

    public static func < (lhs: NumberValue, rhs: NumberValue) -> Bool { compare(lhs, rhs) < 0 }

    public static func == (lhs: NumberValue, rhs: NumberValue) -> Bool { compare(lhs, rhs) == 0 }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .integer(let value): hasher.combine(Double(value))
        case .decimal(let value): hasher.combine(value)
        }
    }

    /// -1, 0 or 1. An integer and a double compare by value: the double is split into its
    /// integral part (compared exactly as Int64 when in range) and its fraction.
    static func compare(_ lhs: NumberValue, _ rhs: NumberValue) -> Int {
        switch (lhs, rhs) {
        case let (.integer(a), .integer(b)): return a < b ? -1 : (a == b ? 0 : 1)
        case let (.decimal(a), .decimal(b)): return a < b ? -1 : (a == b ? 0 : 1)
        case let (.integer(a), .decimal(b)): return -compareDoubleToInteger(b, a)
        case let (.decimal(a), .integer(b)): return compareDoubleToInteger(a, b)
        }
    }

    private static func compareDoubleToInteger(_ double: Double, _ integer: Int64) -> Int {
        if double < -9.3e18 { return -1 }
        if double > 9.3e18 { return 1 }
        let whole = double.rounded(.down)
        if whole >= 9.2233720368547758e18 { return 1 }
        let wholeInt = Int64(whole)
        if wholeInt != integer { return wholeInt < integer ? -1 : 1 }
        return double > whole ? 1 : 0
    }
}
