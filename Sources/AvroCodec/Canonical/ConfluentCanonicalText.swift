extension AvroSchema {
    /// The text Confluent's registry stores for an Avro schema (`AvroSchema.canonicalString()`):
    /// what Avro Java's `Schema.toString(referencedSchemas, false)` writes. Compact JSON that keeps
    /// everything Java keeps (`doc`, `aliases`, defaults, `order`, logical types, custom
    /// properties in document order); a named type is written in full at its first use and by
    /// name afterwards, and the named types that came in through `references:` are always written
    /// by name. Texts that differ only in whitespace give the same canonical text.
    ///
    /// ```swift
    /// let schema = try AvroSchema(parsing: #"{ "type": "record", "name": "R", "fields": [] }"#)
    /// print(schema.canonicalText)   // {"type":"record","name":"R","fields":[]}
    /// ```
    public var canonicalText: String {
        var writer = JavaSchemaWriter(schema: self, writesReferencesByName: true)
        writer.write(root, namespace: "")
        return writer.output.string
    }

    /// `canonicalText` with the referenced types written in full at their first use, as Confluent
    /// returns a schema asked for with `format=resolved`.
    public var resolvedText: String {
        var writer = JavaSchemaWriter(schema: self, writesReferencesByName: false)
        writer.write(root, namespace: "")
        return writer.output.string
    }
}

/// Writes a schema as Avro Java's `Schema.toJson` does (Avro 1.11/1.12), through Jackson.
struct JavaSchemaWriter {
    let schema: AvroSchema
    var output = JSONWriter(capacity: 1024, dialect: .jackson)
    /// Named types already written (or known from references): written by name from now on.
    private var known: Set<SchemaNode.ID> = []

    /// The names of `Schema.Type`: a named type whose simple name is one of them is always written
    /// by its full name (Java's `Name.shouldWriteFull`).
    private static let typeNames: Set<String> = [
        "record", "enum", "array", "map", "union", "fixed", "string", "bytes", "int", "long", "float", "double", "boolean", "null",
    ]

    init(schema: AvroSchema, writesReferencesByName: Bool) {
        self.schema = schema
        if writesReferencesByName {
            for id in schema.namedTypes.values where id < schema.importedNodeCount { known.insert(id) }
        }
    }

    /// Java's `Name.getQualified`: the simple name inside its own namespace, else the full name.
    static func qualified(_ name: AvroName, relativeTo namespace: String) -> String {
        if !name.namespace.isEmpty, name.namespace == namespace, !typeNames.contains(name.name) { return name.name }
        return name.fullName
    }

    /// Writes node `id`; `namespace` is the enclosing namespace ("" for the null namespace).
    mutating func write(_ id: SchemaNode.ID, namespace: String) {
        let node = schema[id]
        switch node.content {
        case .primitive(let kind):
            guard !node.documentProperties.isEmpty else {
                output.string(kind.rawValue)
                return
            }
            output.raw("{\"type\":")
            output.string(kind.rawValue)
            writeProperties(node.documentProperties)
            output.byte(UInt8(ascii: "}"))
        case .array(let items):
            output.raw("{\"type\":\"array\",\"items\":")
            write(items, namespace: namespace)
            writeProperties(node.documentProperties)
            output.byte(UInt8(ascii: "}"))
        case .map(let values):
            output.raw("{\"type\":\"map\",\"values\":")
            write(values, namespace: namespace)
            writeProperties(node.documentProperties)
            output.byte(UInt8(ascii: "}"))
        case .union(let branches):
            output.byte(UInt8(ascii: "["))
            for (index, branch) in branches.enumerated() {
                if index > 0 { output.byte(UInt8(ascii: ",")) }
                write(branch, namespace: namespace)
            }
            output.byte(UInt8(ascii: "]"))
        case .record(let record):
            if writeReference(id, name: record.name, namespace: namespace) { return }
            output.raw(record.isError ? "{\"type\":\"error\"" : "{\"type\":\"record\"")
            writeName(record.name, namespace: namespace)
            writeDoc(record.doc)
            output.raw(",\"fields\":[")
            // A record's namespace encloses its fields; enums and fixed have nothing to enclose.
            for (index, field) in record.fields.enumerated() {
                if index > 0 { output.byte(UInt8(ascii: ",")) }
                writeField(field, namespace: record.name.namespace)
            }
            output.byte(UInt8(ascii: "]"))
            writeProperties(node.documentProperties)
            writeAliases(record.aliases, of: record.name)
            output.byte(UInt8(ascii: "}"))
        case .enumeration(let enumeration):
            if writeReference(id, name: enumeration.name, namespace: namespace) { return }
            output.raw("{\"type\":\"enum\"")
            writeName(enumeration.name, namespace: namespace)
            writeDoc(enumeration.doc)
            output.raw(",\"symbols\":")
            writeStrings(enumeration.symbols)
            if let defaultSymbol = enumeration.defaultSymbol {
                output.raw(",\"default\":")
                output.string(defaultSymbol)
            }
            writeProperties(node.documentProperties)
            writeAliases(enumeration.aliases, of: enumeration.name)
            output.byte(UInt8(ascii: "}"))
        case .fixed(let fixed):
            if writeReference(id, name: fixed.name, namespace: namespace) { return }
            output.raw("{\"type\":\"fixed\"")
            writeName(fixed.name, namespace: namespace)
            writeDoc(fixed.doc)
            output.raw(",\"size\":")
            output.integer(Int64(fixed.size))
            writeProperties(node.documentProperties)
            writeAliases(fixed.aliases, of: fixed.name)
            output.byte(UInt8(ascii: "}"))
        }
    }

