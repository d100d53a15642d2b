extension AvroSchema {
    /// How strictly to parse.
    public struct ParseOptions: Sendable {
        /// Check field and enum defaults against their types. On by default; off only for importing
        /// schemas another registry already accepted (Confluent's IMPORT mode does not validate).
        public var validatesDefaults: Bool

        public init(validatesDefaults: Bool = true) {
            self.validatesDefaults = validatesDefaults
        }

        public static let strict = ParseOptions()
    }

    /// Parses and validates a schema text strictly, as the Avro 1.11/1.12 specification says.
    ///
    /// - Parameter references: schemas whose named types this one may refer to by name
    ///   (Confluent schema references); their types are copied in, not re-validated.
    /// - Throws: `AvroSchemaError` naming the JSON path of the first problem found.
    public init(parsing text: String, references: [AvroSchema] = [], options: ParseOptions = .strict) throws(AvroSchemaError) {
        try self.init(parsing: Array(text.utf8), references: references, options: options)
    }

    /// Parses and validates a schema given as UTF-8 bytes.
    public init(parsing bytes: [UInt8], references: [AvroSchema] = [], options: ParseOptions = .strict) throws(AvroSchemaError) {
        let tape: JSONTape
        do {
            tape = try JSONTape(bytes: bytes)
        } catch {
            throw AvroSchemaError(.invalidJSON, at: "", error.description)
        }
        try self.init(tape: tape, references: references, options: options)
    }

    /// Validates a schema that is already parsed JSON.
    public init(json: JSONValue, references: [AvroSchema] = [], options: ParseOptions = .strict) throws(AvroSchemaError) {
        // The compact text of a parsed value is valid JSON of the same members in the same order.
        try self.init(parsing: Array(json.compactText.utf8), references: references, options: options)
    }

    private init(tape: JSONTape, references: [AvroSchema], options: ParseOptions) throws(AvroSchemaError) {
        var builder = SchemaBuilder(tape: tape)
        for reference in references {
            builder.importNamedTypes(from: reference)
        }
        let importedNodeCount = builder.nodes.count
        let root = try builder.parse(tape.root, namespace: "")
        if options.validatesDefaults { try builder.validatePendingDefaults() }
        self.init(nodes: builder.nodes, root: root, namedTypes: builder.namedTypes, importedNodeCount: importedNodeCount)
    }
}

/// Builds the node table of one schema while walking its JSON.
struct SchemaBuilder {
    /// The schema's JSON, read as tokens: values are compared in place and built only when kept.
    let tape: JSONTape
    var nodes: [SchemaNode] = []
    var namedTypes: [String: SchemaNode.ID] = [:]
    var path = JSONPointer()
    /// Field and enum defaults are checked after the walk: a default may mention a type (even the
    /// enclosing record) that is complete only then.
    private var pendingDefaults: [PendingDefault] = []

    /// A field default, in field order: checked already (kept only when it failed), or to be checked
    /// after the walk because its type may still be incomplete.
    private enum PendingDefault {
        case failed(problem: String, at: String)
        case deferred(value: JSONValue, type: SchemaNode.ID, field: JSONPointer)
    }

    /// The shared node of each plain primitive kind, by `AvroKind.primitiveSlot`.
    private var sharedPrimitives = [SchemaNode.ID?](repeating: nil, count: 8)

    init(tape: JSONTape) {
        self.tape = tape
        // About one node a field; a wide record's node table then never grows by copying.
        nodes.reserveCapacity(tape.tokens.count / 8)
    }

    private static let placeholder = SchemaNode(content: .primitive(.null), logicalType: nil, properties: [])

    // MARK: Entry points

    mutating func parse(_ json: JSONTape.Value, namespace: String) throws(AvroSchemaError) -> SchemaNode.ID {
        switch tape.kind(json) {
        case .string:
            // A primitive's name is recognized from its bytes, without building a string.
            if let kind = primitiveKind(json) { return primitive(kind) }
            return try resolveReference(tape.string(json) ?? "", namespace: namespace)
        case .array:
            return try parseUnion(json, namespace: namespace)
        case .object:
            return try parseObject(json, namespace: namespace)
        default:
            throw AvroSchemaError(
                .invalidAttribute, at: path.rendered,
                "a schema must be a type name, an object or an array (a union), not \(tape.kindDescription(json))")
        }
    }

