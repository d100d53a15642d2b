extension AvroSchema {
    /// Confluent's normalized text for Avro (`normalize=true`, `AvroSchemaUtils.toNormalizedString`):
    /// full names, a fixed key order, properties sorted by key, `doc` and `aliases` kept, logical
    /// types written in one form (a decimal's zero scale omitted). Texts that differ only in
    /// whitespace, key order, redundant namespaces or `{"type":"int"}` versus `"int"` give the same
    /// normalized text. Named types from `references:` are written by name.
    public var normalizedText: String {
        var writer = ConfluentNormalizedWriter(schema: self)
        writer.write(root)
        return writer.output.string
    }
}

/// Writes Confluent's normalized text, following `AvroSchemaUtils.build`.
struct ConfluentNormalizedWriter {
    let schema: AvroSchema
    var output: JSONWriter
    private var written: Set<SchemaNode.ID> = []
    /// The namespace a parser of the text would give a name without a dot here: that of the enclosing named type.
    private var enclosingNamespace = ""

    init(schema: AvroSchema) {
        self.schema = schema
        output = JSONWriter(capacity: 1024, dialect: .jackson)
        // Confluent turns property and default values into Java objects and back through a node
        // factory whose objects are sorted maps.
        output.sortsObjectKeys = true
        for id in schema.namedTypes.values where id < schema.importedNodeCount { written.insert(id) }
    }

    mutating func write(_ id: SchemaNode.ID) {
        let node = schema[id]
        switch node.content {
        case .union(let branches):
            output.byte(UInt8(ascii: "["))
            for (index, branch) in branches.enumerated() {
                if index > 0 { output.byte(UInt8(ascii: ",")) }
                write(branch)
            }
            output.byte(UInt8(ascii: "]"))
        case .array(let items):
            output.raw("{\"type\":\"array\",\"items\":")
            write(items)
            writeSortedProperties(node.documentProperties, dropping: nil)
            output.byte(UInt8(ascii: "}"))
        case .map(let values):
            output.raw("{\"type\":\"map\",\"values\":")
            write(values)
            writeSortedProperties(node.documentProperties, dropping: nil)
            output.byte(UInt8(ascii: "}"))
        case .primitive(let kind):
            if node.logicalType == nil, node.documentProperties.isEmpty {
                output.string(kind.rawValue)
                return
            }
            output.raw("{\"type\":")
            output.string(kind.rawValue)
            writeLogicalType(node.logicalType)
            writeSortedProperties(node.documentProperties, dropping: node.logicalType)
            output.byte(UInt8(ascii: "}"))
        case .record, .enumeration, .fixed:
            writeNamed(id, node)
        }
    }

    private mutating func writeNamed(_ id: SchemaNode.ID, _ node: SchemaNode) {
        guard let name = node.name else { return }
        guard written.insert(id).inserted else {
            output.string(name.fullName)
            return
        }
        output.raw("{\"name\":")
        output.string(name.fullName)
        // A type in the null namespace inside a namespaced one: without an empty namespace its bare name would be
        // read as belonging to the enclosing namespace, and the text would parse to another schema (found by
        // fuzzing). Java's Schema.toString writes the same reset.
        if name.namespace.isEmpty, !enclosingNamespace.isEmpty {
            output.raw(",\"namespace\":\"\"")
        }
        let outerNamespace = enclosingNamespace
        enclosingNamespace = name.namespace
        defer { enclosingNamespace = outerNamespace }
        output.raw(",\"type\":")
        output.string(node.kind == .record ? "record" : node.kind.rawValue)
        var doc: String?
        var enumDefault: String?
        switch node.content {
        case .enumeration(let enumeration):
            output.raw(",\"symbols\":")
            writeStrings(enumeration.symbols)
            doc = enumeration.doc
            enumDefault = enumeration.defaultSymbol
        case .fixed(let fixed):
            output.raw(",\"size\":")
            output.integer(Int64(fixed.size))
            writeLogicalType(node.logicalType)
            doc = fixed.doc
        case .record(let record):
            output.raw(",\"fields\":[")
            for (index, field) in record.fields.enumerated() {
                if index > 0 { output.byte(UInt8(ascii: ",")) }
                writeField(field)
            }
            output.byte(UInt8(ascii: "]"))
            doc = record.doc
        default:
            break
        }
        if let doc, !doc.isEmpty {
            output.raw(",\"doc\":")
            output.string(doc)
        }
        if !node.aliases.isEmpty {
            output.raw(",\"aliases\":")
            writeStrings(Set(node.aliases.map(\.fullName)).sorted())
        }
        if let enumDefault {
            output.raw(",\"default\":")
            output.string(enumDefault)
        }
        writeSortedProperties(node.documentProperties, dropping: node.logicalType)
        output.byte(UInt8(ascii: "}"))
    }

