// UUID is all this file needs from Foundation; where the smaller FoundationEssentials exists (Linux),
// the codec links that instead of the whole of Foundation.
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An exact decimal as Avro stores it: an unscaled integer in big-endian two's complement, of any
/// length, and a scale (the value is `unscaled × 10^-scale`).
///
/// The base-10 ↔ base-256 conversions are done here on byte arrays, so a `decimal(40,10)` or wider
/// keeps every digit (Foundation's `Decimal` holds at most 38).
///
/// ```swift
/// let price = AvroDecimal(string: "-0.05", scale: 2)   // unscaled -5
/// price?.unscaledBytes                                // [0xFB]
/// price?.fixedBytes(size: 4)                          // [0xFF, 0xFF, 0xFF, 0xFB]
/// AvroDecimal(unscaledBytes: [0x04, 0xCE], scale: 2)  // 12.30
/// ```
public struct AvroDecimal: Sendable, Hashable, CustomStringConvertible {
    /// The unscaled value in minimal big-endian two's complement (at least one byte).
    public let unscaledBytes: [UInt8]
    /// Digits after the decimal point.
    public let scale: Int

    /// The decimal whose unscaled value is `unscaledBytes` (big-endian two's complement, any length;
    /// empty counts as zero).
    public init(unscaledBytes: [UInt8], scale: Int) {
        self.unscaledBytes = Self.minimized(unscaledBytes)
        self.scale = scale
    }

    /// Parses "-123.45", "0.5", "12", "+7": an optional sign, digits, and optionally a point with
    /// digits after it. Fractional digits beyond `scale` are accepted only when they are zeros;
    /// fewer are padded. Nil for anything else, or for a negative scale.
    public init?(string: String, scale: Int) {
        guard case .success(let decimal) = Self.parse(string, scale: scale) else { return nil }
        self = decimal
    }

    private init(minimalBytes: [UInt8], scale: Int) {
        self.unscaledBytes = minimalBytes
        self.scale = scale
    }

    /// Whether the value is below zero.
    public var isNegative: Bool { unscaledBytes[0] & 0x80 != 0 }

    /// The unscaled value sign-extended to exactly `size` bytes (an Avro `fixed`), or nil if it
    /// does not fit.
    public func fixedBytes(size: Int) -> [UInt8]? {
        guard unscaledBytes.count <= size else { return nil }
        return [UInt8](repeating: isNegative ? 0xFF : 0x00, count: size - unscaledBytes.count) + unscaledBytes
    }

    /// The exact decimal text, with exactly `scale` fractional digits: "-0.05", "12.30", "7".
    public var description: String {
        var digits = Self.decimalDigits(ofMagnitude: Self.magnitude(ofTwosComplement: unscaledBytes))
        if scale > 0 {
            if digits.count <= scale {
                digits = String(repeating: "0", count: scale + 1 - digits.count) + digits
            }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
        } else if scale < 0, digits != "0" {
            // Avro's scale is never negative; the arithmetic still has a meaning, so keep it exact.
            digits += String(repeating: "0", count: -scale)
        }
        return isNegative ? "-" + digits : digits
    }

    /// The number of significant decimal digits of the unscaled value (1 for zero): what a
    /// decimal's precision limits.
    public func digitCount() -> Int {
        Self.decimalDigits(ofMagnitude: Self.magnitude(ofTwosComplement: unscaledBytes)).count
    }

    // MARK: Parsing

    /// Why a text is not a decimal at a given scale (for messages that say which).
    enum ParseFailure: Error {
        case malformed
        case tooManyFractionalDigits
    }

    /// `init?(string:scale:)`, saying why it failed.
    static func parse(_ text: String, scale: Int) -> Result<AvroDecimal, ParseFailure> {
        guard scale >= 0 else { return .failure(.malformed) }
        let utf8 = Array(text.utf8)
        var position = 0
        var negative = false
        if position < utf8.count, utf8[position] == UInt8(ascii: "-") || utf8[position] == UInt8(ascii: "+") {
            negative = utf8[position] == UInt8(ascii: "-")
            position += 1
        }
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        let integerStart = position
        while position < utf8.count, isDigit(utf8[position]) { position += 1 }
        var digits = Array(utf8[integerStart..<position])
        guard !digits.isEmpty else { return .failure(.malformed) }
        var fraction: [UInt8] = []
        if position < utf8.count, utf8[position] == UInt8(ascii: ".") {
            position += 1
            let fractionStart = position
            while position < utf8.count, isDigit(utf8[position]) { position += 1 }
            fraction = Array(utf8[fractionStart..<position])
            guard !fraction.isEmpty else { return .failure(.malformed) }
        }
        guard position == utf8.count else { return .failure(.malformed) }
        if fraction.count > scale {
            guard fraction[scale...].allSatisfy({ $0 == UInt8(ascii: "0") }) else { return .failure(.tooManyFractionalDigits) }
            fraction.removeLast(fraction.count - scale)
        }
        digits += fraction
        digits += [UInt8](repeating: UInt8(ascii: "0"), count: scale - fraction.count)
        let magnitude = Self.magnitude(ofDecimalDigits: digits)
        return .success(AvroDecimal(minimalBytes: Self.twosComplement(magnitude: magnitude, negative: negative), scale: scale))
    }

