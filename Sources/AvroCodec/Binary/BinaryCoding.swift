/// Avro binary encoding of a value under its schema, as the specification defines it: zig-zag
/// varints for int and long, little-endian IEEE 754 floats, length-prefixed bytes and strings,
/// blocked arrays and maps, the branch index before a union's value.
///
/// Error paths are built while an error unwinds (`AvroCodingError.inside`), so encoding and
/// decoding keep no path state on the success path.
public enum AvroBinary {
    /// The most array items that take no bytes (nulls, empty records) one decode may read, over all
    /// its arrays: beyond this a hostile count could only make the decoder spin and allocate.
    public static let maximumZeroSizeItems = 1_000_000
    /// The deepest nesting decoded; deeper data (only possible through recursive schemas) is refused.
    public static let maximumDepth = 512

    /// Encodes `value` under `schema`. Deterministic: the same value and schema give the same bytes.
    public static func encode(_ value: AvroValue, schema: AvroSchema) throws(AvroCodingError) -> [UInt8] {
        var encoder = Encoder(schema: schema)
        try encoder.encode(value, schema.root)
        return encoder.bytes
    }

    /// Appends the encoding of `value` under `schema` to `bytes` (no intermediate array).
    public static func encode(_ value: AvroValue, schema: AvroSchema, into bytes: inout [UInt8]) throws(AvroCodingError) {
        var encoder = Encoder(schema: schema)
        swap(&encoder.bytes, &bytes)
        defer { swap(&encoder.bytes, &bytes) }
        try encoder.encode(value, schema.root)
    }

    /// Decodes one value written with `schema`; all of `bytes` must be consumed.
    public static func decode(_ bytes: ArraySlice<UInt8>, schema: AvroSchema) throws(AvroCodingError) -> AvroValue {
        let result = bytes.withUnsafeBufferPointer { buffer -> Result<AvroValue, AvroCodingError> in
            var decoder = Decoder(schema: schema, bytes: buffer)
            return Result { () throws(AvroCodingError) -> AvroValue in
                let value = try decoder.decode(schema.root, depth: 0)
                try decoder.expectEnd()
                return value
            }
        }
        return try result.get()
    }

    struct Encoder {
        let schema: AvroSchema
        var bytes: [UInt8] = []

        init(schema: AvroSchema) {
            self.schema = schema
        }

        func mismatch(_ expected: String, _ value: AvroValue) -> AvroCodingError {
            AvroCodingError(path: "", message: "expected \(expected), got \(value)")
        }

        @inline(__always)
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

        mutating func string(_ text: String) {
            var text = text
            text.withUTF8 { utf8 in
                long(Int64(utf8.count))
                bytes.append(contentsOf: utf8)
            }
        }

