import AvroCodec

/// A PostgreSQL table as the change stream sees it: its columns (from pgoutput's RELATION message,
/// completed with nullability and defaults from the catalog) and its replica identity.
public struct TableDescription: Sendable, Equatable {
    public var namespace: String
    public var name: String
    public var columns: [ColumnDescription]
    /// pgoutput's replica identity setting: `d` default (primary key), `n` nothing, `f` full, `i` index.
    public var replicaIdentity: UInt8
    /// Set when the catalog no longer has the table (dropped after the changes being read were written):
    /// keys and nullability then come from what was installed or registered before, and so do defaults.
    public var isGoneFromCatalog = false

    public init(namespace: String, name: String, columns: [ColumnDescription], replicaIdentity: UInt8) {
        self.namespace = namespace
        self.name = name
        self.columns = columns
        self.replicaIdentity = replicaIdentity
    }

    /// The columns of the key (the replica identity's columns, normally the primary key).
    public var keyColumns: [ColumnDescription] { columns.filter(\.isKey) }

    /// Whether old rows carry every column (REPLICA IDENTITY FULL).
    public var hasFullReplicaIdentity: Bool { replicaIdentity == UInt8(ascii: "f") }
}

/// One column of a table.
public struct ColumnDescription: Sendable, Equatable {
    public var name: String
    /// The type's OID (`pg_type.oid`).
    public var typeOID: UInt32
    /// `atttypmod`: for numeric, precision and scale; -1 when unconstrained.
    public var typeModifier: Int32
    /// Part of the replica identity (the key).
    public var isKey: Bool
    /// NULL allowed (no NOT NULL constraint). Key columns are never nullable.
    public var isNullable: Bool
    /// The column default's SQL expression (`pg_get_expr(adbin, adrelid)`), if any.
    public var defaultExpression: String?
    /// For a column of an enum type, its labels in order (the source reads them from the catalog).
    public var enumLabels: [String]?
    /// For an array column, its element type (a domain's base type) and, for an enum element, its
    /// labels; the column's `typeModifier` is the element's.
    public var elementTypeOID: UInt32?
    public var elementEnumLabels: [String]?
    /// The field default of the subject's latest version, kept when the catalog no longer has the table
    /// (`ChangeEventSchemas.continuing`); a default from `defaultExpression` comes first.
    public var registeredDefault: JSONValue?
    /// The Avro field name the column has in the subject's latest version, kept in the next one
    /// (`ChangeEventSchemas.continuing`); nil: named from the column's name.
    public var fieldName: String?

    public init(name: String, typeOID: UInt32, typeModifier: Int32, isKey: Bool, isNullable: Bool, defaultExpression: String?) {
        self.name = name
        self.typeOID = typeOID
        self.typeModifier = typeModifier
        self.isKey = isKey
        self.isNullable = isNullable && !isKey
        self.defaultExpression = defaultExpression
    }
}

/// The PostgreSQL built-in types the mapping knows by OID (`pg_type.oid`, fixed for built-ins).
public enum PostgresType: UInt32, Sendable {
    case bool = 16
    case bytea = 17
    case char = 18
    case int8 = 20
    case int2 = 21
    case int4 = 23
    case text = 25
    case json = 114
    case float4 = 700
    case float8 = 701
    case bpchar = 1042
    case varchar = 1043
    case date = 1082
    case time = 1083
    case timestamp = 1114
    case timestamptz = 1184
    case money = 790
    case interval = 1186
    case timetz = 1266
    case numeric = 1700
    case uuid = 2950
    case jsonb = 3802
}

/// The Avro type a column maps to, and how its text form becomes a value.
public enum ColumnAvroType: Sendable, Equatable {
    case boolean, int, long, float, double, string, bytes
    case decimal(precision: Int, scale: Int)
    case date, timeMicros, timestampMicros, localTimestampMicros, uuid
    /// A string with Debezium's semantic type name (`connect.name`): `io.debezium.time.Interval`
    /// (ISO 8601; the source pins IntervalStyle to iso_8601) and `io.debezium.data.Json`.
    case semanticString(String)
    /// An enum's value as a string, with its labels (Debezium's `io.debezium.data.Enum`).
    case enumeration([String])
    /// money: decimal(19, 2), from PostgreSQL's text form (`$1,234.56`, `-$0.50`) in the C locale
    /// the source pins for lc_monetary.
    case money
    /// timetz as a time in UTC, `HH:MM:SS[.ffffff]Z` (Debezium's `io.debezium.time.ZonedTime`).
    case zonedTime
    /// A PostgreSQL array as an Avro array of its (nullable) element type. A multi-dimensional value
    /// is flattened in row-major order (PostgreSQL does not fix an array column's dimensions).
    indirect case array(ColumnAvroType)

