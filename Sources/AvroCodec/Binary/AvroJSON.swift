/// Conversion between Avro values and JSON: the specification's JSON encoding (a non-null union value
/// wrapped as `{"type-name": value}`, bytes and fixed as ISO-8859-1 strings) or plain JSON for people
/// (unions unwrapped; on input, the first branch the value fits is chosen).
///
/// Plain JSON also shows logical types readably: a decimal as a string of its exact digits, dates,
/// times and timestamps in ISO 8601 ("2024-01-31", "12:34:56.789", "2024-01-31T12:34:56.789Z"; local
/// timestamps without "Z"), a fixed UUID as its text. On input it takes those forms or the underlying
/// type's own (an integer for a date), except for decimals, where a string is always the decimal text.
/// The Avro style and field defaults keep the specification's encoding of the underlying type.
public enum AvroJSON {
    /// Which JSON shape to read or write.
    public enum Style: Sendable {
        /// The Avro specification's JSON encoding.
        case avro
        /// Unions unwrapped.
        case plain
    }

    /// The JSON form of `value` under `schema`.
    public static func json(_ value: AvroValue, schema: AvroSchema, style: Style) -> JSONValue {
        render(value, schema.root, schema, style)
    }

    /// The value that `json` denotes under `schema`.
    public static func value(_ json: JSONValue, schema: AvroSchema, style: Style) throws(AvroCodingError) -> AvroValue {
        var path = JSONPointer()
        return try read(json, schema.root, schema, style == .avro ? .avro : .plain, &path)
    }

