/// Avro binary encoding of a value under its schema, as the specification defines it: zig-zag
/// varints for int and long, little-endian IEEE 754 floats, length-prefixed bytes and strings,
/// blocked arrays and maps, the branch index before a union's value.
public enum AvroBinary {
    /// The most items one array or map may declare when its items take no bytes (nulls, empty
    /// records): beyond this a hostile count could only make the decoder spin.
    public static let maximumZeroSizeItems = 1_000_000
    /// The deepest nesting decoded; deeper data (only possible through recursive schemas) is refused.
    public static let maximumDepth = 512

    /// Encodes `value` under `schema`. Deterministic: the same value and schema give the same bytes.
    public static func encode(_ value: AvroValue, schema: AvroSchema) throws(AvroCodingError) -> [UInt8] {
        var encoder = Encoder(schema: schema)
        try encoder.encode(value, schema.root)
        return encoder.bytes
    }

    /// Decodes one value written with `schema`; all of `bytes` must be consumed.
    public static func decode(_ bytes: ArraySlice<UInt8>, schema: AvroSchema) throws(AvroCodingError) -> AvroValue {
        var decoder = Decoder(schema: schema, bytes: bytes)
        let value = try decoder.decode(schema.root, depth: 0)
        guard decoder.position == bytes.endIndex else {
            throw AvroCodingError(path: "", message: "\(bytes.endIndex - decoder.position) bytes left over after the value")
        }
        return value
    }

    struct Encoder {
        let schema: AvroSchema
        var bytes: [UInt8] = []
        var path = JSONPointer()

        init(schema: AvroSchema) {
            self.schema = schema
            bytes.reserveCapacity(64)
        }

        func mismatch(_ expected: String, _ value: AvroValue) -> AvroCodingError {
            AvroCodingError(path: path.rendered, message: "expected \(expected), got \(value)")
        }

