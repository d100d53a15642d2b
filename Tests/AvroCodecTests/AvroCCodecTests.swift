import Testing

@testable import AvroCodec

/// Avro C's generic value interface, driven from Swift, against the native codec: the same bytes
/// both ways for every type and edge value.
struct AvroCCodecTests {
    @Test(arguments: ["", "unicode ✓ 😀", String(repeating: "x", count: 5_000)])
    func avroCWritesTheSameBytesAsTheNativeEncoder(_ text: String) throws {
        let schema = try CodecSamples.everythingSchema()
        let codec = try AvroCCodec(schema: schema)
        let value = CodecSamples.everything(text, nested: true)
        let native = try AvroBinary.encode(value, schema: schema)
        #expect(try codec.encode(value) == native)
        #expect(try codec.decode(native) == value)
        #expect(try codec.encode(value) == native)  // the reused C value is reset between calls
    }

    @Test func edgeValuesMatchTheNativeCodecBothWays() throws {
        // Avro C cannot create a value of a zero-size fixed ("Cannot allocate new fixed value"):
        // that case is the native codec's alone (and checked to fail loudly below).
        var compared = 0
        for (text, values) in CodecSamples.edgeValues where !text.contains(#""size":0"#) {
            let schema = try AvroSchema(parsing: text)
            let codec = try AvroCCodec(schema: schema)
            for value in values {
                compared += 1
                let native = try AvroBinary.encode(value, schema: schema)
                #expect(try codec.encode(value) == native, "\(text) \(value)")
                #expect(try codec.decode(native) == value, "\(text) \(value)")
                #expect(try AvroBinary.decode(native[...], schema: schema) == value, "\(text) \(value)")
            }
        }
        // The samples cover every type: an empty or filtered-away sample list must not pass silently.
        #expect(compared >= 30, "only \(compared) edge values were compared")
    }

    @Test func zeroSizeFixedIsAnAvroCLimitReportedAsAnError() throws {
        let schema = try AvroSchema(parsing: #"{"type":"fixed","name":"Z","size":0}"#)
        let codec = try AvroCCodec(schema: schema)
        #expect(throws: AvroCodingError.self) { try codec.decode([]) }
        #expect(try AvroBinary.decode([][...], schema: schema) == .fixed([]))
    }

    @Test func benchmarkRowsMatch() throws {
        let schema = try AvroSchema(parsing: Fixtures.bytes("bench/row-v1.avsc"))
        let codec = try AvroCCodec(schema: schema)
        for i in 0..<300 {
            let value = AvroValue.record([
                .long(Int64(i) * 7919), .int(Int32(i % 100_000)), .string("name-\(i % 1000)"), .string("user\(i % 5000)@example.com"),
                .string(["Amsterdam", "Berlin", "Paris", "Madrid", "Rome"][i % 5]), .double(Double(i) * 0.25), .int(Int32(i % 100)),
                .long(1_700_000_000_000 + Int64(i)), .boolean(i % 2 == 0),
                i % 3 == 0 ? .union(branch: 0, value: .null) : .union(branch: 1, value: .string("note \(i % 10)")),
            ])
            let bytes = try codec.encode(value)
            #expect(bytes == (try AvroBinary.encode(value, schema: schema)))
            #expect(try codec.decode(bytes) == value)
        }
    }

    @Test func valuesThatDoNotFitAreRefusedWithAPath() throws {
        let schema = try CodecSamples.everythingSchema()
        let codec = try AvroCCodec(schema: schema)
        guard case .record(var fields) = CodecSamples.everything("x") else { return }
        fields[8] = .enumeration("Z")
        do {
            _ = try codec.encode(.record(fields))
            Issue.record("encoded an unknown enum symbol")
        } catch {
            #expect(error.path == "/e")
        }
        // The codec is still usable after a failed encode.
        #expect(try codec.encode(CodecSamples.everything("x")) == (try AvroBinary.encode(CodecSamples.everything("x"), schema: schema)))
    }
}

/// Round trips of every type and edge value through the native codec (and determinism).
struct RoundTripTests {
    @Test func everyEdgeValueRoundTrips() throws {
        for (text, values) in CodecSamples.edgeValues {
            let schema = try AvroSchema(parsing: text)
            for value in values {
                let bytes = try AvroBinary.encode(value, schema: schema)
                #expect(try AvroBinary.decode(bytes[...], schema: schema) == value, "\(text) \(value)")
                #expect(try AvroBinary.encode(value, schema: schema) == bytes)
                // Through Avro JSON and plain JSON too.
                for style in [AvroJSON.Style.avro, .plain] {
                    let json = AvroJSON.json(value, schema: schema, style: style)
                    let back = try AvroJSON.value(JSONParser.parse(json.compactText), schema: schema, style: style)
                    #expect(back == value, "\(style) \(text) \(value) → \(json.compactText)")
                }
            }
        }
    }
}
