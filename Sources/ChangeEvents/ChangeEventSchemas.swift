import AvroCodec

/// The Avro schemas of one table's change events, Debezium-style: a key record of the replica
/// identity's columns and a value envelope `{before, after, source, op, ts_ms}`.
///
/// Names follow the topic: the topic `PREFIX.SCHEMA.TABLE` has records `PREFIX.SCHEMA.TABLE.Key`,
/// `.Value` and `.Envelope`, and subjects `PREFIX.SCHEMA.TABLE-key` / `-value` (topic-name strategy).
/// Nullable columns are `["null", T]` with default null; NOT NULL columns whose SQL default is a
/// constant get that default; so adding a nullable column yields a BACKWARD-compatible version.
///
/// `before` is `["null", Value, Key]`: the whole old row under REPLICA IDENTITY FULL (the Value
/// branch), otherwise only the key columns (the Key branch), as Debezium reports them — typed, rather
/// than a Value whose other columns would have to pretend to be null.
public struct ChangeEventSchemas: Sendable {
    public let table: TableDescription
    public let topic: String
    public let columnTypes: [ColumnAvroType]
    public let keyText: String
    public let valueText: String
    public let key: AvroSchema
    public let value: AvroSchema

    /// Indexes into `table.columns` of the key columns, in table order.
    public let keyColumnIndexes: [Int]

    /// Told about a value of a nullable column that has no Avro form (a numeric NaN in a decimal
    /// column, a date beyond Avro's range), which is then sent as null.
    public var onUnconvertibleValue: (@Sendable (String) -> Void)?

    public var keySubject: String { topic + "-key" }
    public var valueSubject: String { topic + "-value" }

    public init(table: TableDescription, topicPrefix: String) throws(AvroSchemaError) {
        self.table = table
        topic = "\(topicPrefix).\(table.namespace).\(table.name)"
        let types = table.columns.map { ColumnAvroType(typeOID: $0.typeOID, typeModifier: $0.typeModifier) }
        columnTypes = types
        keyColumnIndexes = table.columns.indices.filter { table.columns[$0].isKey }
        let namespace = Self.avroName(topic, keepingDots: true)

        func field(_ index: Int, forKey: Bool) -> JSONValue {
            let column = table.columns[index]
            let type = types[index].schemaJSON
            var members: [(String, JSONValue)] = [("name", .string(Self.avroName(column.name)))]
            if column.isNullable && !forKey {
                members.append(("type", .array([.string("null"), type])))
                members.append(("default", .null))
            } else {
                members.append(("type", type))
                if let expression = column.defaultExpression, let avroDefault = types[index].avroDefault(forSQLDefault: expression) {
                    members.append(("default", avroDefault))
                }
            }
            if Self.avroName(column.name) != column.name { members.append(("pg.column", .string(column.name))) }
            return .object(members)
        }

        let keyRecord = JSONValue.object([
            ("type", .string("record")), ("name", .string("Key")), ("namespace", .string(namespace)),
            ("fields", .array(keyColumnIndexes.map { field($0, forKey: true) })),
        ])
        let valueRecord = JSONValue.object([
            ("type", .string("record")), ("name", .string("Value")), ("namespace", .string(namespace)),
            ("fields", .array(table.columns.indices.map { field($0, forKey: false) })),
        ])
        let source = JSONValue.object([
            ("type", .string("record")), ("name", .string("Source")), ("namespace", .string("io.cdc.postgres")),
            (
                "fields",
                .array([
                    .object([("name", .string("connector")), ("type", .string("string"))]),
                    .object([("name", .string("db")), ("type", .string("string"))]),
                    .object([("name", .string("schema")), ("type", .string("string"))]),
                    .object([("name", .string("table")), ("type", .string("string"))]),
                    .object([("name", .string("lsn")), ("type", .string("long"))]),
                    .object([("name", .string("txId")), ("type", .string("long"))]),
                    .object([("name", .string("ts_ms")), ("type", .string("long"))]),
                ])
            ),
        ])
        let keyBranch: [JSONValue] = keyColumnIndexes.isEmpty ? [] : [keyRecord]
        let envelope = JSONValue.object([
            ("type", .string("record")), ("name", .string("Envelope")), ("namespace", .string(namespace)),
            (
                "fields",
                .array([
                    .object([("name", .string("before")), ("type", .array([.string("null"), valueRecord] + keyBranch)), ("default", .null)]),
                    .object([("name", .string("after")), ("type", .array([.string("null"), .string(namespace + ".Value")])), ("default", .null)]),
                    .object([("name", .string("source")), ("type", source)]),
                    .object([("name", .string("op")), ("type", .string("string"))]),
                    .object([("name", .string("ts_ms")), ("type", .array([.string("null"), .string("long")])), ("default", .null)]),
                ])
            ),
        ])
        // The envelope defines Key inside `before`; the key subject's schema is the same record alone.
        keyText = keyRecord.compactText
        valueText = envelope.compactText
        key = try AvroSchema(parsing: keyText)
        value = try AvroSchema(parsing: valueText)
    }

    /// `table` with every non-key column nullable that is nullable in `registered` (a version of this
    /// table's value subject): nullability never tightens from one version to the next. Under
    /// BACKWARD compatibility a NOT NULL column cannot follow a nullable one (the new schema could not
    /// read the old nulls), so `SET NOT NULL`, or a NULL that an older row carried past a later `SET
    /// NOT NULL`, would otherwise stop the source for good.
    public static func keepingNullable(_ table: TableDescription, asIn registered: AvroSchema) -> TableDescription {
        var nullableFields: Set<String> = []
        // Envelope.after is ["null", Value]: the Value record's fields.
        guard case .record(let envelope) = registered.rootNode.content, let after = envelope.field(named: "after"),
            case .union(let branches) = registered[after.type].content
        else { return table }
        for branch in branches {
            guard case .record(let value) = registered[branch].content else { continue }
            for field in value.fields {
                if case .union(let types) = registered[field.type].content, types.contains(where: { registered[$0].kind == .null }) {
                    nullableFields.insert(field.name)
                }
            }
        }
        var widened = table
        for index in widened.columns.indices where !widened.columns[index].isKey && nullableFields.contains(avroName(widened.columns[index].name)) {
            widened.columns[index].isNullable = true
        }
        return widened
    }

    /// An Avro name for a SQL identifier: letters, digits and `_`, not starting with a digit; other
    /// characters become `_` (the original is kept in the field's `pg.column` property).
    /// With `keepingDots`, dots stay (a namespace of several components).
    static func avroName(_ text: String, keepingDots: Bool = false) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            let isLetter = (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || scalar == "_"
            let isDigit = scalar >= "0" && scalar <= "9"
            if scalar == "." && keepingDots {
                out.append(".")
            } else if isLetter || (isDigit && !out.isEmpty && out.last != ".") {
                out.unicodeScalars.append(scalar)
            } else {
                out.append("_")
            }
        }
        return out.isEmpty ? "_" : out
    }
}
