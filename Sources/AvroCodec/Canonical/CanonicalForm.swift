extension AvroSchema {
    /// Parsing Canonical Form, exactly as the specification defines it: primitives as bare names, full
    /// names everywhere, only `type`, `name`, `fields`, `symbols`, `items`, `values` and `size` kept, in
    /// that order, strings unescaped to UTF-8, no whitespace. A named type is written in full at its
    /// first occurrence and by full name afterwards.
    public var canonicalForm: String {
        var writer = SchemaTextWriter(schema: self, style: .canonical)
        writer.write(root)
        return writer.output.string
    }

    /// The normalized form used for storage and lookup: Parsing Canonical Form plus what matters to
    /// resolution and to people (aliases, defaults, logical types, field order, custom properties), with
    /// `doc` dropped. Two schemas that differ only in whitespace, key order or redundant namespaces
    /// normalize to the same text.
    public var normalizedForm: String {
        var writer = SchemaTextWriter(schema: self, style: .normalized)
        writer.write(root)
        return writer.output.string
    }

    /// The storage form of registries written before `canonicalText`: exactly `normalizedForm`.
    /// Old databases are matched by this text, so neither property may change its output.
    public var legacyNormalizedForm: String { normalizedForm }
}

/// Writes a schema's node graph as canonical or normalized JSON text.
struct SchemaTextWriter {
    enum Style {
        case canonical
        case normalized
    }

    let schema: AvroSchema
    let style: Style
    var output = JSONWriter(capacity: 1024)
    private var written: Set<SchemaNode.ID> = []
    /// The namespace a nested definition would inherit at this point of the text.
    private var enclosingNamespace = ""

    init(schema: AvroSchema, style: Style) {
        self.schema = schema
        self.style = style
    }

    mutating func write(_ id: SchemaNode.ID) {
        let node = schema[id]
        switch node.content {
        case .primitive(let kind):
            let extras = style == .normalized && (node.logicalType != nil || !node.properties.isEmpty)
            guard extras else {
                output.string(kind.rawValue)
                return
            }
            output.raw("{\"type\":")
            output.string(kind.rawValue)
            writeLogicalType(node.logicalType)
            writeProperties(node.properties)
            output.byte(UInt8(ascii: "}"))
        case .array(let items):
            output.raw("{\"type\":\"array\",\"items\":")
            write(items)
            if style == .normalized { writeProperties(node.properties) }
            output.byte(UInt8(ascii: "}"))
        case .map(let values):
            output.raw("{\"type\":\"map\",\"values\":")
            write(values)
            if style == .normalized { writeProperties(node.properties) }
            output.byte(UInt8(ascii: "}"))
        case .union(let branches):
            output.byte(UInt8(ascii: "["))
            for (index, branch) in branches.enumerated() {
                if index > 0 { output.byte(UInt8(ascii: ",")) }
                write(branch)
            }
            output.byte(UInt8(ascii: "]"))
        case .record(let record):
            if writeReference(id, name: record.name) { return }
            writeNamedHeader(record.name, type: record.isError ? "error" : "record", aliases: record.aliases)
            output.raw(",\"fields\":[")
            let outerNamespace = enclosingNamespace
            enclosingNamespace = record.name.namespace
            for (index, field) in record.fields.enumerated() {
                if index > 0 { output.byte(UInt8(ascii: ",")) }
                writeField(field)
            }
            enclosingNamespace = outerNamespace
            output.byte(UInt8(ascii: "]"))
            writeProperties(node.properties)
            output.byte(UInt8(ascii: "}"))
        case .enumeration(let enumeration):
            if writeReference(id, name: enumeration.name) { return }
            writeNamedHeader(enumeration.name, type: "enum", aliases: enumeration.aliases)
            output.raw(",\"symbols\":")
            writeStrings(enumeration.symbols)
            if style == .normalized, let defaultSymbol = enumeration.defaultSymbol {
                output.raw(",\"default\":")
                output.string(defaultSymbol)
            }
            writeProperties(node.properties)
            output.byte(UInt8(ascii: "}"))
        case .fixed(let fixed):
            if writeReference(id, name: fixed.name) { return }
            writeNamedHeader(fixed.name, type: "fixed", aliases: fixed.aliases)
            output.raw(",\"size\":")
            output.integer(Int64(fixed.size))
            writeLogicalType(node.logicalType)
            writeProperties(node.properties)
            output.byte(UInt8(ascii: "}"))
        }
    }

    /// Writes the full name of an already written named type; returns whether it did.
    private mutating func writeReference(_ id: SchemaNode.ID, name: AvroName) -> Bool {
        if written.insert(id).inserted { return false }
        output.string(name.fullName)
        return true
    }

    /// A type in the null namespace nested in a namespaced one would inherit that namespace when the
    /// text is read again; the normalized form says `"namespace":""` so that it does not. (Parsing
    /// Canonical Form has no namespace attribute and keeps this ambiguity, as the specification does.)
    private mutating func writeNullNamespaceIfNeeded(_ name: AvroName) {
        guard style == .normalized, name.namespace.isEmpty, !enclosingNamespace.isEmpty else { return }
        output.raw(",\"namespace\":\"\"")
    }

    private mutating func writeField(_ field: Field) {
        output.raw("{\"name\":")
        output.string(field.name)
        output.raw(",\"type\":")
        write(field.type)
        if style == .normalized {
            if let defaultValue = field.defaultValue {
                output.raw(",\"default\":")
                output.value(defaultValue)
            }
            if !field.aliases.isEmpty {
                output.raw(",\"aliases\":")
                writeStrings(field.aliases)
            }
            if field.order != .ascending {
                output.raw(",\"order\":")
                output.string(field.order.rawValue)
            }
            writeProperties(field.properties)
        }
        output.byte(UInt8(ascii: "}"))
    }

    /// `{"name":…,"type":…` and, in the normalized form, the aliases.
    private mutating func writeNamedHeader(_ name: AvroName, type: StaticString, aliases: [AvroName]) {
        output.raw("{\"name\":")
        output.string(name.fullName)
        writeNullNamespaceIfNeeded(name)
        output.raw(",\"type\":\"")
        output.raw(type)
        output.byte(UInt8(ascii: "\""))
        if style == .normalized, !aliases.isEmpty {
            output.raw(",\"aliases\":")
            writeStrings(aliases.map(\.fullName))
        }
    }

    private mutating func writeStrings(_ strings: [String]) {
        output.stringArray(strings)
    }

    private mutating func writeLogicalType(_ logicalType: LogicalType?) {
        guard style == .normalized, let logicalType else { return }
        output.raw(",\"logicalType\":")
        output.string(logicalType.name)
        if case .decimal(let precision, let scale) = logicalType {
            output.raw(",\"precision\":")
            output.integer(Int64(precision))
            if scale != 0 {
                output.raw(",\"scale\":")
                output.integer(Int64(scale))
            }
        }
    }

    private mutating func writeProperties(_ properties: [JSONObject.Member]) {
        guard style == .normalized else { return }
        for property in properties {
            output.byte(UInt8(ascii: ","))
            output.string(property.key)
            output.byte(UInt8(ascii: ":"))
            output.value(property.value)
        }
    }
}
