import Testing

@testable import AvroCodec

struct JSONParserTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONParser.parse(#" {"a": [1, -2.5e3, true, false, null, "x\u00e9\n"], "b": {}} "#)
        #expect(value["a"] == .array([.integer(1), .double(-2500), .bool(true), .bool(false), .null, .string("xé\n")]))
        #expect(value["b"] == .object(JSONObject()))
    }

    @Test func keepsMemberOrder() throws {
        let value = try JSONParser.parse(#"{"z":1,"a":2,"m":3}"#)
        guard case .object(let object) = value else {
            Issue.record("not an object")
            return
        }
        #expect(object.members.map(\.key) == ["z", "a", "m"])
    }

    @Test func decodesSurrogatePairs() throws {
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    @Test func integersBeyond64BitsBecomeDoubles() throws {
        #expect(try JSONParser.parse("9223372036854775807") == .integer(Int64.max))
        #expect(try JSONParser.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
    }

    @Test(arguments: [
        "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "\"abc", "tru", "nul", "{\"a\" 1}", "{1:2}", "[1 2]",
        "\"\\x\"", "\"\\ud800\"", "{\"a\":1,\"a\":2}", "1 2", "\"a\u{01}\"", "NaN", "",
    ])
    func rejectsMalformedText(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(bytes: [0x22, 0xFF, 0xFE, 0x22]) }
    }

    @Test func refusesHostileNesting() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
    }

    @Test func reportsLineAndColumn() {
        do {
            _ = try JSONParser.parse("{\n  \"a\": tru\n}")
            Issue.record("parsed invalid JSON")
        } catch {
            #expect(error.line == 2)
            #expect(error.column == 8)
        }
    }

    @Test func writerRoundTripsEscapes() throws {
        let original = JSONValue.string("q\"b\\s\u{01}é")
        let text = JSONWriter.render(original)
        #expect(text == "\"q\\\"b\\\\s\\u0001é\"")
        #expect(try JSONParser.parse(text) == original)
    }
}