    private static func latin1(_ bytes: [UInt8]) -> String {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    private static func bytes(fromLatin1 text: String) -> [UInt8]? {
        var out: [UInt8] = []
        for scalar in text.unicodeScalars {
            guard scalar.value <= 0xFF else { return nil }
            out.append(UInt8(scalar.value))
        }
        return out
    }

    /// The name a union branch is wrapped with: a named type's full name, else the type name.
    static func branchName(_ id: SchemaNode.ID, _ schema: AvroSchema) -> String {
        schema[id].name?.fullName ?? schema[id].kind.rawValue
    }

    private static func render(_ value: AvroValue, _ id: SchemaNode.ID, _ schema: AvroSchema, _ style: Style) -> JSONValue {
        if style == .plain, let logicalType = schema[id].logicalType, let text = value.logicalText(for: logicalType) {
            return .string(text)
        }
        switch (schema[id].content, value) {
        case (_, .null): return .null
        case (_, .boolean(let flag)): return .bool(flag)
        case (_, .int(let number)): return .integer(Int64(number))
        case (_, .long(let number)): return .integer(number)
        case (_, .float(let number)): return number.isFinite ? .double(Double(number)) : .string(nonFinite(Double(number)))
        case (_, .double(let number)): return number.isFinite ? .double(number) : .string(nonFinite(number))
        case (_, .bytes(let data)), (_, .fixed(let data)): return .string(latin1(data))
        case (_, .string(let text)), (_, .enumeration(let text)): return .string(text)
        case (.record(let record), .record(let values)):
            return .object(zip(record.fields, values).map { ($0.name, render($1, $0.type, schema, style)) })
        case (.array(let items), .array(let values)): return .array(values.map { render($0, items, schema, style) })
        case (.map(let valueType), .map(let entries)): return .object(entries.map { ($0.key, render($0.value, valueType, schema, style)) })
        case (.union(let branches), .union(let branch, let inner)):
            guard branch < branches.count else { return .null }
            let rendered = render(inner, branches[branch], schema, style)
            if style == .plain || schema.kinds[branches[branch]] == .null { return rendered }
            return .object([(branchName(branches[branch], schema), rendered)])
        default:
            return .null
        }
    }

    private static func nonFinite(_ number: Double) -> String {
        number.isNaN ? "NaN" : (number > 0 ? "Infinity" : "-Infinity")
    }

    /// The value of a field default (JSON as the schema declares it) for node `id`.
    static func defaultValue(_ json: JSONValue, for id: SchemaNode.ID, in schema: AvroSchema) throws(AvroCodingError) -> AvroValue {
        var path = JSONPointer()
        return try read(json, id, schema, .fieldDefault, &path)
    }

    /// How JSON is read: the two public styles, plus field defaults, whose unions are unwrapped and
    /// belong to the first branch.
    private enum Mode {
        case avro, plain, fieldDefault
    }

    private static func read(_ json: JSONValue, _ id: SchemaNode.ID, _ schema: AvroSchema, _ style: Mode, _ path: inout JSONPointer) throws(AvroCodingError) -> AvroValue {
        func fail(_ message: String) -> AvroCodingError { AvroCodingError(path: path.rendered, message: message) }
        func expected(_ what: String) -> AvroCodingError { fail("expected \(what), got \(json.compactText)") }
        if style == .plain, let logicalType = schema[id].logicalType, let value = try readableLogicalValue(json, schema[id], logicalType, path) {
            return value
        }
        switch schema[id].content {
        case .primitive(let kind):
            switch (kind, json) {
            case (.null, .null): return .null
            case (.boolean, .bool(let flag)): return .boolean(flag)
            case (.int, .integer(let number)):
                guard let value = Int32(exactly: number) else { throw fail("\(number) is out of range for int") }
                return .int(value)
            case (.long, .integer(let number)): return .long(number)
            case (.float, .integer(let number)): return .float(Float(number))
            case (.float, .double(let number)): return .float(Float(number))
            case (.double, .integer(let number)): return .double(Double(number))
            case (.double, .double(let number)): return .double(number)
            case (.float, .string(let text)), (.double, .string(let text)):
                let number: Double
                switch text {
                case "NaN": number = .nan
                case "Infinity": number = .infinity
                case "-Infinity": number = -.infinity
                default: throw expected("a number")
                }
                return kind == .float ? .float(Float(number)) : .double(number)
            case (.string, .string(let text)): return .string(text)
            case (.bytes, .string(let text)):
                guard let data = bytes(fromLatin1: text) else { throw fail("bytes must be a string of code points 0–255") }
                return .bytes(data)
            default: throw expected(kind.rawValue)
            }
        case .record(let record):
            guard case .object(let object) = json else { throw expected("an object for record \(record.name.fullName)") }
            var values: [AvroValue] = []
            for (index, field) in record.fields.enumerated() {
                path.push(index)
                if let member = object[field.name] {
                    values.append(try read(member, field.type, schema, style, &path))
                } else if let defaultValue = field.defaultValue {
                    values.append(try read(defaultValue, field.type, schema, .fieldDefault, &path))
                } else {
                    throw fail("field \"\(field.name)\" is missing and has no default")
                }
                path.pop()
            }
            return .record(values)
        case .enumeration(let enumeration):
            guard case .string(let symbol) = json, enumeration.symbols.contains(symbol) else {
                throw expected("one of \(enumeration.symbols.joined(separator: ", "))")
            }
            return .enumeration(symbol)
        case .array(let items):
            guard case .array(let elements) = json else { throw expected("an array") }
            var values: [AvroValue] = []
            for (index, element) in elements.enumerated() {
                path.push(index)
                values.append(try read(element, items, schema, style, &path))
                path.pop()
            }
            return .array(values)
        case .map(let valueType):
            guard case .object(let object) = json else { throw expected("an object (a map)") }
            var entries: [AvroValue.MapEntry] = []
            for (index, member) in object.members.enumerated() {
                path.push(index)
                entries.append(AvroValue.MapEntry(key: member.key, value: try read(member.value, valueType, schema, style, &path)))
                path.pop()
            }
            return .map(entries)
        case .fixed(let fixed):
            guard case .string(let text) = json, let data = bytes(fromLatin1: text), data.count == fixed.size else {
                throw expected("a string of \(fixed.size) bytes for fixed \(fixed.name.fullName)")
            }
            return .fixed(data)
        case .union(let branches):
            if case .null = json, let index = branches.firstIndex(where: { schema.kinds[$0] == .null }) {
                return .union(branch: index, value: .null)
            }
            switch style {
            case .fieldDefault:
                // A default belongs to the union's first branch (the specification's rule).
                guard let first = branches.first else { throw fail("an empty union has no values") }
                return .union(branch: 0, value: try read(json, first, schema, .fieldDefault, &path))
            case .avro:
                guard case .object(let object) = json, object.members.count == 1, let member = object.members.first,
                    let index = branches.firstIndex(where: { branchName($0, schema) == member.key })
                else {
                    throw expected("a union value wrapped as {\"<branch type>\": value} (branches: \(branches.map { branchName($0, schema) }.joined(separator: ", ")))")
                }
                path.push(index)
                defer { path.pop() }
                return .union(branch: index, value: try read(member.value, branches[index], schema, .avro, &path))
            case .plain:
                for (index, branch) in branches.enumerated() where schema.kinds[branch] != .null {
                    var attempt = path
                    attempt.push(index)
                    if let value = try? read(json, branch, schema, .plain, &attempt) { return .union(branch: index, value: value) }
                }
                throw expected("a value of one of the union's branches (\(branches.map { branchName($0, schema) }.joined(separator: ", ")))")
            }
        }
    }
}

extension AvroJSON {
    /// The value of a logical type's readable plain-JSON form. Nil when `json` is not such a form, so
    /// that the underlying type's own form applies; throws when it is one but is invalid.
    fileprivate static func readableLogicalValue(_ json: JSONValue, _ node: SchemaNode, _ logicalType: LogicalType, _ path: JSONPointer) throws(AvroCodingError) -> AvroValue? {
        func fail(_ message: String) -> AvroCodingError { AvroCodingError(path: path.rendered, message: message) }
        let unit: AvroTemporal.Unit
        let isUTC: Bool
        switch logicalType {
        case .decimal(let precision, let scale):
            return try decimalValue(json, node, precision: precision, scale: scale, path)
        case .uuid:
            // Only a fixed UUID has a form of its own here; a 16-character string is still its raw bytes.
            guard case .fixed = node.content, case .string(let text) = json, text.utf8.count == 36 else { return nil }
            guard let bytes = AvroValue.uuidBytes(text) else { throw fail("\"\(text)\" is not a UUID") }
            return .fixed(bytes)
        case .date:
            guard case .string(let text) = json else { return nil }
            guard let days = AvroTemporal.days(fromDate: text) else { throw fail("\"\(text)\" is not a date (YYYY-MM-DD)") }
            return .int(days)
        case .timeMillis, .timeMicros:
            guard case .string(let text) = json else { return nil }
            let timeUnit: AvroTemporal.Unit = logicalType == .timeMillis ? .millis : .micros
            guard let value = AvroTemporal.time(fromString: text, unit: timeUnit) else {
                throw fail("\"\(text)\" is not a time of day (HH:MM:SS\(timeUnit == .millis ? ".fff" : ".ffffff"))")
            }
            guard timeUnit == .micros else { return .int(Int32(truncatingIfNeeded: value)) }  // < 86,400,000
            return .long(value)
        case .timestampMillis: (unit, isUTC) = (.millis, true)
        case .timestampMicros: (unit, isUTC) = (.micros, true)
        case .timestampNanos: (unit, isUTC) = (.nanos, true)
        case .localTimestampMillis: (unit, isUTC) = (.millis, false)
        case .localTimestampMicros: (unit, isUTC) = (.micros, false)
        case .localTimestampNanos: (unit, isUTC) = (.nanos, false)
        case .duration:
            return nil
        }
        guard case .string(let text) = json else { return nil }
        guard let value = AvroTemporal.timestamp(fromString: text, unit: unit, utc: isUTC) else {
            let form = isUTC ? "a UTC timestamp (YYYY-MM-DDTHH:MM:SS[.f]Z)" : "a local timestamp (YYYY-MM-DDTHH:MM:SS[.f], no zone)"
            throw fail("\"\(text)\" is not \(form) within range of \(logicalType.name)")
        }
        return .long(value)
    }

