import Testing

@testable import AvroCodec

/// `canonicalText`, `resolvedText` and `normalizedText`: the texts Confluent's registry stores and
/// returns. Expected outputs in `fixtures/canonical-text/` are derived by hand from Avro Java's
/// `Schema.toJson` and Confluent's `AvroSchemaUtils.build`.
struct ConfluentCanonicalTextTests {
    private static func expected(_ file: String) -> String {
        let text = Fixtures.text("canonical-text/" + file)
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    private static func schema(_ file: String) throws -> AvroSchema {
        try AvroSchema(parsing: Fixtures.bytes("canonical-text/" + file))
    }

    private static func userWithReference() throws -> AvroSchema {
        try AvroSchema(parsing: Fixtures.bytes("canonical-text/user-with-reference.avsc"), references: [try schema("address.avsc")])
    }

    @Test func writesEverythingJavaKeepsByteForByte() throws {
        #expect(try Self.schema("everything.avsc").canonicalText == Self.expected("everything.expected"))
    }

    @Test func textualVariantsGiveTheSameCanonicalText() throws {
        #expect(try Self.schema("everything-variant.avsc").canonicalText == Self.schema("everything.avsc").canonicalText)
    }

    @Test(arguments: ["everything.avsc", "address.avsc"])
    func canonicalTextIsIdempotentAndMeansTheSame(_ file: String) throws {
        let original = try Self.schema(file)
        let reparsed = try AvroSchema(parsing: original.canonicalText)
        #expect(reparsed.canonicalText == original.canonicalText)
        #expect(reparsed.canonicalForm == original.canonicalForm)
    }

    @Test func referencedTypesAreWrittenByName() throws {
        let user = try Self.userWithReference()
        #expect(user.canonicalText == Self.expected("user-with-reference.expected"))
        let reparsed = try AvroSchema(parsing: user.canonicalText, references: [try Self.schema("address.avsc")])
        #expect(reparsed.canonicalText == user.canonicalText)
        #expect(reparsed.canonicalForm == user.canonicalForm)
    }

    @Test func resolvedTextInlinesReferencedTypesAtFirstUse() throws {
        let user = try Self.userWithReference()
        #expect(user.resolvedText == Self.expected("user-with-reference.resolved.expected"))
        let standalone = try AvroSchema(parsing: user.resolvedText)
        #expect(standalone.canonicalForm == user.canonicalForm)
    }

    @Test func resolvedTextEqualsCanonicalTextWithoutReferences() throws {
        let schema = try Self.schema("everything.avsc")
        #expect(schema.resolvedText == schema.canonicalText)
    }

    @Test(arguments: [
        (#"{"type":"string"}"#, #""string""#),
        (#"{"type":"string","doc":"dropped by Java"}"#, #""string""#),
        (#"{"logicalType":"uuid","type":"string"}"#, #"{"type":"string","logicalType":"uuid"}"#),
        (#"{"type":"int","logicalType":"no-such-type","b":1,"a":2}"#, #"{"type":"int","logicalType":"no-such-type","b":1,"a":2}"#),
        (#"{"type":"array","items":{"type":"long"},"name":"dropped"}"#, #"{"type":"array","items":"long"}"#),
        (#"["null",{"type":"map","values":"bytes"}]"#, #"["null",{"type":"map","values":"bytes"}]"#),
        (#"{"type":"fixed","name":"a.b.F","size":2,"aliases":["G","c.H","a.b.G"]}"#, #"{"type":"fixed","name":"F","namespace":"a.b","size":2,"aliases":["G","c.H"]}"#),
        (#"{"type":"error","name":"E","fields":[],"default":1,"size":2}"#, #"{"type":"error","name":"E","fields":[],"default":1}"#),
        (#"{"type":"enum","name":"record","namespace":"n","symbols":["A"],"aliases":["enum"]}"#, #"{"type":"enum","name":"record","namespace":"n","symbols":["A"],"aliases":["n.enum"]}"#),
        (#"{"type":"record","name":"R","fields":[{"name":"s","type":"string","default":"\u0001\u007f\"\\\/"}]}"#,
         #"{"type":"record","name":"R","fields":[{"name":"s","type":"string","default":"\u0001\#u{7f}\"\\/"}]}"#),
    ])
    func followsJavasRulesForEachKindOfNode(_ input: String, _ expected: String) throws {
        #expect(try AvroSchema(parsing: input).canonicalText == expected)
    }

    @Test func enumAndFixedDoNotChangeTheEnclosingNamespace() throws {
        let schema = try AvroSchema(
            parsing: #"{"type":"record","name":"a.R","fields":[{"name":"e","type":{"type":"enum","name":"b.E","symbols":["X"]}},{"name":"f","type":{"type":"fixed","name":"F","size":1}},{"name":"g","type":"b.E"}]}"#)
        #expect(
            schema.canonicalText
                == #"{"type":"record","name":"R","namespace":"a","fields":[{"name":"e","type":{"type":"enum","name":"E","namespace":"b","symbols":["X"]}},{"name":"f","type":{"type":"fixed","name":"F","size":1}},{"name":"g","type":"b.E"}]}"#)
    }

    @Test(arguments: [
        (100000.0, "100000.0"), (1e10, "1.0E10"), (0.5, "0.5"), (1e-5, "1.0E-5"), (0.001, "0.001"), (1e7, "1.0E7"),
        (9999999.0, "9999999.0"), (-2.5e-10, "-2.5E-10"), (123.456, "123.456"), (0.0, "0.0"), (-0.0, "-0.0"), (1.0, "1.0"),
        (1.7976931348623157e308, "1.7976931348623157E308"), (12345678.9, "1.23456789E7"),
    ])
    func doublesAreSpelledAsJavaSpellsThem(_ value: Double, _ text: String) {
        #expect(JavaNumberText.text(value) == text)
    }

    // MARK: normalizedText

    static let normalizedVariants = [
        #"{"type":"record","name":"User","namespace":"com.acme","doc":"people","aliases":["Person","Human"],"fields":[{"name":"id","type":"long","doc":"key"},{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":0},"x-b":1,"x-a":{"z":1,"y":2}},{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"],"default":"A"},"default":"B"},{"name":"ratio","type":"double","default":3}]}"#,
        """
        { "fields": [ { "type": {"type": "long"}, "doc": "key", "name": "id" },
                      { "x-a": {"y": 2, "z": 1}, "x-b": 1, "name": "amount", "type": {"scale": 0, "precision": 9, "logicalType": "decimal", "type": "bytes"} },
                      { "name": "kind", "default": "B", "type": {"namespace": "com.acme", "default": "A", "name": "Kind", "type": "enum", "symbols": ["A", "B"]} },
                      { "name": "ratio", "default": 3.0, "type": "double" } ],
          "aliases": ["com.acme.Human", "Person"], "name": "com.acme.User", "doc": "people", "type": "record" }
        """,
    ]

    @Test func normalizedTextDedupesVariantsAndKeepsDoc() throws {
        let texts = try Self.normalizedVariants.map { try AvroSchema(parsing: $0).normalizedText }
        #expect(texts[0] == texts[1])
        #expect(
            texts[0]
                == #"{"name":"com.acme.User","type":"record","fields":[{"name":"id","type":"long","order":"ASCENDING","doc":"key"},{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9},"order":"ASCENDING","x-a":{"y":2,"z":1},"x-b":1},{"name":"kind","type":{"name":"com.acme.Kind","type":"enum","symbols":["A","B"],"default":"A"},"order":"ASCENDING","default":"B"},{"name":"ratio","type":"double","order":"ASCENDING","default":3.0}],"doc":"people","aliases":["com.acme.Human","com.acme.Person"]}"#
        )
    }

    @Test func normalizedTextParsesAgainToItself() throws {
        let schema = try AvroSchema(parsing: Self.normalizedVariants[0])
        let reparsed = try AvroSchema(parsing: schema.normalizedText)
        #expect(reparsed.normalizedText == schema.normalizedText)
        #expect(reparsed.canonicalForm == schema.canonicalForm)
    }

    @Test func normalizedTextWritesReferencedTypesByName() throws {
        let user = try Self.userWithReference()
        #expect(
            user.normalizedText
                == #"{"name":"com.acme.User","type":"record","fields":[{"name":"home","type":"com.acme.Address","order":"ASCENDING","doc":"where they live"},{"name":"work","type":["null","com.acme.Address"],"order":"ASCENDING","default":null},{"name":"born","type":"com.acme.Country","order":"ASCENDING"}],"doc":"someone"}"#
        )
    }
}
