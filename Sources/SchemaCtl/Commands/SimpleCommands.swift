import ArgumentParser
import AvroCodec

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check that a file is a valid Avro schema.",
        discussion: """
            Exit 0 when valid; exit 2 with the JSON path of the problem when not.

            Example:
              schemactl validate user.avsc
              user.avsc: invalid Avro schema at /fields/1/default: default must be an integer, not "1"
            """
    )

    @Argument(help: "The schema file (.avsc), or - for standard input.")
    var file: String

    @Flag(name: .shortAndLong, help: "Print nothing when the schema is valid.")
    var quiet = false

    func run() throws {
        let schemaFile = try SchemaFile(path: file)
        if !quiet {
            let root = schemaFile.schema.rootNode
            let what = root.name.map { "\(root.kind.rawValue) \($0.fullName)" } ?? root.kind.rawValue
            print("\(file): valid Avro schema (\(what), fingerprint \(SchemaFingerprint.hex(schemaFile.schema.rabinFingerprint)))")
        }
    }
}

struct NormalizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "normalize",
        abstract: "Print the text the registry stores for a schema: normalized, or as registered.",
        discussion: """
            Without options: Confluent's normalized form, what the registry stores for a schema \
            registered with normalize=true (full names, fixed key order, custom properties sorted, doc \
            and aliases kept). Schemas that differ only in whitespace, key order, property order or \
            redundant namespaces print the same text.
            With --as-registered: Confluent's canonical string, what the registry stores without \
            normalize (everything kept, primitives short, no whitespace).

            Example:
              schemactl normalize user.avsc > user.normalized.avsc
              schemactl normalize --as-registered user.avsc
            """
    )

    @Flag(help: "Print the canonical string stored without normalize instead.")
    var asRegistered = false

    @Argument(help: "The schema file (.avsc), or - for standard input.")
    var file: String

    func run() throws {
        let schema = try SchemaFile(path: file).schema
        print(asRegistered ? schema.canonicalText : schema.normalizedText)
    }
}

struct CanonicalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "canonical",
        abstract: "Print the schema's Parsing Canonical Form (Avro specification).",
        discussion: """
            Example:
              schemactl canonical user.avsc
              {"name":"com.example.User","type":"record","fields":[{"name":"id","type":"long"}]}
            """
    )

    @Argument(help: "The schema file (.avsc), or - for standard input.")
    var file: String

    func run() throws {
        print(try SchemaFile(path: file).schema.canonicalForm)
    }
}

struct FingerprintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fingerprint",
        abstract: "Print the CRC-64-AVRO (Rabin) fingerprint of the Parsing Canonical Form, in hex.",
        discussion: """
            With --all, also MD5 and SHA-256 of the canonical form, one "ALGORITHM HEX" line each.

            Examples:
              schemactl fingerprint user.avsc
              9f2a0c3e1d4b5a67
              schemactl fingerprint --all user.avsc
              CRC-64-AVRO 9f2a0c3e1d4b5a67
              MD5 …
              SHA-256 …
            """
    )

    @Argument(help: "The schema file (.avsc), or - for standard input.")
    var file: String

    @Flag(help: "Print MD5 and SHA-256 too.")
    var all = false

    func run() throws {
        let schema = try SchemaFile(path: file).schema
        let rabin = SchemaFingerprint.hex(schema.rabinFingerprint)
        guard all else {
            print(rabin)
            return
        }
        print("CRC-64-AVRO \(rabin)")
        print("MD5 \(SchemaFingerprint.hex(schema.md5Fingerprint))")
        print("SHA-256 \(SchemaFingerprint.hex(schema.sha256Fingerprint))")
    }
}
