import CAvro
import Locking

/// Binary encoding and decoding of values under their writer's own schema through Avro C's generic
/// value interface (`avro_value_t`).
///
/// Avro C is given the schema's Parsing Canonical Form (it needs no more for binary data); the
/// schema itself was validated by our parser, which Avro C's is not strict enough to do. One
/// generic value, memory reader and memory writer are reused for every call under a lock: a codec
/// allocates nothing per record in C, and every C reference is released in `deinit`, so memory
/// stays flat however many records pass through it.
///
/// Decoding through Avro C trusts the bytes' lengths and counts (a 6-byte array block declaring 2^40
/// nulls keeps it appending for minutes; a string declaring 2^62 bytes makes it try to allocate them):
/// use `AvroBinary.decode` or a `ResolutionPlan` for bytes from outside the process.
///
/// ```swift
/// let codec = try AvroCCodec(schema: schema)
/// let bytes = try codec.encode(value)
/// ```
public final class AvroCCodec: Sendable {
    /// The schema the values follow.
    public let schema: AvroSchema
    // The C objects live in `State`, reached only under `state`'s lock, and are freed in deinit.
    private let state: Locked<State>

    private struct State: ~Copyable {
        var cSchema: avro_schema_t
        var valueClass: UnsafeMutablePointer<avro_value_iface_t>
        var value: avro_value_t
        var writer: avro_writer_t
        var reader: avro_reader_t
        var scratch: UnsafeMutableRawBufferPointer

        deinit {
            var value = value
            cavro_value_decref(&value)
            cavro_iface_decref(valueClass)
            cavro_schema_decref(cSchema)
            avro_writer_free(writer)
            avro_reader_free(reader)
            scratch.deallocate()
        }
    }