    /// The primitive kind a string value names ("int", "string", …), or nil.
    private func primitiveKind(_ value: JSONTape.Value) -> AvroKind? {
        if tape.isString(value, "string") { return .string }
        if tape.isString(value, "null") { return .null }
        if tape.isString(value, "long") { return .long }
        if tape.isString(value, "int") { return .int }
        if tape.isString(value, "double") { return .double }
        if tape.isString(value, "boolean") { return .boolean }
        if tape.isString(value, "bytes") { return .bytes }
        if tape.isString(value, "float") { return .float }
        return nil
    }

    /// Copies the named types of a referenced schema so that this one can use them by name.
    mutating func importNamedTypes(from schema: AvroSchema) {
        var mapping: [SchemaNode.ID: SchemaNode.ID] = [:]
        func copy(_ id: SchemaNode.ID) -> SchemaNode.ID {
            if let mapped = mapping[id] { return mapped }
            let node = schema[id]
            if let name = node.name, let existing = namedTypes[name.fullName] {
                mapping[id] = existing
                return existing
            }
            let newID = nodes.count
            nodes.append(SchemaBuilder.placeholder)
            mapping[id] = newID
            if let name = node.name { namedTypes[name.fullName] = newID }
            let content: SchemaNode.Content
            switch node.content {
            case .primitive, .enumeration, .fixed:
                content = node.content
            case .array(let items):
                content = .array(items: copy(items))
            case .map(let values):
                content = .map(values: copy(values))
            case .union(let branches):
                content = .union(branches: branches.map(copy))
            case .record(let record):
                let fields = record.fields.map { field in
                    Field(
                        name: field.name, type: copy(field.type), defaultValue: field.defaultValue,
                        aliases: field.aliases, order: field.order, doc: field.doc, properties: field.properties,
                        documentProperties: field.documentProperties)
                }
                content = .record(
                    RecordType(name: record.name, aliases: record.aliases, doc: record.doc, fields: fields, isError: record.isError))
            }
            nodes[newID] = SchemaNode(
                content: content, logicalType: node.logicalType, properties: node.properties, documentProperties: node.documentProperties)
            return newID
        }
        for id in schema.namedTypes.values.sorted() { _ = copy(id) }
    }

    mutating func validatePendingDefaults() throws(AvroSchemaError) {
        let validator = DefaultValueValidator(nodes: nodes)
        for pending in pendingDefaults {
            switch pending {
            case .failed(let problem, let path):
                throw AvroSchemaError(.invalidDefault, at: path, problem)
            case .deferred(let value, let type, let field):
                if let problem = validator.problem(with: value, for: type) {
                    throw AvroSchemaError(.invalidDefault, at: field.rendered(appending: "default"), problem)
                }
            }
        }
    }

    /// Records a field's default for `validatePendingDefaults`. A default of a type that is complete
    /// already (primitives, enums, fixed, unions of them: nearly every default) is checked at once,
    /// and kept only if it fails; keeping the JSON path of every default made the path's storage be
    /// copied at the next step of the walk, once a field.
    private mutating func recordDefault(_ value: JSONValue, type: SchemaNode.ID) {
        func isComplete(_ id: SchemaNode.ID) -> Bool {
            let kind = nodes[id].kind
            return kind.isPrimitive || kind == .enum || kind == .fixed
        }
        var complete = isComplete(type)
        if !complete, case .union(let branches) = nodes[type].content { complete = branches.allSatisfy(isComplete) }
        guard complete else {
            pendingDefaults.append(.deferred(value: value, type: type, field: path))
            return
        }
        if let problem = DefaultValueValidator(nodes: nodes).problem(with: value, for: type) {
            pendingDefaults.append(.failed(problem: problem, at: path.rendered(appending: "default")))
        }
    }

    // MARK: Node table

