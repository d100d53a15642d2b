/// Byte-level text helpers for what libmicrohttpd hands over: `(pointer, length)` pairs, not C strings.
public enum TextDecoding {
    /// Decodes a query component: `%HH` becomes the byte HH, `+` becomes a space; a `%` not followed by two hex
    /// digits is kept as it is. Nil when the decoded bytes are not UTF-8: repairing them with U+FFFD would make
    /// different requests look the same.
    static func queryComponent(_ bytes: UnsafeRawBufferPointer) -> String? {
        percentDecoded(bytes, plusIsSpace: true, malformedEscapeIsError: false)
    }

    /// Decodes one path segment strictly: `%HH` becomes the byte HH, `+` stays literal (Confluent's rule; `%2F`
    /// becomes `/` inside the segment). Nil when an escape is malformed or the decoded bytes are not UTF-8.
    public static func pathSegment(_ text: String) -> String? {
        var text = text
        return text.withUTF8 { percentDecoded(UnsafeRawBufferPointer($0), plusIsSpace: false, malformedEscapeIsError: true) }
    }

    /// The one percent-decoder: queries read `+` as a space and keep a malformed `%` as it is; path segments
    /// keep `+` and refuse a malformed escape.
    private static func percentDecoded(_ bytes: UnsafeRawBufferPointer, plusIsSpace: Bool, malformedEscapeIsError: Bool) -> String? {
        guard bytes.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return validUTF8(bytes)
        }
        var decoded = [UInt8]()
        decoded.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                if index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                    decoded.append(high << 4 | low)
                    index += 3
                    continue
                }
                if malformedEscapeIsError { return nil }
                decoded.append(byte)
            } else {
                decoded.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            }
            index += 1
        }
        return decoded.withUnsafeBytes { validUTF8($0) }
    }

    /// The bytes as a string, or nil unless they are well-formed UTF-8 (no overlong forms, no surrogates, nothing
    /// past U+10FFFF). `String(validating:as:)` does the same; this one works on a raw buffer without a copy.
    static func validUTF8(_ bytes: UnsafeRawBufferPointer) -> String? {
        if !bytes.contains(where: { $0 >= 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return String(decoding: bytes, as: UTF8.self)
            case .error: return nil
            }
        }
    }

    /// The bytes as text, with anything that is not UTF-8 repaired to U+FFFD: for header values and the method,
    /// which no route tells apart by such bytes.
    static func lossyText(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// ASCII-lower-cases a header name (header names are ASCII tokens; other bytes are left alone).
    static func lowercasedHeaderName(_ bytes: UnsafeRawBufferPointer) -> String {
        guard bytes.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        return String(decoding: bytes.lazy.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
