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
        var text = text
        guard let (high, low) = text.withUTF8({ Self.parse($0) }) else { return nil }
        self.init(high: high, low: low)
    }

    /// Parses an address from UTF-8 without allocating: this runs for every request that
    /// an IP condition looks at.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        if bytes.contains(UInt8(ascii: ":")) { return parseIPv6(bytes) }
        guard let v4 = parseIPv4(bytes[...]) else { return nil }
        return (0, 0xFFFF_0000_0000 | UInt64(v4))
    }

    func masked(to length: Int) -> IPAddress {
        func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : (bits >= 64 ? ~0 : ~(~UInt64(0) >> UInt64(bits))) }
        return IPAddress(high: high & mask(length), low: low & mask(length - 64))
    }

    static func parseIPv4(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> UInt32? {
        var value: UInt32 = 0
        var octets = 0
        var octet: UInt32 = 0
        var digits = 0
        var leadingZero = false
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, octets < 3 else { return nil }
                value = value << 8 | octet
                octets += 1
                octet = 0
                digits = 0
                continue
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            // Leading zeros are refused: some parsers read them as octal, so they are ambiguous.
            if digits == 0 { leadingZero = byte == UInt8(ascii: "0") } else if leadingZero { return nil }
            digits += 1
            octet = octet * 10 + UInt32(byte - UInt8(ascii: "0"))
            guard digits <= 3, octet <= 255 else { return nil }
        }
        guard digits > 0, octets == 3 else { return nil }
        return value << 8 | octet
    }

    static func parseIPv6(_ b: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        var groups = SIMD8<UInt16>()
        var count = 0
        var gap = -1
        var i = 0
        if b.count >= 2, b[0] == UInt8(ascii: ":"), b[1] == UInt8(ascii: ":") {
            gap = 0
            i = 2
        } else if b.first == UInt8(ascii: ":") {
            return nil
        }
        while i < b.count {
            var j = i
            var sawDot = false
            while j < b.count, b[j] != UInt8(ascii: ":") {
                if b[j] == UInt8(ascii: ".") { sawDot = true }
                j += 1
            }
            if sawDot {
                // An embedded IPv4 address ends the text and fills the last two groups.
                guard j == b.count, count <= 6, let v4 = parseIPv4(b[i..<j]) else { return nil }
                groups[count] = UInt16(v4 >> 16)
                groups[count + 1] = UInt16(v4 & 0xFFFF)
                count += 2
                break
            }
            guard (1...4).contains(j - i), count < 8 else { return nil }
            var group: UInt16 = 0
            for k in i..<j {
                guard let digit = hexDigit(b[k]) else { return nil }
                group = group << 4 | digit
            }
            groups[count] = group
            count += 1
            if j == b.count { break }
            if j + 1 < b.count, b[j + 1] == UInt8(ascii: ":") {
                guard gap == -1 else { return nil }
                gap = count
                i = j + 2
            } else {
                i = j + 1
                guard i < b.count else { return nil }
            }
        }
        if gap == -1 {
            guard count == 8 else { return nil }
        } else {
            guard count < 8 else { return nil }
            let moved = count - gap
            var expanded = SIMD8<UInt16>()
            for k in 0..<gap { expanded[k] = groups[k] }
            for k in 0..<moved { expanded[8 - moved + k] = groups[gap + k] }
            groups = expanded
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for k in 0..<4 { high = high << 16 | UInt64(groups[k]) }
        for k in 4..<8 { low = low << 16 | UInt64(groups[k]) }
        return (high, low)
    }

    static func hexDigit(_ byte: UInt8) -> UInt16? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt16(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt16(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt16(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