    private mutating func append(
        _ content: SchemaNode.Content, logicalType: LogicalType? = nil, properties: [JSONObject.Member] = [],
        documentProperties: [JSONObject.Member] = []
    ) -> SchemaNode.ID {
        nodes.append(SchemaNode(content: content, logicalType: logicalType, properties: properties, documentProperties: documentProperties))
        return nodes.count - 1
    }

    /// A plain primitive (no logical type, no properties): one node per kind, shared by every use.
    /// Nodes are values addressed by id, so sharing is invisible to readers of the table, and a wide
    /// record's fields no longer add a node each.
    private mutating func primitive(_ kind: AvroKind) -> SchemaNode.ID {
        let slot = Int(kind.primitiveSlot)
        if let id = sharedPrimitives[slot] { return id }
        let id = append(.primitive(kind))
        sharedPrimitives[slot] = id
        return id
    }

    // MARK: Names

    private mutating func resolveReference(_ name: String, namespace: String) throws(AvroSchemaError) -> SchemaNode.ID {
        if let kind = AvroKind(primitiveName: name) { return primitive(kind) }
        // A byte test: with Foundation imported, `name.contains(".")` is Foundation's substring search
        // (about 5,000 instructions a call, measured with callgrind).
        if name.utf8.contains(UInt8(ascii: ".")) {
            if let id = namedTypes[name] { return id }
        } else {
            if !namespace.isEmpty, let id = namedTypes[namespace + "." + name] { return id }
            // As Avro's Java parser does: an unqualified name not found in the enclosing namespace
            // is looked up in the null namespace.
            if let id = namedTypes[name] { return id }
        }
        let hint: String
        switch name {
        case "record", "enum", "array", "map", "fixed", "error":
            hint = " (a complex type is written as an object, e.g. {\"type\": \"\(name)\", …})"
        default:
            hint = "; named types must be defined before they are used"
        }
        var error = AvroSchemaError(.unknownType, at: path.rendered, "unknown type \"\(name)\"\(hint)")
        error.unresolvedNames = name.utf8.contains(UInt8(ascii: ".")) || namespace.isEmpty ? [name] : [namespace + "." + name, name]
        throw error
    }

    static func isValidName(_ name: some StringProtocol) -> Bool {
        // Contiguous UTF-8 (every native string) is checked over a pointer: the generic iterator cost
        // about 30 instructions a byte, 3% of a `schemactl check` run's instructions.
        if let valid = name.utf8.withContiguousStorageIfAvailable({ isValidName(bytes: $0) }) { return valid }
        var iterator = name.utf8.makeIterator()
        guard let first = iterator.next(), isNameStart(first) else { return false }
        while let byte = iterator.next() {
            guard isNameStart(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) else { return false }
        }
        return true
    }

    private static func isValidName(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first, isNameStart(first) else { return false }
        for byte in bytes.dropFirst() {
            guard isNameStart(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) else { return false }
        }
        return true
    }

    private static func isNameStart(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || byte == UInt8(ascii: "_")
    }

    static func isValidNamespace(_ namespace: some StringProtocol) -> Bool {
        if namespace.isEmpty { return true }
        for part in namespace.split(separator: ".", omittingEmptySubsequences: false) where !isValidName(part) {
            return false
        }
        return true
    }

