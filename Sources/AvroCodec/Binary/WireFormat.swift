/// Why framed bytes are not a Confluent wire-format record.
public enum WireFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Fewer than the 5 header bytes.
    case truncatedHeader(length: Int)
    /// The first byte is not 0 (1 is Confluent's GUID-based v1 format, not supported here).
    case unknownMagicByte(UInt8)

    public var description: String {
        switch self {
        case .truncatedHeader(let length):
            return "record is \(length) bytes long; a Confluent-framed record starts with 5 header bytes (magic byte 0 and a 4-byte schema id)"
        case .unknownMagicByte(let byte):
            return "record starts with magic byte \(byte), not 0: it is not in the Confluent wire format"
                + (byte == 1 ? " (magic byte 1 is the GUID-based format, which this codec does not read)" : "")
        }
    }
}

/// The Confluent wire format: magic byte 0, the schema id as 4 bytes big-endian, then the Avro payload.
public enum ConfluentWireFormat {
    /// The magic byte of the id-based format.
    public static let magicByte: UInt8 = 0
    /// Header length: magic byte and schema id.
    public static let headerLength = 5

    /// Frames a payload written with schema `schemaID`.
    public static func frame(schemaID: UInt32, payload: some Collection<UInt8>) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerLength + payload.count)
        bytes.append(magicByte)
        bytes.append(UInt8(truncatingIfNeeded: schemaID >> 24))
        bytes.append(UInt8(truncatingIfNeeded: schemaID >> 16))
        bytes.append(UInt8(truncatingIfNeeded: schemaID >> 8))
        bytes.append(UInt8(truncatingIfNeeded: schemaID))
        bytes.append(contentsOf: payload)
        return bytes
    }

    /// Splits a framed record into its schema id and payload (a slice of `bytes`, not a copy).
    public static func unframe(_ bytes: ArraySlice<UInt8>) throws(WireFormatError) -> (schemaID: UInt32, payload: ArraySlice<UInt8>) {
        guard bytes.count >= headerLength else { throw .truncatedHeader(length: bytes.count) }
        let start = bytes.startIndex
        guard bytes[start] == magicByte else { throw .unknownMagicByte(bytes[start]) }
        let schemaID =
            UInt32(bytes[start + 1]) << 24 | UInt32(bytes[start + 2]) << 16 | UInt32(bytes[start + 3]) << 8 | UInt32(bytes[start + 4])
        return (schemaID, bytes[(start + headerLength)...])
    }

    /// Splits a framed record into its schema id and payload.
    public static func unframe(_ bytes: [UInt8]) throws(WireFormatError) -> (schemaID: UInt32, payload: ArraySlice<UInt8>) {
        try unframe(bytes[...])
    }
}
