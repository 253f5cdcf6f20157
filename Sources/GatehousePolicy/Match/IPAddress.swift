/// An IPv4 or IPv6 network in CIDR form, matched against request addresses.
///
/// IPv4 addresses are kept as IPv4-mapped IPv6 (`::ffff:a.b.c.d`), so `10.0.0.0/8` matches
/// `::ffff:10.1.2.3` as well as `10.1.2.3`; an IPv4 prefix length `n` is `96 + n` there.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    public let network: IPAddress
    public let prefixLength: Int
    public let text: String

    /// Parses `"203.0.113.0/24"`, `"2001:db8::/32"`, or a bare address (a single host).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        // The notation decides the family: `::ffff:0:0/96` is an IPv6 prefix even though
        // the address is stored like an IPv4 one.
        let writtenAsIPv4 = !parts[0].contains(":")
        let maxLength = writtenAsIPv4 ? 32 : 128
        var length = maxLength
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].utf8.allSatisfy({ (48...57).contains($0) }), parts[1].count <= 3,
                let parsed = Int(parts[1]), parsed <= maxLength
            else { return nil }
            length = parsed
        }
        let fullLength = writtenAsIPv4 ? length + 96 : length
        self.network = address.masked(to: fullLength)
        self.prefixLength = fullLength
        self.text = text
    }

    public var description: String { text }

    public func contains(_ address: IPAddress) -> Bool { address.masked(to: prefixLength) == network }
}

/// A 128-bit address; IPv4 is stored IPv4-mapped.
public struct IPAddress: Sendable, Hashable {
    public let high: UInt64
    public let low: UInt64

    public var isIPv4: Bool { high == 0 && low >> 32 == 0xFFFF }

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init?(_ text: String) {
        if text.contains(":") {
            guard let (high, low) = Self.parseIPv6(text) else { return nil }
            self.init(high: high, low: low)
        } else {
            guard let v4 = Self.parseIPv4(Substring(text)) else { return nil }
            self.init(high: 0, low: 0xFFFF_0000_0000 | UInt64(v4))
        }
    }

    func masked(to length: Int) -> IPAddress {
        func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : (bits >= 64 ? ~0 : ~(~UInt64(0) >> UInt64(bits))) }
        return IPAddress(high: high & mask(length), low: low & mask(length - 64))
    }

    static func parseIPv4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            // Leading zeros are refused: some parsers read them as octal, so they are ambiguous.
            guard (1...3).contains(part.count), part.utf8.allSatisfy({ (48...57).contains($0) }),
                part.count == 1 || part.first != "0", let octet = UInt32(part), octet <= 255
            else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    static func parseIPv6(_ text: String) -> (UInt64, UInt64)? {
        var groups: [UInt16] = []
        var tail = Substring(text)
        var v4Tail: UInt32?
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard let v4 = parseIPv4(text[text.index(after: lastColon)...]) else { return nil }
            v4Tail = v4
            tail = text[...lastColon]
            if tail.hasSuffix("::") == false { tail = tail.dropLast() }
        }
        let halves: [String]
        if let gap = tail.firstRange(of: "::") {
            halves = [String(tail[..<gap.lowerBound]), String(tail[gap.upperBound...])]
            guard !halves[1].contains("::") else { return nil }
        } else {
            halves = [String(tail)]
        }
        func parseGroups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            for piece in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        let needed = v4Tail == nil ? 8 : 6
        guard let head = parseGroups(halves[0]) else { return nil }
        if halves.count == 2 {
            guard let rest = parseGroups(halves[1]), head.count + rest.count < needed else { return nil }
            groups = head + Array(repeating: 0, count: needed - head.count - rest.count) + rest
        } else {
            guard head.count == needed else { return nil }
            groups = head
        }
        if let v4Tail {
            groups.append(UInt16(v4Tail >> 16))
            groups.append(UInt16(v4Tail & 0xFFFF))
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, group) in groups.enumerated() {
            if index < 4 { high = high << 16 | UInt64(group) } else { low = low << 16 | UInt64(group) }
        }
        return (high, low)
    }
}