    /// Reads `name` and `namespace` of a named type and checks them.
    private mutating func parseName(_ object: JSONTape.Value, enclosingNamespace: String, kind: String) throws(AvroSchemaError) -> AvroName {
        guard let nameValue = tape.member(object, .name) else {
            throw AvroSchemaError(.missingAttribute, at: path.rendered, "\(kind) has no \"name\"")
        }
        guard let text = tape.string(nameValue) else {
            throw AvroSchemaError(.invalidAttribute, at: path.rendered(appending: "name"), "\"name\" must be a string, not \(tape.kindDescription(nameValue))")
        }
        var namespace = enclosingNamespace
        if let namespaceValue = tape.member(object, .namespace) {
            switch tape.kind(namespaceValue) {
            case .null: break
            case .string:
                let declared = tape.string(namespaceValue) ?? ""
                guard SchemaBuilder.isValidNamespace(declared) else {
                    throw AvroSchemaError(
                        .invalidNamespace, at: path.rendered(appending: "namespace"),
                        "namespace \"\(declared)\" is not valid: it must be names separated by dots, each matching [A-Za-z_][A-Za-z0-9_]*")
                }
                namespace = declared
            default:
                throw AvroSchemaError(.invalidNamespace, at: path.rendered(appending: "namespace"), "\"namespace\" must be a string, not \(tape.kindDescription(namespaceValue))")
            }
        }
        let name = AvroName(text, enclosingNamespace: namespace)
        guard SchemaBuilder.isValidName(name.name) else {
            throw AvroSchemaError(
                .invalidName, at: path.rendered(appending: "name"),
                "\(kind) name \"\(text)\" is not a valid Avro name: it must match [A-Za-z_][A-Za-z0-9_]*")
        }
        guard SchemaBuilder.isValidNamespace(name.namespace) else {
            throw AvroSchemaError(
                .invalidName, at: path.rendered(appending: "name"),
                "\(kind) name \"\(text)\" is not a valid full name: each dotted part must match [A-Za-z_][A-Za-z0-9_]*")
        }
        // Only a full name may not be a primitive's name, as Avro's Java and Python parsers agree:
        // "int" in the null namespace is the primitive, "com.x.int" is a name like any other (and
        // a bare "int" always means the primitive, so such a type is referred to by its full name).
        if name.namespace.isEmpty, AvroKind(primitiveName: name.name) != nil {
            throw AvroSchemaError(
                .invalidName, at: path.rendered(appending: "name"),
                "\(kind) name \"\(text)\" is a primitive type name, which may not be redefined; in a namespace it would be allowed")
        }
        if namedTypes[name.fullName] != nil {
            throw AvroSchemaError(
                .redefinedName, at: path.rendered(appending: "name"),
                "type \"\(name.fullName)\" is already defined; refer to it by name instead of defining it again")
        }
        return name
    }

    private mutating func parseAliases(_ object: JSONTape.Value, namespace: String, named: Bool) throws(AvroSchemaError) -> [String] {
        guard let value = tape.member(object, .aliases) else { return [] }
        if tape.kind(value) == .null { return [] }
        guard let elements = tape.elements(value) else {
            throw AvroSchemaError(.invalidAttribute, at: path.rendered(appending: "aliases"), "\"aliases\" must be an array of names, not \(tape.kindDescription(value))")
        }
        var aliases: [String] = []
        for (index, element) in elements.enumerated() {
            guard let alias = tape.string(element) else {
                throw AvroSchemaError(.invalidAttribute, at: path.rendered(appending: "aliases") + "/\(index)", "an alias must be a string, not \(tape.kindDescription(element))")
            }
            let valid = named ? (SchemaBuilder.isValidNamespace(alias) && !alias.isEmpty) : SchemaBuilder.isValidName(alias)
            guard valid else {
                throw AvroSchemaError(.invalidName, at: path.rendered(appending: "aliases") + "/\(index)", "alias \"\(alias)\" is not a valid Avro name")
            }
            aliases.append(alias)
        }
        return aliases
    }

    private func docString(_ object: JSONTape.Value) -> String? {
        tape.member(object, .doc).flatMap { tape.string($0) }
    }

    /// Attributes Avro's Java library keeps as properties of a schema (`SCHEMA_RESERVED`, plus
    /// `default` for enums), in document order.
    private func javaSchemaProperties(_ object: JSONTape.Value, isEnum: Bool = false) -> [JSONObject.Member] {
        members(of: object) { key in
            switch key {
            case "doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases": return false
            case "default": return !isEnum
            default: return true
            }
        }
    }

    /// Attributes Avro's Java library keeps as properties of a field (outside `FIELD_RESERVED`), in
    /// document order.
    private func javaFieldProperties(_ object: JSONTape.Value) -> [JSONObject.Member] {
        members(of: object) { key in
            switch key {
            case "default", "doc", "name", "order", "type", "aliases": return false
            default: return true
            }
        }
    }

