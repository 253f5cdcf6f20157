import Foundation

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
        let (year, month, day) = civil(daysSinceEpoch: days)
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

    /// Year, month and day of a day count from 1970-01-01 (Howard Hinnant's days-to-civil).
    static func civil(daysSinceEpoch: Int64) -> (year: Int, month: Int, day: Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0)), Int(month), Int(day))
    }
}
