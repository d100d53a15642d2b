import ArgumentParser
import AvroCodec

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check that files are valid Avro schemas (several files and directories, types used across files).",
        discussion: """
            Exit 0 when every file is valid; exit 2, with each invalid file's problem and its JSON path, when not. \
            A directory stands for every .avsc file under it. A named type a file uses but does not define is \
            looked up among the other files given and the files under the directories of schemactl.toml \
            ([paths] schemas = ["schemas", "common"]). Several files get one report with a summary line; \
            --format github annotates each invalid file, --format json is one document for all files.

            Examples:
              schemactl validate user.avsc
              user.avsc: invalid Avro schema at /fields/1/default: default must be an integer, not "1"
              schemactl validate schemas/
            """
    )

    @Argument(help: "Schema files (.avsc) or directories; - for standard input.")
    var files: [String]

    @Flag(name: .shortAndLong, help: "Print nothing for valid files.")
    var quiet = false

    @Option(help: "text (for people), json (for tools) or github (workflow annotations).")
    var format: CheckCommand.Format = .text

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one schema file or directory") }
    }

    func run() throws {
        let set = try SchemaSet(arguments: files, library: try ProjectFile.current().schemaDirectories)
        var reports: [FileReport] = []
        for path in set.selected {
            do {
                let loaded = try set.load(path)
                let root = loaded.schema.rootNode
                let what = root.name.map { "\(root.kind.rawValue) \($0.fullName)" } ?? root.kind.rawValue
                let fingerprint = SchemaFingerprint.hex(loaded.schema.rabinFingerprint)
                var uses = loaded.dependencies.isEmpty ? "" : ", using types from \(loaded.dependencies.joined(separator: ", "))"
                if !loaded.copiedFrom.isEmpty {
                    uses += ", with types of \(loaded.copiedFrom.sorted().joined(separator: ", ")) copied in: the files use each other's types"
                }
                let message = "\(path): valid Avro schema (\(what), fingerprint \(fingerprint)\(uses))"
                let report = FileReport(
                    path: path, verdict: .valid, message: message, annotation: "notice", title: "valid schema",
                    extra: [("fingerprint", .string(fingerprint)), ("uses", .array(loaded.dependencies.map(JSONValue.string)))])
                reports.append(quiet ? FileReport(path: path, verdict: .valid, text: "", github: "", json: report.json) : report)
            } catch let error as InputError {
                // One file alone: its error as every command reports one (stderr, exit 2).
                if set.selected.count == 1, format == .text { throw error }
                reports.append(FileReport(path: path, verdict: .invalid, message: error.description, annotation: "error", title: "invalid schema"))
            }
        }
        if set.selected.count == 1, format == .text {
            print(reports[0].text, terminator: "")
            return
        }
        try printReports(reports, format: format, counted: .valid, okKey: "valid", header: [], summaryTitle: "schemactl validate")
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
            Several files (or directories): one "FILE: TEXT" line each; types used across files are \
            resolved as validate does, and a type from another file is written by name (a reference).

            Example:
              schemactl normalize user.avsc > user.normalized.avsc
              schemactl normalize --as-registered user.avsc
            """
    )

    @Flag(help: "Print the canonical string stored without normalize instead.")
    var asRegistered = false

    @Argument(help: "Schema files (.avsc) or directories; - for standard input.")
    var files: [String]

    func run() throws {
        try forEachSchema(files) { schema in asRegistered ? schema.canonicalText : schema.normalizedText }
    }
}

struct CanonicalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "canonical",
        abstract: "Print the schema's Parsing Canonical Form (Avro specification).",
        discussion: """
            Several files (or directories): one "FILE: TEXT" line each, with the types used from other files \
            written in full, as the specification's form requires.

            Example:
              schemactl canonical user.avsc
              {"name":"com.example.User","type":"record","fields":[{"name":"id","type":"long"}]}
            """
    )

    @Argument(help: "Schema files (.avsc) or directories; - for standard input.")
    var files: [String]

    func run() throws {
        try forEachSchema(files) { $0.canonicalForm }
    }
}

/// Prints `render` of each file's schema: the text alone for one file, "FILE: TEXT" lines for several; every file
/// is attempted, and exit 2 follows when any was invalid.
func forEachSchema(_ arguments: [String], _ render: (AvroSchema) -> String) throws {
    guard !arguments.isEmpty else { throw ValidationError("give at least one schema file or directory") }
    let set = try SchemaSet(arguments: arguments, library: try ProjectFile.current().schemaDirectories)
    if set.selected.count == 1 {
        print(render(try set.load(set.selected[0]).schema))
        return
    }
    var invalid = 0
    for path in set.selected {
        do {
            print("\(path): \(render(try set.load(path).schema))")
        } catch let error as InputError {
            invalid += 1
            printError(error.description)
        }
    }
    if invalid > 0 { throw ExitStatus.invalidInput }
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
        // Types from other files resolved as validate resolves them: the fingerprint of the schema readers see.
        let set = try SchemaSet(arguments: [file], library: try ProjectFile.current().schemaDirectories)
        guard set.selected.count == 1 else { throw InputError(description: "\(file): a directory; fingerprint takes one file") }
        let schema = try set.load(set.selected[0]).schema
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
