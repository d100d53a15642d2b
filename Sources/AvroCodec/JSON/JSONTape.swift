#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A JSON document read into a flat table of tokens (a "tape"), for the schema parser.
///
/// The tree parser (`JSONParser`) builds a `JSONValue` for every value: a `String` per key, an array
/// per object, and then frees them all again. A schema's JSON is mostly keys the schema parser only
/// compares ("name", "type", "default") and values it turns into its own model at once, so building
/// and freeing that tree was about half of parsing a schema (perf, 101 files of a 1,000-field
/// record). The tape keeps each value as one token pointing into the document's bytes; the schema
/// parser compares keys as bytes and builds only the strings and values it keeps.
///
/// It accepts exactly the documents `JSONParser` accepts: strings and numbers are read by the same
/// functions, and the same duplicate-key, depth and UTF-8 rules apply. When a document is refused,
/// `JSONParser` parses it again to say why in its own words (`parse(_:)` does that), so both report
/// the same error.
struct JSONTape {
    /// What a token is.
    enum Kind: UInt8 {
        case null, `false`, `true`, number, string, array, object
    }

    /// The attribute names of Avro's schema vocabulary. An object key is classified once, when it is
    /// read, so the schema parser finds attributes by comparing one byte instead of strings.
    enum Key: UInt8 {
        case other, type, name, namespace, doc, aliases, fields, symbols, items, values, size, `default`, order
        case logicalType, precision, scale

        /// The key these bytes spell, or `.other`.
        init(_ bytes: UnsafeBufferPointer<UInt8>) {
            func spells(_ word: StaticString) -> Bool {
                // The length is equal (the switch below tests it); a loop beats calling memcmp here.
                let literal = word.utf8Start
                for index in 1..<bytes.count where bytes[index] != literal[index] { return false }
                return true
            }
            guard let first = bytes.first else {
                self = .other
                return
            }
            switch (bytes.count, first) {
            case (4, UInt8(ascii: "t")): self = spells("type") ? .type : .other
            case (4, UInt8(ascii: "n")): self = spells("name") ? .name : .other
            case (9, UInt8(ascii: "n")): self = spells("namespace") ? .namespace : .other
            case (3, UInt8(ascii: "d")): self = spells("doc") ? .doc : .other
            case (7, UInt8(ascii: "a")): self = spells("aliases") ? .aliases : .other
            case (6, UInt8(ascii: "f")): self = spells("fields") ? .fields : .other
            case (7, UInt8(ascii: "s")): self = spells("symbols") ? .symbols : .other
            case (5, UInt8(ascii: "i")): self = spells("items") ? .items : .other
            case (6, UInt8(ascii: "v")): self = spells("values") ? .values : .other
            case (4, UInt8(ascii: "s")): self = spells("size") ? .size : .other
            case (7, UInt8(ascii: "d")): self = spells("default") ? .default : .other
            case (5, UInt8(ascii: "o")): self = spells("order") ? .order : .other
            case (11, UInt8(ascii: "l")): self = spells("logicalType") ? .logicalType : .other
            case (9, UInt8(ascii: "p")): self = spells("precision") ? .precision : .other
            case (5, UInt8(ascii: "s")): self = spells("scale") ? .scale : .other
            default: self = .other
            }
        }
    }

    /// A set of `Key`s, as bits.
    struct KeySet {
        let bits: UInt32

        init(_ keys: [Key]) {
            bits = keys.reduce(0) { $0 | (1 << UInt32($1.rawValue)) }
        }

        func contains(_ key: Key) -> Bool { bits & (1 << UInt32(key.rawValue)) != 0 }
    }

    /// One value. Containers are followed by their contents (an object: key, value, key, value…);
    /// `end` of a container is the index of the token after its last content, so a walk can skip it.
    struct Token {
        var kind: Kind
        /// Strings: whether the content has backslash escapes. Numbers: whether it is an integer.
        var flag: Bool
        /// Strings: whether the content has bytes outside ASCII.
        var isNonASCII = false
        /// Object keys: the Avro attribute the key names (escaped keys are classified unescaped).
        var key = Key.other
        /// Strings and numbers: the first byte (after the quote for strings). Containers: the number
        /// of members or elements.
        var start: UInt32
        /// Strings and numbers: the byte after the last (before the quote). Containers: the next
        /// token's index.
        var end: UInt32
    }

    /// A value of the document: its token's index.
    struct Value: Equatable {
        let index: Int
    }

    let bytes: [UInt8]
    private(set) var tokens: [Token] = []

