/// Checks a default value against its type, as the specification's table of default-value JSON
/// encodings says (a union's default belongs to its first branch; bytes and fixed are strings of
/// code points 0–255).
struct DefaultValueValidator {
    let nodes: [SchemaNode]

    /// A sentence saying why `value` is not a valid default for node `type`, or nil when it is.
    func problem(with value: JSONValue, for type: SchemaNode.ID) -> String? {
        let node = nodes[type]
        switch node.content {
        case .primitive(let kind):
            return primitiveProblem(value, kind: kind)
        case .enumeration(let enumeration):
            guard case .string(let symbol) = value else { return expected("one of the symbols of enum \"\(enumeration.name.fullName)\"", value) }
            return enumeration.symbols.contains(symbol)
                ? nil : "default \"\(symbol)\" is not a symbol of enum \"\(enumeration.name.fullName)\" (\(enumeration.symbols.joined(separator: ", ")))"
        case .fixed(let fixed):
            guard case .string(let text) = value else { return expected("a string of \(fixed.size) bytes", value) }
            guard let count = latin1Count(text) else { return "default for fixed must use only code points \\u0000–\\u00ff (one per byte)" }
            return count == fixed.size ? nil : "default for fixed \"\(fixed.name.fullName)\" must be \(fixed.size) bytes long, not \(count)"
        case .array(let items):
            guard case .array(let elements) = value else { return expected("an array", value) }
            for (index, element) in elements.enumerated() {
                if let problem = problem(with: element, for: items) { return "element \(index): \(problem)" }
            }
            return nil
        case .map(let values):
            guard case .object(let object) = value else { return expected("an object (a map)", value) }
            for member in object.members {
                if let problem = problem(with: member.value, for: values) { return "map value \"\(member.key)\": \(problem)" }
            }
            return nil
        case .union(let branches):
            guard let first = branches.first else { return "an empty union has no valid default" }
            if let problem = problem(with: value, for: first) {
                let firstName = nodes[first].name?.fullName ?? nodes[first].kind.rawValue
                return "a union's default must match its first branch (\(firstName)): \(problem)"
            }
            return nil
        case .record(let record):
            guard case .object(let object) = value else { return expected("an object with the fields of record \"\(record.name.fullName)\"", value) }
            for field in record.fields {
                if let fieldValue = object[field.name] {
                    if let problem = problem(with: fieldValue, for: field.type) { return "field \"\(field.name)\": \(problem)" }
                } else if !field.hasDefault {
                    return "field \"\(field.name)\" of record \"\(record.name.fullName)\" is missing and has no default of its own"
                }
            }
            return nil
        }
    }

    private func primitiveProblem(_ value: JSONValue, kind: AvroKind) -> String? {
        switch (kind, value) {
        case (.null, .null): return nil
        case (.null, _): return expected("null", value)
        case (.boolean, .bool): return nil
        case (.boolean, _): return expected("true or false", value)
        case (.int, .integer(let number)):
            return (Int64(Int32.min)...Int64(Int32.max)).contains(number) ? nil : "default \(number) is out of range for int (32-bit)"
        case (.int, .double(let number)) where number == number.rounded() && number.magnitude < 1e15:
            return "default \(number) is not an integer literal (it is written with a fraction or an exponent); an int default must be a JSON integer such as \(Int64(number))"
        case (.int, _): return expected("an integer", value)
        case (.long, .integer): return nil
        case (.long, .double(let number)) where number == number.rounded():
            // An integer literal that fits in 64 bits is parsed as `.integer`; an integral `.double`
            // inside that range was written with a fraction or an exponent (1E5, 7.0), which Avro's
            // Java library rejects as not an integral number.
            if number >= -9.223372036854775808e18, number < 9.223372036854775808e18 {
                return "default \(number) is not an integer literal (it is written with a fraction or an exponent); a long default must be a JSON integer such as \(Int64(number))"
            }
            return "default \(number) is out of range for long (64-bit)"
        case (.long, _): return expected("an integer", value)
        case (.float, .integer), (.float, .double), (.double, .integer), (.double, .double): return nil
        case (.float, .string(let text)), (.double, .string(let text)):
            // Avro's Java library writes non-finite defaults as these strings.
            return ["NaN", "Infinity", "-Infinity"].contains(text) ? nil : expected("a number", value)
        case (.float, _), (.double, _): return expected("a number", value)
        case (.string, .string): return nil
        case (.string, _): return expected("a string", value)
        case (.bytes, .string(let text)):
            return latin1Count(text) == nil ? "default for bytes must use only code points \\u0000–\\u00ff (one per byte)" : nil
        case (.bytes, _): return expected("a string (bytes as code points 0–255)", value)
        default: return expected(kind.rawValue, value)
        }
    }

    private func expected(_ what: String, _ value: JSONValue) -> String {
        "default must be \(what), not \(JSONWriter.render(value))"
    }

    /// The number of bytes a bytes/fixed default encodes, or nil if it has a code point above 255.
    private func latin1Count(_ text: String) -> Int? {
        var count = 0
        for scalar in text.unicodeScalars {
            guard scalar.value <= 0xFF else { return nil }
            count += 1
        }
        return count
    }
}