    private mutating func writeField(_ field: Field) {
        output.raw("{\"name\":")
        output.string(field.name)
        output.raw(",\"type\":")
        write(field.type)
        // Confluent writes Java's enum constant name, always.
        output.raw(",\"order\":")
        output.string(field.order.rawValue.uppercased())
        if let doc = field.doc {
            output.raw(",\"doc\":")
            output.string(doc)
        }
        if !field.aliases.isEmpty {
            output.raw(",\"aliases\":")
            writeStrings(Set(field.aliases).sorted())
        }
        if let defaultValue = field.defaultValue {
            output.raw(",\"default\":")
            writeDefault(defaultValue, type: field.type)
        }
        writeSortedProperties(field.documentProperties, dropping: nil)
        output.byte(UInt8(ascii: "}"))
    }

    /// A default as Confluent writes it after converting it to a Java object of the field's type:
    /// float and double defaults become floating-point numbers (`3` → `3.0`), a union's default
    /// belongs to its first branch, objects are written with sorted keys.
    private mutating func writeDefault(_ value: JSONValue, type: SchemaNode.ID) {
        switch (schema[type].content, value) {
        case (.primitive(.double), .integer(let number)):
            output.value(.double(Double(number)))
        case (.primitive(.float), .integer(let number)):
            output.rawText(JavaNumberText.text(Float(number)))
        case (.primitive(.float), .double(let number)):
            // Beyond Float's range the value stays a double: a bare `Infinity` is not JSON.
            output.rawText(Float(number).isFinite ? JavaNumberText.text(Float(number)) : JavaNumberText.text(number))
        case (.union(let branches), _) where !branches.isEmpty:
            writeDefault(value, type: branches[0])
        case (.array(let items), .array(let elements)):
            output.byte(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.byte(UInt8(ascii: ",")) }
                writeDefault(element, type: items)
            }
            output.byte(UInt8(ascii: "]"))
        case (.map(let values), .object(let object)):
            writeObject(object) { writer, member in writer.writeDefault(member.value, type: values) }
        case (.record(let record), .object(let object)):
            writeObject(object) { writer, member in
                if let field = record.field(named: member.key) {
                    writer.writeDefault(member.value, type: field.type)
                } else {
                    writer.output.value(member.value)
                }
            }
        default:
            output.value(value)
        }
    }

    private mutating func writeObject(_ object: JSONObject, _ writeValue: (inout ConfluentNormalizedWriter, JSONObject.Member) -> Void) {
        output.byte(UInt8(ascii: "{"))
        for (index, member) in object.members.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { output.byte(UInt8(ascii: ",")) }
            output.string(member.key)
            output.byte(UInt8(ascii: ":"))
            writeValue(&self, member)
        }
        output.byte(UInt8(ascii: "}"))
    }

    private mutating func writeLogicalType(_ logicalType: LogicalType?) {
        guard let logicalType else { return }
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

    /// The properties sorted by key. When a valid logical type was written from its own fields,
    /// its attributes are not written a second time (Confluent's source appends the logical type
    /// and then every property, which would repeat these keys).
    private mutating func writeSortedProperties(_ properties: [JSONObject.Member], dropping logicalType: LogicalType?) {
        for property in properties.sorted(by: { $0.key < $1.key }) {
            if logicalType != nil, ["logicalType", "precision", "scale"].contains(property.key) { continue }
            output.byte(UInt8(ascii: ","))
            output.string(property.key)
            output.byte(UInt8(ascii: ":"))
            output.value(property.value)
        }
    }

    private mutating func writeStrings(_ strings: [String]) {
        output.stringArray(strings)
    }
}
