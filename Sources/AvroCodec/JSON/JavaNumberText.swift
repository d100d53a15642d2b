/// Numbers spelled as Java's `Double.toString` and `Float.toString` spell them (JDK 19 and later,
/// which choose the shortest decimal that reads back to the same value, as Swift does): plain
/// notation with at least one fractional digit for magnitudes in [10⁻³, 10⁷) (`100000.0`, `0.5`),
/// otherwise one digit, a point, the other digits and an exponent (`1.0E10`, `1.0E-5`).
///
/// Known residual difference: where the shortest decimal has one digit but a two-digit one is
/// closer, Java prints the closer one (`Double.MIN_VALUE` is `4.9E-324`, here `5.0E-324`); this
/// happens only for values at the edge of the subnormal range.
enum JavaNumberText {
    /// Java's `Double.toString` of a finite value (non-finite values as Java names them).
    static func text(_ value: Double) -> String {
        format(value.isNaN ? nil : value.sign == .minus, magnitudeText: value.magnitude.description, isFinite: value.isFinite, isZero: value == 0)
    }

    /// Java's `Float.toString` of a finite value.
    static func text(_ value: Float) -> String {
        format(value.isNaN ? nil : value.sign == .minus, magnitudeText: value.magnitude.description, isFinite: value.isFinite, isZero: value == 0)
    }

    private static func format(_ isNegative: Bool?, magnitudeText: String, isFinite: Bool, isZero: Bool) -> String {
        guard let isNegative else { return "NaN" }
        let sign = isNegative ? "-" : ""
        guard isFinite else { return sign + "Infinity" }
        guard !isZero else { return sign + "0.0" }
        // Swift's description holds the shortest digits: "123.45", "1e-05", "1.2345e+20".
        var mantissa = Substring(magnitudeText)
        var exponent = 0
        if let e = magnitudeText.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = magnitudeText[..<e]
            exponent = Int(magnitudeText[magnitudeText.index(after: e)...]) ?? 0
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let integerPart = parts.first.map(String.init) ?? ""
        let fractionPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = Array(integerPart + fractionPart)
        // value = 0.d₁d₂… × 10^point
        var point = integerPart.count + exponent
        while digits.first == "0" {
            digits.removeFirst()
            point -= 1
        }
        while digits.last == "0" { digits.removeLast() }
        guard !digits.isEmpty else { return sign + "0.0" }
        let scientificExponent = point - 1
        if scientificExponent >= -3 && scientificExponent < 7 {
            if point <= 0 {
                return sign + "0." + String(repeating: "0", count: -point) + String(digits)
            }
            if point >= digits.count {
                return sign + String(digits) + String(repeating: "0", count: point - digits.count) + ".0"
            }
            return sign + String(digits[..<point]) + "." + String(digits[point...])
        }
        let rest = digits.count > 1 ? String(digits[1...]) : "0"
        return sign + String(digits[0]) + "." + rest + "E" + String(scientificExponent)
    }
}