    /// The decimal text of a finite JSON number without an exponent, or nil when the number has more
    /// than 15 significant digits. A JSON number reaches us as a `Double`, whose shortest
    /// round-trip text equals what was written only up to 15 digits (DBL_DIG); beyond that, digits
    /// the writer meant may already be gone, and a decimal must not silently change.
    static func exactText(of number: Double) -> String? {
        guard number.isFinite else { return nil }
        let text = number.description  // shortest round-trip form, e.g. "12.34", "1e-07", "1.5e+20"
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            guard let parsed = Int(text[text.index(after: e)...]) else { return nil }
            exponent = parsed
        }
        var sign = ""
        if mantissa.hasPrefix("-") {
            sign = "-"
            mantissa = mantissa.dropFirst()
        }
        let pointOffset = mantissa.firstIndex(of: ".").map { mantissa.distance(from: mantissa.startIndex, to: $0) } ?? mantissa.count
        var digits = Array(mantissa.filter { $0 != "." })
        let significant = digits.drop(while: { $0 == "0" }).count
        guard significant <= 15 else { return nil }
        // Place the point `exponent` places further right, padding with zeros either side.
        var point = pointOffset + exponent
        if point <= 0 {
            digits = [Character](repeating: "0", count: 1 - point) + digits
            point = 1
        } else if point > digits.count {
            digits += [Character](repeating: "0", count: point - digits.count)
        }
        let integerPart = String(digits[..<point])
        let fractionPart = String(digits[point...])
        return sign + integerPart + (fractionPart.isEmpty ? "" : "." + fractionPart)
    }

    // MARK: Base conversion on byte arrays

    /// Strips sign-extension bytes that the value does not need; empty becomes [0].
    static func minimized(_ bytes: [UInt8]) -> [UInt8] {
        guard !bytes.isEmpty else { return [0] }
        var start = 0
        while start + 1 < bytes.count {
            let (byte, next) = (bytes[start], bytes[start + 1])
            guard (byte == 0x00 && next & 0x80 == 0) || (byte == 0xFF && next & 0x80 != 0) else { break }
            start += 1
        }
        return Array(bytes[start...])
    }

    /// The absolute value of a two's-complement number, as big-endian unsigned bytes.
    private static func magnitude(ofTwosComplement bytes: [UInt8]) -> [UInt8] {
        guard let first = bytes.first, first & 0x80 != 0 else { return bytes }
        return negated(bytes)
    }

    /// Two's-complement negation (invert, add one) over the same width; read as unsigned, the result
    /// is the magnitude of a negative input, even for the most negative value (0x80 → 0x80 = 128).
    private static func negated(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes.map { ~$0 }
        var index = out.count - 1
        while index >= 0 {
            let (sum, overflow) = out[index].addingReportingOverflow(1)
            out[index] = sum
            if !overflow { break }
            index -= 1
        }
        return out
    }

    /// Minimal two's complement of ±`magnitude` (big-endian unsigned).
    private static func twosComplement(magnitude: [UInt8], negative: Bool) -> [UInt8] {
        // One spare zero byte on top keeps the sign bit free for any magnitude.
        let widened = [0] + magnitude
        return minimized(negative ? negated(widened) : widened)
    }

    /// The decimal digits of an unsigned big-endian number ("0" for zero), by repeated division by
    /// 10^9: each step peels nine digits off with one pass over the bytes.
    private static func decimalDigits(ofMagnitude magnitude: [UInt8]) -> String {
        let chunkDivisor: UInt64 = 1_000_000_000
        var number = Array(magnitude.drop(while: { $0 == 0 }))
        var chunks: [UInt64] = []  // least significant first
        while !number.isEmpty {
            var remainder: UInt64 = 0
            var quotient: [UInt8] = []
            quotient.reserveCapacity(number.count)
            for byte in number {
                let current = remainder << 8 | UInt64(byte)  // < 10^9 · 256, far below 2^64
                let digit = current / chunkDivisor
                remainder = current % chunkDivisor
                if !quotient.isEmpty || digit != 0 { quotient.append(UInt8(digit)) }
            }
            chunks.append(remainder)
            number = quotient
        }
        guard let top = chunks.last else { return "0" }
        var text = String(top)
        for chunk in chunks.dropLast().reversed() {
            let part = String(chunk)
            text += String(repeating: "0", count: 9 - part.count) + part
        }
        return text
    }

    /// The unsigned big-endian bytes of a run of ASCII decimal digits, by multiply-add: nine digits
    /// at a time, `number = number × 10^k + chunk`.
    private static func magnitude(ofDecimalDigits digits: [UInt8]) -> [UInt8] {
        var number: [UInt8] = []  // little-endian while building
        var index = 0
        while index < digits.count {
            let end = min(index + 9, digits.count)
            var multiplier: UInt64 = 1
            var chunk: UInt64 = 0
            for digit in digits[index..<end] {
                multiplier *= 10
                chunk = chunk * 10 + UInt64(digit - UInt8(ascii: "0"))
            }
            var carry = chunk
            for position in number.indices {
                let product = UInt64(number[position]) * multiplier + carry  // both terms stay below 2^40
                number[position] = UInt8(truncatingIfNeeded: product)
                carry = product >> 8
            }
            while carry > 0 {
                number.append(UInt8(truncatingIfNeeded: carry))
                carry >>= 8
            }
            index = end
        }
        return number.reversed()
    }
}

