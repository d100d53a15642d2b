/// Concrete suggestions for making a new schema compatible: what to change in the new schema, in
/// words a person can act on. Always phrased as a change to the new schema, since existing versions
/// cannot change.
enum FixSuggestion {
    static func text(for problem: ResolutionProblem, direction: CompatibilityDirection, reader: AvroSchema, writer: AvroSchema) -> String {
        let readerNode = reader[problem.readerNode]
        let writerNode = writer[problem.writerNode]
        switch (problem.type, direction) {
        case (.readerFieldMissingDefaultValue, .backward):
            guard case .record(let record) = readerNode.content, let index = problem.fieldIndex else { break }
            let field = record.fields[index]
            return addDefaultSuggestion(field: field, in: reader)
        case (.readerFieldMissingDefaultValue, .forward):
            guard case .record(let record) = readerNode.content, let index = problem.fieldIndex else { break }
            let field = record.fields[index]
            return "keep field `\(field.name)` (type \(describe(field.type, in: reader))) in the new schema: the old schema reads it and has no default for it. "
                + "A field can be removed forward-compatibly only after a version that gives it a default"
        case (.typeMismatch, .backward) where problem.location.hasSuffixIndex && !problem.readerPath.hasSuffixIndex:
            // The old type was a union and the new one is not: a branch of old data has no reader.
            return "add \(describe(problem.writerNode, in: writer)) back: make the type a union that includes it, "
                + "as the old schema's union did (for null, put \"null\" first and add \"default\": null)"
        case (.typeMismatch, .backward):
            let writerType = describe(problem.writerNode, in: writer)
            let readers = typesReading(writerNode.kind)
            let alternatives = readers.isEmpty ? "" : ", or a type it promotes to (\(readers.joined(separator: ", ")))"
            return "change the type back to \(writerType)\(alternatives); to change a type incompatibly, add a new field with the new type instead"
        case (.typeMismatch, .forward):
            let readerType = describe(problem.readerNode, in: reader)
            let writers = typesPromotingTo(readerNode.kind)
            let alternatives = writers.isEmpty ? "" : ", or a type that promotes to it (\(writers.joined(separator: ", ")))"
            return "write this as \(readerType), which the old schema expects\(alternatives); to change a type incompatibly, add a new field with the new type instead"
        case (.nameMismatch, .backward):
            let oldName = writerNode.name?.fullName ?? ""
            return "rename it back to `\(oldName)`, or keep the new name and add \"aliases\": [\"\(oldName)\"] so the new schema still reads old data"
        case (.nameMismatch, .forward):
            let oldName = readerNode.name?.fullName ?? ""
            return "keep the name `\(oldName)`: the old schema finds this type by that name (aliases in the new schema do not help old readers)"
        case (.fixedSizeMismatch, _):
            let oldSize = direction == .backward ? (writerNode.fixedSize ?? 0) : (readerNode.fixedSize ?? 0)
            return "keep \"size\": \(oldSize); a fixed type cannot change size, so add a new field with a new fixed type instead"
        case (.missingEnumSymbols, .backward):
            let symbols = problem.missingSymbols.map { "\"\($0)\"" }.joined(separator: ", ")
            return "add the symbols \(symbols) back to the enum, or give the enum a \"default\" symbol for values it does not know"
        case (.missingEnumSymbols, .forward):
            let symbols = problem.missingSymbols.map { "\"\($0)\"" }.joined(separator: ", ")
            return "remove the new symbols \(symbols): the old enum has no \"default\" to read unknown symbols as. "
                + "To add symbols later, first register a version whose enum has a \"default\""
        case (.missingUnionBranch, .backward):
            return "add \(describe(problem.writerNode, in: writer)) back to the union, so the new schema can read old data written with it"
        case (.missingUnionBranch, .forward):
            return "remove \(describe(problem.writerNode, in: writer)) from the union (or use a type the old union has): the old schema cannot read it"
        case (.logicalTypeMismatch, _):
            let old = direction == .backward ? writerNode : readerNode
            if case .decimal(let precision, let scale)? = old.logicalType {
                return "keep \"precision\": \(precision) and \"scale\": \(scale); to store decimals of another precision or scale, add a new field"
            }
        }
        return "make the new schema match the old one at this path"
    }

