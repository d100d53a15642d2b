import Testing

@testable import AvroCodec

struct AvroJSONTests {
    @Test(arguments: ["", "unicode ✓ 😀"])
    func roundTripsThroughBothStyles(_ text: String) throws {
        let schema = try CodecSamples.everythingSchema()
        let value = BinaryCodingTests.sample(text, next: .union(branch: 1, value: BinaryCodingTests.sample("inner")))
        for style in [AvroJSON.Style.avro, .plain] {
            let json = AvroJSON.json(value, schema: schema, style: style)
            let reparsed = try JSONParser.parse(json.compactText)
            #expect(try AvroJSON.value(reparsed, schema: schema, style: style) == value)
        }
    }

    @Test func avroStyleWrapsUnionsAndPlainStyleDoesNot() throws {
        let schema = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"u","type":["null","string"]},{"name":"b","type":"bytes"}]}"#)
        let value = AvroValue.record([.union(branch: 1, value: .string("x")), .bytes([0x00, 0xFF])])
        #expect(AvroJSON.json(value, schema: schema, style: .avro).compactText == #"{"u":{"string":"x"},"b":"\u0000ÿ"}"#)
        #expect(AvroJSON.json(value, schema: schema, style: .plain).compactText == #"{"u":"x","b":"\u0000ÿ"}"#)
    }

    @Test func missingFieldsTakeTheirDefaults() throws {
        let schema = try AvroSchema(
            parsing: #"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":["string","null"],"default":"d"},{"name":"c","type":["null","long"],"default":null}]}"#)
        let value = try AvroJSON.value(try JSONParser.parse(#"{"a":1}"#), schema: schema, style: .avro)
        #expect(value == .record([.int(1), .union(branch: 0, value: .string("d")), .union(branch: 0, value: .null)]))
        let incomplete = try JSONParser.parse(#"{"b":"x"}"#)
        do {
            _ = try AvroJSON.value(incomplete, schema: schema, style: .plain)
            Issue.record("accepted a record without its required field")
        } catch {
            #expect(error.path == "/0")
            #expect(error.message.contains("\"a\" is missing"))
        }
    }

    @Test func plainStylePicksTheFirstBranchTheValueFits() throws {
        let schema = try AvroSchema(parsing: #"["null","int","string"]"#)
        #expect(try AvroJSON.value(.integer(5), schema: schema, style: .plain) == .union(branch: 1, value: .int(5)))
        #expect(try AvroJSON.value(.string("5"), schema: schema, style: .plain) == .union(branch: 2, value: .string("5")))
        #expect(throws: AvroCodingError.self) { try AvroJSON.value(.bool(true), schema: schema, style: .plain) }
        #expect(throws: AvroCodingError.self) { try AvroJSON.value(.string("5"), schema: schema, style: .avro) }
    }
}
