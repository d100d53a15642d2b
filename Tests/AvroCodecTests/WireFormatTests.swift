import Testing

@testable import AvroCodec

struct WireFormatTests {
    /// Confluent's layout: 0x00, id big-endian, payload.
    @Test func framesWithMagicByteAndBigEndianID() {
        let framed = ConfluentWireFormat.frame(schemaID: 0x0102_0304, payload: [0xAA, 0xBB])
        #expect(framed == [0x00, 0x01, 0x02, 0x03, 0x04, 0xAA, 0xBB])
    }

    @Test(arguments: [UInt32(0), 1, 42, 65_536, UInt32.max])
    func roundTripsEveryID(_ id: UInt32) throws {
        let payload: [UInt8] = [1, 2, 3]
        let (schemaID, rest) = try ConfluentWireFormat.unframe(ConfluentWireFormat.frame(schemaID: id, payload: payload))
        #expect(schemaID == id)
        #expect(Array(rest) == payload)
    }

    @Test func emptyPayloadIsValid() throws {
        let (schemaID, payload) = try ConfluentWireFormat.unframe([0, 0, 0, 0, 7])
        #expect(schemaID == 7)
        #expect(payload.isEmpty)
    }

    @Test func unframesASliceInPlace() throws {
        let buffer: [UInt8] = [9, 9, 0, 0, 0, 0, 1, 0x10, 0x20]
        let (schemaID, payload) = try ConfluentWireFormat.unframe(buffer[2...])
        #expect(schemaID == 1)
        #expect(payload.startIndex == 7)
        #expect(Array(payload) == [0x10, 0x20])
    }

    @Test(arguments: [[UInt8](), [0], [0, 0, 0, 1]])
    func refusesTruncatedHeaders(_ bytes: [UInt8]) {
        #expect(throws: WireFormatError.truncatedHeader(length: bytes.count)) { try ConfluentWireFormat.unframe(bytes) }
    }

    @Test func refusesAnotherMagicByteAndSaysWhy() {
        #expect(throws: WireFormatError.unknownMagicByte(1)) { try ConfluentWireFormat.unframe([1, 0, 0, 0, 1, 5]) }
        #expect(WireFormatError.unknownMagicByte(1).description.contains("GUID"))
        #expect(throws: WireFormatError.unknownMagicByte(0x7B)) { try ConfluentWireFormat.unframe(Array(#"{"json":1}"#.utf8)) }
    }
}