    /// Reads `bytes`; throws `JSONParser`'s error when it is not one well-formed JSON document.
    init(bytes: [UInt8]) throws(JSONParseError) {
        self.bytes = bytes
        let tokens = bytes.withUnsafeBufferPointer { buffer -> [Token]? in
            // Offsets are 32-bit; a larger document is left to the tree parser (never a schema).
            guard buffer.count < Int(UInt32.max) else { return nil }
            var reader = Reader(bytes: buffer)
            reader.tokens.reserveCapacity(buffer.count / 8)
            guard reader.readDocument() else { return nil }
            return reader.tokens
        }
        guard let tokens else {
            // The reason, in the tree parser's words. It refuses every document the tape refuses;
            // should it ever not, the document is still refused, never half-read.
            _ = try JSONParser.parse(bytes: bytes)
            throw JSONParseError(message: "document refused by the schema reader", line: 1, column: 1)
        }
        self.tokens = tokens
    }

    /// The top-level value.
    var root: Value { Value(index: 0) }

    func kind(_ value: Value) -> Kind { tokens[value.index].kind }

    /// A short noun for messages, as `JSONValue.kindDescription` says it.
    func kindDescription(_ value: Value) -> String {
        let token = tokens[value.index]
        switch token.kind {
        case .null: return "null"
        case .false, .true: return "a boolean"
        case .number: return integer(value) != nil ? "an integer" : "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// The string, when the value is one.
    func string(_ value: Value) -> String? {
        let token = tokens[value.index]
        guard token.kind == .string else { return nil }
        return makeString(token)
    }

    /// The integer, when the value is a number that is an integer fitting 64 bits.
    func integer(_ value: Value) -> Int64? {
        let token = tokens[value.index]
        guard token.kind == .number, token.flag, case .integer(let number) = materialize(value, token: token) else { return nil }
        return number
    }

    /// Whether the value is the string `text` (compared as bytes; escaped strings are unescaped first).
    func isString(_ value: Value, _ text: StaticString) -> Bool {
        let token = tokens[value.index]
        guard token.kind == .string else { return false }
        return contentEquals(token, text)
    }

    /// The value of the attribute `key` when `object` is an object that has it.
    func member(_ object: Value, _ key: Key) -> Value? {
        let token = tokens[object.index]
        guard token.kind == .object else { return nil }
        var keyIndex = object.index + 1
        for _ in 0..<Int(token.start) {
            if tokens[keyIndex].key == key { return Value(index: keyIndex + 1) }
            keyIndex = next(after: keyIndex + 1)
        }
        return nil
    }

    /// The members of an object as (key, value) pairs, in document order; empty for other values.
    func members(_ object: Value) -> [(key: Value, value: Value)] {
        let token = tokens[object.index]
        guard token.kind == .object else { return [] }
        var result: [(key: Value, value: Value)] = []
        result.reserveCapacity(Int(token.start))
        var keyIndex = object.index + 1
        for _ in 0..<Int(token.start) {
            result.append((Value(index: keyIndex), Value(index: keyIndex + 1)))
            keyIndex = next(after: keyIndex + 1)
        }
        return result
    }

    /// The number of members of an object or elements of an array.
    func count(_ container: Value) -> Int {
        let token = tokens[container.index]
        return token.kind == .array || token.kind == .object ? Int(token.start) : 0
    }

    /// The elements of an array, in order; nil for other values.
    func elements(_ array: Value) -> [Value]? {
        let token = tokens[array.index]
        guard token.kind == .array else { return nil }
        var result: [Value] = []
        result.reserveCapacity(Int(token.start))
        var index = array.index + 1
        for _ in 0..<Int(token.start) {
            result.append(Value(index: index))
            index = next(after: index)
        }
        return result
    }

    /// Whether every key of `object` is one of `keys` (so it has no other attribute).
    func hasOnlyKeys(_ object: Value, _ keys: KeySet) -> Bool {
        let token = tokens[object.index]
        guard token.kind == .object else { return true }
        var keyIndex = object.index + 1
        for _ in 0..<Int(token.start) {
            let key = tokens[keyIndex].key
            if key == .other || !keys.contains(key) { return false }
            keyIndex = next(after: keyIndex + 1)
        }
        return true
    }

    /// The first element of an array (meaningful when it has one).
    func firstElement(_ array: Value) -> Value { Value(index: array.index + 1) }

    /// The value after `value` and everything it contains: the next element of its array.
    func nextElement(after value: Value) -> Value { Value(index: next(after: value.index)) }

    /// The value as a `JSONValue` tree (for defaults and custom properties, which the model keeps).
    func value(_ value: Value) -> JSONValue {
        materialize(value, token: tokens[value.index])
    }

    // MARK: Reading tokens

    /// The index of the token after `index` and everything it contains.
    private func next(after index: Int) -> Int {
        let token = tokens[index]
        switch token.kind {
        case .array, .object: return Int(token.end)
        default: return index + 1
        }
    }

    private func contentEquals(_ token: Token, _ text: StaticString) -> Bool {
        guard token.kind == .string else { return false }
        let count = text.utf8CodeUnitCount
        if token.flag { return makeString(token).utf8.elementsEqual(UnsafeBufferPointer(start: text.utf8Start, count: count)) }
        guard Int(token.end - token.start) == count else { return false }
        let start = Int(token.start)
        let literal = text.utf8Start
        for offset in 0..<count where bytes[start + offset] != literal[offset] { return false }
        return true
    }

    private func makeString(_ token: Token) -> String {
        bytes.withUnsafeBufferPointer { buffer in
            let start = Int(token.start)
            let end = Int(token.end)
            if !token.flag {
                let slice = UnsafeBufferPointer(rebasing: buffer[start..<end])
                // Checked when read: ASCII, or valid UTF-8.
                return token.isNonASCII ? String(decoding: slice, as: UTF8.self) : JSONParser.asciiString(slice)
            }
            var position = start
            // Read once already without failing, so it cannot fail now.
            return (try? JSONParser.unescapeString(buffer, contentStart: start, position: &position).get()) ?? ""
        }
    }

    private func materialize(_ value: Value, token: Token) -> JSONValue {
        switch token.kind {
        case .null: return .null
        case .false: return .bool(false)
        case .true: return .bool(true)
        case .string: return .string(makeString(token))
        case .number:
            return bytes.withUnsafeBufferPointer { buffer in
                // Checked in range when read.
                JSONParser.numberValue(buffer, start: Int(token.start), end: Int(token.end), isInteger: token.flag) ?? .null
            }
        case .array:
            return .array((elements(value) ?? []).map { self.value($0) })
        case .object:
            return .object(JSONObject(members: members(value).map { JSONObject.Member(key: makeString(tokens[$0.key.index]), value: self.value($0.value)) }))
        }
    }

    /// Reads a document into tokens; false at the first thing `JSONParser` would refuse.
    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0
        var tokens: [Token] = []

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        mutating func readDocument() -> Bool {
            skipWhitespace()
            guard readValue(depth: 0) else { return false }
            skipWhitespace()
            return position == bytes.count
        }

        mutating func skipWhitespace() {
            // Pretty-printed schemas indent every line: skip runs of spaces eight at a time.
            if let base = bytes.baseAddress, position < bytes.count, bytes[position] == 0x0A || bytes[position] == 0x20 {
                if bytes[position] == 0x0A { position += 1 }
                while position + 8 <= bytes.count,
                    UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self) == 0x2020_2020_2020_2020
                {
                    position += 8
                }
            }
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x0A, 0x0D, 0x09: position += 1
                default: return
                }
            }
        }

        mutating func readValue(depth: Int) -> Bool {
            guard position < bytes.count else { return false }
            switch bytes[position] {
            case UInt8(ascii: "{"): return readContainer(.object, depth: depth + 1)
            case UInt8(ascii: "["): return readContainer(.array, depth: depth + 1)
            case UInt8(ascii: "\""): return readString()
            case UInt8(ascii: "t"): return readWord("true", .true)
            case UInt8(ascii: "f"): return readWord("false", .false)
            case UInt8(ascii: "n"): return readWord("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return readNumber()
            default: return false
            }
        }

        mutating func readWord(_ word: StaticString, _ kind: Kind) -> Bool {
            let count = word.utf8CodeUnitCount
            guard position + count <= bytes.count else { return false }
            let start = word.utf8Start
            for index in 0..<count where bytes[position + index] != start[index] { return false }
            position += count
            if position < bytes.count {
                let byte = bytes[position]
                let isWordByte =
                    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
                if isWordByte { return false }
            }
            tokens.append(Token(kind: kind, flag: false, start: 0, end: 0))
            return true
        }

        mutating func readNumber() -> Bool {
            let start = position
            guard case .success(let isInteger) = JSONParser.scanNumber(bytes, position: &position) else { return false }
            // Integers of up to 18 digits are always in range; anything else is checked as the tree
            // parser checks it (a double must be finite).
            let digits = position - start - (bytes[start] == UInt8(ascii: "-") ? 1 : 0)
            if !isInteger || digits > 18 {
                guard JSONParser.numberValue(bytes, start: start, end: position, isInteger: isInteger) != nil else { return false }
            }
            tokens.append(Token(kind: .number, flag: isInteger, start: UInt32(start), end: UInt32(position)))
            return true
        }

        mutating func readString() -> Bool {
            position += 1  // opening quote
            let start = position
            var highBits: UInt8 = 0
            JSONParser.skipPlainASCII(bytes, position: &position)
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    if highBits >= 0x80, JSONParser.validatedString(UnsafeBufferPointer(rebasing: bytes[start..<position])) == nil {
                        return false
                    }
                    tokens.append(Token(kind: .string, flag: false, isNonASCII: highBits >= 0x80, start: UInt32(start), end: UInt32(position)))
                    position += 1
                    return true
                }
                if byte == UInt8(ascii: "\\") {
                    guard case .success = JSONParser.unescapeString(bytes, contentStart: start, position: &position) else { return false }
                    // `position` is after the closing quote.
                    tokens.append(Token(kind: .string, flag: true, start: UInt32(start), end: UInt32(position - 1)))
                    return true
                }
                if byte < 0x20 { return false }
                highBits |= byte
                position += 1
            }
            return false
        }

        /// Reads an array or an object (with its keys) into its token and the tokens of its contents.
        mutating func readContainer(_ kind: Kind, depth: Int) -> Bool {
            if depth > JSONParser.maximumDepth { return false }
            let closer = kind == .object ? UInt8(ascii: "}") : UInt8(ascii: "]")
            position += 1  // { or [
            let index = tokens.count
            tokens.append(Token(kind: kind, flag: false, start: 0, end: 0))
            var count: UInt32 = 0
            skipWhitespace()
            if position < bytes.count, bytes[position] == closer {
                position += 1
            } else {
                while true {
                    skipWhitespace()
                    if kind == .object {
                        guard readKey(ofObjectAt: index, earlierKeys: count) else { return false }
                        skipWhitespace()
                        guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return false }
                        position += 1
                        skipWhitespace()
                    }
                    guard readValue(depth: depth) else { return false }
                    count += 1
                    skipWhitespace()
                    guard position < bytes.count else { return false }
                    if bytes[position] == UInt8(ascii: ",") {
                        position += 1
                        continue
                    }
                    guard bytes[position] == closer else { return false }
                    position += 1
                    break
                }
            }
            tokens[index].start = count
            tokens[index].end = UInt32(tokens.count)
            return true
        }

        /// Reads an object's key, classifies it, and refuses it when an earlier key of the object has
        /// the same text.
        mutating func readKey(ofObjectAt object: Int, earlierKeys: UInt32) -> Bool {
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\""), readString() else { return false }
            let key = tokens.count - 1
            let keyToken = tokens[key]
            let code: Key
            if keyToken.flag {
                var unescapedKey = unescaped(keyToken)
                code = unescapedKey.withUTF8 { Key($0) }
            } else {
                code = Key(UnsafeBufferPointer(rebasing: bytes[Int(keyToken.start)..<Int(keyToken.end)]))
            }
            tokens[key].key = code
            // Keys Avro names are told apart by their codes; other keys by their text. The earlier keys
            // of this object are found by walking its tokens.
            var earlier = object + 1
            for _ in 0..<earlierKeys {
                if tokens[earlier].key == code, code != .other || sameString(tokens[earlier], keyToken) { return false }
                let value = earlier + 1
                earlier = tokens[value].kind == .array || tokens[value].kind == .object ? Int(tokens[value].end) : value + 1
            }
            return true
        }

        /// Whether two string tokens have the same content (escaped ones compared unescaped).
        func sameString(_ a: Token, _ b: Token) -> Bool {
            if !a.flag && !b.flag {
                guard a.end - a.start == b.end - b.start else { return false }
                return memcmp(bytes.baseAddress! + Int(a.start), bytes.baseAddress! + Int(b.start), Int(a.end - a.start)) == 0
            }
            return unescaped(a) == unescaped(b)
        }

        func unescaped(_ token: Token) -> String {
            if !token.flag { return String(decoding: UnsafeBufferPointer(rebasing: bytes[Int(token.start)..<Int(token.end)]), as: UTF8.self) }
            var position = Int(token.start)
            return (try? JSONParser.unescapeString(bytes, contentStart: Int(token.start), position: &position).get()) ?? ""
        }
    }
}