    /// Prepares Avro C's generic value class for `schema`.
    public init(schema: AvroSchema) throws(AvroCodingError) {
        self.schema = schema
        let text = Array(schema.canonicalForm.utf8)
        var cSchema: avro_schema_t?
        let parsed = text.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { avro_schema_from_json_length($0.baseAddress, $0.count, &cSchema) }
        }
        guard parsed == 0, let cSchema else {
            throw AvroCodingError(path: "", message: "Avro C refused the schema: \(String(cString: avro_strerror()))")
        }
        guard let valueClass = avro_generic_class_from_schema(cSchema) else {
            let message = String(cString: avro_strerror())
            cavro_schema_decref(cSchema)
            throw AvroCodingError(path: "", message: "Avro C has no value class for the schema: \(message)")
        }
        var value = avro_value_t()
        guard avro_generic_value_new(valueClass, &value) == 0 else {
            let message = String(cString: avro_strerror())
            cavro_iface_decref(valueClass)
            cavro_schema_decref(cSchema)
            throw AvroCodingError(path: "", message: "Avro C could not create a value: \(message)")
        }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        let writer = avro_writer_memory(scratch.baseAddress?.assumingMemoryBound(to: CChar.self), Int64(scratch.count))
        let reader = avro_reader_memory(scratch.baseAddress?.assumingMemoryBound(to: CChar.self), 0)
        guard let writer, let reader else {
            if let writer { avro_writer_free(writer) }
            if let reader { avro_reader_free(reader) }
            scratch.deallocate()
            cavro_value_decref(&value)
            cavro_iface_decref(valueClass)
            cavro_schema_decref(cSchema)
            throw AvroCodingError(path: "", message: "Avro C could not create a memory reader or writer")
        }
        state = Locked(State(cSchema: cSchema, valueClass: valueClass, value: value, writer: writer, reader: reader, scratch: scratch))
    }

    /// Encodes `value` (which must follow `schema`). Byte-identical to `AvroBinary.encode`, except
    /// for maps with duplicate keys (Avro C keeps one) or keys containing NUL (Avro C cuts them there).
    public func encode(_ value: AvroValue) throws(AvroCodingError) -> [UInt8] {
        let schema = self.schema
        return try state.withLock { (state: inout State) throws(AvroCodingError) -> [UInt8] in
            _ = cavro_reset(&state.value)
            try Self.fill(&state.value, with: value, schema.root, schema)
            while true {
                avro_writer_memory_set_dest(state.writer, state.scratch.baseAddress?.assumingMemoryBound(to: CChar.self), Int64(state.scratch.count))
                let status = avro_value_write(state.writer, &state.value)
                if status == 0 {
                    let count = Int(avro_writer_tell(state.writer))
                    return [UInt8](UnsafeRawBufferPointer(rebasing: state.scratch[0..<count]))
                }
                // ENOSPC: the scratch buffer is too small; double it and write again.
                guard status == ENOSPC, state.scratch.count < Int(Int32.max) else {
                    throw AvroCodingError(path: "", message: "Avro C could not write the value: \(String(cString: avro_strerror()))")
                }
                let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: state.scratch.count * 2, alignment: 16)
                state.scratch.deallocate()
                state.scratch = larger
            }
        }
    }

    /// Decodes one value. For trusted bytes only (see the type's documentation); Avro C's memory
    /// reader cannot say whether bytes were left over, so trailing bytes go unnoticed here.
    public func decode(_ bytes: [UInt8]) throws(AvroCodingError) -> AvroValue {
        let schema = self.schema
        return try state.withLock { (state: inout State) throws(AvroCodingError) -> AvroValue in
            let status = bytes.withUnsafeBufferPointer { buffer -> Int32 in
                buffer.withMemoryRebound(to: CChar.self) { chars -> Int32 in
                    avro_reader_memory_set_source(state.reader, chars.baseAddress, Int64(chars.count))
                    return avro_value_read(state.reader, &state.value)
                }
            }
            guard status == 0 else {
                throw AvroCodingError(path: "", message: "Avro C could not read the value: \(String(cString: avro_strerror()))")
            }
            return try Self.read(&state.value, schema.root, schema)
        }
    }

    private static func check(_ status: Int32, _ what: String) throws(AvroCodingError) {
        guard status == 0 else { throw AvroCodingError(path: "", message: "Avro C could not \(what): \(String(cString: avro_strerror()))") }
    }

    private static func fill(_ target: inout avro_value_t, with value: AvroValue, _ id: SchemaNode.ID, _ schema: AvroSchema) throws(AvroCodingError) {
        switch (schema.nodes[id].content, value) {
        case (.primitive(.null), .null): try check(cavro_set_null(&target), "set a null")
        case (.primitive(.boolean), .boolean(let flag)): try check(cavro_set_boolean(&target, flag ? 1 : 0), "set a boolean")
        case (.primitive(.int), .int(let number)): try check(cavro_set_int(&target, number), "set an int")
        case (.primitive(.long), .long(let number)): try check(cavro_set_long(&target, number), "set a long")
        case (.primitive(.float), .float(let number)): try check(cavro_set_float(&target, number), "set a float")
        case (.primitive(.double), .double(let number)): try check(cavro_set_double(&target, number), "set a double")
        case (.primitive(.bytes), .bytes(let data)):
            let status = data.withUnsafeBytes { cavro_set_bytes(&target, UnsafeMutableRawPointer(mutating: $0.baseAddress), $0.count) }
            try check(status, "set bytes")
        case (.primitive(.string), .string(let text)):
            // Native strings are NUL-terminated in place; the length given includes the NUL.
            let size = text.utf8.count + 1
            try check(text.withCString { cavro_set_string_len(&target, $0, size) }, "set a string")
        case (.record(let record), .record(let values)):
            guard values.count == record.fieldTypes.count else {
                throw AvroCodingError(path: "", message: "record \(record.name.fullName) has \(record.fields.count) fields, value has \(values.count)")
            }
            var child = avro_value_t()
            for index in 0..<values.count {
                do {
                    try check(cavro_get_by_index(&target, index, &child), "reach a field")
                    try fill(&child, with: values[index], record.fieldTypes[index], schema)
                } catch {
                    throw error.inside(record.fields[index].name)
                }
            }
        case (.enumeration(let enumeration), .enumeration(let symbol)):
            guard let index = enumeration.symbols.firstIndex(of: symbol) else {
                throw AvroCodingError(path: "", message: "\"\(symbol)\" is not a symbol of enum \(enumeration.name.fullName)")
            }
            try check(cavro_set_enum(&target, Int32(index)), "set an enum")
        case (.array(let items), .array(let values)):
            var child = avro_value_t()
            for (index, item) in values.enumerated() {
                do {
                    try check(cavro_append(&target, &child), "append to an array")
                    try fill(&child, with: item, items, schema)
                } catch {
                    throw error.inside(index)
                }
            }
        case (.map(let valueType), .map(let entries)):
            var child = avro_value_t()
            for entry in entries {
                do {
                    try check(entry.key.withCString { cavro_add(&target, $0, &child) }, "add a map entry")
                    try fill(&child, with: entry.value, valueType, schema)
                } catch {
                    throw error.inside(entry.key)
                }
            }
        case (.union(let branches), .union(let branch, let inner)):
            guard branch >= 0 && branch < branches.count else {
                throw AvroCodingError(path: "", message: "union branch \(branch) does not exist (the union has \(branches.count))")
            }
            var child = avro_value_t()
            try check(cavro_set_branch(&target, Int32(branch), &child), "set a union branch")
            try fill(&child, with: inner, branches[branch], schema)
        case (.fixed(let fixed), .fixed(let data)):
            guard data.count == fixed.size else {
                throw AvroCodingError(path: "", message: "fixed \(fixed.name.fullName) holds \(fixed.size) bytes, value has \(data.count)")
            }
            let status = data.withUnsafeBytes { cavro_set_fixed(&target, UnsafeMutableRawPointer(mutating: $0.baseAddress), $0.count) }
            try check(status, "set a fixed")
        default:
            throw AvroCodingError(path: "", message: "expected \(schema[id].kind.rawValue), got \(value)")
        }
    }

    private static func read(_ source: inout avro_value_t, _ id: SchemaNode.ID, _ schema: AvroSchema) throws(AvroCodingError) -> AvroValue {
        switch schema.nodes[id].content {
        case .primitive(let kind):
            switch kind {
            case .null: return .null
            case .boolean:
                var flag: Int32 = 0
                try check(cavro_get_boolean(&source, &flag), "get a boolean")
                return .boolean(flag != 0)
            case .int:
                var number: Int32 = 0
                try check(cavro_get_int(&source, &number), "get an int")
                return .int(number)
            case .long:
                var number: Int64 = 0
                try check(cavro_get_long(&source, &number), "get a long")
                return .long(number)
            case .float:
                var number: Float = 0
                try check(cavro_get_float(&source, &number), "get a float")
                return .float(number)
            case .double:
                var number: Double = 0
                try check(cavro_get_double(&source, &number), "get a double")
                return .double(number)
            case .bytes:
                var pointer: UnsafeRawPointer?
                var size = 0
                try check(cavro_get_bytes(&source, &pointer, &size), "get bytes")
                return .bytes(size == 0 ? [] : [UInt8](UnsafeRawBufferPointer(start: pointer, count: size)))
            case .string:
                var pointer: UnsafePointer<CChar>?
                var size = 0
                try check(cavro_get_string(&source, &pointer, &size), "get a string")
                guard let pointer, size > 0 else { return .string("") }
                let utf8 = UnsafeRawBufferPointer(start: pointer, count: size - 1).bindMemory(to: UInt8.self)
                guard let text = String(validating: utf8, as: UTF8.self) else {
                    throw AvroCodingError(path: "", message: "string is not valid UTF-8")
                }
                return .string(text)
            default:
                throw AvroCodingError(path: "", message: "unexpected kind \(kind)")
            }
        case .record(let record):
            var values: [AvroValue] = []
            values.reserveCapacity(record.fieldTypes.count)
            var child = avro_value_t()
            for index in 0..<record.fieldTypes.count {
                do {
                    try check(cavro_get_by_index(&source, index, &child), "reach a field")
                    values.append(try read(&child, record.fieldTypes[index], schema))
                } catch {
                    throw error.inside(record.fields[index].name)
                }
            }
            return .record(values)
        case .enumeration(let enumeration):
            var index: Int32 = 0
            try check(cavro_get_enum(&source, &index), "get an enum")
            guard index >= 0, Int(index) < enumeration.symbols.count else {
                throw AvroCodingError(path: "", message: "enum index \(index) is out of range for \(enumeration.name.fullName)")
            }
            return .enumeration(enumeration.symbols[Int(index)])
        case .array(let items):
            var count = 0
            try check(cavro_get_size(&source, &count), "get an array's size")
            var values: [AvroValue] = []
            values.reserveCapacity(count)
            var child = avro_value_t()
            for index in 0..<count {
                do {
                    try check(cavro_get_by_index(&source, index, &child), "reach an array item")
                    values.append(try read(&child, items, schema))
                } catch {
                    throw error.inside(index)
                }
            }
            return .array(values)
        case .map(let valueType):
            var count = 0
            try check(cavro_get_size(&source, &count), "get a map's size")
            var entries: [AvroValue.MapEntry] = []
            entries.reserveCapacity(count)
            var child = avro_value_t()
            for index in 0..<count {
                var keyPointer: UnsafePointer<CChar>?
                try check(cavro_get_map_entry(&source, index, &child, &keyPointer), "reach a map entry")
                let key = keyPointer.map { String(cString: $0) } ?? ""
                do {
                    entries.append(AvroValue.MapEntry(key: key, value: try read(&child, valueType, schema)))
                } catch {
                    throw error.inside(key)
                }
            }
            return .map(entries)
        case .union(let branches):
            var discriminant: Int32 = 0
            try check(cavro_get_discriminant(&source, &discriminant), "get a union branch")
            guard discriminant >= 0, Int(discriminant) < branches.count else {
                throw AvroCodingError(path: "", message: "union branch index \(discriminant) is out of range")
            }
            var child = avro_value_t()
            try check(cavro_get_current_branch(&source, &child), "reach a union branch")
            return .union(branch: Int(discriminant), value: try read(&child, branches[Int(discriminant)], schema))
        case .fixed:
            var pointer: UnsafeRawPointer?
            var size = 0
            try check(cavro_get_fixed(&source, &pointer, &size), "get a fixed")
            return .fixed(size == 0 ? [] : [UInt8](UnsafeRawBufferPointer(start: pointer, count: size)))
        }
    }
}
