#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a JSON text could not be parsed, and where (1-based line and column).
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var line: Int
    public var column: Int

    public var description: String { "invalid JSON at line \(line), column \(column): \(message)" }
}

/// A strict RFC 8259 JSON parser over UTF-8 bytes.
///
/// Schema JSON is parsed on every registration and every `schemactl` run, so this works directly on
/// the bytes (no Foundation), copies string bytes only once, and rejects what a lax parser would let
/// through: duplicate object keys, trailing garbage, leading zeros, invalid UTF-8, and nesting deeper
/// than `maximumDepth`.
public struct JSONParser {
    /// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
    public static let maximumDepth = 256

    /// Parses one complete JSON document.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        var copy = text
        return try copy.withUTF8 { (buffer) -> Result<JSONValue, JSONParseError> in
            do throws(JSONParseError) {
                return .success(try parse(bytes: buffer))
            } catch {
                return .failure(error)
            }
        }.get()
    }

    /// Parses one complete JSON document from UTF-8 bytes.
    public static func parse(bytes: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue {
        var reader = Reader(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.parseValue(depth: 0)
        reader.skipWhitespace()
        if reader.position < bytes.count {
            throw reader.error("unexpected content after the end of the document")
        }
        return value
    }

    /// Parses one complete JSON document from UTF-8 bytes.
    public static func parse(bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buffer) -> Result<JSONValue, JSONParseError> in
            do throws(JSONParseError) {
                return .success(try parse(bytes: buffer))
            } catch {
                return .failure(error)
            }
        }.get()
    }

    /// The string the bytes encode, or nil when they are not valid UTF-8. ASCII (nearly every schema
    /// string) takes the specialized fast path; anything else is decoded and compared with the input,
    /// since decoding replaces invalid sequences rather than failing.
    static func validatedString(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var isASCII = true
        for byte in bytes where byte >= 0x80 {
            isASCII = false
            break
        }
        if isASCII { return asciiString(bytes) }
        let string = String(decoding: bytes, as: UTF8.self)
        var copy = string
        let same = copy.withUTF8 { decoded in
            decoded.count == bytes.count && (bytes.count == 0 || memcmp(decoded.baseAddress!, bytes.baseAddress!, bytes.count) == 0)
        }
        return same ? string : nil
    }

    /// The string of bytes already known to be ASCII (so valid UTF-8). The keys and type names that
    /// schema JSON repeats on every field come from a table, without building a new string.
    static func asciiString(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        if bytes.count < knownStrings.count {
            let (low, high) = packed(bytes)
            let candidates = knownStrings[bytes.count]
            for index in candidates.indices where candidates[index].low == low && candidates[index].high == high {
                return candidates[index].string
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Up to 16 bytes packed into two words, for comparing short strings without a loop per candidate.
    private static func packed(_ bytes: UnsafeBufferPointer<UInt8>) -> (low: UInt64, high: UInt64) {
        var low: UInt64 = 0
        var high: UInt64 = 0
        var index = 0
        while index < bytes.count && index < 8 {
            low |= UInt64(bytes[index]) << UInt64(8 * index)
            index += 1
        }
        while index < bytes.count {
            high |= UInt64(bytes[index]) << UInt64(8 * (index - 8))
            index += 1
        }
        return (low, high)
    }

    /// Avro's own attribute names and type names (at most 16 bytes), by length. Measured with callgrind
    /// on 101 schemas of a 1,000-field record: building each of these strings from bytes again cost about
    /// three times the table lookup, and they are most of the strings in a schema.
    private static let knownStrings: [[(low: UInt64, high: UInt64, string: String)]] = {
        let strings = [
            "type", "name", "namespace", "doc", "fields", "default", "symbols", "items", "values", "size", "aliases",
            "order", "logicalType", "precision", "scale", "null", "boolean", "int", "long", "float", "double", "bytes",
            "string", "record", "enum", "array", "map", "fixed", "error", "decimal", "uuid", "date", "duration",
            "time-millis", "time-micros", "timestamp-millis", "timestamp-micros", "timestamp-nanos", "ascending",
            "descending", "ignore",
        ]
        var table = [[(low: UInt64, high: UInt64, string: String)]](repeating: [], count: 17)
        for string in strings {
            var copy = string
            copy.withUTF8 { bytes in
                let (low, high) = packed(bytes)
                table[bytes.count].append((low, high, string))
            }
        }
        return table
    }()

    /// Why a string or number could not be read: the message, and the byte offset it is reported at
    /// (nil: where reading stopped).
    struct ScanFailure: Error {
        let message: String
        let offset: Int?
    }

    /// Reads the rest of a string whose content starts at `contentStart`, from `position` (at or
    /// before its first backslash) through the closing quote, unescaping as RFC 8259 says and
    /// checking that the result is UTF-8. `position` ends after the closing quote, or where reading
    /// failed. The tape and the tree parser share it, so both accept exactly the same strings.
    static func unescapeString(
        _ bytes: UnsafeBufferPointer<UInt8>, contentStart start: Int, position: inout Int
    ) -> Result<String, ScanFailure> {
        func failure(_ message: String, at offset: Int? = nil) -> Result<String, ScanFailure> {
            .failure(ScanFailure(message: message, offset: offset))
        }
        var buffer = Array(bytes[start..<position])
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                guard let string = buffer.withUnsafeBufferPointer({ JSONParser.validatedString($0) }) else {
                    return failure("string is not valid UTF-8", at: start)
                }
                return .success(string)
            }
            if byte < 0x20 { return failure("control character in string; it must be escaped") }
            if byte != UInt8(ascii: "\\") {
                buffer.append(byte)
                position += 1
                continue
            }
            position += 1
            guard position < bytes.count else { break }
            let escaped = bytes[position]
            position += 1
            switch escaped {
            case UInt8(ascii: "\""): buffer.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): buffer.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): buffer.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): buffer.append(0x08)
            case UInt8(ascii: "f"): buffer.append(0x0C)
            case UInt8(ascii: "n"): buffer.append(0x0A)
            case UInt8(ascii: "r"): buffer.append(0x0D)
            case UInt8(ascii: "t"): buffer.append(0x09)
            case UInt8(ascii: "u"):
                guard position + 4 <= bytes.count else { return failure("incomplete \\u escape") }
                guard var scalar = hex4(bytes, position: &position) else { return failure("invalid hex digit in \\u escape") }
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                    else { return failure("unpaired UTF-16 surrogate in \\u escape") }
                    position += 2
                    guard position + 4 <= bytes.count else { return failure("incomplete \\u escape") }
                    guard let low = hex4(bytes, position: &position) else { return failure("invalid hex digit in \\u escape") }
                    guard low >= 0xDC00 && low < 0xE000 else { return failure("unpaired UTF-16 surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    return failure("unpaired UTF-16 surrogate in \\u escape")
                }
                guard let unicode = Unicode.Scalar(scalar), let encoded = UTF8.encode(unicode) else { return failure("invalid \\u escape") }
                buffer.append(contentsOf: encoded)
            default:
                let shown = escaped >= 0x20 && escaped < 0x7F ? String(UnicodeScalar(escaped)) : "\\u{\(String(escaped, radix: 16))}"
                return failure("invalid escape '\\\(shown)' in string")
            }
        }
        return failure("unterminated string", at: start - 1)
    }

    /// Four hex digits at `position` (which the caller checked are there; advanced past the digits
    /// read), or nil at the first that is not one.
    private static func hex4(_ bytes: UnsafeBufferPointer<UInt8>, position: inout Int) -> UInt32? {
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    /// Reads a number's grammar from `position` (advanced past it); whether it is an integer (no
    /// fraction, no exponent).
    static func scanNumber(_ bytes: UnsafeBufferPointer<UInt8>, position: inout Int) -> Result<Bool, ScanFailure> {
        func failure(_ message: String) -> Result<Bool, ScanFailure> { .failure(ScanFailure(message: message, offset: nil)) }
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        var isInteger = true
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count, isDigit(bytes[position]) else { return failure("invalid number") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if position < bytes.count, isDigit(bytes[position]) { return failure("leading zeros are not allowed in numbers") }
        } else {
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard position < bytes.count, isDigit(bytes[position]) else { return failure("expected a digit after '.'") }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < bytes.count, isDigit(bytes[position]) else { return failure("expected a digit in exponent") }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        return .success(isInteger)
    }

    /// The value of the number `bytes[start..<end]` (already scanned): `.integer` when it is one that
    /// fits 64 bits, else `.double`; nil when it is out of a double's range.
    static func numberValue(_ bytes: UnsafeBufferPointer<UInt8>, start: Int, end: Int, isInteger: Bool) -> JSONValue? {
        if isInteger {
            // Up to 18 digits cannot overflow Int64: add them up without building a string.
            let isNegative = bytes[start] == UInt8(ascii: "-")
            let firstDigit = isNegative ? start + 1 : start
            if end - firstDigit <= 18 {
                var value: Int64 = 0
                for index in firstDigit..<end { value = value * 10 + Int64(bytes[index] - UInt8(ascii: "0")) }
                return .integer(isNegative ? -value : value)
            }
        }
        let lexeme = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        if isInteger, let value = Int64(lexeme) { return .integer(value) }
        guard let value = Double(lexeme), value.isFinite else { return nil }
        return .double(value)
    }

    /// Skips eight bytes at a time while none is a quote, a backslash, a control character or
    /// non-ASCII (a doc string is mostly such bytes); the byte loop of the caller handles the rest.
    static func skipPlainASCII(_ bytes: UnsafeBufferPointer<UInt8>, position: inout Int) {
        guard let base = bytes.baseAddress else { return }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while position + 8 <= bytes.count {
            let word = UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)
            let quotes = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
            let backslashes = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
            // (x - 0x01…) & ~x & 0x80… is non-zero exactly when some byte of x is zero (below 0x20
            // for the control test); the high-bit test stops at non-ASCII bytes.
            let stop =
                ((quotes &- ones) & ~quotes) | ((backslashes &- ones) & ~backslashes) | ((word &- ones &* 0x20) & ~word)
                | word
            if stop & highs != 0 { return }
            position += 8
        }
    }

    private struct Reader: ~Copyable {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0
        /// Members and elements of the objects and arrays being parsed, innermost last. Each container
        /// collects here and is moved out once, at its exact size, when it closes: growing a fresh
        /// array per object (1, 2, 4 members) was 7% of a `schemactl check` run's instructions.
        var memberStack = ScratchStack<JSONObject.Member>()
        var elementStack = ScratchStack<JSONValue>()

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        func error(_ message: String, at offset: Int? = nil) -> JSONParseError {
            let end = min(offset ?? position, bytes.count)
            var line = 1
            var column = 1
            var index = 0
            while index < end {
                if bytes[index] == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else if bytes[index] & 0xC0 != 0x80 {
                    column += 1
                }
                index += 1
            }
            return JSONParseError(message: message, line: line, column: column)
        }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x0A, 0x0D, 0x09: position += 1
                default: return
                }
            }
        }

        mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
            guard position < bytes.count else { throw error("unexpected end of input, expected a value") }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
            case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
            case UInt8(ascii: "n"): try expectWord("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default:
                throw error("unexpected character '\(printable(bytes[position]))', expected a value")
            }
        }

        func printable(_ byte: UInt8) -> String {
            byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "\\u{\(String(byte, radix: 16))}"
        }

        mutating func expectWord(_ word: StaticString) throws(JSONParseError) {
            let count = word.utf8CodeUnitCount
            guard position + count <= bytes.count else { throw error("unexpected end of input") }
            let start = word.utf8Start
            for index in 0..<count where bytes[position + index] != start[index] {
                throw error("invalid literal, expected '\(word)'")
            }
            position += count
            if position < bytes.count, isWordByte(bytes[position]) {
                throw error("invalid literal, expected '\(word)'")
            }
        }

        func isWordByte(_ byte: UInt8) -> Bool {
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
        }

        mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
            if depth > JSONParser.maximumDepth { throw error("nesting deeper than \(JSONParser.maximumDepth) levels") }
            position += 1  // {
            let base = memberStack.count
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(JSONObject(members: []))
            }
            while true {
                skipWhitespace()
                guard position < bytes.count else { throw error("unexpected end of input inside an object") }
                guard bytes[position] == UInt8(ascii: "\"") else { throw error("expected a string key in object") }
                let keyOffset = position
                let key = try parseString()
                if memberStack.contains(from: base, where: { $0.key == key }) {
                    throw error("duplicate key \"\(key)\" in object", at: keyOffset)
                }
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                    throw error("expected ':' after object key \"\(key)\"")
                }
                position += 1
                skipWhitespace()
                let value = try parseValue(depth: depth)
                memberStack.push(JSONObject.Member(key: key, value: value))
                skipWhitespace()
                guard position < bytes.count else { throw error("unexpected end of input inside an object") }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                if bytes[position] == UInt8(ascii: "}") {
                    position += 1
                    let members = memberStack.pop(from: base)
                    return .object(JSONObject(members: members))
                }
                throw error("expected ',' or '}' in object")
            }
        }

        mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
            if depth > JSONParser.maximumDepth { throw error("nesting deeper than \(JSONParser.maximumDepth) levels") }
            position += 1  // [
            let base = elementStack.count
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array([])
            }
            while true {
                skipWhitespace()
                let element = try parseValue(depth: depth)
                elementStack.push(element)
                skipWhitespace()
                guard position < bytes.count else { throw error("unexpected end of input inside an array") }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                if bytes[position] == UInt8(ascii: "]") {
                    position += 1
                    let elements = elementStack.pop(from: base)
                    return .array(elements)
                }
                throw error("expected ',' or ']' in array")
            }
        }

        mutating func parseString() throws(JSONParseError) -> String {
            position += 1  // opening quote
            let start = position
            // Fast path: no escapes. Scan to the closing quote, noting on the way whether every byte is
            // ASCII (then the bytes are valid UTF-8 without another pass).
            var highBits: UInt8 = 0
            skipPlainASCII()
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    let slice = UnsafeBufferPointer(rebasing: bytes[start..<position])
                    position += 1
                    if highBits < 0x80 { return JSONParser.asciiString(slice) }
                    return try makeString(slice, at: start)
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw error("control character in string; it must be escaped") }
                highBits |= byte
                position += 1
            }
            guard position < bytes.count else { throw error("unterminated string", at: start - 1) }
            switch JSONParser.unescapeString(bytes, contentStart: start, position: &position) {
            case .success(let string): return string
            case .failure(let failure): throw error(failure.message, at: failure.offset)
            }
        }

        mutating func skipPlainASCII() {
            JSONParser.skipPlainASCII(bytes, position: &position)
        }

        func makeString(_ slice: UnsafeBufferPointer<UInt8>, at offset: Int) throws(JSONParseError) -> String {
            guard let string = JSONParser.validatedString(slice) else {
                throw error("string is not valid UTF-8", at: offset)
            }
            return string
        }

        mutating func parseNumber() throws(JSONParseError) -> JSONValue {
            let start = position
            let isInteger: Bool
            switch JSONParser.scanNumber(bytes, position: &position) {
            case .success(let integer): isInteger = integer
            case .failure(let failure): throw error(failure.message)
            }
            guard let value = JSONParser.numberValue(bytes, start: start, end: position, isInteger: isInteger) else {
                throw error("number out of range", at: start)
            }
            return value
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    }
}