    /// Attributes outside the reserved set, sorted by key (so normalized forms do not depend on the
    /// order they were written in).
    private func customProperties(_ object: JSONTape.Value, reserved: (String) -> Bool) -> [JSONObject.Member] {
        var properties = members(of: object) { !reserved($0) }
        if properties.count > 1 { properties.sort { $0.key < $1.key } }
        return properties
    }

    /// The members of `object` whose key `isIncluded`, built as values, in document order.
    private func members(of object: JSONTape.Value, where isIncluded: (String) -> Bool) -> [JSONObject.Member] {
        var result: [JSONObject.Member] = []
        for member in tape.members(object) {
            let key = tape.string(member.key) ?? ""
            if isIncluded(key) { result.append(JSONObject.Member(key: key, value: tape.value(member.value))) }
        }
        return result
    }

    /// The value of the attribute called `name` (one of the logical-type rules' names), built.
    private func attribute(_ object: JSONTape.Value, _ name: String) -> JSONValue? {
        var name = name
        let key = name.withUTF8 { JSONTape.Key($0) }
        return tape.member(object, key).map { tape.value($0) }
    }

    // MARK: Objects

    private mutating func parseObject(_ object: JSONTape.Value, namespace: String) throws(AvroSchemaError) -> SchemaNode.ID {
        guard let typeValue = tape.member(object, .type) else {
            throw AvroSchemaError(.missingAttribute, at: path.rendered, "schema object has no \"type\"")
        }
        guard let type = tape.string(typeValue) else {
            // {"type": {...}} or {"type": [...]}: only a field's "type" may be a schema.
            throw AvroSchemaError(
                .invalidAttribute, at: path.rendered(appending: "type"),
                "\"type\" of a schema object must be a type name, not \(tape.kindDescription(typeValue)); only a record field's \"type\" may be a nested schema")
        }
        switch type {
        case "record", "error": return try parseRecord(object, namespace: namespace, isError: type == "error")
        case "enum": return try parseEnum(object, namespace: namespace)
        case "array": return try parseArray(object, namespace: namespace)
        case "map": return try parseMap(object, namespace: namespace)
        case "fixed": return try parseFixed(object, namespace: namespace)
        default:
            if let kind = AvroKind(primitiveName: type) {
                return parsePrimitiveObject(object, kind: kind)
            }
            // {"type": "SomeNamedType"} is a reference, as Avro's Java parser accepts.
            path.push("type")
            defer { path.pop() }
            return try resolveReference(type, namespace: namespace)
        }
    }

    private mutating func parsePrimitiveObject(_ object: JSONTape.Value, kind: AvroKind) -> SchemaNode.ID {
        guard tape.count(object) > 1 else { return primitive(kind) }
        let (logicalType, consumed) = LogicalTypeRules.logicalType(kind: kind, fixedSize: nil) { attribute(object, $0) }
        return append(
            .primitive(kind), logicalType: logicalType,
            properties: customProperties(object) { $0 == "type" || consumed.contains($0) },
            documentProperties: javaSchemaProperties(object))
    }

    private static func isRecordAttribute(_ key: String) -> Bool {
        switch key {
        case "type", "name", "namespace", "doc", "aliases", "fields": return true
        default: return false
        }
    }

    private static let fieldAttributes = JSONTape.KeySet([.name, .type, .default, .order, .aliases, .doc])

    private static func isFieldAttribute(_ key: String) -> Bool {
        switch key {
        case "name", "type", "default", "order", "aliases", "doc": return true
        default: return false
        }
    }

    private static func isEnumAttribute(_ key: String) -> Bool {
        switch key {
        case "type", "name", "namespace", "doc", "aliases", "symbols", "default": return true
        default: return false
        }
    }

    private static func isFixedAttribute(_ key: String) -> Bool {
        switch key {
        case "type", "name", "namespace", "doc", "aliases", "size": return true
        default: return false
        }
    }

