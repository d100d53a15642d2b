/// A parsed, validated Avro schema.
///
/// The schema is a table of nodes; a node refers to another by its index (`SchemaNode.ID`), and every
/// reference to a named type points at the node that defines it. Recursive schemas are therefore plain
/// index cycles, with no reference-counting cycles, and a parsed schema is an immutable value that can
/// be shared across threads.
///
/// ```swift
/// let schema = try AvroSchema(parsing: #"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#)
/// print(schema.canonicalForm)      // {"name":"User","type":"record","fields":[{"name":"id","type":"long"}]}
/// print(schema.rabinFingerprint)   // CRC-64-AVRO of the canonical form
/// ```
public struct AvroSchema: Sendable {
    /// Every node of the schema; `root` is where it starts.
    public let nodes: [SchemaNode]
    /// The top-level node.
    public let root: SchemaNode.ID
    /// Named types (records, enums, fixed) by full name.
    public let namedTypes: [String: SchemaNode.ID]
    /// Each node's kind, by id: hot paths (compatibility, resolution) test kinds without touching
    /// the nodes' reference-counted payloads.
    public let kinds: [AvroKind]

    /// Nodes with an id below this came from the schemas passed as `references:`; Confluent's texts
    /// write those named types by name instead of inlining them.
    let importedNodeCount: Int

    init(nodes: [SchemaNode], root: SchemaNode.ID, namedTypes: [String: SchemaNode.ID], importedNodeCount: Int = 0) {
        self.importedNodeCount = importedNodeCount
        self.nodes = nodes
        self.root = root
        self.namedTypes = namedTypes
        let kinds = nodes.map(\.kind)
        self.kinds = kinds
        self.takesBytes = Self.computeTakesBytes(nodes, kinds: kinds)
    }

    /// Whether a value of each node takes at least one byte in Avro binary (null, empty records and
    /// zero-size fixed take none): the decoder bounds block counts of zero-byte items separately.
    let takesBytes: [Bool]

    private static func computeTakesBytes(_ nodes: [SchemaNode], kinds: [AvroKind]) -> [Bool] {
        var result = [Bool?](repeating: nil, count: nodes.count)
        func visit(_ id: SchemaNode.ID) -> Bool {
            // Only records and fixed need their content; the kind answers the rest without copying a
            // node's payload (this function was 4% of a `schemactl check` run's instructions).
            switch kinds[id] {
            case .null: return false
            case .record, .fixed: break
            default: return true
            }
            if let known = result[id] { return known }
            result[id] = true  // a record that contains itself directly: assume bytes (it cannot be written anyway)
            let answer: Bool
            switch nodes[id].content {
            case .primitive(let kind): answer = kind != .null
            case .record(let record): answer = record.fieldTypes.contains { visit($0) }
            case .fixed(let fixed): answer = fixed.size > 0
            default: answer = true
            }
            result[id] = answer
            return answer
        }
        return nodes.indices.map { visit($0) }
    }

    /// The node with this id.
    public subscript(id: SchemaNode.ID) -> SchemaNode { nodes[id] }

    /// The top-level node.
    public var rootNode: SchemaNode { nodes[root] }
}

/// The primitive and complex kinds of Avro schema.
public enum AvroKind: String, Sendable, Hashable, CaseIterable {
    case null, boolean, int, long, float, double, bytes, string
    case record, `enum`, array, map, union, fixed

    /// Upper-case name as Avro's Java library prints it in messages ("RECORD", "INT").
    public var upperName: String { rawValue.uppercased() }

    /// Whether the kind is a named type (record, enum, fixed).
    public var isNamed: Bool { self == .record || self == .enum || self == .fixed }

    /// The primitive type with this name ("int", "string", …), or nil.
    init?(primitiveName name: String) {
        switch name {
        case "null": self = .null
        case "boolean": self = .boolean
        case "int": self = .int
        case "long": self = .long
        case "float": self = .float
        case "double": self = .double
        case "bytes": self = .bytes
        case "string": self = .string
        default: return nil
        }
    }

    /// A primitive kind's position among the eight (0…7); 0 for the others.
    var primitiveSlot: UInt8 {
        switch self {
        case .null: return 0
        case .boolean: return 1
        case .int: return 2
        case .long: return 3
        case .float: return 4
        case .double: return 5
        case .bytes: return 6
        case .string: return 7
        default: return 0
        }
    }

