/// Reads the big-endian integers, C strings and length-prefixed byte strings of PostgreSQL's wire
/// formats from a slice, throwing — never trapping — when the input is short or inconsistent.
struct WireReader {
    private let bytes: ArraySlice<UInt8>
    private var position: Int
    /// What is being read, for error messages ("pgoutput Insert message").
    var context: String

    init(_ bytes: ArraySlice<UInt8>, context: String) {
        self.bytes = bytes
        self.position = bytes.startIndex
        self.context = context
    }

    /// A byte as it reads in an error message: `'N'` for printable ASCII, `0x00` otherwise.
    static func describe(_ byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        let hex = String(byte, radix: 16, uppercase: true)
        return byte < 0x10 ? "0x0\(hex)" : "0x\(hex)"
    }

    /// Bytes not yet read.
    var remaining: Int { bytes.endIndex - position }

    /// An error naming the context and the offset from the start of the input.
    func malformed(_ problem: String) -> PostgresError {
        PostgresError(message: "malformed \(context): \(problem) at byte \(position - bytes.startIndex)", isMalformedStream: true)
    }

    mutating func readUInt8() throws(PostgresError) -> UInt8 {
        guard remaining >= 1 else { throw malformed("unexpected end of input") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func readInt16() throws(PostgresError) -> Int16 { Int16(bitPattern: try readBigEndian(UInt16.self)) }
    mutating func readUInt32() throws(PostgresError) -> UInt32 { try readBigEndian(UInt32.self) }
    mutating func readInt32() throws(PostgresError) -> Int32 { Int32(bitPattern: try readBigEndian(UInt32.self)) }
    mutating func readUInt64() throws(PostgresError) -> UInt64 { try readBigEndian(UInt64.self) }
    mutating func readInt64() throws(PostgresError) -> Int64 { Int64(bitPattern: try readBigEndian(UInt64.self)) }

    private mutating func readBigEndian<Value: UnsignedInteger & FixedWidthInteger>(_: Value.Type) throws(PostgresError) -> Value {
        let size = MemoryLayout<Value>.size
        guard remaining >= size else { throw malformed("expected \(size) bytes, found \(remaining)") }
        var value: Value = 0
        for byte in bytes[position..<position + size] { value = value << 8 | Value(byte) }
        position += size
        return value
    }

    /// Reads `length` bytes; a negative length or one past the end throws.
    mutating func readBytes(length: Int32) throws(PostgresError) -> [UInt8] {
        guard length >= 0, Int(length) <= remaining else {
            throw malformed("length \(length) with \(remaining) bytes left")
        }
        defer { position += Int(length) }
        return Array(bytes[position..<position + Int(length)])
    }

    /// Reads everything that is left.
    mutating func readRest() -> ArraySlice<UInt8> {
        defer { position = bytes.endIndex }
        return bytes[position...]
    }

    /// Reads a NUL-terminated UTF-8 string.
    mutating func readCString() throws(PostgresError) -> String {
        guard let end = bytes[position...].firstIndex(of: 0) else { throw malformed("unterminated string") }
        guard let string = String(validating: bytes[position..<end], as: UTF8.self) else {
            throw malformed("string is not valid UTF-8")
        }
        position = end + 1
        return string
    }

    /// A NUL-terminated string whatever its encoding (invalid UTF-8 repaired): for text a server's
    /// user chose (a logical message's prefix in a LATIN1 database), which must not stop a stream.
    mutating func readAnyCString() throws(PostgresError) -> String {
        guard let end = bytes[position...].firstIndex(of: 0) else { throw malformed("unterminated string") }
        let string = String(decoding: bytes[position..<end], as: UTF8.self)
        position = end + 1
        return string
    }

    /// Throws when bytes are left over.
    func expectEnd() throws(PostgresError) {
        guard remaining == 0 else { throw malformed("\(remaining) unexpected trailing bytes") }
    }
}
