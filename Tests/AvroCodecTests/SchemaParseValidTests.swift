import Testing

@testable import AvroCodec

struct SchemaParseValidTests {
    static let validFiles = Fixtures.files(in: "valid-schemas", ending: ".avsc")

    @Test func fixtureFolderIsNotEmpty() {
        #expect(Self.validFiles.count >= 25)
    }

    @Test(arguments: validFiles)
    func parsesValidSchema(_ file: String) throws {
        let schema = try AvroSchema(parsing: Fixtures.bytes(file))
        // The normalized form is itself a valid schema that means the same: same canonical form, and
        // normalizing is idempotent. (Parsing Canonical Form is not always re-parseable to the same
        // schema: it drops "namespace":"" on null-namespace types nested in namespaced ones.)
        let reparsed = try AvroSchema(parsing: schema.normalizedForm)
        #expect(reparsed.canonicalForm == schema.canonicalForm)
        #expect(reparsed.normalizedForm == schema.normalizedForm)
    }

    private func fieldType(_ schema: AvroSchema, _ name: String) -> SchemaNode? {
        guard case .record(let record) = schema.rootNode.content, let field = record.field(named: name) else { return nil }
        return schema[field.type]
    }

    @Test func recognizesEveryLogicalType() throws {
        let schema = try AvroSchema(
            parsing: #"""
                {"type":"record","name":"L","fields":[
                  {"name":"d1","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
                  {"name":"d2","type":{"type":"fixed","name":"F","size":8,"logicalType":"decimal","precision":18}},
                  {"name":"u","type":{"type":"string","logicalType":"uuid"}},
                  {"name":"da","type":{"type":"int","logicalType":"date"}},
                  {"name":"tm","type":{"type":"int","logicalType":"time-millis"}},
                  {"name":"tu","type":{"type":"long","logicalType":"time-micros"}},
                  {"name":"tsm","type":{"type":"long","logicalType":"timestamp-millis"}},
                  {"name":"tsu","type":{"type":"long","logicalType":"timestamp-micros"}},
                  {"name":"ltm","type":{"type":"long","logicalType":"local-timestamp-millis"}},
                  {"name":"ltu","type":{"type":"long","logicalType":"local-timestamp-micros"}},
                  {"name":"du","type":{"type":"fixed","name":"D","size":12,"logicalType":"duration"}}]}
                """#)
        let expected: [(String, LogicalType)] = [
            ("d1", .decimal(precision: 10, scale: 2)), ("d2", .decimal(precision: 18, scale: 0)), ("u", .uuid), ("da", .date),
            ("tm", .timeMillis), ("tu", .timeMicros), ("tsm", .timestampMillis), ("tsu", .timestampMicros),
            ("ltm", .localTimestampMillis), ("ltu", .localTimestampMicros), ("du", .duration),
        ]
        for (name, logicalType) in expected {
            #expect(fieldType(schema, name)?.logicalType == logicalType, "field \(name)")
        }
    }

    /// Specification: "Language implementations must ignore unknown logical types when reading, and
    /// should use the underlying Avro type. If a logical type is invalid, for example a decimal with
    /// scale greater than its precision, then implementations should ignore the logical type."
    @Test(arguments: [
        #"{"type":"bytes","logicalType":"decimal","precision":4,"scale":6}"#,
        #"{"type":"bytes","logicalType":"decimal","precision":0}"#,
        #"{"type":"bytes","logicalType":"decimal"}"#,
        #"{"type":"fixed","name":"F","size":2,"logicalType":"decimal","precision":5}"#,
        #"{"type":"string","logicalType":"date"}"#,
        #"{"type":"long","logicalType":"time-millis"}"#,
        #"{"type":"int","logicalType":"timestamp-millis"}"#,
        #"{"type":"fixed","name":"D","size":8,"logicalType":"duration"}"#,
        #"{"type":"int","logicalType":"no-such-type"}"#,
    ])
    func invalidLogicalTypesDegradeToTheUnderlyingType(_ text: String) throws {
        let schema = try AvroSchema(parsing: text)
        #expect(schema.rootNode.logicalType == nil)
        // The annotation stays as a plain property, so nothing the user wrote is lost.
        #expect(schema.rootNode.properties.contains { $0.key == "logicalType" })
    }

    @Test func recursiveSchemasReferToThemselves() throws {
        let schema = try AvroSchema(parsing: Fixtures.bytes("valid-schemas/recursive-linked-list.avsc"))
        guard case .record(let record) = schema.rootNode.content else {
            Issue.record("not a record")
            return
        }
        let referencesRoot = record.fields.contains { field in
            if case .union(let branches) = schema[field.type].content { return branches.contains(schema.root) }
            return field.type == schema.root
        }
        #expect(referencesRoot)
    }

    @Test func namesResolveAgainstTheEnclosingNamespace() throws {
        let schema = try AvroSchema(
            parsing: #"""
                {"type":"record","name":"Outer","namespace":"a.b","fields":[
                  {"name":"x","type":{"type":"enum","name":"E","symbols":["A"]}},
                  {"name":"y","type":"E"},
                  {"name":"z","type":{"type":"fixed","name":"c.F","size":1}},
                  {"name":"w","type":"c.F"}]}
                """#)
        #expect(schema.namedTypes.keys.sorted() == ["a.b.E", "a.b.Outer", "c.F"])
    }

    @Test func referencedSchemasProvideNamedTypes() throws {
        let address = try AvroSchema(parsing: #"{"type":"record","name":"com.acme.Address","fields":[{"name":"city","type":"string"}]}"#)
        let user = try AvroSchema(
            parsing: #"{"type":"record","name":"com.acme.User","fields":[{"name":"home","type":"Address"}]}"#, references: [address])
        #expect(user.canonicalForm.contains(#"{"name":"com.acme.Address","type":"record""#))
        #expect(throws: AvroSchemaError.self) {
            try AvroSchema(parsing: #"{"type":"record","name":"com.acme.User","fields":[{"name":"home","type":"Address"}]}"#)
        }
    }

    /// Java and Python accept a named type whose simple name is a primitive's inside a namespace;
    /// a bare "int" still means the primitive (Java's rule; Python's parser would pick the named type).
    @Test func aPrimitivesNameInANamespaceIsReferredToByFullName() throws {
        let schema = try AvroSchema(parsing: Fixtures.bytes("valid-schemas/primitive-names-in-namespace.avsc"))
        #expect(fieldType(schema, "b")?.name?.fullName == "com.x.int")
        #expect(fieldType(schema, "c")?.kind == .int)
        #expect(schema.canonicalText.contains(#"{"name":"b","type":"com.x.int"}"#))
    }
}