        mutating func encode(_ value: AvroValue, _ id: SchemaNode.ID) throws(AvroCodingError) {
            // Switch on the value and compare kinds (a trivial enum) first: the schema node's
            // content is only unpacked for complex types.
            let kind = schema.kinds[id]
            switch value {
            case .null where kind == .null: break
            case .boolean(let flag) where kind == .boolean: bytes.append(flag ? 1 : 0)
            case .int(let number) where kind == .int: long(Int64(number))
            case .long(let number) where kind == .long: long(number)
            case .float(let number) where kind == .float: littleEndian(number.bitPattern)
            case .double(let number) where kind == .double: littleEndian(number.bitPattern)
            case .bytes(let data) where kind == .bytes:
                long(Int64(data.count))
                bytes.append(contentsOf: data)
            case .string(let text) where kind == .string:
                string(text)
            case .record(let values) where kind == .record:
                guard case .record(let record) = schema.nodes[id].content else { throw mismatch("record", value) }
                let fieldTypes = record.fieldTypes
                guard values.count == fieldTypes.count else {
                    throw AvroCodingError(path: "", message: "record \(record.name.fullName) has \(record.fields.count) fields, value has \(values.count)")
                }
                for index in 0..<values.count {
                    do {
                        try encode(values[index], fieldTypes[index])
                    } catch {
                        throw error.inside(record.fields[index].name)
                    }
                }
            case .enumeration(let symbol) where kind == .enum:
                guard case .enumeration(let enumeration) = schema.nodes[id].content else { throw mismatch("enum", value) }
                guard let index = enumeration.symbols.firstIndex(of: symbol) else {
                    throw AvroCodingError(path: "", message: "\"\(symbol)\" is not a symbol of enum \(enumeration.name.fullName)")
                }
                long(Int64(index))
            case .array(let values) where kind == .array:
                guard case .array(let items) = schema.nodes[id].content else { throw mismatch("array", value) }
                if !values.isEmpty {
                    long(Int64(values.count))
                    for (index, item) in values.enumerated() {
                        do {
                            try encode(item, items)
                        } catch {
                            throw error.inside(index)
                        }
                    }
                }
                long(0)
            case .map(let entries) where kind == .map:
                guard case .map(let valueType) = schema.nodes[id].content else { throw mismatch("map", value) }
                if !entries.isEmpty {
                    long(Int64(entries.count))
                    for entry in entries {
                        string(entry.key)
                        do {
                            try encode(entry.value, valueType)
                        } catch {
                            throw error.inside(entry.key)
                        }
                    }
                }
                long(0)
            case .union(let branch, let inner) where kind == .union:
                guard case .union(let branches) = schema.nodes[id].content else { throw mismatch("union", value) }
                guard branch >= 0 && branch < branches.count else {
                    throw AvroCodingError(path: "", message: "union branch \(branch) does not exist (the union has \(branches.count))")
                }
                long(Int64(branch))
                try encode(inner, branches[branch])
            case .fixed(let data) where kind == .fixed:
                guard case .fixed(let fixed) = schema.nodes[id].content else { throw mismatch("fixed", value) }
                guard data.count == fixed.size else {
                    throw AvroCodingError(path: "", message: "fixed \(fixed.name.fullName) holds \(fixed.size) bytes, value has \(data.count)")
                }
                bytes.append(contentsOf: data)
            default:
                throw mismatch(kind.rawValue, value)
            }
        }
    }

    /// Reads Avro binary from a buffer. Every length, count, index and depth is checked against
    /// what is left before anything is allocated, so hostile bytes end in a thrown error.
    struct Decoder {
        let schema: AvroSchema
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0
        /// Zero-byte array items this decode may still read (shared by all its arrays).
        var zeroSizeItemsLeft = AvroBinary.maximumZeroSizeItems

        init(schema: AvroSchema, bytes: UnsafeBufferPointer<UInt8>) {
            self.schema = schema
            self.bytes = bytes
        }

        func failure(_ message: String) -> AvroCodingError {
            AvroCodingError(path: "", message: message + " (at byte \(position))")
        }

        var remaining: Int { bytes.count - position }

        func expectEnd() throws(AvroCodingError) {
            guard position == bytes.count else {
                throw AvroCodingError(path: "", message: "\(bytes.count - position) bytes left over after the value")
            }
        }

        @inline(__always)
        mutating func long() throws(AvroCodingError) -> Int64 {
            // Fast path: one byte (small numbers, lengths, counts, indexes).
            if position < bytes.count, bytes[position] < 0x80 {
                let byte = UInt64(bytes[position])
                position += 1
                return Int64(bitPattern: byte >> 1) ^ -Int64(bitPattern: byte & 1)
            }
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard position < bytes.count else { throw failure("input ends inside a variable-length integer") }
                let byte = bytes[position]
                position += 1
                guard shift < 64 else { throw failure("variable-length integer is longer than 10 bytes") }
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            return Int64(bitPattern: result >> 1) ^ -Int64(bitPattern: result & 1)
        }

        mutating func take(_ count: Int) throws(AvroCodingError) -> UnsafeBufferPointer<UInt8> {
            guard count >= 0, count <= remaining else {
                throw failure("length \(count) exceeds the \(remaining) bytes left")
            }
            defer { position += count }
            return UnsafeBufferPointer(rebasing: bytes[position..<(position + count)])
        }

