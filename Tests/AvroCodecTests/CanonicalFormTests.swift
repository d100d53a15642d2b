import Testing

@testable import AvroCodec

/// A published Parsing Canonical Form example (Apache Avro's share/test/data/schema-tests.txt).
struct CanonicalExample: Sendable, CustomTestStringConvertible {
    let source: String
    let input: String
    let canonical: String
    let fingerprint: Int64
    let note: String?

    var testDescription: String { source }

    static func all() -> [CanonicalExample] {
        Fixtures.array("canonical/spec-examples.json").map { entry in
            CanonicalExample(
                source: entry["source"]?.stringValue ?? "?", input: entry["input"]?.stringValue ?? "",
                canonical: entry["canonical"]?.stringValue ?? "", fingerprint: Int64(entry["fingerprint"]?.stringValue ?? "") ?? 0,
                note: entry["note"]?.stringValue)
        }
    }
}

struct CanonicalFormTests {
    @Test func fixtureHasThePublishedExamples() {
        #expect(CanonicalExample.all().count >= 30)
    }

    @Test(arguments: CanonicalExample.all())
    func reproducesPublishedCanonicalFormAndFingerprint(_ example: CanonicalExample) throws {
        // Item 026 has a default ("true" for a boolean) that the specification's default table
        // rejects; Avro's own test uses it for canonical form only, so default checking is off here.
        let schema = try AvroSchema(parsing: example.input, options: .init(validatesDefaults: false))
        #expect(schema.canonicalForm == example.canonical)
        #expect(schema.rabinFingerprint == UInt64(bitPattern: example.fingerprint))
    }

    @Test func rabinOfNothingIsTheEmptyConstant() {
        #expect(SchemaFingerprint.rabin([UInt8]()) == 0xC15D_213A_A4D7_A795)
    }

    /// MD5 and SHA-256 of the canonical form `"int"`, computed independently (coreutils md5sum and
    /// sha256sum of the five bytes "int" with quotes).
    @Test func md5AndSHA256OfTheCanonicalForm() throws {
        let schema = try AvroSchema(parsing: #"{"type": "int"}"#)
        #expect(schema.canonicalForm == #""int""#)
        #expect(SchemaFingerprint.hex(schema.md5Fingerprint) == "ef524ea1b91e73173d938ade36c1db32")
        #expect(SchemaFingerprint.hex(schema.sha256Fingerprint) == "3f2b87a9fe7cc9b13835598c3981cd45e3e355309e5090aa0933d7becb6fba45")
    }

    @Test func canonicalFormStripsEverythingButTheEssentials() throws {
        let schema = try AvroSchema(
            parsing: #"""
                {"namespace":"ns","type":"record","name":"R","doc":"d","aliases":["Old"],"custom":1,
                 "fields":[{"name":"a","type":{"type":"long","logicalType":"timestamp-millis"},"default":0,"order":"descending",
                            "doc":"x","aliases":["b"]},
                           {"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"],"default":"X"}},
                           {"name":"e2","type":"E"},
                           {"name":"s","type":"str\u0069ng"}]}
                """#)
        #expect(
            schema.canonicalForm
                == #"{"name":"ns.R","type":"record","fields":[{"name":"a","type":"long"},{"name":"e","type":{"name":"ns.E","type":"enum","symbols":["X","Y"]}},{"name":"e2","type":"ns.E"},{"name":"s","type":"string"}]}"#
        )
    }
}