    /// The type of a column: an array's of its element, an enum's with its labels, else by type OID.
    public init(column: ColumnDescription) {
        if let element = column.elementTypeOID {
            self = .array(column.elementEnumLabels.map(ColumnAvroType.enumeration) ?? ColumnAvroType(typeOID: element, typeModifier: column.typeModifier))
        } else {
            self = column.enumLabels.map(ColumnAvroType.enumeration) ?? ColumnAvroType(typeOID: column.typeOID, typeModifier: column.typeModifier)
        }
    }

    /// The mapping of the issue: int2/int4→int, int8→long, float4→float, float8→double,
    /// numeric(p,s)→decimal (unconstrained numeric→string), bool→boolean, text/varchar/char→string,
    /// bytea→bytes, date→date, time→time-micros, timestamp→local-timestamp-micros,
    /// timestamptz→timestamp-micros, uuid→uuid, json/jsonb→string, anything else→string (its text form).
    public init(typeOID: UInt32, typeModifier: Int32) {
        switch PostgresType(rawValue: typeOID) {
        case .bool: self = .boolean
        case .int2, .int4: self = .int
        case .int8: self = .long
        case .float4: self = .float
        case .float8: self = .double
        case .bytea: self = .bytes
        case .date: self = .date
        case .time: self = .timeMicros
        case .timestamp: self = .localTimestampMicros
        case .timestamptz: self = .timestampMicros
        case .uuid: self = .uuid
        case .interval: self = .semanticString("io.debezium.time.Interval")
        case .money: self = .money
        case .timetz: self = .zonedTime
        case .json, .jsonb: self = .semanticString("io.debezium.data.Json")
        case .numeric:
            // atttypmod = ((precision << 16) | scale) + 4 (VARHDRSZ); scale is 11 bits, signed since
            // PostgreSQL 15. A negative scale has no Avro decimal: such columns stay strings.
            guard typeModifier >= 4 else {
                self = .string
                return
            }
            let packed = typeModifier - 4
            let precision = Int((packed >> 16) & 0xFFFF)
            var scale = Int(packed & 0x7FF)
            if scale > 1023 { scale -= 2048 }
            guard precision > 0, scale >= 0, scale <= precision else {
                self = .string
                return
            }
            self = .decimal(precision: precision, scale: scale)
        default: self = .string
        }
    }

    /// The Avro schema JSON of this type (no union).
    public var schemaJSON: JSONValue {
        switch self {
        case .boolean: return .string("boolean")
        case .int: return .string("int")
        case .long: return .string("long")
        case .float: return .string("float")
        case .double: return .string("double")
        case .string: return .string("string")
        case .bytes: return .string("bytes")
        case .decimal(let precision, let scale):
            return .object([("type", .string("bytes")), ("logicalType", .string("decimal")), ("precision", .integer(Int64(precision))), ("scale", .integer(Int64(scale)))])
        case .date: return .object([("type", .string("int")), ("logicalType", .string("date"))])
        case .timeMicros: return .object([("type", .string("long")), ("logicalType", .string("time-micros"))])
        case .timestampMicros: return .object([("type", .string("long")), ("logicalType", .string("timestamp-micros"))])
        case .localTimestampMicros: return .object([("type", .string("long")), ("logicalType", .string("local-timestamp-micros"))])
        case .uuid: return .object([("type", .string("string")), ("logicalType", .string("uuid"))])
        case .semanticString(let name): return .object([("type", .string("string")), ("connect.name", .string(name))])
        case .enumeration(let labels):
            return .object([
                ("type", .string("string")), ("connect.name", .string("io.debezium.data.Enum")),
                ("connect.parameters", .object([("allowed", .string(labels.joined(separator: ",")))])),
            ])
        case .money:
            return .object([("type", .string("bytes")), ("logicalType", .string("decimal")), ("precision", .integer(19)), ("scale", .integer(2))])
        case .zonedTime: return .object([("type", .string("string")), ("connect.name", .string("io.debezium.time.ZonedTime"))])
        case .array(let element): return .object([("type", .string("array")), ("items", .array([.string("null"), element.schemaJSON]))])
        }
    }