/// Text forms of Avro's date and time logical types: ISO 8601 in the proleptic Gregorian calendar,
/// computed with integer civil-date arithmetic (Howard Hinnant's `days_from_civil` /
/// `civil_from_days`), so no calendar or time zone database is involved.
///
/// ```swift
/// AvroTemporal.dateString(days: 0)                                            // "1970-01-01"
/// AvroTemporal.timeString(45_296_789, unit: .millis)                          // "12:34:56.789"
/// AvroTemporal.timestampString(1_700_000_000_000, unit: .millis, utc: true)   // "2023-11-14T22:13:20.000Z"
/// ```
///
/// Years 0000–9999 have four digits; others carry a sign and at least four digits ("-0001",
/// "+10000"), as ISO 8601's expanded form does.
public enum AvroTemporal {
    /// The unit a time or timestamp counts in.
    public enum Unit: Sendable, Hashable {
        case millis, micros, nanos

        /// Units in one second.
        public var perSecond: Int64 {
            switch self {
            case .millis: return 1_000
            case .micros: return 1_000_000
            case .nanos: return 1_000_000_000
            }
        }

        /// Fractional-second digits written for this unit.
        public var fractionDigits: Int {
            switch self {
            case .millis: return 3
            case .micros: return 6
            case .nanos: return 9
            }
        }
    }

    /// "YYYY-MM-DD" for a count of days since 1970-01-01.
    public static func dateString(days: Int32) -> String {
        dateText(days: Int64(days))
    }

    /// The days since 1970-01-01 of a "YYYY-MM-DD" text, or nil if it is not a valid date or out
    /// of `Int32` range.
    public static func days(fromDate text: String) -> Int32? {
        var scanner = Scanner(text)
        guard let days = scanner.date(), scanner.isAtEnd else { return nil }
        return Int32(exactly: days)
    }

    /// "HH:MM:SS.fff" (millis), "HH:MM:SS.ffffff" (micros) or nine digits (nanos) for a time of day
    /// counted from midnight, or nil when `value` is not within one day.
    public static func timeString(_ value: Int64, unit: Unit) -> String? {
        guard value >= 0, value < 86_400 * unit.perSecond else { return nil }
        return timeOfDayText(value, unit: unit)
    }

    /// The units since midnight of "HH:MM:SS" with an optional fraction of up to the unit's digits
    /// (more only if they are zeros), or nil.
    public static func time(fromString text: String, unit: Unit) -> Int64? {
        var scanner = Scanner(text)
        guard let value = scanner.timeOfDay(unit: unit), scanner.isAtEnd else { return nil }
        return value
    }