    /// Whether the kind is one of the eight primitive types.
    public var isPrimitive: Bool {
        switch self {
        case .null, .boolean, .int, .long, .float, .double, .bytes, .string: return true
        default: return false
        }
    }
}

/// One node of a schema.
public struct SchemaNode: Sendable {
    /// Index of a node in `AvroSchema.nodes`.
    public typealias ID = Int

    /// What the node is, with the data of its kind.
    public enum Content: Sendable {
        case primitive(AvroKind)
        // Named types are boxed: inline, a record's payload made every node (a plain "string" too)
        // about 150 bytes, which 1,000-field schemas paid in memory and copies.
        indirect case record(RecordType)
        indirect case enumeration(EnumType)
        case array(items: ID)
        case map(values: ID)
        case union(branches: [ID])
        indirect case fixed(FixedType)
    }

    /// The node's kind and data.
    public let content: Content
    /// A valid logical type annotation, if any. Invalid ones are dropped here, as the specification
    /// says, and kept as plain properties.
    public let logicalType: LogicalType?
    /// Attributes that are not part of Avro's own vocabulary (custom properties), sorted by key.
    public let properties: [JSONObject.Member]
    /// The attributes Avro's Java library keeps as properties, in document order: every attribute
    /// outside Java's reserved set, so `logicalType`, `precision` and `scale` too. Confluent's texts
    /// are written from these.
    let documentProperties: [JSONObject.Member]

    init(content: Content, logicalType: LogicalType?, properties: [JSONObject.Member], documentProperties: [JSONObject.Member] = []) {
        self.content = content
        self.logicalType = logicalType
        self.properties = properties
        self.documentProperties = documentProperties
    }

    /// The node's kind.
    public var kind: AvroKind {
        switch content {
        case .primitive(let kind): return kind
        case .record: return .record
        case .enumeration: return .enum
        case .array: return .array
        case .map: return .map
        case .union: return .union
        case .fixed: return .fixed
        }
    }

    /// The name of a record, enum or fixed.
    public var name: AvroName? {
        switch content {
        case .record(let record): return record.name
        case .enumeration(let enumeration): return enumeration.name
        case .fixed(let fixed): return fixed.name
        default: return nil
        }
    }

    /// Full-name aliases of a record, enum or fixed.
    public var aliases: [AvroName] {
        switch content {
        case .record(let record): return record.aliases
        case .enumeration(let enumeration): return enumeration.aliases
        case .fixed(let fixed): return fixed.aliases
        default: return []
        }
    }
}

/// A full name split into its parts.
public struct AvroName: Sendable, Hashable, CustomStringConvertible {
    /// The unqualified name ("User").
    public let name: String
    /// The namespace ("com.example"), empty for the null namespace.
    public let namespace: String

    /// "com.example.User", or "User" in the null namespace.
    public var fullName: String { namespace.isEmpty ? name : namespace + "." + name }

    public var description: String { fullName }

    /// Resolves `text` as the specification says: a dotted text is a full name; otherwise it lives in
    /// `enclosingNamespace`.
    init(_ text: String, enclosingNamespace: String) {
        if let dot = text.lastIndex(of: ".") {
            name = String(text[text.index(after: dot)...])
            namespace = String(text[..<dot])
        } else {
            name = text
            namespace = enclosingNamespace
        }
    }
}

/// A record (or an `error`, which Avro treats as a record).
public struct RecordType: Sendable {
    public let name: AvroName
    public let aliases: [AvroName]
    public let doc: String?
    public let fields: [Field]
    /// Whether it was declared with `"type": "error"`.
    public let isError: Bool
    /// Hot-path views of the fields for resolution: interned name ids and type ids, by position.
    /// Comparing two interned ids is exact and needs neither a string compare nor reference counting.
    let fieldNameIDs: [Int32]
    let fieldTypes: [SchemaNode.ID]
    /// Field position by interned name id: the one index of the fields by name (a second one keyed
    /// by `String` cost a string hash per field on every parse).
    let fieldPositionByNameID: [Int32: Int]

