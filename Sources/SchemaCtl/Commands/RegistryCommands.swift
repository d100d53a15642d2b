import ArgumentParser
import AvroCodec
import RegistryClient

struct RegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register schema files, each under its subject; prints the ids and versions.",
        discussion: """
            Each file goes under --subject (one file), else its entry in schemactl.toml ([subjects] \
            "schemas/orders.avsc" = "orders-value"), else its base name. A directory stands for every .avsc \
            file under it. A type a file uses from another file (found as validate finds it) becomes a \
            Confluent reference {name, subject, version}: the files it uses are registered first, in \
            dependency order (also those only found through schemactl.toml's [paths]), and it references the \
            exact versions they got. Content already registered under its subject keeps its version.

            Every file is validated locally first: exit 2 if any is invalid, before anything is sent. Exit 1 if \
            the registry refuses a file as incompatible (the files using it are then not sent), 3 if the \
            registry is unreachable.

            Examples:
              schemactl register orders-value.avsc --subject orders-value
              schemactl register schemas/ --format github
            """
    )

    @Argument(help: "Schema files (.avsc) or directories.")
    var files: [String]

    @Option(help: "The subject (one file; default: from schemactl.toml, else the file's base name).")
    var subject: String?

    @Option(help: "text (for people), json (for tools) or github (workflow annotations).")
    var format: CheckCommand.Format = .text

    @OptionGroup var options: RegistryOptions

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give the schema files to register") }
        if subject != nil, files.count > 1 || SchemaSet.isDirectory(files[0]) {
            throw ValidationError("--subject names one file's subject; give one file")
        }
    }

    func run() async throws {
        let set = try SchemaSet(arguments: files, library: try ProjectFile.current().schemaDirectories)
        let repository = try RegistryRepository(set: set, explicitSubject: subject)
        if !repository.invalid.isEmpty {
            // Nothing is sent when a file is invalid: half a repository registered is worse than none.
            printError("nothing registered: \(repository.invalid.count) of \(set.selected.count) file\(set.selected.count == 1 ? " is" : "s are") invalid")
            try printReports(
                repository.invalidReports(), format: format, counted: .registered, okKey: "registered", header: [], summaryTitle: "schemactl register")
        }
        let client = options.client
        let reports = try await callRegistry { () async throws(RegistryClientError) -> [FileReport] in try await repository.register(client: client) }
        try printReports(reports, format: format, counted: .registered, okKey: "registered", header: [("registry", .string(client.baseURL))], summaryTitle: "schemactl register")
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
