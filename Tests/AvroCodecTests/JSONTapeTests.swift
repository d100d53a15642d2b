import Testing

@testable import AvroCodec

/// The tape (what the schema parser reads JSON with) must accept exactly the documents the tree parser
/// accepts, give the same values for them, and refuse the rest with the tree parser's message.
struct JSONTapeTests {
    /// Documents at the edges of the grammar, valid and not.
    static let edgeDocuments: [String] = [
        #"{"a": [1, -2.5e3, true, false, null, "x\u00e9\n"], "b": {}}"#,
        #""\ud83d\ude00""#, #""\ud800""#, #""\udc00x""#, #""\u00""#, #""\uzzzz""#, #""\x""#, #""a\/b\\c\"d""#,
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-0", "0.5e-3", "1E400", "-1e-400",
        "123456789012345678", "1234567890123456789", "01", "1.", "-", "1e", "1e+", ".5", "+1",
        "true", "tru", "truex", "null", "nul", "false", "[]", "{}", "[1,]", "{\"a\":1,}", "[1 2]", "{1:2}", "{\"a\" 1}",
        #"{"a":1,"a":2}"#, #"{"a":1,"\u0061":2}"#, #"{"type":"int","typ\u0065":"long"}"#, #"{"name":1,"other":{"name":2}}"#,
        #"{"x":{"a":1},"y":{"a":1}}"#, #"{"a":[{"a":1,"b":2},{"b":3,"a":4}],"b":0}"#,
        "\"a\u{01}\"", "\"tab\there\"", " \n\t{ \"k\" :\n  [ ]\r\n}  ", "1 2", "", "   ", "NaN",
        #"{"namespace":"n","name":"r","nam\u0065space":"m"}"#, "\"\u{10FFFF}\"", #""é""#,
        String(repeating: "[", count: 256) + String(repeating: "]", count: 256),
        String(repeating: "[", count: 257) + String(repeating: "]", count: 257),
        String(repeating: " ", count: 37) + "{\"a\":" + String(repeating: " ", count: 17) + "1}",
    ]

    @Test(arguments: edgeDocuments)
    func agreesWithTheTreeParserOnEdgeDocuments(_ text: String) {
        expectSameOutcome(Array(text.utf8))
    }

    @Test func agreesOnInvalidUTF8() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0xFE, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x7B, 0x22, 0xC0, 0xAF, 0x22, 0x3A, 0x31, 0x7D]] {
            expectSameOutcome(bytes)
        }
    }

    /// Every fixture schema, and thousands of damaged copies of one (bytes flipped, deleted, doubled,
    /// cut): the tape and the tree parser accept the same ones with the same values.
    @Test func agreesWithTheTreeParserOnDamagedSchemas() {
        let files = Fixtures.files(in: "examples", ending: ".avsc") + Fixtures.files(in: "evolution", ending: ".avsc")
        #expect(files.count > 3)
        for file in files { expectSameOutcome(Fixtures.bytes(file)) }

        let original = Fixtures.bytes(files[0])
        let interesting: [UInt8] = Array("{}[]\",:\\ \nu0123456789eE.-+tfnlxé".utf8)
        var generator = SplitMix(seed: 0x5EED)
        var accepted = 0
        for _ in 0..<3_000 {
            var bytes = original
            for _ in 0..<Int(generator.next() % 3 + 1) {
                let position = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 4 {
                case 0: bytes[position] = interesting[Int(generator.next() % UInt64(interesting.count))]
                case 1: bytes.remove(at: position)
                case 2: bytes.insert(bytes[position], at: position)
                default: bytes.removeSubrange(position...)
                }
                if bytes.isEmpty { break }
            }
            if expectSameOutcome(bytes) { accepted += 1 }
        }
        // Both outcomes occur, so the comparison covers acceptance and refusal.
        #expect(accepted > 100 && accepted < 2_900)
    }

    @Test func findsAttributesByKeyEvenWhenEscaped() throws {
        let tape = try JSONTape(bytes: Array(#"{"n\u0061me":"x","type":"record","other":1}"#.utf8))
        #expect(tape.member(tape.root, .name).flatMap { tape.string($0) } == "x")
        #expect(tape.member(tape.root, .type).flatMap { tape.string($0) } == "record")
        #expect(tape.member(tape.root, .doc) == nil)
        #expect(!tape.hasOnlyKeys(tape.root, JSONTape.KeySet([.name, .type])))
        #expect(tape.hasOnlyKeys(tape.root, JSONTape.KeySet([.name, .type, .other])) == false)
    }

    @Test func schemasWithInvalidJSONReportTheTreeParsersMessage() throws {
        let text = "{\"type\": \"record\", \"name\": \"R\", \"fields\": [}"
        do {
            _ = try AvroSchema(parsing: text)
            Issue.record("invalid JSON was accepted")
        } catch {
            var expected = ""
            do { _ = try JSONParser.parse(text) } catch { expected = error.description }
            #expect(!expected.isEmpty)
            #expect(error.kind == .invalidJSON)
            #expect(error.description.contains(expected))
        }
    }

    /// Parses `bytes` both ways and expects the same outcome; returns whether they were accepted.
    @discardableResult
    private func expectSameOutcome(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let tree: Result<JSONValue, JSONParseError> = Result { () throws(JSONParseError) in try JSONParser.parse(bytes: bytes) }
        let tape: Result<JSONTape, JSONParseError> = Result { () throws(JSONParseError) in try JSONTape(bytes: bytes) }
        let shown = String(decoding: bytes.prefix(80), as: UTF8.self)
        switch (tree, tape) {
        case (.success(let value), .success(let tape)):
            #expect(tape.value(tape.root) == value, "values differ for \(shown)", sourceLocation: sourceLocation)
            return true
        case (.failure(let treeError), .failure(let tapeError)):
            #expect(treeError == tapeError, "errors differ for \(shown)", sourceLocation: sourceLocation)
            return false
        case (.success, .failure(let error)):
            Issue.record("the tape refused what the tree parser accepts (\(error)): \(shown)", sourceLocation: sourceLocation)
        case (.failure(let error), .success):
            Issue.record("the tape accepted what the tree parser refuses (\(error)): \(shown)", sourceLocation: sourceLocation)
        }
        return false
    }
}

/// A small deterministic generator, so a failure reproduces.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