    private mutating func parseRecord(_ object: JSONTape.Value, namespace: String, isError: Bool) throws(AvroSchemaError) -> SchemaNode.ID {
        let kindName = isError ? "error" : "record"
        let name = try parseName(object, enclosingNamespace: namespace, kind: kindName)
        let aliases = try parseAliases(object, namespace: name.namespace, named: true)
        guard let fieldsValue = tape.member(object, .fields) else {
            throw AvroSchemaError(.missingAttribute, at: path.rendered, "\(kindName) \"\(name.fullName)\" has no \"fields\"")
        }
        guard let fieldValues = tape.elements(fieldsValue) else {
            throw AvroSchemaError(.invalidAttribute, at: path.rendered(appending: "fields"), "\"fields\" must be an array, not \(tape.kindDescription(fieldsValue))")
        }
        // Register the name before the fields, so that fields may refer to the record itself. Until
        // the fields are parsed the node is a record without fields, so union checks see its name.
        let id = nodes.count
        nodes.append(
            SchemaNode(
                content: .record(RecordType(name: name, aliases: [], doc: nil, fields: [], isError: isError)),
                logicalType: nil, properties: []))
        namedTypes[name.fullName] = id

        var fields: [Field] = []
        fields.reserveCapacity(fieldValues.count)
        path.push("fields")
        for (index, fieldValue) in fieldValues.enumerated() {
            path.push(index)
            fields.append(try parseField(fieldValue, namespace: name.namespace))
            path.pop()
        }
        // Duplicates are found by the one index of the fields, keyed by interned name: a second
        // insertion of an id finds the first.
        let nameIDs = NameInterner.shared.ids(for: fields)
        var positionByNameID: [Int32: Int] = [:]
        positionByNameID.reserveCapacity(fields.count)
        for (index, nameID) in nameIDs.enumerated() where positionByNameID.updateValue(index, forKey: nameID) != nil {
            path.push(index)
            throw AvroSchemaError(
                .duplicateField, at: path.rendered(appending: "name"), "field \"\(fields[index].name)\" is defined twice in \(kindName) \"\(name.fullName)\"")
        }
        path.pop()
        let record = RecordType(
            name: name, aliases: aliases.map { AvroName($0, enclosingNamespace: name.namespace) }, doc: docString(object),
            fields: fields, isError: isError, nameIDs: nameIDs, positionByNameID: positionByNameID)
        nodes[id] = SchemaNode(
            content: .record(record), logicalType: nil, properties: customProperties(object, reserved: SchemaBuilder.isRecordAttribute),
            documentProperties: javaSchemaProperties(object))
        return id
    }

    private mutating func parseField(_ object: JSONTape.Value, namespace: String) throws(AvroSchemaError) -> Field {
        guard tape.kind(object) == .object else {
            throw AvroSchemaError(.invalidAttribute, at: path.rendered, "a field must be an object with \"name\" and \"type\", not \(tape.kindDescription(object))")
        }
        guard let nameValue = tape.member(object, .name) else {
            throw AvroSchemaError(.missingAttribute, at: path.rendered, "field has no \"name\"")
        }
        guard let name = tape.string(nameValue) else {
            throw AvroSchemaError(.invalidAttribute, at: path.rendered(appending: "name"), "field \"name\" must be a string, not \(tape.kindDescription(nameValue))")
        }
        guard SchemaBuilder.isValidName(name) else {
            throw AvroSchemaError(.invalidName, at: path.rendered(appending: "name"), "field name \"\(name)\" is not a valid Avro name: it must match [A-Za-z_][A-Za-z0-9_]*")
        }
        guard let typeValue = tape.member(object, .type) else {
            throw AvroSchemaError(.missingAttribute, at: path.rendered, "field \"\(name)\" has no \"type\"")
        }
        path.push("type")
        let type = try parse(typeValue, namespace: namespace)
        path.pop()
        var order = Field.Order.ascending
        if let orderValue = tape.member(object, .order) {
            // Case-insensitive, as Avro's Java parser reads it (Python's rejects "ASCENDING"); Confluent's
            // normalized text writes the upper-case names, and must parse again.
            guard let text = tape.string(orderValue), let parsed = Field.Order(rawValue: text.lowercased()) else {
                throw AvroSchemaError(.invalidAttribute, at: path.rendered(appending: "order"), "field \"order\" must be \"ascending\", \"descending\" or \"ignore\"")
            }
            order = parsed
        }
        let aliases = try parseAliases(object, namespace: namespace, named: false)
        let defaultValue = tape.member(object, .`default`).map { tape.value($0) }
        if let defaultValue {
            recordDefault(defaultValue, type: type)
        }
        // Nearly every field has only Avro's own attributes: then neither property list needs a look
        // at the keys as strings.
        let hasOnlyAvroAttributes = tape.hasOnlyKeys(object, SchemaBuilder.fieldAttributes)
        return Field(
            name: name, type: type, defaultValue: defaultValue, aliases: aliases, order: order, doc: docString(object),
            properties: hasOnlyAvroAttributes ? [] : customProperties(object, reserved: SchemaBuilder.isFieldAttribute),
            documentProperties: hasOnlyAvroAttributes ? [] : javaFieldProperties(object))
    }

