import ArgumentParser
import AvroCodec
import RegistryClient

struct RegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register a schema under a subject; prints its id.",
        discussion: """
            The schema is validated locally first (exit 2 if invalid). Exit 1 if the registry refuses it as \
            incompatible, 3 if the registry is unreachable.

            Example:
              schemactl register orders-value.avsc --subject orders-value
            """
    )

    @Argument(help: "The schema file (.avsc).")
    var file: String

    @Option(help: "The subject (default: from schemactl.toml, else the file's base name).")
    var subject: String?

    @OptionGroup var options: RegistryOptions

    func run() async throws {
        let schemaFile = try SchemaFile(path: file)
        let text = String(decoding: try SchemaFile.readBytes(file), as: UTF8.self)
        let target = subjectName(for: file, explicit: subject)
        let client = options.client
        do {
            let id = try await client.register(subject: target, schema: text)
            print("registered \(file) under \(target): id \(id) (fingerprint \(SchemaFingerprint.hex(schemaFile.schema.rabinFingerprint)))")
        } catch {
            if case .rejected(409, _, let message) = error {
                print("INCOMPATIBLE: \(message)")
                throw ExitStatus.incompatible
            }
            _ = try await callRegistry { () async throws(RegistryClientError) -> Int in throw error }
        }
    }
}

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Print a registered schema, by id or by subject and version.",
        discussion: """
            Examples:
              schemactl get --id 42
              schemactl get --subject orders-value --version 3
            """
    )

    @Option(help: "The global schema id.")
    var id: Int?

    @Option(help: "The subject.")
    var subject: String?

    @Option(help: "The version (default: latest).")
    var version: String?

    @OptionGroup var options: RegistryOptions

    func validate() throws {
        guard (id == nil) != (subject == nil) else { throw ValidationError("give exactly one of --id or --subject") }
    }

    func run() async throws {
        let client = options.client
        if let id {
            print(try await callRegistry { () async throws(RegistryClientError) -> String in try await client.schema(id: id) })
            return
        }
        let answer = try await callRegistry { () async throws(RegistryClientError) -> JSONValue in
            try await client.version(subject: subject ?? "", version: version)
        }
        print(answer["schema"]?.stringValue ?? answer.compactText)
    }
}

struct SubjectsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subjects",
        abstract: "List the registry's subjects, one per line.",
        discussion: """
            Example:
              schemactl subjects --registry http://127.0.0.1:8081
            """
    )

    @OptionGroup var options: RegistryOptions

    func run() async throws {
        let client = options.client
        for subject in try await callRegistry({ () async throws(RegistryClientError) -> [String] in try await client.subjects() }) {
            print(subject)
        }
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show or set the compatibility level, globally or for a subject.",
        discussion: """
            Examples:
              schemactl config
              schemactl config --subject orders-value --set FULL_TRANSITIVE
            """
    )

    @Option(help: "The subject (default: the global level).")
    var subject: String?

    @Option(help: "Set this level.")
    var set: String?

    @OptionGroup var options: RegistryOptions

    func run() async throws {
        let client = options.client
        if let set {
            try await callRegistry { () async throws(RegistryClientError) in try await client.setLevel(set.uppercased(), subject: subject) }
        }
        print(try await callRegistry { () async throws(RegistryClientError) -> String in try await client.level(subject: subject) })
    }
}
