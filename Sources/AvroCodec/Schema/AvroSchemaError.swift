/// Why a schema text is not a valid Avro schema, and where.
///
/// `path` is a JSON Pointer into the submitted document ("" is the root, "/fields/2/type" the type
/// of the third field), so a person can find the offending node without guessing.
public struct AvroSchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What class of mistake it is; stable for tests and tools.
    public enum Kind: String, Sendable, Equatable {
        case invalidJSON
        case invalidName
        case invalidNamespace
        case duplicateField
        case duplicateSymbol
        case duplicateUnionBranch
        case nestedUnion
        case unknownType
        case redefinedName
        case invalidFixedSize
        case invalidDefault
        case invalidEnumDefault
        case missingAttribute
        case invalidAttribute
    }

    public let kind: Kind
    /// JSON Pointer of the offending node in the submitted document.
    public let path: String
    /// One sentence saying what is wrong.
    public let message: String
    /// For `unknownType`: the full names the unknown reference could mean, most likely first (`ns.Name`
    /// inside namespace `ns`, then `Name`), so a caller holding other schemas can look for a definition.
    public var unresolvedNames: [String] = []

    public init(_ kind: Kind, at path: String, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    /// Kind, path and message (`unresolvedNames` is a hint, not part of the error's identity).
    public static func == (a: AvroSchemaError, b: AvroSchemaError) -> Bool {
        a.kind == b.kind && a.path == b.path && a.message == b.message
    }

    /// "at /fields/1/name: field name "1x" is not a valid Avro name …"
    public var description: String {
        "at \(path.isEmpty ? "/" : path): \(message)"
    }
}