    /// The value of a column's text form (PostgreSQL's output functions with DateStyle ISO; the source
    /// runs its sessions with TimeZone UTC). Nil when the text is not a value of this type.
    public func value(fromText text: String) -> AvroValue? {
        switch self {
        case .boolean:
            switch text {
            case "t", "true": return .boolean(true)
            case "f", "false": return .boolean(false)
            default: return nil
            }
        case .int: return Int32(text).map { .int($0) }
        case .long: return Int64(text).map { .long($0) }
        case .float: return Self.floatingPoint(text).map { .float(Float($0)) }
        case .double: return Self.floatingPoint(text).map { .double($0) }
        case .string, .uuid, .semanticString: return .string(text)
        // Any label: one added since the schema was made is still a value (the schema's list says what
        // was allowed when it was registered).
        case .enumeration: return .string(text)
        case .money:
            // "$1,234.56", "-$1,234.56": keep the sign, the digits and the point.
            let negative = text.hasPrefix("-") || text.hasPrefix("(")
            let digits = String(text.unicodeScalars.filter { ($0 >= "0" && $0 <= "9") || $0 == "." }.map(Character.init))
            return AvroDecimal(string: (negative ? "-" : "") + digits, scale: 2).map { .bytes($0.unscaledBytes) }
        case .zonedTime: return Self.utcTime(text).map { .string($0) }
        case .array(let element):
            guard let items = Self.arrayElements(text) else { return nil }
            var values: [AvroValue] = []
            values.reserveCapacity(items.count)
            for item in items {
                guard let item else {
                    values.append(.union(branch: 0, value: .null))
                    continue
                }
                guard let value = element.value(fromText: item) else { return nil }
                values.append(.union(branch: 1, value: value))
            }
            return .array(values)
        case .bytes: return Self.bytea(text).map { .bytes($0) }
        case .decimal(_, let scale):
            return AvroDecimal(string: text, scale: scale).map { .bytes($0.unscaledBytes) }
        case .date:
            // ±infinity as the extreme values, as Debezium does.
            if text == "infinity" { return .int(Int32.max) }
            if text == "-infinity" { return .int(Int32.min) }
            return Self.isoDateTime(text).flatMap { AvroTemporal.days(fromDate: $0) }.map { .int($0) }
        case .timeMicros:
            // "24:00:00" is a valid PostgreSQL time: the end of the day.
            if text.hasPrefix("24:00:00") { return .long(86_400_000_000) }
            return AvroTemporal.time(fromString: text, unit: .micros).map { .long($0) }
        case .localTimestampMicros:
            if text == "infinity" { return .long(Int64.max) }
            if text == "-infinity" { return .long(Int64.min) }
            return Self.isoDateTime(text).flatMap { AvroTemporal.timestamp(fromString: $0, unit: .micros, utc: false) }.map { .long($0) }
        case .timestampMicros:
            if text == "infinity" { return .long(Int64.max) }
            if text == "-infinity" { return .long(Int64.min) }
            return Self.isoDateTime(text).flatMap { Self.timestampWithZone($0) }.map { .long($0) }
        }
    }