        mutating func long(_ value: Int64) {
            var zigzag = UInt64(bitPattern: (value << 1) ^ (value >> 63))
            while zigzag >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: zigzag) | 0x80)
                zigzag >>= 7
            }
            bytes.append(UInt8(zigzag))
        }

        mutating func littleEndian<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }

        mutating func encode(_ value: AvroValue, _ id: SchemaNode.ID) throws(AvroCodingError) {
            switch (schema[id].content, value) {
            case (.primitive(.null), .null): break
            case (.primitive(.boolean), .boolean(let flag)): bytes.append(flag ? 1 : 0)
            case (.primitive(.int), .int(let number)): long(Int64(number))
            case (.primitive(.long), .long(let number)): long(number)
            case (.primitive(.float), .float(let number)): littleEndian(number.bitPattern)
            case (.primitive(.double), .double(let number)): littleEndian(number.bitPattern)
            case (.primitive(.bytes), .bytes(let data)):
                long(Int64(data.count))
                bytes.append(contentsOf: data)
            case (.primitive(.string), .string(let text)):
                long(Int64(text.utf8.count))
                bytes.append(contentsOf: text.utf8)
            case (.record(let record), .record(let values)):
                guard values.count == record.fields.count else {
                    throw AvroCodingError(path: path.rendered, message: "record \(record.name.fullName) has \(record.fields.count) fields, value has \(values.count)")
                }
                for (index, field) in record.fields.enumerated() {
                    path.push(index)
                    try encode(values[index], field.type)
                    path.pop()
                }
            case (.enumeration(let enumeration), .enumeration(let symbol)):
                guard let index = enumeration.symbols.firstIndex(of: symbol) else {
                    throw AvroCodingError(path: path.rendered, message: "\"\(symbol)\" is not a symbol of enum \(enumeration.name.fullName)")
                }
                long(Int64(index))
            case (.array(let items), .array(let values)):
                if !values.isEmpty {
                    long(Int64(values.count))
                    for (index, item) in values.enumerated() {
                        path.push(index)
                        try encode(item, items)
                        path.pop()
                    }
                }
                long(0)
            case (.map(let valueType), .map(let entries)):
                if !entries.isEmpty {
                    long(Int64(entries.count))
                    for (index, entry) in entries.enumerated() {
                        long(Int64(entry.key.utf8.count))
                        bytes.append(contentsOf: entry.key.utf8)
                        path.push(index)
                        try encode(entry.value, valueType)
                        path.pop()
                    }
                }
                long(0)
            case (.union(let branches), .union(let branch, let inner)):
                guard branch >= 0 && branch < branches.count else {
                    throw AvroCodingError(path: path.rendered, message: "union branch \(branch) does not exist (the union has \(branches.count))")
                }
                long(Int64(branch))
                path.push(branch)
                try encode(inner, branches[branch])
                path.pop()
            case (.fixed(let fixed), .fixed(let data)):
                guard data.count == fixed.size else {
                    throw AvroCodingError(path: path.rendered, message: "fixed \(fixed.name.fullName) holds \(fixed.size) bytes, value has \(data.count)")
                }
                bytes.append(contentsOf: data)
            default:
                throw mismatch(schema[id].kind.rawValue, value)
            }
        }
    }

    struct Decoder {
        let schema: AvroSchema
        let bytes: ArraySlice<UInt8>
        var position: Int
        var path = JSONPointer()

        init(schema: AvroSchema, bytes: ArraySlice<UInt8>) {
            self.schema = schema
            self.bytes = bytes
            self.position = bytes.startIndex
        }

        func failure(_ message: String) -> AvroCodingError {
            AvroCodingError(path: path.rendered, message: message + " (at byte \(position - bytes.startIndex))")
        }

        var remaining: Int { bytes.endIndex - position }

        mutating func long() throws(AvroCodingError) -> Int64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard position < bytes.endIndex else { throw failure("input ends inside a variable-length integer") }
                let byte = bytes[position]
                position += 1
                guard shift < 64 else { throw failure("variable-length integer is longer than 10 bytes") }
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            return Int64(bitPattern: result >> 1) ^ -Int64(bitPattern: result & 1)
        }

        mutating func take(_ count: Int) throws(AvroCodingError) -> ArraySlice<UInt8> {
            guard count >= 0, count <= remaining else {
                throw failure("length \(count) exceeds the \(remaining) bytes left")
            }
            defer { position += count }
            return bytes[position..<(position + count)]
        }

        mutating func length() throws(AvroCodingError) -> Int {
            let value = try long()
            guard value >= 0, value <= Int64(remaining) else { throw failure("length \(value) is negative or exceeds the \(remaining) bytes left") }
            return Int(value)
        }

        mutating func littleEndian64() throws(AvroCodingError) -> UInt64 {
            let slice = try take(8)
            var value: UInt64 = 0
            for (shift, byte) in slice.enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
            return value
        }

        mutating func littleEndian32() throws(AvroCodingError) -> UInt32 {
            let slice = try take(4)
            var value: UInt32 = 0
            for (shift, byte) in slice.enumerated() { value |= UInt32(byte) << (8 * UInt32(shift)) }
            return value
        }

        /// The next block's item count (a negative count is followed by the block's byte size).
        mutating func blockCount(itemsTakeBytes: Bool, seen: Int) throws(AvroCodingError) -> Int {
            var count = try long()
            if count < 0 {
                guard count != Int64.min else { throw failure("invalid block count") }
                count = -count
                _ = try length()
            }
            let limit = itemsTakeBytes ? Int64(remaining) : Int64(AvroBinary.maximumZeroSizeItems - seen)
            guard count <= limit else { throw failure("block of \(count) items cannot fit in the \(remaining) bytes left") }
            return Int(count)
        }

        func takesBytes(_ id: SchemaNode.ID) -> Bool {
            switch schema[id].content {
            case .primitive(.null): return false
            case .record(let record): return record.fields.contains { takesBytes($0.type) }
            case .fixed(let fixed): return fixed.size > 0
            default: return true
            }
        }

        mutating func decode(_ id: SchemaNode.ID, depth: Int) throws(AvroCodingError) -> AvroValue {
            guard depth < AvroBinary.maximumDepth else { throw failure("data nests deeper than \(AvroBinary.maximumDepth) levels") }
            switch schema[id].content {
            case .primitive(let kind):
                switch kind {
                case .null: return .null
                case .boolean:
                    let byte = try take(1).first ?? 0
                    guard byte <= 1 else { throw failure("boolean byte is \(byte), not 0 or 1") }
                    return .boolean(byte == 1)
                case .int:
                    let value = try long()
                    guard let number = Int32(exactly: value) else { throw failure("int value \(value) is out of 32-bit range") }
                    return .int(number)
                case .long: return .long(try long())
                case .float: return .float(Float(bitPattern: try littleEndian32()))
                case .double: return .double(Double(bitPattern: try littleEndian64()))
                case .bytes: return .bytes(Array(try take(try length())))
                case .string:
                    let slice = try take(try length())
                    guard let text = slice.withContiguousStorageIfAvailable({ JSONParser.validatedString($0) }) ?? JSONParser.validatedString(Array(slice)) else {
                        throw failure("string is not valid UTF-8")
                    }
                    return .string(text)
                default: throw failure("unexpected kind \(kind)")
                }
            case .record(let record):
                var values: [AvroValue] = []
                values.reserveCapacity(record.fields.count)
                for (index, field) in record.fields.enumerated() {
                    path.push(index)
                    values.append(try decode(field.type, depth: depth + 1))
                    path.pop()
                }
                return .record(values)
            case .enumeration(let enumeration):
                let index = try long()
                guard index >= 0, index < Int64(enumeration.symbols.count) else {
                    throw failure("enum index \(index) is out of range for \(enumeration.name.fullName) (\(enumeration.symbols.count) symbols)")
                }
                return .enumeration(enumeration.symbols[Int(index)])
            case .array(let items):
                var values: [AvroValue] = []
                let itemsTakeBytes = takesBytes(items)
                while true {
                    let count = try blockCount(itemsTakeBytes: itemsTakeBytes, seen: values.count)
                    if count == 0 { break }
                    for _ in 0..<count {
                        path.push(values.count)
                        values.append(try decode(items, depth: depth + 1))
                        path.pop()
                    }
                }
                return .array(values)
            case .map(let valueType):
                var entries: [AvroValue.MapEntry] = []
                while true {
                    let count = try blockCount(itemsTakeBytes: true, seen: entries.count)
                    if count == 0 { break }
                    for _ in 0..<count {
                        let keyBytes = try take(try length())
                        guard let key = JSONParser.validatedString(Array(keyBytes)) else { throw failure("map key is not valid UTF-8") }
                        path.push(entries.count)
                        entries.append(AvroValue.MapEntry(key: key, value: try decode(valueType, depth: depth + 1)))
                        path.pop()
                    }
                }
                return .map(entries)
            case .union(let branches):
                let index = try long()
                guard index >= 0, index < Int64(branches.count) else {
                    throw failure("union branch index \(index) is out of range (the union has \(branches.count) branches)")
                }
                path.push(Int(index))
                defer { path.pop() }
                return .union(branch: Int(index), value: try decode(branches[Int(index)], depth: depth + 1))
            case .fixed(let fixed):
                return .fixed(Array(try take(fixed.size)))
            }
        }
    }
}

extension JSONParser {
    /// `validatedString` for an array.
    static func validatedString(_ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBufferPointer { validatedString($0) }
    }
}
