import AvroCodec
import ChangeEvents
import Testing

/// PostgreSQL column types → Avro types, and their text forms → values.
struct ColumnMappingTests {
    @Test func typesMapAsTheIssueSays() {
        #expect(ColumnAvroType(typeOID: 21, typeModifier: -1) == .int)
        #expect(ColumnAvroType(typeOID: 23, typeModifier: -1) == .int)
        #expect(ColumnAvroType(typeOID: 20, typeModifier: -1) == .long)
        #expect(ColumnAvroType(typeOID: 700, typeModifier: -1) == .float)
        #expect(ColumnAvroType(typeOID: 701, typeModifier: -1) == .double)
        // numeric(10,2): atttypmod = (10 << 16 | 2) + 4
        #expect(ColumnAvroType(typeOID: 1700, typeModifier: (10 << 16 | 2) + 4) == .decimal(precision: 10, scale: 2))
        #expect(ColumnAvroType(typeOID: 1700, typeModifier: -1) == .string)
        #expect(ColumnAvroType(typeOID: 16, typeModifier: -1) == .boolean)
        for text in [25, 1043, 1042] as [UInt32] { #expect(ColumnAvroType(typeOID: text, typeModifier: -1) == .string) }
        // Debezium's semantic names (step 2): json and jsonb as io.debezium.data.Json, interval as ISO 8601.
        for json in [114, 3802] as [UInt32] { #expect(ColumnAvroType(typeOID: json, typeModifier: -1) == .semanticString("io.debezium.data.Json")) }
        #expect(ColumnAvroType(typeOID: 1186, typeModifier: -1) == .semanticString("io.debezium.time.Interval"))
        #expect(ColumnAvroType(typeOID: 790, typeModifier: -1) == .money)
        #expect(ColumnAvroType(typeOID: 1266, typeModifier: -1) == .zonedTime)
        #expect(ColumnAvroType(typeOID: 17, typeModifier: -1) == .bytes)
        #expect(ColumnAvroType(typeOID: 1082, typeModifier: -1) == .date)
        #expect(ColumnAvroType(typeOID: 1083, typeModifier: -1) == .timeMicros)
        #expect(ColumnAvroType(typeOID: 1114, typeModifier: -1) == .localTimestampMicros)
        #expect(ColumnAvroType(typeOID: 1184, typeModifier: -1) == .timestampMicros)
        #expect(ColumnAvroType(typeOID: 2950, typeModifier: -1) == .uuid)
        #expect(ColumnAvroType(typeOID: 600, typeModifier: -1) == .string)  // point: its text form
    }

    @Test func arraysBecomeAvroArraysOfNullableElements() {
        var column = ColumnDescription(name: "tags", typeOID: 1009, typeModifier: -1, isKey: false, isNullable: true, defaultExpression: nil)
        column.elementTypeOID = 25
        let texts = ColumnAvroType(column: column)
        #expect(texts == .array(.string))
        func strings(_ values: [String?]) -> AvroValue {
            .array(values.map { $0.map { .union(branch: 1, value: .string($0)) } ?? .union(branch: 0, value: .null) })
        }
        #expect(texts.value(fromText: "{}") == strings([]))
        #expect(texts.value(fromText: #"{a,"b c",NULL,"NULL","q\"uote","back\\slash",""}"#) == strings(["a", "b c", nil, "NULL", "q\"uote", "back\\slash", ""]))
        #expect(texts.value(fromText: "{ spaced out ,x}") == strings(["spaced out", "x"]))
        #expect(texts.value(fromText: #"{"{braces}","a,b"}"#) == strings(["{braces}", "a,b"]))
        // Multi-dimensional values are flattened in row-major order; explicit bounds are dropped.
        #expect(texts.value(fromText: "{{a,b},{c,NULL}}") == strings(["a", "b", "c", nil]))
        #expect(texts.value(fromText: "[0:1]={x,y}") == strings(["x", "y"]))
        for malformed in ["", "a,b", "{a", "{a}}", #"{"a"b}"#, #"{"a}"#, "{a\\}", "{a{b}}", "[0:1]"] {
            #expect(texts.value(fromText: malformed) == nil, "\(malformed)")
        }
        column.elementTypeOID = 23
        let numbers = ColumnAvroType(column: column)
        #expect(numbers.value(fromText: "{1,NULL,-3}") == .array([.union(branch: 1, value: .int(1)), .union(branch: 0, value: .null), .union(branch: 1, value: .int(-3))]))
        #expect(numbers.value(fromText: "{1,x}") == nil)
        #expect(numbers.schemaJSON == .object([("type", .string("array")), ("items", .array([.string("null"), .string("int")]))]))
        column.elementEnumLabels = ["low", "high"]
        #expect(ColumnAvroType(column: column) == .array(.enumeration(["low", "high"])))
    }

    @Test func timetzBecomesUTCAndMoneyADecimal() {
        #expect(ColumnAvroType.zonedTime.value(fromText: "12:34:56.789+02") == .string("10:34:56.789Z"))
        #expect(ColumnAvroType.zonedTime.value(fromText: "23:30:00-05:30") == .string("05:00:00Z"))
        #expect(ColumnAvroType.zonedTime.value(fromText: "00:10:00+01") == .string("23:10:00Z"))
        #expect(ColumnAvroType.zonedTime.value(fromText: "noon") == nil)
        #expect(ColumnAvroType.money.value(fromText: "$1,234.56") == ColumnAvroType.decimal(precision: 19, scale: 2).value(fromText: "1234.56"))
        #expect(ColumnAvroType.money.value(fromText: "-$0.50") == ColumnAvroType.decimal(precision: 19, scale: 2).value(fromText: "-0.50"))
    }

    @Test func textFormsBecomeValues() {
        #expect(ColumnAvroType.boolean.value(fromText: "t") == .boolean(true))
        #expect(ColumnAvroType.int.value(fromText: "-2147483648") == .int(Int32.min))
        #expect(ColumnAvroType.long.value(fromText: "9223372036854775807") == .long(Int64.max))
        #expect(ColumnAvroType.double.value(fromText: "-Infinity") == .double(-.infinity))
        #expect(ColumnAvroType.bytes.value(fromText: "\\x00ff41") == .bytes([0, 255, 0x41]))
        #expect(ColumnAvroType.decimal(precision: 10, scale: 2).value(fromText: "12.50") == .bytes([0x04, 0xE2]))  // 1250
        #expect(ColumnAvroType.date.value(fromText: "1970-01-02") == .int(1))
        #expect(ColumnAvroType.timeMicros.value(fromText: "12:34:56.5") == .long((12 * 3600 + 34 * 60 + 56) * 1_000_000 + 500_000))
        #expect(ColumnAvroType.localTimestampMicros.value(fromText: "1970-01-01 00:00:01.25") == .long(1_250_000))
        #expect(ColumnAvroType.timestampMicros.value(fromText: "1970-01-01 01:00:00+01") == .long(0))
        #expect(ColumnAvroType.timestampMicros.value(fromText: "2023-11-14 22:13:20+00") == .long(1_700_000_000_000_000))
        #expect(ColumnAvroType.timestampMicros.value(fromText: "1970-01-01 00:00:00-05:30") == .long(19_800_000_000))
        // Values PostgreSQL has and Avro's ranges only just hold.
        #expect(ColumnAvroType.date.value(fromText: "infinity") == .int(Int32.max))
        #expect(ColumnAvroType.timestampMicros.value(fromText: "-infinity") == .long(Int64.min))
        #expect(ColumnAvroType.date.value(fromText: "0001-12-31 BC") == .int(-719_163))  // the day before 0001-01-01
        #expect(ColumnAvroType.date.value(fromText: "10000-01-01") == .int(2_932_897))
        #expect(ColumnAvroType.timeMicros.value(fromText: "24:00:00") == .long(86_400_000_000))
        #expect(ColumnAvroType.timestampMicros.value(fromText: "0044-03-15 12:00:00+00 BC") != nil)
        #expect(ColumnAvroType.decimal(precision: 10, scale: 2).value(fromText: "NaN") == nil)
        #expect(ColumnAvroType.int.value(fromText: "x") == nil)
        #expect(ColumnAvroType.bytes.value(fromText: "\\x0") == nil)
    }

    static func items(nullableNote: Bool = true, extra: [ColumnDescription] = []) -> TableDescription {
        TableDescription(
            namespace: "public", name: "items",
            columns: [
                ColumnDescription(name: "id", typeOID: 23, typeModifier: -1, isKey: true, isNullable: false, defaultExpression: "nextval('items_id_seq'::regclass)"),
                ColumnDescription(name: "name", typeOID: 25, typeModifier: -1, isKey: false, isNullable: false, defaultExpression: "'unnamed'::text"),
                ColumnDescription(name: "qty", typeOID: 23, typeModifier: -1, isKey: false, isNullable: false, defaultExpression: "0"),
                ColumnDescription(name: "note", typeOID: 25, typeModifier: -1, isKey: false, isNullable: nullableNote, defaultExpression: nil),
            ] + extra, replicaIdentity: UInt8(ascii: "d"))
    }

    @Test func schemasCarryDefaultsAndNullability() throws {
        let schemas = try ChangeEventSchemas(table: Self.items(), topicPrefix: "cdc")
        #expect(schemas.valueSubject == "cdc.public.items-value")
        #expect(schemas.keySubject == "cdc.public.items-key")
        #expect(schemas.keyText == #"{"type":"record","name":"Key","namespace":"cdc.public.items","fields":[{"name":"id","type":"int"}]}"#)
        guard case .record(let envelope) = schemas.value.rootNode.content, case .union(let before) = schemas.value[envelope.fields[0].type].content,
            case .record(let row) = schemas.value[before[1]].content
        else {
            Issue.record("the envelope is not shaped {before: [null, Value, Key], …}")
            return
        }
        #expect(envelope.fields.map(\.name) == ["before", "after", "source", "op", "ts_ms"])
        #expect(row.fields.map(\.name) == ["id", "name", "qty", "note"])
        #expect(row.fields[0].defaultValue == nil)  // nextval(…) is not a constant
        #expect(row.fields[1].defaultValue == .string("unnamed"))
        #expect(row.fields[2].defaultValue == .integer(0))
        #expect(row.fields[3].defaultValue == .null)
        #expect(schemas.value[row.fields[3].type].kind == .union)
    }

    @Test func addingANullableColumnIsBackwardCompatible() throws {
        let v1 = try ChangeEventSchemas(table: Self.items(), topicPrefix: "cdc")
        let v2 = try ChangeEventSchemas(
            table: Self.items(extra: [ColumnDescription(name: "color", typeOID: 25, typeModifier: -1, isKey: false, isNullable: true, defaultExpression: nil)]),
            topicPrefix: "cdc")
        let report = CompatibilityChecker.check(v2.value, against: [ExistingSchemaVersion(version: 1, schema: v1.value)], level: .backward)
        #expect(report.isCompatible)
        // And a NOT NULL column without a default is not.
        let v3 = try ChangeEventSchemas(
            table: Self.items(extra: [ColumnDescription(name: "color", typeOID: 25, typeModifier: -1, isKey: false, isNullable: false, defaultExpression: nil)]),
            topicPrefix: "cdc")
        #expect(!CompatibilityChecker.check(v3.value, against: [ExistingSchemaVersion(version: 1, schema: v1.value)], level: .backward).isCompatible)
    }

    @Test func envelopesFollowTheReplicaIdentity() throws {
        let schemas = try ChangeEventSchemas(table: Self.items(), topicPrefix: "cdc")
        let source = ChangeSource(database: "app", lsn: 42, transactionID: 7, commitMilliseconds: 1_000)
        let row: [ColumnText] = [.text("1"), .text("pen"), .text("3"), .null]
        let delete = try schemas.envelope(operation: .delete, before: row, beforeIsFullRow: false, after: nil, source: source, nowMilliseconds: 5)
        let json = AvroJSON.json(delete, schema: schemas.value, style: .plain)
        #expect(json["before"] == .object([("id", .integer(1))]))  // the key only
        #expect(json["after"] == .null)
        #expect(json["op"] == .string("d"))
        #expect(json["source"]?["lsn"] == .integer(42))
        let full = try schemas.envelope(operation: .delete, before: row, beforeIsFullRow: true, after: nil, source: source, nowMilliseconds: 5)
        #expect(AvroJSON.json(full, schema: schemas.value, style: .plain)["before"] == .object([("id", .integer(1)), ("name", .string("pen")), ("qty", .integer(3)), ("note", .null)]))
        // The envelope encodes under its schema.
        #expect(try AvroBinary.decode(AvroBinary.encode(full, schema: schemas.value)[...], schema: schemas.value) == full)
        #expect(throws: ChangeEventError.self) {
            try schemas.envelope(operation: .create, before: nil, beforeIsFullRow: false, after: [.null, .text("x"), .text("1"), .null], source: source, nowMilliseconds: 0)
        }
        // A NOT NULL column whose text has no Avro value stops the event; a nullable one carries null.
        #expect(throws: ChangeEventError.self) {
            try schemas.envelope(operation: .create, before: nil, beforeIsFullRow: false, after: [.text("1"), .text("x"), .text("many"), .null], source: source, nowMilliseconds: 0)
        }
    }
}
