import Testing

@testable import AvroCodec

/// Hostile input never crashes the parser: every mutated text either parses or throws an error with
/// a path. (A crash would end the test process, failing the run.)
struct SchemaParseRobustnessTests {
    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Generator {
        var state: UInt64

        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }

        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
    }

    static let seeds = Fixtures.files(in: "valid-schemas", ending: ".avsc")

    @Test func mutatedSchemasParseOrThrowCleanly() {
        var generator = Generator(state: 0x9E37_79B9_7F4A_7C15)
        let pieces: [[UInt8]] = ["{", "}", "[", "]", ",", ":", "\"", "null", "\"int\"", "\"record\"", "-1", "1e999", "\\u0000", "\"fields\""].map { Array($0.utf8) }
        var parsed = 0
        var rejected = 0
        for round in 0..<4_000 {
            var bytes = Fixtures.bytes(Self.seeds[round % Self.seeds.count])
            for _ in 0...generator.below(4) {
                guard !bytes.isEmpty else { break }
                let position = generator.below(bytes.count)
                switch generator.below(4) {
                case 0: bytes.remove(at: position)
                case 1: bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                case 2: bytes.insert(contentsOf: pieces[generator.below(pieces.count)], at: position)
                default: bytes = Array(bytes[0..<position])
                }
            }
            do {
                let schema = try AvroSchema(parsing: bytes)
                // Whatever parses also renders and re-parses.
                _ = try AvroSchema(parsing: schema.normalizedForm)
                _ = schema.canonicalForm
                parsed += 1
            } catch {
                #expect(!error.message.isEmpty)
                rejected += 1
            }
        }
        // Both outcomes occur: the mutations reach the validator as well as the JSON layer.
        #expect(parsed > 0)
        #expect(rejected > 1_000)
    }

    @Test func deeplyNestedSchemasAreRefusedNotOverflowed() {
        let depth = 5_000
        let text = String(repeating: #"{"type":"array","items":"#, count: depth) + #""int""# + String(repeating: "}", count: depth)
        #expect(throws: AvroSchemaError.self) { try AvroSchema(parsing: text) }
    }
}
