import ArgumentParser
import AvroCodec
import RegistryClient

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a new schema against existing versions at a compatibility level.",
        discussion: """
            Offline (with --against): the --against files are the existing versions, oldest first (version 1, 2, …). BACKWARD, \
            FORWARD and FULL compare with the latest version only; the _TRANSITIVE levels with every \
            version. Every problem is reported with its type, its path in the new schema, the version it \
            conflicts with and a concrete fix.

            Online (no --against): asks the registry to check against the subject's versions at the \
            subject's own level. The subject is --subject, else the file's entry in schemactl.toml \
            ([subjects] "schemas/orders.avsc" = "orders-value"), else the file's base name. A subject \
            that does not exist yet is compatible.

            Exit codes: 0 compatible, 1 incompatible (report printed), 2 invalid input or usage, \
            3 registry unreachable or failing.

            Examples:
              schemactl check user-v3.avsc --against user-v1.avsc --against user-v2.avsc
              schemactl check new.avsc --against old.avsc --level FULL_TRANSITIVE --format github
              schemactl check orders-value.avsc
              schemactl check schemas/orders.avsc --subject orders-value --registry http://127.0.0.1:8081
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, github
    }

    @Argument(help: "The new schema file (.avsc).")
    var newSchema: String

    @Option(name: .customLong("against"), help: "An existing version's schema file; repeat, oldest first.")
    var existing: [String] = []

    @Option(help: "NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE.")
    var level: String = "BACKWARD"

    @Option(help: "text (for people), json (for tools) or github (workflow annotations).")
    var format: Format = .text

    @Option(help: "Online: the subject (default: from schemactl.toml, else the file's base name).")
    var subject: String?

    @Option(help: "Online: check against this version only (default: the versions the subject's level names).")
    var version: String?

    @OptionGroup var options: RegistryOptions

    func validate() throws {
        guard CompatibilityLevel(rawValue: level.uppercased()) != nil else {
            throw ValidationError(
                "unknown level '\(level)'; use one of \(CompatibilityLevel.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        if existing.isEmpty {
            try await checkOnline()
            return
        }
        let compatibilityLevel = CompatibilityLevel(rawValue: level.uppercased()) ?? .backward
        // The new file first (its error is reported before any other file's), then the existing ones
        // oldest first, each checked against the new schema by the core that parsed it.
        let newFile = try SchemaFile(path: newSchema)
        let compared = CompatibilityChecker.comparedVersions(of: Array(1...existing.count), level: compatibilityLevel)
        let comparedSet = Set(compared)
        let checked = try await SchemaFile.loadAll(existing) { index, file in
            let version = index + 1
            let problems =
                comparedSet.contains(version)
                ? CompatibilityChecker.problems(
                    of: newFile.schema, against: ExistingSchemaVersion(version: version, schema: file.schema), level: compatibilityLevel)
                : []
            // The parsed file is dropped here, on the core that parsed it, so the next file reuses its
            // memory: keeping all 101 schemas until exit cost 50 MB of fresh pages, and the page faults
            // cost more than freeing (perf stat: 161 ms of CPU kept, 149 ms freed).
            return (version, problems)
        }
        let report = CompatibilityChecker.report(
            level: compatibilityLevel, comparedVersions: compared,
            problemsByVersion: Dictionary(uniqueKeysWithValues: checked.map { ($0.0, $0.1) }))
        let formatter = CheckReportFormatter(newPath: newSchema, existingPaths: existing, report: report)
        switch format {
        case .text: print(formatter.text(), terminator: "")
        case .json: print(formatter.json())
        case .github: print(formatter.github(), terminator: "")
        }
        if !report.isCompatible { throw ExitStatus.incompatible }
    }

    /// Asks the registry; the report is the registry's verbose messages, fixes included.
    private func checkOnline() async throws {
        _ = try SchemaFile(path: newSchema)  // invalid input is exit 2 before any network call
        let text = String(decoding: try SchemaFile.readBytes(newSchema), as: UTF8.self)
        let target = subjectName(for: newSchema, explicit: subject)
        let client = options.client
        let versions = try await callRegistry { () async throws(RegistryClientError) -> [Int]? in try await client.versions(subject: target) }
        guard let versions, !versions.isEmpty else {
            print("COMPATIBLE: \(newSchema): subject \(target) does not exist yet at \(client.baseURL), so there is nothing to break")
            return
        }
        let level = try await callRegistry { () async throws(RegistryClientError) -> String in try await client.level(subject: target) }
        let result = try await callRegistry { () async throws(RegistryClientError) -> (isCompatible: Bool, messages: [String]) in
            try await client.checkCompatibility(subject: target, schema: text, version: version)
        }
        let against = version.map { "version \($0)" } ?? "versions \(versions.map(String.init).joined(separator: ", "))"
        if result.isCompatible {
            print("COMPATIBLE: \(newSchema) is \(level) compatible with subject \(target) (\(against)) at \(client.baseURL)")
            return
        }
        switch format {
        case .json:
            let payload = JSONValue.object([
                ("compatible", .bool(false)), ("level", .string(level)), ("subject", .string(target)), ("schema", .string(newSchema)),
                ("messages", .array(result.messages.map(JSONValue.string))),
            ])
            print(payload.compactText)
        case .github:
            for message in result.messages where message.hasPrefix("{fix:") || message.hasPrefix("{errorType:") {
                print("::error file=\(newSchema),title=incompatible with \(target)::\(percentEscaped(message, "%"))")
            }
        case .text:
            print("INCOMPATIBLE: \(newSchema) is not \(level) compatible with subject \(target) (\(against)) at \(client.baseURL)\n")
            for message in result.messages { print("  \(message)") }
        }
        throw ExitStatus.incompatible
    }
}
