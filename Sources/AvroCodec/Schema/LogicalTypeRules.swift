/// Which logical-type annotations are valid, as the Avro 1.12 specification defines them.
///
/// An invalid annotation (wrong underlying type, bad precision, unknown name) is not an error: the
/// specification says such a schema is read as its underlying type. The annotation then stays among
/// the node's plain properties.
enum LogicalTypeRules {
    /// The valid logical type in `object`, if any, and the attribute names it consumed.
    static func logicalType(in object: JSONObject, kind: AvroKind, fixedSize: Int?) -> (LogicalType?, Set<String>) {
        logicalType(kind: kind, fixedSize: fixedSize) { object[$0] }
    }

    /// The valid logical type of a schema object whose attributes `attribute` gives by name, if any,
    /// and the attribute names it consumed.
    static func logicalType(kind: AvroKind, fixedSize: Int?, attribute: (String) -> JSONValue?) -> (LogicalType?, Set<String>) {
        guard case .string(let name)? = attribute("logicalType") else { return (nil, []) }
        let simple: LogicalType?
        switch (name, kind) {
        case ("decimal", .bytes), ("decimal", .fixed):
            guard let decimal = decimal(fixedSize: fixedSize, attribute: attribute) else { return (nil, []) }
            return (decimal, ["logicalType", "precision", "scale"])
        case ("uuid", .string): simple = .uuid
        case ("uuid", .fixed) where fixedSize == 16: simple = .uuid
        case ("date", .int): simple = .date
        case ("time-millis", .int): simple = .timeMillis
        case ("time-micros", .long): simple = .timeMicros
        case ("timestamp-millis", .long): simple = .timestampMillis
        case ("timestamp-micros", .long): simple = .timestampMicros
        case ("timestamp-nanos", .long): simple = .timestampNanos
        case ("local-timestamp-millis", .long): simple = .localTimestampMillis
        case ("local-timestamp-micros", .long): simple = .localTimestampMicros
        case ("local-timestamp-nanos", .long): simple = .localTimestampNanos
        case ("duration", .fixed) where fixedSize == 12: simple = .duration
        default: simple = nil
        }
        guard let simple else { return (nil, []) }
        return (simple, ["logicalType"])
    }

    /// decimal: precision a positive integer; scale a non-negative integer no greater than precision
    /// (default 0); on fixed, precision no more than the digits that `size` bytes can hold.
    private static func decimal(fixedSize: Int?, attribute: (String) -> JSONValue?) -> LogicalType? {
        guard case .integer(let precision)? = attribute("precision"), precision > 0 else { return nil }
        var scale: Int64 = 0
        if let scaleValue = attribute("scale") {
            guard case .integer(let declared) = scaleValue, declared >= 0 else { return nil }
            scale = declared
        }
        guard scale <= precision else { return nil }
        if let fixedSize, precision > maximumDecimalPrecision(fixedSize: fixedSize) { return nil }
        return .decimal(precision: Int(precision), scale: Int(scale))
    }

    /// floor(log10(2^(8n-1) - 1)): the most decimal digits a signed n-byte two's-complement holds.
    static func maximumDecimalPrecision(fixedSize: Int) -> Int64 {
        guard fixedSize > 0 else { return 0 }
        // log10(2^(8n-1)) computed in floating point is exact enough: 2^(8n-1) is never a power of ten.
        let digits = (Double(8 * fixedSize - 1) * 0.30102999566398119521).rounded(.down)
        return Int64(digits)
    }
}
