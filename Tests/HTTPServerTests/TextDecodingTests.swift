import Testing
@testable import HTTPServer

@Suite struct TextDecodingTests {
    private func decode(_ text: String) -> String? {
        Array(text.utf8).withUnsafeBytes { TextDecoding.queryComponent($0) }
    }

    @Test func decodesEscapesAndPlus() {
        #expect(decode("a+b%20c%2Bd") == "a b c+d")
        #expect(decode("%e2%82%ac") == "€")
        #expect(decode("plain") == "plain")
        #expect(decode("") == "")
    }

    @Test func keepsMalformedEscapes() {
        #expect(decode("%") == "%")
        #expect(decode("%4") == "%4")
        #expect(decode("%zz%41") == "%zzA")
        #expect(decode("100%") == "100%")
    }

    @Test func refusesInvalidUTF8() {
        #expect(decode("%FF") == nil)
        #expect(decode("a%C3") == nil)
        #expect(decode("%ED%A0%80") == nil)  // an encoded surrogate
        #expect(decode("%C3%A9") == "\u{E9}")
        let raw: [UInt8] = [0x61, 0xFF]
        #expect(raw.withUnsafeBytes { TextDecoding.queryComponent($0) } == nil)
    }

    @Test func lowerCasesHeaderNames() {
        let lowered = Array("Content-TYPE".utf8).withUnsafeBytes { TextDecoding.lowercasedHeaderName($0) }
        #expect(lowered == "content-type")
    }
}