        mutating func length() throws(AvroCodingError) -> Int {
            let value = try long()
            guard value >= 0, value <= Int64(remaining) else { throw failure("length \(value) is negative or exceeds the \(remaining) bytes left") }
            return Int(value)
        }

        mutating func littleEndian64() throws(AvroCodingError) -> UInt64 {
            guard remaining >= 8 else { throw failure("input ends inside an 8-byte number") }
            guard let base = bytes.baseAddress else { throw failure("empty input") }
            let value = UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)
            position += 8
            return UInt64(littleEndian: value)
        }

        mutating func littleEndian32() throws(AvroCodingError) -> UInt32 {
            guard remaining >= 4 else { throw failure("input ends inside a 4-byte number") }
            guard let base = bytes.baseAddress else { throw failure("empty input") }
            let value = UnsafeRawPointer(base + position).loadUnaligned(as: UInt32.self)
            position += 4
            return UInt32(littleEndian: value)
        }

        mutating func boolean() throws(AvroCodingError) -> Bool {
            guard position < bytes.count else { throw failure("input ends before a boolean") }
            let byte = bytes[position]
            guard byte <= 1 else { throw failure("boolean byte is \(byte), not 0 or 1") }
            position += 1
            return byte == 1
        }

        mutating func int() throws(AvroCodingError) -> Int32 {
            let value = try long()
            guard let number = Int32(exactly: value) else { throw failure("int value \(value) is out of 32-bit range") }
            return number
        }

        mutating func string() throws(AvroCodingError) -> String {
            let utf8 = try take(try length())
            guard let text = String(validating: utf8, as: UTF8.self) else { throw failure("string is not valid UTF-8") }
            return text
        }

        /// The next block's item count (a negative count is followed by the block's byte size). Items
        /// that take bytes are bounded by the bytes left; zero-byte items by the decode's budget.
        mutating func blockCount(itemsTakeBytes: Bool) throws(AvroCodingError) -> Int {
            var count = try long()
            if count < 0 {
                guard count != Int64.min else { throw failure("invalid block count") }
                count = -count
                _ = try length()
            }
            if itemsTakeBytes {
                guard count <= Int64(remaining) else { throw failure("block of \(count) items cannot fit in the \(remaining) bytes left") }
            } else {
                guard count <= Int64(zeroSizeItemsLeft) else {
                    throw failure("block of \(count) zero-byte items exceeds the limit of \(AvroBinary.maximumZeroSizeItems) per record")
                }
                zeroSizeItemsLeft -= Int(count)
            }
            return Int(count)
        }

        /// A union's branch index, checked against its branch count.
        mutating func branch(of count: Int) throws(AvroCodingError) -> Int {
            let index = try long()
            guard index >= 0, index < Int64(count) else {
                throw failure("union branch index \(index) is out of range (the union has \(count) branches)")
            }
            return Int(index)
        }

        /// An enum's symbol index, checked against its symbol count.
        mutating func symbolIndex(of enumeration: EnumType) throws(AvroCodingError) -> Int {
            let index = try long()
            guard index >= 0, index < Int64(enumeration.symbols.count) else {
                throw failure("enum index \(index) is out of range for \(enumeration.name.fullName) (\(enumeration.symbols.count) symbols)")
            }
            return Int(index)
        }

        func takesBytes(_ id: SchemaNode.ID) -> Bool { schema.takesBytes[id] }

        mutating func primitive(_ kind: AvroKind) throws(AvroCodingError) -> AvroValue {
            switch kind {
            case .null: return .null
            case .boolean: return .boolean(try boolean())
            case .int: return .int(try int())
            case .long: return .long(try long())
            case .float: return .float(Float(bitPattern: try littleEndian32()))
            case .double: return .double(Double(bitPattern: try littleEndian64()))
            case .bytes: return .bytes(Array(try take(try length())))
            case .string: return .string(try string())
            default: throw failure("unexpected kind \(kind)")
            }
        }