    /// "2024-01-31T12:34:56.789Z" for `value` units since 1970-01-01T00:00:00; the "Z" only when
    /// `utc` (a local timestamp names a wall-clock time, not an instant).
    public static func timestampString(_ value: Int64, unit: Unit, utc: Bool) -> String {
        let perDay = 86_400 * unit.perSecond
        // Floor division without overflow, even for Int64.min.
        var days = value / perDay
        var remainder = value % perDay
        if remainder < 0 {
            days -= 1
            remainder += perDay
        }
        return dateText(days: days) + "T" + timeOfDayText(remainder, unit: unit) + (utc ? "Z" : "")
    }

    /// The units since the epoch of a timestamp text as `timestampString` writes it, with or without
    /// a fraction. A UTC timestamp must end in "Z" or "+00:00"; a local one must have no zone.
    /// Nil if malformed or out of `Int64` range.
    public static func timestamp(fromString text: String, unit: Unit, utc: Bool) -> Int64? {
        var scanner = Scanner(text)
        guard let days = scanner.date(), scanner.take("T"), let timeOfDay = scanner.timeOfDay(unit: unit) else { return nil }
        if utc {
            guard scanner.take("Z") || scanner.take("+00:00") else { return nil }
        }
        guard scanner.isAtEnd else { return nil }
        let perDay = 86_400 * unit.perSecond
        // Before the epoch, count from the next midnight back: near Int64.min the day's own midnight
        // may lie out of range while the instant itself does not.
        let (wholeDays, offset) = days < 0 ? (days + 1, timeOfDay - perDay) : (days, timeOfDay)
        let (dayUnits, overflow) = wholeDays.multipliedReportingOverflow(by: perDay)
        guard !overflow else { return nil }
        let (total, sumOverflow) = dayUnits.addingReportingOverflow(offset)
        return sumOverflow ? nil : total
    }

    // MARK: Civil dates