/// A stack of values whose top part moves out as one array: the parser's per-document scratch space
/// for the members and elements of containers still open. Non-copyable, so exactly one owner frees it.
private struct ScratchStack<Element>: ~Copyable {
    private var storage: UnsafeMutablePointer<Element>
    private var capacity: Int
    private(set) var count = 0

    init() {
        capacity = 64
        storage = UnsafeMutablePointer<Element>.allocate(capacity: capacity)
    }

    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    mutating func push(_ element: consuming Element) {
        if count == capacity {
            let larger = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
            larger.moveInitialize(from: storage, count: count)
            storage.deallocate()
            storage = larger
            capacity *= 2
        }
        (storage + count).initialize(to: element)
        count += 1
    }

    /// Whether an element at `base` or above satisfies `predicate`.
    func contains(from base: Int, where predicate: (borrowing Element) -> Bool) -> Bool {
        var index = base
        while index < count {
            if predicate(storage[index]) { return true }
            index += 1
        }
        return false
    }

    /// Moves the elements from `base` up into a new array of exactly their number.
    mutating func pop(from base: Int) -> [Element] {
        let moved = count - base
        let source = storage + base
        count = base
        // reserveCapacity + append inline into this module; Array(unsafeUninitializedCapacity:) calls
        // the generic allocator in the standard library, which measured 700 instructions per array.
        var result: [Element] = []
        result.reserveCapacity(moved)
        for index in 0..<moved { result.append((source + index).move()) }
        return result
    }
}