    /// PostgreSQL's ISO date (or date-time) text in the form `AvroTemporal` reads: "T" between date and
    /// time, years after 9999 with a "+", and BC years as astronomical years ("0044-03-15 BC" is year
    /// -43, written "-0043").
    /// The elements of an array's text form (`{1,2,NULL}`, `{"a b","q\\"uote"}`, `[0:1]={1,2}`,
    /// `{{1,2},{3,4}}` flattened), nil for an unquoted NULL; nil when the text is not an array.
    /// Elements are separated by commas (every built-in type's delimiter but box's).
    static func arrayElements(_ text: String) -> [String?]? {
        var bytes = Substring(text).utf8[...]
        // Explicit bounds: "[1:2][3:4]={…}".
        if bytes.first == UInt8(ascii: "[") {
            guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { return nil }
            bytes = bytes[bytes.index(after: equals)...]
        }
        guard bytes.first == UInt8(ascii: "{"), bytes.last == UInt8(ascii: "}") else { return nil }
        var elements: [String?] = []
        var current: [UInt8] = []
        var quoted = false  // the current element was quoted
        var inQuotes = false
        var escaped = false
        var depth = 0
        var hasElement = false
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C }
        func finish() {
            if quoted {
                elements.append(String(decoding: current, as: UTF8.self))
            } else {
                while let last = current.last, isSpace(last) { current.removeLast() }
                let word = String(decoding: current, as: UTF8.self)
                elements.append(word.uppercased() == "NULL" ? nil : word)
            }
            current.removeAll(keepingCapacity: true)
            quoted = false
            hasElement = false
        }
        for byte in bytes {
            if escaped {
                current.append(byte)
                escaped = false
                hasElement = true
                continue
            }
            if inQuotes {
                switch byte {
                case UInt8(ascii: "\\"): escaped = true
                case UInt8(ascii: "\""): inQuotes = false
                default: current.append(byte)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "{"):
                guard !hasElement else { return nil }
                depth += 1
            case UInt8(ascii: "}"):
                guard depth > 0 else { return nil }
                if hasElement { finish() }
                depth -= 1
            case UInt8(ascii: ","):
                guard depth > 0 else { return nil }
                if hasElement { finish() }
            case UInt8(ascii: "\""):
                guard !hasElement || current.isEmpty else { return nil }
                inQuotes = true
                quoted = true
                hasElement = true
            case UInt8(ascii: "\\"):
                escaped = true
                hasElement = true
            default:
                if isSpace(byte), !hasElement { continue }
                if quoted, !isSpace(byte) { return nil }  // text after a closing quote
                if !quoted { current.append(byte) }
                hasElement = true
            }
        }
        guard depth == 0, !inQuotes, !escaped else { return nil }
        return elements
    }

    static func isoDateTime(_ text: String) -> String? {
        var body = text
        var isBC = false
        if body.hasSuffix(" BC") {
            isBC = true
            body.removeLast(3)
        }
        guard let dash = body.firstIndex(of: "-"), let year = Int(body[..<dash]) else { return nil }
        var rest = String(body[dash...])
        if let space = rest.firstIndex(of: " ") { rest.replaceSubrange(space...space, with: "T") }
        let astronomical = isBC ? 1 - year : year
        let digits = String(abs(astronomical))
        let padded = String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        if astronomical < 0 { return "-" + padded + rest }
        return (astronomical > 9999 ? "+" : "") + padded + rest
    }

    static func floatingPoint(_ text: String) -> Double? {
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return Double(text)
        }
    }

    /// bytea's hex output: `\x` then two hex digits a byte.
    public static func bytea(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else { return nil }
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// timestamptz text such as "2024-01-31 12:34:56.789+00" or "…+05:30": microseconds since the
    /// epoch, UTC.
    static func timestampWithZone(_ text: String) -> Int64? {
        let body = text.replacingFirstSpace()
        // The zone offset is the last '+' or '-' after the time's position (index 19: "YYYY-MM-DDTHH:MM:SS").
        guard let signIndex = body.lastIndex(where: { $0 == "+" || $0 == "-" }), body.distance(from: body.startIndex, to: signIndex) >= 19 else {
            return nil
        }
        let local = String(body[..<signIndex])
        let zone = body[body.index(after: signIndex)...].split(separator: ":")
        guard let hours = zone.first.flatMap({ Int64($0) }) else { return nil }
        let minutes = zone.count > 1 ? Int64(zone[1]) ?? 0 : 0
        let seconds = zone.count > 2 ? Int64(zone[2]) ?? 0 : 0
        let offset = (hours * 3600 + minutes * 60 + seconds) * 1_000_000 * (body[signIndex] == "-" ? -1 : 1)
        guard let localMicros = AvroTemporal.timestamp(fromString: local, unit: .micros, utc: false) else { return nil }
        return localMicros - offset
    }

    /// A timetz text form (`12:34:56.789+02`, `23:00:00-05:30`, `01:02:03+05:45:10`) as the same
    /// instant of the day in UTC, `HH:MM:SS[.fraction]Z`; nil when it is not one.
    static func utcTime(_ text: String) -> String? {
        guard let signIndex = text.lastIndex(where: { $0 == "+" || $0 == "-" }) else { return nil }
        let timePart = text[..<signIndex]
        let zone = text[text.index(after: signIndex)...].split(separator: ":").map { Int($0) }
        let clock = timePart.split(separator: ":", maxSplits: 2)
        guard clock.count == 3, let hours = Int(clock[0]), let minutes = Int(clock[1]), !zone.isEmpty, !zone.contains(nil) else { return nil }
        let secondsText = clock[2]
        let wholeSeconds = secondsText.split(separator: ".", maxSplits: 1)
        guard let seconds = Int(wholeSeconds[0]) else { return nil }
        let fraction = wholeSeconds.count == 2 ? "." + wholeSeconds[1] : ""
        let zoneSeconds = (zone[0] ?? 0) * 3600 + (zone.count > 1 ? zone[1] ?? 0 : 0) * 60 + (zone.count > 2 ? zone[2] ?? 0 : 0)
        let sign = text[signIndex] == "+" ? 1 : -1
        var total = (hours * 3600 + minutes * 60 + seconds - sign * zoneSeconds) % 86_400
        if total < 0 { total += 86_400 }
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
        return "\(two(total / 3600)):\(two(total / 60 % 60)):\(two(total % 60))\(fraction)Z"
    }

    /// The range of the last `::` in `text` (a cast), if any.
    static func lastCast(in text: String) -> Range<String.Index>? {
        var index = text.endIndex
        while index > text.startIndex {
            let previous = text.index(before: index)
            if text[previous] == ":", previous > text.startIndex, text[text.index(before: previous)] == ":" {
                return text.index(before: previous)..<index
            }
            index = previous
        }
        return nil
    }

    /// The Avro default of a NOT NULL column's SQL default, when it is a constant this type can hold
    /// (`42`, `'text'::character varying`, `true`, `0.0`); nil for expressions such as `now()` or
    /// `nextval(…)`.
    func avroDefault(forSQLDefault expression: String) -> JSONValue? {
        var literal = expression
        // Strip a trailing cast: 'abc'::text, 42::bigint, ('x'::character varying).
        if literal.hasPrefix("("), literal.hasSuffix(")") { literal = String(literal.dropFirst().dropLast()) }
        if let cast = Self.lastCast(in: literal), !literal[cast.upperBound...].contains("'") {
            literal = String(literal[..<cast.lowerBound])
        }
        var text: String
        if literal.hasPrefix("'") && literal.hasSuffix("'") && literal.count >= 2 {
            // '' inside a quoted literal is one quote.
            text = String(literal.dropFirst().dropLast()).split(separator: "''", omittingEmptySubsequences: false).joined(separator: "'")
        } else {
            guard literal.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" || $0 == "e" || $0 == "E" || $0 == "+" }) || literal == "true" || literal == "false" else {
                return nil
            }
            text = literal
        }
        if text.isEmpty && self != .string { return nil }
        guard let value = value(fromText: text) else { return nil }
        switch value {
        case .boolean(let flag): return .bool(flag)
        case .int(let number): return .integer(Int64(number))
        case .long(let number): return .integer(number)
        case .float(let number): return number.isFinite ? .double(Double(number)) : nil
        case .double(let number): return number.isFinite ? .double(number) : nil
        case .string(let string): return .string(string)
        case .bytes(let bytes): return .string(String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) })))
        default: return nil
        }
    }
}

extension String {
    /// PostgreSQL writes timestamps as "date time"; ISO 8601 wants "dateTtime".
    fileprivate func replacingFirstSpace() -> String {
        guard let space = firstIndex(of: " ") else { return self }
        var copy = self
        copy.replaceSubrange(space...space, with: "T")
        return copy
    }
}
