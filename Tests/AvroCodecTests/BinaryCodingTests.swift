import Testing

@testable import AvroCodec

struct BinaryCodingTests {
    static func schema(_ text: String) throws -> AvroSchema { try AvroSchema(parsing: text) }

    /// The specification's examples: zig-zag varints and a length-prefixed string.
    static let zigZagExamples: [(Int64, [UInt8])] = [(0, [0x00]), (-1, [0x01]), (1, [0x02]), (-2, [0x03]), (2, [0x04]), (-64, [0x7F]), (64, [0x80, 0x01])]

    @Test func longsUseZigZagVarints() throws {
        let schema = try Self.schema(#""long""#)
        for (value, expected) in Self.zigZagExamples {
            #expect(try AvroBinary.encode(.long(value), schema: schema) == expected)
            #expect(try AvroBinary.decode(expected[...], schema: schema) == .long(value))
        }
    }

    @Test func stringExampleFromTheSpecification() throws {
        #expect(try AvroBinary.encode(.string("foo"), schema: Self.schema(#""string""#)) == [0x06, 0x66, 0x6F, 0x6F])
    }

    static func sample(_ text: String, next: AvroValue = .union(branch: 0, value: .null)) -> AvroValue {
        guard case .record(var fields) = CodecSamples.everything(text) else { return .null }
        fields[fields.count - 1] = next
        return .record(fields)
    }

    @Test(arguments: ["", "unicode ✓ 😀", String(repeating: "x", count: 1_000)])
    func roundTripsEveryTypeAndEdgeValue(_ text: String) throws {
        let schema = try CodecSamples.everythingSchema()
        let value = Self.sample(text, next: .union(branch: 1, value: Self.sample("nested")))
        let bytes = try AvroBinary.encode(value, schema: schema)
        #expect(try AvroBinary.decode(bytes[...], schema: schema) == value)
        #expect(try AvroBinary.encode(value, schema: schema) == bytes)  // deterministic
    }

    @Test func everyTruncationIsAThrownError() throws {
        let schema = try CodecSamples.everythingSchema()
        let bytes = try AvroBinary.encode(Self.sample("truncate me"), schema: schema)
        for length in 0..<bytes.count {
            #expect(throws: AvroCodingError.self) { try AvroBinary.decode(bytes[0..<length], schema: schema) }
        }
    }

    @Test func randomBytesNeverCrashTheDecoder() throws {
        let schema = try CodecSamples.everythingSchema()
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        var failures = 0
        for _ in 0..<5_000 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let length = Int(state % 64)
            var bytes: [UInt8] = []
            for _ in 0..<length {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                bytes.append(UInt8(truncatingIfNeeded: state))
            }
            do { _ = try AvroBinary.decode(bytes[...], schema: schema) } catch { failures += 1 }
        }
        #expect(failures > 4_000)
    }

    @Test func errorsSayWhere() throws {
        let schema = try Self.schema(#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}}]}"#)
        do {
            _ = try AvroBinary.decode([0x02, 0x04][...], schema: schema)
            Issue.record("decoded an out-of-range enum index")
        } catch {
            #expect(error.path == "/e")  // field names, not positions
            #expect(error.message.contains("enum index 2 is out of range"))
        }
        #expect(throws: AvroCodingError.self) { try AvroBinary.decode([0x02, 0x00, 0x00][...], schema: schema) }  // left over
        #expect(throws: AvroCodingError.self) { try AvroBinary.encode(.record([.int(1)]), schema: schema) }
    }

    @Test func hostileLengthsAndCountsAreRefused() throws {
        // A string claiming 2^62 bytes, an array of nulls claiming a billion items, a bad union index.
        #expect(throws: AvroCodingError.self) { try AvroBinary.decode([0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F][...], schema: Self.schema(#""string""#)) }
        #expect(throws: AvroCodingError.self) { try AvroBinary.decode([0x80, 0xA8, 0xD6, 0xB9, 0x07][...], schema: Self.schema(#"{"type":"array","items":"null"}"#)) }
        #expect(throws: AvroCodingError.self) { try AvroBinary.decode([0x06][...], schema: Self.schema(#"["null","int"]"#)) }
    }
}