    private static func addDefaultSuggestion(field: Field, in schema: AvroSchema) -> String {
        let node = schema[field.type]
        if case .union(let branches) = node.content, let first = branches.first {
            if schema[first].kind == .null {
                return "give field `\(field.name)` a default: add \"default\": null"
            }
            let hasNull = branches.contains { schema[$0].kind == .null }
            let nullAdvice = hasNull ? ", or move \"null\" to the front of the union and add \"default\": null" : ""
            return "give field `\(field.name)` a default matching the union's first branch, e.g. \"default\": \(example(first, in: schema))\(nullAdvice)"
        }
        let typeText = compactType(field.type, in: schema)
        return "give field `\(field.name)` a default, e.g. make it [\"null\",\(typeText)] with \"default\": null, or keep the type and add \"default\": \(example(field.type, in: schema))"
    }

    /// A valid example default for a type, as JSON text.
    static func example(_ id: SchemaNode.ID, in schema: AvroSchema) -> String {
        let node = schema[id]
        switch node.content {
        case .primitive(let kind):
            switch kind {
            case .null: return "null"
            case .boolean: return "false"
            case .int, .long: return "0"
            case .float, .double: return "0.0"
            case .bytes, .string: return "\"\""
            default: return "null"
            }
        case .enumeration(let enumeration): return "\"\(enumeration.defaultSymbol ?? enumeration.symbols.first ?? "")\""
        case .fixed(let fixed): return "\"" + String(repeating: "\\u0000", count: min(fixed.size, 4)) + (fixed.size > 4 ? "…" : "") + "\" (\(fixed.size) bytes)"
        case .array: return "[]"
        case .map: return "{}"
        case .union(let branches): return branches.first.map { example($0, in: schema) } ?? "null"
        case .record: return "{…} (an object with a value for every field)"
        }
    }

    /// The type as compact JSON (named types by full name), for quoting in a suggestion.
    static func compactType(_ id: SchemaNode.ID, in schema: AvroSchema) -> String {
        let node = schema[id]
        if let name = node.name { return "\"\(name.fullName)\"" }
        switch node.content {
        case .primitive(let kind):
            if let logical = node.logicalType { return "{\"type\":\"\(kind.rawValue)\",\"logicalType\":\"\(logical.name)\"}" }
            return "\"\(kind.rawValue)\""
        case .array(let items): return "{\"type\":\"array\",\"items\":\(compactType(items, in: schema))}"
        case .map(let values): return "{\"type\":\"map\",\"values\":\(compactType(values, in: schema))}"
        case .union(let branches): return "[" + branches.map { compactType($0, in: schema) }.joined(separator: ",") + "]"
        default: return "\"\(node.kind.rawValue)\""
        }
    }

    /// A short human description of a type: `int`, `enum com.example.Color`, `array of string`.
    static func describe(_ id: SchemaNode.ID, in schema: AvroSchema) -> String {
        let node = schema[id]
        if let name = node.name { return "\(node.kind.rawValue) `\(name.fullName)`" }
        switch node.content {
        case .primitive(let kind):
            if let logical = node.logicalType { return "`\(kind.rawValue)` (\(logical.name))" }
            return "`\(kind.rawValue)`"
        case .array(let items): return "an array of \(describe(items, in: schema))"
        case .map(let values): return "a map of \(describe(values, in: schema))"
        case .union: return "the union \(compactType(id, in: schema))"
        default: return "`\(node.kind.rawValue)`"
        }
    }

    /// The kinds that can read data of kind `writer` by promotion.
    private static func typesReading(_ writer: AvroKind) -> [String] {
        AvroKind.allCases.filter { ResolutionRules.isPromotion(writer: writer, reader: $0) }.map { "`\($0.rawValue)`" }
    }

    /// The kinds whose data promotes to kind `reader`.
    private static func typesPromotingTo(_ reader: AvroKind) -> [String] {
        AvroKind.allCases.filter { ResolutionRules.isPromotion(writer: $0, reader: reader) }.map { "`\($0.rawValue)`" }
    }
}

extension SchemaNode {
    /// The size of a fixed type.
    var fixedSize: Int? {
        if case .fixed(let fixed) = content { return fixed.size }
        return nil
    }
}

extension String {
    /// Whether the last JSON Pointer segment is an array index (a union branch).
    fileprivate var hasSuffixIndex: Bool {
        guard let last = split(separator: "/").last else { return false }
        return last.allSatisfy(\.isNumber)
    }
}
