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
    /// The stored schema text: Confluent's canonical string of what was registered (or its normalized
    /// form when registered with `normalize`; the old normalized form for rows of older releases).
    public let schema: String
    public let references: [SchemaReference]
    /// Metadata and rule set stored with the schema.
    public let contract: DataContract
    /// The identity hash rendered as a UUID (Confluent 8's `guid`).
    public let guid: String
    public let isDeleted: Bool
    /// Milliseconds since 1970 when the version was registered.
    public let timestamp: Int64
}

/// How a stored schema text was written. Rows of releases before this one hold the old normalized
/// form, which dropped `doc` and inlined referenced types; they are matched by that form.
public enum StoredFormat: Int, Sendable {
    case legacyNormalized = 0
    case canonical = 1
    case normalized = 2
}

/// A schema by id: immutable once assigned.
public struct StoredSchema: Sendable {
    public let id: Int
    public let schema: String
    public let references: [SchemaReference]
    public let contract: DataContract
    /// MD5 of the stored text, references, metadata and rule set: the identity that deduplicates ids.
    public let hash: String
    public let format: StoredFormat

    /// The identity hash as a UUID string, Confluent 8's `guid`.
    public var guid: String { SchemaRegistry.guid(hash) }
}

/// What a client sends to register, look up or check a schema.
public struct SchemaRequest: Sendable {
    public var schema: String
    public var references: [SchemaReference]
    /// Nil when the request has no `metadata` member (the previous version's or the config's apply).
    public var metadata: SchemaMetadata?
    /// Nil when the request has no `ruleSet` member.
    public var ruleSet: SchemaRuleSet?
    /// IMPORT mode only: the id and version to keep.
    public var explicitID: Int?
    public var explicitVersion: Int?
    /// `normalize=true` on the request.
    public var normalize: Bool

    public init(
        schema: String, references: [SchemaReference] = [], metadata: SchemaMetadata? = nil, ruleSet: SchemaRuleSet? = nil,
        explicitID: Int? = nil, explicitVersion: Int? = nil, normalize: Bool = false
    ) {
        self.schema = schema
        self.references = references
        self.metadata = metadata
        self.ruleSet = ruleSet
        self.explicitID = explicitID
        self.explicitVersion = explicitVersion
        self.normalize = normalize
    }
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
        let trimmed = text.trimming()
        if trimmed.lowercased() == "latest" || trimmed == "-1" {
            self = .latest
            return
        }
        guard let number = Int32(trimmed), number >= 1 else { throw .invalidVersion(text) }
        self = .number(Int(number))
    }
}

/// The outcome of a compatibility request: compatible, or the problems found.
public struct CompatibilityResult: Sendable, Equatable {
    /// Nil when compatible.
    public let failure: CompatibilityFailure?

    public var isCompatible: Bool { failure == nil }
}

/// Why a schema is incompatible, as values: every problem against the first version that fails
/// (newest first, as Confluent stops there), and which other compared versions fail too.
public struct CompatibilityFailure: Sendable, Equatable {
    /// The level the check ran at.
    public let level: CompatibilityLevel
    /// The version the problems are against.
    public let version: Int
    /// That version's stored text (Confluent quotes it as `oldSchema`).
    public let oldSchema: String
    /// Every problem against `version`, forward-direction ones first for FULL levels.
    public let problems: [Incompatibility]
    /// Other compared versions that are incompatible too, newest first.
    public let alsoFailing: [Int]
}

/// The largest valid id or version: Confluent's wire format carries ids in 4 bytes, and both are
/// Java ints in Confluent.
public let maximumIdentifier = Int(Int32.max)
