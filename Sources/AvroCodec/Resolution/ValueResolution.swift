/// Reads a value written with one schema as another schema's value (schema resolution), with the
/// same matching rules the compatibility checker uses (`ResolutionRules`): writer fields the reader
/// lacks are dropped, reader fields the writer lacks get their defaults, promotions apply, enums
/// resolve by symbol name (falling back to the reader's enum default), unions by the rules for
/// branches, named types and fields by unqualified name or reader alias.
public enum ValueResolution {
    /// `value`, written with `writer`, in the shape of `reader`.
    public static func resolve(_ value: AvroValue, writer: AvroSchema, reader: AvroSchema) throws(AvroCodingError) -> AvroValue {
        var resolver = Resolver(writer: writer, reader: reader)
        return try resolver.resolve(value, writer.root, reader.root)
    }

    struct Resolver {
        let writer: AvroSchema
        let reader: AvroSchema
        var path = JSONPointer()

        func fail(_ message: String) -> AvroCodingError { AvroCodingError(path: path.rendered, message: message) }

        mutating func resolve(_ value: AvroValue, _ writerID: SchemaNode.ID, _ readerID: SchemaNode.ID) throws(AvroCodingError) -> AvroValue {
            // A writer union: resolve the branch that was written.
            if case .union(let writerBranches) = writer[writerID].content {
                guard case .union(let branch, let inner) = value, branch < writerBranches.count else { throw fail("expected a union value") }
                return try resolve(inner, writerBranches[branch], readerID)
            }
            // A reader union: the branch that matches the writer's type reads it.
            if case .union(let readerBranches) = reader[readerID].content {
                guard let index = ResolutionRules.unionBranch(in: readerBranches, of: reader, for: writerID, of: writer) else {
                    throw fail("the reader's union has no branch for the writer's \(writer[writerID].kind.rawValue)")
                }
                path.push(index)
                defer { path.pop() }
                return .union(branch: index, value: try resolve(value, writerID, readerBranches[index]))
            }
            let writerNode = writer[writerID]
            let readerNode = reader[readerID]
            guard ResolutionRules.matchesShallowly(reader: readerNode, writer: writerNode) else {
                throw fail("the writer's \(writerNode.kind.rawValue) cannot be read as \(readerNode.kind.rawValue)")
            }
            switch (writerNode.content, readerNode.content, value) {
            case (.record(let writerRecord), .record(let readerRecord), .record(let values)):
                var resolved: [AvroValue] = []
                resolved.reserveCapacity(readerRecord.fields.count)
                for (position, field) in readerRecord.fields.enumerated() {
                    path.push(position)
                    if let writerIndex = ResolutionRules.writerFieldIndex(forReaderField: position, of: readerRecord, in: writerRecord) {
                        resolved.append(try resolve(values[writerIndex], writerRecord.fields[writerIndex].type, field.type))
                    } else if let defaultValue = field.defaultValue {
                        resolved.append(try AvroJSON.defaultValue(defaultValue, for: field.type, in: reader))
                    } else {
                        throw fail("the writer has no field \"\(field.name)\" and the reader gives it no default")
                    }
                    path.pop()
                }
                return .record(resolved)
            case (.enumeration, .enumeration(let readerEnum), .enumeration(let symbol)):
                if readerEnum.symbols.contains(symbol) { return .enumeration(symbol) }
                if let fallback = readerEnum.defaultSymbol { return .enumeration(fallback) }
                throw fail("symbol \"\(symbol)\" is not in the reader's enum \(readerEnum.name.fullName), which has no default")
            case (.fixed(let writerFixed), .fixed(let readerFixed), .fixed):
                guard writerFixed.size == readerFixed.size else { throw fail("fixed sizes differ (\(writerFixed.size) and \(readerFixed.size))") }
                return value
            case (.array(let writerItems), .array(let readerItems), .array(let elements)):
                var resolved: [AvroValue] = []
                resolved.reserveCapacity(elements.count)
                for (index, element) in elements.enumerated() {
                    path.push(index)
                    resolved.append(try resolve(element, writerItems, readerItems))
                    path.pop()
                }
                return .array(resolved)
            case (.map(let writerValues), .map(let readerValues), .map(let entries)):
                var resolved: [AvroValue.MapEntry] = []
                resolved.reserveCapacity(entries.count)
                for (index, entry) in entries.enumerated() {
                    path.push(index)
                    resolved.append(AvroValue.MapEntry(key: entry.key, value: try resolve(entry.value, writerValues, readerValues)))
                    path.pop()
                }
                return .map(resolved)
            case (.primitive, .primitive(let readerKind), _):
                return try promote(value, to: readerKind)
            default:
                throw fail("the value does not match the writer's schema")
            }
        }

        /// The specification's promotions: int→long/float/double, long→float/double, float→double,
        /// string↔bytes; otherwise the value unchanged.
        func promote(_ value: AvroValue, to kind: AvroKind) throws(AvroCodingError) -> AvroValue {
            switch (value, kind) {
            case (.int(let number), .long): return .long(Int64(number))
            case (.int(let number), .float): return .float(Float(number))
            case (.int(let number), .double): return .double(Double(number))
            case (.long(let number), .float): return .float(Float(number))
            case (.long(let number), .double): return .double(Double(number))
            case (.float(let number), .double): return .double(Double(number))
            case (.string(let text), .bytes): return .bytes(Array(text.utf8))
            case (.bytes(let data), .string):
                guard let text = JSONParser.validatedString(data) else { throw fail("bytes are not valid UTF-8 and cannot be read as a string") }
                return .string(text)
            default: return value
            }
        }
    }
}

extension AvroBinary {
    /// Decodes bytes written with `writer` into the shape of `reader`.
    public static func decode(_ bytes: ArraySlice<UInt8>, writer: AvroSchema, reader: AvroSchema) throws(AvroCodingError) -> AvroValue {
        try ValueResolution.resolve(decode(bytes, schema: writer), writer: writer, reader: reader)
    }
}
