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
        topic = Self.topicName(prefix: topicPrefix, schema: table.namespace, table: table.name)
        let types = table.columns.map(ColumnAvroType.init(column:))
        columnTypes = types
        keyColumnIndexes = table.columns.indices.filter { table.columns[$0].isKey }
        let namespace = Self.avroName(topic, keepingDots: true)
        let fieldNames = Self.fieldNames(of: table.columns)

        func field(_ index: Int, forKey: Bool) -> JSONValue {
            let column = table.columns[index]
            let type = types[index].schemaJSON
            var members: [(String, JSONValue)] = [("name", .string(fieldNames[index]))]
            if column.isNullable && !forKey {
                members.append(("type", .array([.string("null"), type])))
                members.append(("default", .null))
            } else {
                members.append(("type", type))
                if let expression = column.defaultExpression, let avroDefault = types[index].avroDefault(forSQLDefault: expression) {
                    members.append(("default", avroDefault))
                } else if let registered = column.registeredDefault {
                    members.append(("default", registered))
                }
            }
            if fieldNames[index] != column.name { members.append(("pg.column", .string(column.name))) }
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
                    // Debezium's snapshot marker: "true" for snapshot reads, "last" for the last of
                    // them, "false" for streamed changes (a default, so the field was added compatibly).
                    .object([
                        ("name", .string("snapshot")),
                        (
                            "type",
                            .object([
                                ("type", .string("string")), ("connect.name", .string("io.debezium.data.Enum")),
                                ("connect.parameters", .object([("allowed", .string("true,last,false,incremental"))])),
                            ])
                        ),
                        ("default", .string("false")),
                    ]),
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

    /// `table` as a continuation of `registered` (a version of this table's value subject):
    ///
    /// - every non-key column nullable there stays nullable: under BACKWARD compatibility a NOT NULL
    ///   column cannot follow a nullable one (the new schema could not read the old nulls), so `SET NOT
    ///   NULL`, or a NULL that an older row carried past a later `SET NOT NULL`, would otherwise stop the
    ///   source for good;
    /// - every column keeps the Avro field name it had there (found by its `pg.column`, or by name):
    ///   numbered suffixes and transliteration must not move a name to another column when columns are
    ///   dropped or added, or when a release names new fields differently.
    /// `isLatestVersion`: `registered` is the subject's latest version (not merely the schema installed
    /// in this run), so a dropped table's column it lacks is new, and nullable.
    public static func continuing(_ table: TableDescription, from registered: AvroSchema, isLatestVersion: Bool = true) -> TableDescription {
        // Envelope.after is ["null", Value]: the Value record's fields.
        guard case .record(let envelope) = registered.rootNode.content, let after = envelope.field(named: "after"),
            case .union(let branches) = registered[after.type].content
        else { return table }
        var fieldByColumn: [String: (name: String, isNullable: Bool, defaultValue: JSONValue?)] = [:]
        for branch in branches {
            guard case .record(let value) = registered[branch].content else { continue }
            for field in value.fields {
                let column = field.properties.first { $0.key == "pg.column" }?.value.stringValue ?? field.name
                let isNullable: Bool
                if case .union(let types) = registered[field.type].content {
                    isNullable = types.contains { registered[$0].kind == .null }
                } else {
                    isNullable = false
                }
                fieldByColumn[column] = (field.name, isNullable, field.defaultValue)
            }
        }
        var continued = table
        for index in continued.columns.indices {
            guard let field = fieldByColumn[continued.columns[index].name] else {
                // A dropped table's column the version does not have: nothing says it is NOT NULL.
                if table.isGoneFromCatalog, isLatestVersion, !continued.columns[index].isKey { continued.columns[index].isNullable = true }
                continue
            }
            continued.columns[index].fieldName = field.name
            if field.isNullable && !continued.columns[index].isKey { continued.columns[index].isNullable = true }
            if table.isGoneFromCatalog, continued.columns[index].defaultExpression == nil { continued.columns[index].registeredDefault = field.defaultValue }
        }
        return continued
    }

    /// The topic of a table's events, `PREFIX.SCHEMA.TABLE`, with every character Kafka does not allow in
    /// a topic name (anything but ASCII letters, digits, `.`, `_` and `-`) written as `_`, as Debezium's
    /// topic name sanitizer does. Subjects and change-log file names follow it.
    public static func topicName(prefix: String, schema: String, table: String) -> String {
        let text = "\(prefix).\(schema).\(table)"
        var out = ""
        for scalar in text.unicodeScalars {
            let allowed = (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
                || scalar == "." || scalar == "_" || scalar == "-"
            out.unicodeScalars.append(allowed ? scalar : "_")
        }
        return out
    }

    /// The Avro field name of each column, in column order: the name it already has (`fieldName`, from
    /// the subject's latest version), else `avroName` of the column name, made unique with a numbered
    /// suffix (`a_b`, `a_b_2`) when two columns clean up to one name ("a-b" and "a b"). Deterministic:
    /// the same columns with the same history always get the same names.
    public static func fieldNames(of columns: [ColumnDescription]) -> [String] {
        var taken: Set<String> = []
        var names: [String?] = columns.map(\.fieldName)
        for name in names { if let name { taken.insert(name) } }
        // Then names that need no cleaning keep themselves, so a column called "a_b" is not renamed
        // because an earlier "a-b" cleaned up to it.
        let cleaned = columns.map { avroName($0.name) }
        for index in columns.indices where names[index] == nil && columns[index].name == cleaned[index] && !taken.contains(cleaned[index]) {
            names[index] = cleaned[index]
            taken.insert(cleaned[index])
        }
        return columns.indices.map { index in
            if let name = names[index] { return name }
            let name = cleaned[index]
            var candidate = name
            var suffix = 2
            while taken.contains(candidate) {
                candidate = "\(name)_\(suffix)"
                suffix += 1
            }
            taken.insert(candidate)
            return candidate
        }
    }

    /// An Avro name for a SQL identifier: letters, digits and `_`, not starting with a digit; other
    /// characters become `_` (the original is kept in the field's `pg.column` property).
    /// With `keepingDots`, dots stay (a namespace of several components).
    static func avroName(_ text: String, keepingDots: Bool = false) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            for scalar in transliterated(scalar).unicodeScalars {
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
        }
        return out.isEmpty ? "_" : out
    }

    /// A Latin letter with a diacritic as its ASCII letters (`é` → `e`, `ß` → `ss`, `Æ` → `AE`); any
    /// other scalar as itself. Covers Latin-1 and Latin Extended-A, where nearly every accented letter
    /// of European column names lies; `größe` and `grüße` stay two names (`grosse`, `grusse`).
    static func transliterated(_ scalar: Unicode.Scalar) -> String {
        let value = scalar.value
        guard value >= 0xC0 && value <= 0x17F else { return String(scalar) }
        switch value {
        case 0xC6: return "AE"
        case 0xE6: return "ae"
        case 0xDF: return "ss"
        case 0xDE: return "TH"
        case 0xFE: return "th"
        case 0xD0, 0x110: return "D"
        case 0xF0, 0x111: return "d"
        case 0x152: return "OE"
        case 0x153: return "oe"
        case 0x132: return "IJ"
        case 0x133: return "ij"
        case 0xD7, 0xF7: return "_"  // × and ÷
        default: break
        }
        // Base letters of U+00C0…U+017F, one per scalar ("?" where the table above decides).
        let table = Array(
            ("AAAAAA?CEEEEIIII?NOOOOO?OUUUUY??aaaaaa?ceeeeiiii?nooooo?ouuuuy?y"
                + "AaAaAaCcCcCcCcDd??EeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi??JjKkkLlLlLlLlLlNnNnNnnNnOoOoOo??RrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs")
                .unicodeScalars)
        let index = Int(value - 0xC0)
        guard index < table.count, table[index] != "?" else { return String(scalar) }
        return String(table[index])
    }
}
