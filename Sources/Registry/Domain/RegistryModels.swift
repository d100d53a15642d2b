import AvroCodec

/// A reference from one schema to a named type registered under another subject.
public struct SchemaReference: Sendable, Equatable, Hashable {
    public var name: String
    public var subject: String
    public var version: Int

    public init(name: String, subject: String, version: Int) {
        self.name = name
        self.subject = subject
        self.version = version
    }
}

/// A schema version as clients see it.
public struct RegisteredSchema: Sendable, Equatable {
    public let subject: String
    public let version: Int
    public let id: Int
    /// The stored (normalized) schema text.
    public let schema: String
    public let references: [SchemaReference]
    public let isDeleted: Bool
    /// Milliseconds since 1970 when the version was registered.
    public let timestamp: Int64
}

/// A schema by id: immutable once assigned.
public struct StoredSchema: Sendable {
    public let id: Int
    public let schema: String
    public let references: [SchemaReference]
    /// MD5 of the stored text and references: the identity that deduplicates ids.
    public let hash: String
}

/// A registry or subject mode, as Confluent defines them.
public enum RegistryMode: String, Sendable, CaseIterable {
    case readWrite = "READWRITE"
    case readOnly = "READONLY"
    case readOnlyOverride = "READONLY_OVERRIDE"
    case `import` = "IMPORT"

    var refusesWrites: Bool { self == .readOnly || self == .readOnlyOverride }
}

/// Which version a request names: a number, or the latest live one.
public enum VersionSelector: Sendable, Equatable {
    case number(Int)
    case latest

    /// Parses a version path segment as Confluent does: `latest` (any case) or `-1`, else an integer
    /// from 1 to 2^31-1.
    public init(parsing text: String) throws(RegistryError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.lowercased() == "latest" || trimmed == "-1" {
            self = .latest
            return
        }
        guard let number = Int32(trimmed), number >= 1 else { throw .invalidVersion(text) }
        self = .number(Int(number))
    }
}

/// The outcome of a compatibility request.
public struct CompatibilityResult: Sendable {
    public let isCompatible: Bool
    /// Confluent's verbose `messages`, followed by our fix suggestions.
    public let messages: [String]
}

extension String {
    fileprivate func trimmingCharacters(in set: CharacterSetLike) -> String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return String(text)
    }
}

/// Only whitespace trimming is needed; this avoids importing Foundation into the domain.
fileprivate enum CharacterSetLike {
    case whitespaces
}
