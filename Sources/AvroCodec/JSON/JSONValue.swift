/// A parsed JSON document, as the schema parser sees it.
///
/// Integers that fit in 64 bits keep their exact value (`.integer`); every other number is a `.double`.
/// Objects keep their members in document order, because error paths and fix suggestions refer to
/// what the user wrote.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The member value for `key` when this is an object, otherwise nil.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    /// The string payload, when this is a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// A short noun for messages: "a string", "an object", …
    public var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer: return "an integer"
        case .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A JSON object with its members in document order.
public struct JSONObject: Sendable, Equatable {
    /// One `"key": value` pair.
    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: JSONValue

        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// The members in document order. Keys are unique (the parser rejects duplicates).
    public var members: [Member]

    public init(members: [Member] = []) {
        self.members = members
    }

    /// Linear lookup: schema objects have a handful of keys, where a scan beats hashing.
    public subscript(key: String) -> JSONValue? {
        for member in members where member.key == key { return member.value }
        return nil
    }
}

extension JSONValue {
    /// Compact JSON text (no whitespace, keys in member order).
    public var compactText: String { JSONWriter.render(self) }

    /// The value as JSON for people: two spaces per level, `"key": value`, keys sorted when asked.
    public func prettyText(sortingKeys: Bool = false) -> String {
        var writer = JSONWriter()
        writer.indentation = 2
        writer.sortsObjectKeys = sortingKeys
        writer.value(self)
        return writer.string
    }

    /// An object from key-value pairs, in order.
    public static func object(_ members: [(String, JSONValue)]) -> JSONValue {
        .object(JSONObject(members: members.map { JSONObject.Member(key: $0.0, value: $0.1) }))
    }
}