    /// A decimal from its text or a JSON number, checked against the scale, the precision and, for a
    /// fixed, the size.
    private static func decimalValue(_ json: JSONValue, _ node: SchemaNode, precision: Int, scale: Int, _ path: JSONPointer) throws(AvroCodingError) -> AvroValue {
        func fail(_ message: String) -> AvroCodingError { AvroCodingError(path: path.rendered, message: message) }
        let type = "decimal(\(precision),\(scale))"
        let text: String
        switch json {
        case .string(let string): text = string
        case .integer(let number): text = String(number)
        case .double(let number):
            guard let exact = AvroDecimal.exactText(of: number) else {
                throw fail("\(json.compactText) has too many digits to be read exactly as a JSON number; write the \(type) as a string")
            }
            text = exact
        default:
            throw fail("expected a \(type) as a string or a number, got \(json.compactText)")
        }
        let decimal: AvroDecimal
        switch AvroDecimal.parse(text, scale: scale) {
        case .success(let parsed): decimal = parsed
        case .failure(.tooManyFractionalDigits): throw fail("\"\(text)\" has more fractional digits than the scale \(scale) of \(type)")
        case .failure(.malformed): throw fail("\"\(text)\" is not a decimal number for \(type)")
        }
        let digits = decimal.digitCount()
        guard digits <= precision else { throw fail("\"\(text)\" has \(digits) digits, more than the precision \(precision) of \(type)") }
        guard case .fixed(let fixed) = node.content else { return .bytes(decimal.unscaledBytes) }
        guard let bytes = decimal.fixedBytes(size: fixed.size) else {
            throw fail("\"\(text)\" does not fit in the \(fixed.size) bytes of fixed \(fixed.name.fullName)")
        }
        return .fixed(bytes)
    }
}