    private mutating func parseEnum(_ object: JSONTape.Value, namespace: String) throws(AvroSchemaError) -> SchemaNode.ID {
        let name = try parseName(object, enclosingNamespace: namespace, kind: "enum")
        let aliases = try parseAliases(object, namespace: name.namespace, named: true)
        guard let symbolsValue = tape.member(object, .symbols) else {
            throw AvroSchemaError(.missingAttribute, at: path.rendered, "enum \"\(name.fullName)\" has no \"symbols\"")
        }
        guard let symbolValues = tape.elements(symbolsValue) else {
            throw AvroSchemaError(.invalidAttribute, at: path.rendered(appending: "symbols"), "\"symbols\" must be an array of names, not \(tape.kindDescription(symbolsValue))")
        }
        var symbols: [String] = []
        var seen: Set<String> = []
        for (index, symbolValue) in symbolValues.enumerated() {
            // Rendered only for an error: rendering it for every symbol was 3% of a `schemactl check` run.
            var symbolPath: String { path.rendered(appending: "symbols") + "/\(index)" }
            guard let symbol = tape.string(symbolValue) else {
                throw AvroSchemaError(.invalidAttribute, at: symbolPath, "an enum symbol must be a string, not \(tape.kindDescription(symbolValue))")
            }
            guard SchemaBuilder.isValidName(symbol) else {
                throw AvroSchemaError(.invalidName, at: symbolPath, "enum symbol \"\(symbol)\" is not a valid Avro name: it must match [A-Za-z_][A-Za-z0-9_]*")
            }
            guard seen.insert(symbol).inserted else {
                throw AvroSchemaError(.duplicateSymbol, at: symbolPath, "enum symbol \"\(symbol)\" appears twice in enum \"\(name.fullName)\"")
            }
            symbols.append(symbol)
        }
        var defaultSymbol: String?
        if let defaultValue = tape.member(object, .`default`) {
            guard let symbol = tape.string(defaultValue), seen.contains(symbol) else {
                throw AvroSchemaError(
                    .invalidEnumDefault, at: path.rendered(appending: "default"),
                    "enum default must be one of the symbols \(symbols), not \(JSONWriter.render(tape.value(defaultValue)))")
            }
            defaultSymbol = symbol
        }
        let enumeration = EnumType(
            name: name, aliases: aliases.map { AvroName($0, enclosingNamespace: name.namespace) }, doc: docString(object),
            symbols: symbols, defaultSymbol: defaultSymbol)
        let id = append(
            .enumeration(enumeration), properties: customProperties(object, reserved: SchemaBuilder.isEnumAttribute),
            documentProperties: javaSchemaProperties(object, isEnum: true))
        namedTypes[name.fullName] = id
        return id
    }

    private mutating func parseArray(_ object: JSONTape.Value, namespace: String) throws(AvroSchemaError) -> SchemaNode.ID {
        guard let itemsValue = tape.member(object, .items) else {
            throw AvroSchemaError(.missingAttribute, at: path.rendered, "array has no \"items\"")
        }
        path.push("items")
        let items = try parse(itemsValue, namespace: namespace)
        path.pop()
        return append(
            .array(items: items), properties: customProperties(object) { $0 == "type" || $0 == "items" },
            documentProperties: javaSchemaProperties(object))
    }