    /// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
    static func civil(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153  // March = 0
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func isLeap(_ year: Int64) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysInMonth(_ month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func dateText(days: Int64) -> String {
        let (year, month, day) = civil(days: days)
        let yearText: String
        if (0...9999).contains(year) {
            yearText = padded(year, 4)
        } else {
            yearText = (year < 0 ? "-" : "+") + padded(year.magnitude, 4)
        }
        return yearText + "-" + padded(month, 2) + "-" + padded(day, 2)
    }

    /// "HH:MM:SS.f…" for 0 ≤ `value` < one day in `unit`.
    private static func timeOfDayText(_ value: Int64, unit: Unit) -> String {
        let seconds = value / unit.perSecond
        let fraction = value % unit.perSecond
        return padded(seconds / 3600, 2) + ":" + padded(seconds / 60 % 60, 2) + ":" + padded(seconds % 60, 2) + "."
            + padded(fraction, unit.fractionDigits)
    }

    private static func padded<Number: BinaryInteger>(_ number: Number, _ width: Int) -> String {
        let text = String(number)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    /// Reads the pieces of date and time texts, strictly: fixed-width fields, ASCII digits only.
    private struct Scanner {
        let bytes: [UInt8]
        var position = 0

        init(_ text: String) { bytes = Array(text.utf8) }

        var isAtEnd: Bool { position == bytes.count }

        mutating func take(_ literal: String) -> Bool {
            let expected = Array(literal.utf8)
            guard bytes.count - position >= expected.count, Array(bytes[position..<position + expected.count]) == expected else { return false }
            position += expected.count
            return true
        }

        /// Between `minimum` and `maximum` digits (a cap that keeps every value far from overflow).
        mutating func number(minimumDigits minimum: Int, maximumDigits maximum: Int) -> (value: Int64, digits: Int)? {
            var value: Int64 = 0
            var count = 0
            while position < bytes.count, count < maximum, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") {
                value = value * 10 + Int64(bytes[position] - UInt8(ascii: "0"))
                position += 1
                count += 1
            }
            return count >= minimum ? (value, count) : nil
        }

        /// "YYYY-MM-DD", or a signed year of four or more digits; the days since 1970-01-01.
        mutating func date() -> Int64? {
            var sign: Int64 = 1
            var signed = false
            if take("-") {
                sign = -1
                signed = true
            } else if take("+") {
                signed = true
            }
            // Twelve year digits reach far past any Int64 timestamp yet cannot overflow the day count.
            guard let year = number(minimumDigits: 4, maximumDigits: signed ? 12 : 4), take("-"),
                let month = number(minimumDigits: 2, maximumDigits: 2), take("-"),
                let day = number(minimumDigits: 2, maximumDigits: 2)
            else { return nil }
            let fullYear = sign * year.value
            guard (1...12).contains(month.value), day.value >= 1, day.value <= AvroTemporal.daysInMonth(month.value, year: fullYear) else { return nil }
            return AvroTemporal.days(year: fullYear, month: month.value, day: day.value)
        }

        /// "HH:MM:SS" with an optional fraction; units since midnight.
        mutating func timeOfDay(unit: Unit) -> Int64? {
            guard let hours = number(minimumDigits: 2, maximumDigits: 2), take(":"),
                let minutes = number(minimumDigits: 2, maximumDigits: 2), take(":"),
                let seconds = number(minimumDigits: 2, maximumDigits: 2),
                hours.value < 24, minutes.value < 60, seconds.value < 60
            else { return nil }
            var fraction: Int64 = 0
            if take(".") {
                let start = position
                while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") { position += 1 }
                let digits = bytes[start..<position]
                guard !digits.isEmpty else { return nil }
                // Digits finer than the unit are only acceptable as zeros: nothing may be dropped.
                guard digits.dropFirst(unit.fractionDigits).allSatisfy({ $0 == UInt8(ascii: "0") }) else { return nil }
                for index in 0..<unit.fractionDigits {
                    let digit = start + index < position ? Int64(bytes[start + index] - UInt8(ascii: "0")) : 0
                    fraction = fraction * 10 + digit
                }
            }
            return ((hours.value * 60 + minutes.value) * 60 + seconds.value) * unit.perSecond + fraction
        }
    }
}

extension AvroValue {
    /// The decimal held by a `.bytes` or `.fixed` value, read with `scale`; nil for other values.
    public func decimal(scale: Int) -> AvroDecimal? {
        switch self {
        case .bytes(let bytes), .fixed(let bytes): return AvroDecimal(unscaledBytes: bytes, scale: scale)
        default: return nil
        }
    }

    /// The UUID of a `.string` in its text form or of a 16-byte `.fixed`; nil otherwise.
    public var uuid: UUID? {
        switch self {
        case .string(let text):
            return UUID(uuidString: text)
        case .fixed(let b) where b.count == 16:
            return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
        default:
            return nil
        }
    }

    /// The readable text of this value under `logicalType`: the decimal's exact digits, "YYYY-MM-DD",
    /// "HH:MM:SS.fff", an ISO 8601 timestamp ("Z" for UTC ones, none for local ones), or the lower-case
    /// text of a UUID. Nil when the value does not carry that logical type, when a time lies outside
    /// one day, and for `duration`, which has no single text form.
    public func logicalText(for logicalType: LogicalType) -> String? {
        switch (logicalType, self) {
        case (.decimal(_, let scale), .bytes(let bytes)), (.decimal(_, let scale), .fixed(let bytes)):
            return AvroDecimal(unscaledBytes: bytes, scale: scale).description
        case (.uuid, .string(let text)): return text
        case (.uuid, .fixed(let bytes)) where bytes.count == 16: return Self.uuidText(bytes)
        case (.date, .int(let days)): return AvroTemporal.dateString(days: days)
        case (.timeMillis, .int(let millis)): return AvroTemporal.timeString(Int64(millis), unit: .millis)
        case (.timeMicros, .long(let micros)): return AvroTemporal.timeString(micros, unit: .micros)
        case (.timestampMillis, .long(let value)): return AvroTemporal.timestampString(value, unit: .millis, utc: true)
        case (.timestampMicros, .long(let value)): return AvroTemporal.timestampString(value, unit: .micros, utc: true)
        case (.timestampNanos, .long(let value)): return AvroTemporal.timestampString(value, unit: .nanos, utc: true)
        case (.localTimestampMillis, .long(let value)): return AvroTemporal.timestampString(value, unit: .millis, utc: false)
        case (.localTimestampMicros, .long(let value)): return AvroTemporal.timestampString(value, unit: .micros, utc: false)
        case (.localTimestampNanos, .long(let value)): return AvroTemporal.timestampString(value, unit: .nanos, utc: false)
        default: return nil
        }
    }

    /// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" in lower case, as RFC 4122 asks of output.
    static func uuidText(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789abcdef")
        var text = ""
        text.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append("-") }
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0F)])
        }
        return text
    }

    /// The 16 bytes of a UUID text (either case), or nil.
    static func uuidBytes(_ text: String) -> [UInt8]? {
        guard let uuid = UUID(uuidString: text) else { return nil }
        return withUnsafeBytes(of: uuid.uuid) { Array($0) }
    }
}