        mutating func decode(_ id: SchemaNode.ID, depth: Int) throws(AvroCodingError) -> AvroValue {
            guard depth < AvroBinary.maximumDepth else { throw failure("data nests deeper than \(AvroBinary.maximumDepth) levels") }
            switch schema.nodes[id].content {
            case .primitive(let kind):
                return try primitive(kind)
            case .record(let record):
                var values: [AvroValue] = []
                values.reserveCapacity(record.fieldTypes.count)
                for index in 0..<record.fieldTypes.count {
                    do {
                        values.append(try decode(record.fieldTypes[index], depth: depth + 1))
                    } catch {
                        throw error.inside(record.fields[index].name)
                    }
                }
                return .record(values)
            case .enumeration(let enumeration):
                return .enumeration(enumeration.symbols[try symbolIndex(of: enumeration)])
            case .array(let items):
                var values: [AvroValue] = []
                let itemsTakeBytes = takesBytes(items)
                while true {
                    let count = try blockCount(itemsTakeBytes: itemsTakeBytes)
                    if count == 0 { break }
                    values.reserveCapacity(values.count + count)
                    for _ in 0..<count {
                        do {
                            values.append(try decode(items, depth: depth + 1))
                        } catch {
                            throw error.inside(values.count)
                        }
                    }
                }
                return .array(values)
            case .map(let valueType):
                var entries: [AvroValue.MapEntry] = []
                while true {
                    let count = try blockCount(itemsTakeBytes: true)
                    if count == 0 { break }
                    for _ in 0..<count {
                        let key: String
                        do {
                            key = try string()
                        } catch {
                            throw error.inside(entries.count)
                        }
                        do {
                            entries.append(AvroValue.MapEntry(key: key, value: try decode(valueType, depth: depth + 1)))
                        } catch {
                            throw error.inside(key)
                        }
                    }
                }
                return .map(entries)
            case .union(let branches):
                let index = try branch(of: branches.count)
                return .union(branch: index, value: try decode(branches[index], depth: depth + 1))
            case .fixed(let fixed):
                return .fixed(Array(try take(fixed.size)))
            }
        }

        /// Reads past one value written with node `id` without building it.
        mutating func skip(_ id: SchemaNode.ID, depth: Int) throws(AvroCodingError) {
            guard depth < AvroBinary.maximumDepth else { throw failure("data nests deeper than \(AvroBinary.maximumDepth) levels") }
            switch schema.nodes[id].content {
            case .primitive(let kind):
                switch kind {
                case .null: break
                case .boolean: _ = try boolean()
                case .int, .long: _ = try long()
                case .float: _ = try take(4)
                case .double: _ = try take(8)
                case .bytes, .string: _ = try take(try length())
                default: throw failure("unexpected kind \(kind)")
                }
            case .record(let record):
                for index in 0..<record.fieldTypes.count {
                    do {
                        try skip(record.fieldTypes[index], depth: depth + 1)
                    } catch {
                        throw error.inside(record.fields[index].name)
                    }
                }
            case .enumeration(let enumeration):
                _ = try symbolIndex(of: enumeration)
            case .array(let items):
                try skipBlocks(itemsTakeBytes: takesBytes(items)) { (decoder: inout Decoder) throws(AvroCodingError) in try decoder.skip(items, depth: depth + 1) }
            case .map(let valueType):
                try skipBlocks(itemsTakeBytes: true) { (decoder: inout Decoder) throws(AvroCodingError) in
                    _ = try decoder.take(try decoder.length())
                    try decoder.skip(valueType, depth: depth + 1)
                }
            case .union(let branches):
                try skip(branches[try branch(of: branches.count)], depth: depth + 1)
            case .fixed(let fixed):
                _ = try take(fixed.size)
            }
        }

        /// Skips an array's or map's blocks (a block that gives its byte size is not jumped over: its
        /// items are checked like any others).
        mutating func skipBlocks(itemsTakeBytes: Bool, item: (inout Decoder) throws(AvroCodingError) -> Void) throws(AvroCodingError) {
            var seen = 0
            while true {
                let count = try blockCount(itemsTakeBytes: itemsTakeBytes)
                if count == 0 { return }
                for index in 0..<count {
                    do {
                        try item(&self)
                    } catch {
                        throw error.inside(seen + index)
                    }
                }
                seen += count
            }
        }
    }
}