    private mutating func parseMap(_ object: JSONTape.Value, namespace: String) throws(AvroSchemaError) -> SchemaNode.ID {
        guard let valuesValue = tape.member(object, .values) else {
            throw AvroSchemaError(.missingAttribute, at: path.rendered, "map has no \"values\"")
        }
        path.push("values")
        let values = try parse(valuesValue, namespace: namespace)
        path.pop()
        return append(
            .map(values: values), properties: customProperties(object) { $0 == "type" || $0 == "values" },
            documentProperties: javaSchemaProperties(object))
    }

    private mutating func parseFixed(_ object: JSONTape.Value, namespace: String) throws(AvroSchemaError) -> SchemaNode.ID {
        let name = try parseName(object, enclosingNamespace: namespace, kind: "fixed")
        let aliases = try parseAliases(object, namespace: name.namespace, named: true)
        guard let sizeValue = tape.member(object, .size) else {
            throw AvroSchemaError(.missingAttribute, at: path.rendered, "fixed \"\(name.fullName)\" has no \"size\"")
        }
        guard let size = tape.integer(sizeValue), size >= 0, size <= Int64(Int32.max) else {
            throw AvroSchemaError(
                .invalidFixedSize, at: path.rendered(appending: "size"),
                "fixed \"size\" must be a non-negative integer, not \(JSONWriter.render(tape.value(sizeValue)))")
        }
        let (logicalType, consumed) = LogicalTypeRules.logicalType(kind: .fixed, fixedSize: Int(size)) { attribute(object, $0) }

        let fixed = FixedType(
            name: name, aliases: aliases.map { AvroName($0, enclosingNamespace: name.namespace) }, doc: docString(object), size: Int(size))
        let id = append(
            .fixed(fixed), logicalType: logicalType,
            properties: customProperties(object) { SchemaBuilder.isFixedAttribute($0) || consumed.contains($0) },
            documentProperties: javaSchemaProperties(object))
        namedTypes[name.fullName] = id
        return id
    }

    // MARK: Unions

    /// Whether two union branches would be told apart by the same key: a named type by its full name,
    /// any other type by its kind.
    /// (As Avro's Java library keys them, a record named "array" in the null namespace and an array
    /// have the same key.)
    private func sameUnionBranchKey(_ a: SchemaNode.ID, _ b: SchemaNode.ID) -> Bool {
        let kindA = kinds(a)
        let kindB = kinds(b)
        if !kindA.isNamed && !kindB.isNamed { return kindA == kindB }
        let keyA = nodes[a].name?.fullName ?? kindA.rawValue
        let keyB = nodes[b].name?.fullName ?? kindB.rawValue
        return keyA == keyB
    }

    private func kinds(_ id: SchemaNode.ID) -> AvroKind { nodes[id].kind }

    private mutating func parseUnion(_ union: JSONTape.Value, namespace: String) throws(AvroSchemaError) -> SchemaNode.ID {
        let count = tape.count(union)
        var branches: [SchemaNode.ID] = []
        branches.reserveCapacity(count)
        var branchValue = tape.firstElement(union)
        for index in 0..<count {
            if index > 0 { branchValue = tape.nextElement(after: branchValue) }
            path.push(index)
            if tape.kind(branchValue) == .array {
                throw AvroSchemaError(.nestedUnion, at: path.rendered, "a union may not directly contain another union")
            }
            let branch = try parse(branchValue, namespace: namespace)
            // Earlier branches are searched linearly, by kind and then name: unions hold a few
            // branches, and a dictionary (or even an array of keys) per union was measurable in a
            // `schemactl check` run.
            if let first = branches.firstIndex(where: { sameUnionBranchKey($0, branch) }) {
                let node = nodes[branch]
                let what = node.name.map { "named type \"\($0.fullName)\"" } ?? "type \"\(node.kind.rawValue)\""
                throw AvroSchemaError(
                    .duplicateUnionBranch, at: path.rendered,
                    "union contains \(what) twice (branches \(first) and \(index)); a union may hold each unnamed type and each name only once")
            }
            branches.append(branch)
            path.pop()
        }
        return append(.union(branches: branches))
    }
}
