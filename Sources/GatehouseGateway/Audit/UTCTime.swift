import Foundation
import GatehouseSigning

/// ISO 8601 times in UTC written as bytes, for the audit line and `g:CurrentTime` on every
/// call: the civil date is worked out directly, without a formatter or `gmtime`.
enum UTCTime {
    /// The longest `write` writes: `2026-11-23T10:00:00.123Z`.
    static let maxLength = 24

    /// `2026-11-23T10:00:00.123Z` (to the nearest millisecond), or `2026-11-23T10:00:00Z`
    /// (whole seconds, rounded down) without `milliseconds`.
    static func string(_ date: Date, milliseconds: Bool = true) -> String {
        String(unsafeUninitializedCapacity: maxLength) { write(date, to: $0.baseAddress!, milliseconds: milliseconds) }
    }

    /// `write`, to memory with room for `maxLength` bytes; returns how many it wrote.
    static func write(_ date: Date, to out: UnsafeMutablePointer<UInt8>, milliseconds: Bool = true) -> Int {
        let totalMillis =
            milliseconds ? Int64((date.timeIntervalSince1970 * 1000).rounded()) : Int64(date.timeIntervalSince1970.rounded(.down)) * 1000
        let millis = Int(((totalMillis % 1000) + 1000) % 1000)
        let seconds = (totalMillis - Int64(millis)) / 1000
        var days = seconds / 86_400
        var secondOfDay = Int(seconds % 86_400)
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = UTCCalendar.civilDate(daysSince1970: Int(days))
        var count = 0
        func byte(_ byte: UInt8) {
            out[count] = byte
            count += 1
        }
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                byte(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(year, 4)
        byte(UInt8(ascii: "-"))
        digits(month, 2)
        byte(UInt8(ascii: "-"))
        digits(day, 2)
        byte(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2)
        byte(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2)
        byte(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2)
        if milliseconds {
            byte(UInt8(ascii: "."))
            digits(millis, 3)
        }
        byte(UInt8(ascii: "Z"))
        return count
    }
}
