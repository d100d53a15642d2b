/// Compact JSON output (no whitespace) into a byte buffer.
///
/// Strings are written as raw UTF-8 with only the escapes JSON requires (`"`, `\` and control
/// characters), which is also what Parsing Canonical Form's STRINGS rule asks for.
struct JSONWriter {
    /// How numbers and escapes are spelled.
    enum Dialect {
        /// Swift's shortest round-trip number text, lower-case `\u00xx` escapes (the storage forms
        /// written before Confluent's texts; they must not change).
        case standard
        /// What Jackson writes for Avro's Java library: doubles as Java's `Double.toString`
        /// (`100000.0`, `1.0E10`), upper-case `\u00XX` escapes.
        case jackson
    }

    var bytes: [UInt8] = []
    let dialect: Dialect
    /// Whether object members are written sorted by key (Confluent's normalized text sorts them).
    var sortsObjectKeys = false
    /// Spaces per nesting level for text meant for people (`"key": value`, one member or element a
    /// line); nil writes compactly.
    var indentation: Int?
    private var depth = 0

    /// A line break and the current depth's indentation, when writing for people.
    private mutating func newline() {
        guard let indentation else { return }
        bytes.append(UInt8(ascii: "\n"))
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indentation * depth))
    }

    init(capacity: Int = 256, dialect: Dialect = .standard) {
        bytes.reserveCapacity(capacity)
        self.dialect = dialect
    }

    var string: String { String(decoding: bytes, as: UTF8.self) }

    mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends text that is already JSON (a number's spelling).
    mutating func rawText(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    mutating func byte(_ value: UInt8) {
        bytes.append(value)
    }

    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0x08: raw("\\b")
            case 0x0C: raw("\\f")
            case 0..<0x20:
                raw("\\u00")
                let hex: [UInt8] = dialect == .jackson ? Array("0123456789ABCDEF".utf8) : Array("0123456789abcdef".utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `"key":`
    mutating func key(_ name: StaticString) {
        bytes.append(UInt8(ascii: "\""))
        raw(name)
        raw("\":")
    }

    /// A JSON array of strings (the three schema-text writers share it).
    mutating func stringArray(_ strings: [String]) {
        byte(UInt8(ascii: "["))
        for (index, text) in strings.enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            string(text)
        }
        byte(UInt8(ascii: "]"))
    }

    mutating func integer(_ value: Int64) {
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func value(_ value: JSONValue) {
        switch value {
        case .null: raw("null")
        case .bool(let flag): flag ? raw("true") : raw("false")
        case .integer(let number): integer(number)
        case .double(let number):
            switch dialect {
            case .standard:
                // Swift's shortest round-trip text ("1.0", "1e+20") is valid JSON for finite values.
                bytes.append(contentsOf: number.description.utf8)
            case .jackson:
                bytes.append(contentsOf: JavaNumberText.text(number).utf8)
            }
        case .string(let text): string(text)
        case .array(let elements):
            byte(UInt8(ascii: "["))
            depth += 1
            for (index, element) in elements.enumerated() {
                if index > 0 { byte(UInt8(ascii: ",")) }
                newline()
                self.value(element)
            }
            depth -= 1
            if !elements.isEmpty { newline() }
            byte(UInt8(ascii: "]"))
        case .object(let object):
            byte(UInt8(ascii: "{"))
            let members = sortsObjectKeys ? object.members.sorted { $0.key < $1.key } : object.members
            depth += 1
            for (index, member) in members.enumerated() {
                if index > 0 { byte(UInt8(ascii: ",")) }
                newline()
                string(member.key)
                byte(UInt8(ascii: ":"))
                if indentation != nil { byte(UInt8(ascii: " ")) }
                self.value(member.value)
            }
            depth -= 1
            if !members.isEmpty { newline() }
            byte(UInt8(ascii: "}"))
        }
    }

    /// Renders a JSON value compactly, keys in document order.
    static func render(_ value: JSONValue) -> String {
        var writer = JSONWriter()
        writer.value(value)
        return writer.string
    }
}