    /// Java's `writeNameRef`: a named type already written is written by its qualified name.
    private mutating func writeReference(_ id: SchemaNode.ID, name: AvroName, namespace: String) -> Bool {
        if known.insert(id).inserted { return false }
        output.string(Self.qualified(name, relativeTo: namespace))
        return true
    }

    /// Java's `Name.writeName`: the simple name, and the namespace when it differs from the
    /// enclosing one (`""` for a null-namespace type inside a namespaced one).
    private mutating func writeName(_ name: AvroName, namespace: String) {
        output.raw(",\"name\":")
        output.string(name.name)
        if !name.namespace.isEmpty {
            if name.namespace != namespace {
                output.raw(",\"namespace\":")
                output.string(name.namespace)
            }
        } else if !namespace.isEmpty {
            output.raw(",\"namespace\":\"\"")
        }
    }

    private mutating func writeDoc(_ doc: String?) {
        guard let doc else { return }
        output.raw(",\"doc\":")
        output.string(doc)
    }

    private mutating func writeField(_ field: Field, namespace: String) {
        output.raw("{\"name\":")
        output.string(field.name)
        output.raw(",\"type\":")
        write(field.type, namespace: namespace)
        writeDoc(field.doc)
        if let defaultValue = field.defaultValue {
            // Java turns a string default of a float or double field into a number with
            // Double.parseDouble; the strings a valid schema may hold there ("NaN", "Infinity",
            // "-Infinity") are written back by Jackson as the same strings.
            output.raw(",\"default\":")
            output.value(defaultValue)
        }
        if field.order != .ascending {
            output.raw(",\"order\":")
            output.string(field.order.rawValue)
        }
        var seen: Set<String> = []
        let aliases = field.aliases.filter { seen.insert($0).inserted }
        if !aliases.isEmpty {
            output.raw(",\"aliases\":")
            writeStrings(aliases)
        }
        writeProperties(field.documentProperties)
        output.byte(UInt8(ascii: "}"))
    }

    /// Java keeps aliases in a set of names: duplicates (by full name) go, each is written
    /// relative to the type's own namespace.
    private mutating func writeAliases(_ aliases: [AvroName], of name: AvroName) {
        var seen: Set<String> = []
        let unique = aliases.filter { seen.insert($0.fullName).inserted }
        guard !unique.isEmpty else { return }
        output.raw(",\"aliases\":")
        writeStrings(unique.map { Self.qualified($0, relativeTo: name.namespace) })
    }

    private mutating func writeStrings(_ strings: [String]) {
        output.stringArray(strings)
    }

    private mutating func writeProperties(_ properties: [JSONObject.Member]) {
        for property in properties {
            output.byte(UInt8(ascii: ","))
            output.string(property.key)
            output.byte(UInt8(ascii: ":"))
            output.value(property.value)
        }
    }
}