    init(name: AvroName, aliases: [AvroName], doc: String?, fields: [Field], isError: Bool) {
        let ids = NameInterner.shared.ids(for: fields)
        var byID: [Int32: Int] = [:]
        byID.reserveCapacity(fields.count)
        for (position, id) in ids.enumerated() { byID[id] = position }
        self.init(name: name, aliases: aliases, doc: doc, fields: fields, isError: isError, nameIDs: ids, positionByNameID: byID)
    }

    /// - Parameters nameIDs, positionByNameID: the fields' interned names and positions, when the
    ///   caller has built them already (the parser does, to find duplicate names).
    init(
        name: AvroName, aliases: [AvroName], doc: String?, fields: [Field], isError: Bool, nameIDs: [Int32],
        positionByNameID: [Int32: Int]
    ) {
        self.name = name
        self.aliases = aliases
        self.doc = doc
        self.fields = fields
        self.isError = isError
        fieldNameIDs = nameIDs
        fieldPositionByNameID = positionByNameID
        fieldTypes = fields.map(\.type)
    }

    /// Field positions by name: `record.fieldIndex["id"]`.
    public var fieldIndex: FieldPositions { FieldPositions(record: self) }

    /// The field called `name`, if there is one.
    public func field(named name: String) -> Field? {
        fieldIndex[name].map { fields[$0] }
    }

    /// Looks fields up by name through the interned ids.
    public struct FieldPositions {
        let record: RecordType

        /// The position of the field called `name`, if there is one.
        public subscript(name: String) -> Int? {
            // A name never interned is no field of any parsed record.
            guard let id = NameInterner.shared.existingID(for: name) else { return nil }
            return record.fieldPositionByNameID[id]
        }
    }
}

/// One field of a record.
public struct Field: Sendable {
    /// Sort order of a field, as the specification defines it.
    public enum Order: String, Sendable {
        case ascending, descending, ignore
    }

    public let name: String
    public let type: SchemaNode.ID
    /// The default value as written (already validated against `type`).
    public let defaultValue: JSONValue?
    public let aliases: [String]
    public let order: Order
    public let doc: String?
    /// Custom properties, sorted by key.
    public let properties: [JSONObject.Member]
    /// The attributes outside Avro Java's reserved set for fields, in document order.
    let documentProperties: [JSONObject.Member]

    init(
        name: String, type: SchemaNode.ID, defaultValue: JSONValue?, aliases: [String], order: Order, doc: String?,
        properties: [JSONObject.Member], documentProperties: [JSONObject.Member] = []
    ) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.aliases = aliases
        self.order = order
        self.doc = doc
        self.properties = properties
        self.documentProperties = documentProperties
    }

    /// Whether the field has a default (a JSON `null` default counts).
    public var hasDefault: Bool { defaultValue != nil }
}

/// An enumeration.
public struct EnumType: Sendable {
    public let name: AvroName
    public let aliases: [AvroName]
    public let doc: String?
    public let symbols: [String]
    /// The symbol a reader uses for writer symbols it does not know.
    public let defaultSymbol: String?
}

/// A fixed-size byte string.
public struct FixedType: Sendable {
    public let name: AvroName
    public let aliases: [AvroName]
    public let doc: String?
    public let size: Int
}

/// The logical types of the Avro 1.12 specification.
public enum LogicalType: Sendable, Hashable {
    case decimal(precision: Int, scale: Int)
    case uuid
    case date
    case timeMillis
    case timeMicros
    case timestampMillis
    case timestampMicros
    case timestampNanos
    case localTimestampMillis
    case localTimestampMicros
    case localTimestampNanos
    case duration

    /// The `logicalType` attribute value.
    public var name: String {
        switch self {
        case .decimal: return "decimal"
        case .uuid: return "uuid"
        case .date: return "date"
        case .timeMillis: return "time-millis"
        case .timeMicros: return "time-micros"
        case .timestampMillis: return "timestamp-millis"
        case .timestampMicros: return "timestamp-micros"
        case .timestampNanos: return "timestamp-nanos"
        case .localTimestampMillis: return "local-timestamp-millis"
        case .localTimestampMicros: return "local-timestamp-micros"
        case .localTimestampNanos: return "local-timestamp-nanos"
        case .duration: return "duration"
        }
    }
}
