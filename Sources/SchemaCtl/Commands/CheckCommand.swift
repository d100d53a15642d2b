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

            Against git history (--against-git REV, no registry): each file given (a directory: every .avsc \
            under it) is compared with its own content at REV; with a _TRANSITIVE level with every distinct \
            version of it in the history reachable from REV, oldest first (renames followed). A file new since \
            REV is compatible; a file under a given directory deleted since REV is reported. The level is \
            --level, else the subject's entry in schemactl.toml ([levels] "orders-value" = "FULL"), else \
            BACKWARD. One report for all files, ending with a summary line.

            Exit codes: 0 compatible, 1 incompatible (report printed), 2 invalid input or usage, \
            3 registry unreachable or failing.

            Examples:
              schemactl check user-v3.avsc --against user-v1.avsc --against user-v2.avsc
              schemactl check new.avsc --against old.avsc --level FULL_TRANSITIVE --format github
              schemactl check orders-value.avsc
              schemactl check schemas/orders.avsc --subject orders-value --registry http://127.0.0.1:8081
              schemactl check schemas/ --against-git origin/main --format github
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, github
    }

    @Argument(help: "The new schema file (.avsc); with --against-git, several files and directories.")
    var files: [String]

    @Option(help: "Compare each file with its own history in git at this revision (offline).")
    var againstGit: String?

    private var newSchema: String { files.first ?? "" }

    @Option(name: .customLong("against"), help: "An existing version's schema file; repeat, oldest first.")
    var existing: [String] = []

    @Option(help: "NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE (default BACKWARD; with --against-git, schemactl.toml's level for the subject).")
    var level: String?

    @Option(help: "text (for people), json (for tools) or github (workflow annotations).")
    var format: Format = .text

    @Option(help: "Online: the subject (default: from schemactl.toml, else the file's base name).")
    var subject: String?

    @Option(help: "Online: check against this version only (default: the versions the subject's level names).")
    var version: String?

    @OptionGroup var options: RegistryOptions

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give the schema file to check") }
        if let level, CompatibilityLevel(rawValue: level.uppercased()) == nil {
            throw ValidationError(
                "unknown level '\(level)'; use one of \(CompatibilityLevel.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if againstGit != nil, !existing.isEmpty { throw ValidationError("give either --against or --against-git, not both") }
        if againstGit == nil, files.count > 1 || (files.first.map(SchemaSet.isDirectory) ?? false) {
            throw ValidationError("several files or a directory are checked against git history (--against-git REV); online and with --against, one file")
        }
    }

    func run() async throws {
        if let againstGit {
            try checkAgainstGit(againstGit)
            return
        }
        if existing.isEmpty {
            try await checkOnline()
            return
        }
        let compatibilityLevel = level.flatMap { CompatibilityLevel(rawValue: $0.uppercased()) } ?? .backward
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

    /// Every file against its history in git; one report, a summary line, exit 2 if any file is invalid, else 1
    /// if any is incompatible.
    private func checkAgainstGit(_ revision: String) throws {
        let check = GitHistoryCheck(revision: revision, explicitLevel: level.flatMap { CompatibilityLevel(rawValue: $0.uppercased()) }, project: .load())
        let (results, deleted) = try check.run(arguments: files)
        var counts = (compatible: 0, incompatible: 0, invalid: 0, new: 0)
        var documents: [JSONValue] = []
        for result in results {
            switch result.verdict {
            case .compatible(let formatter), .incompatible(let formatter):
                if case .compatible = result.verdict { counts.compatible += 1 } else { counts.incompatible += 1 }
                switch format {
                case .text: print(formatter.text(), terminator: "")
                case .github: print(formatter.github(), terminator: "")
                case .json: if let document = try? JSONParser.parse(formatter.json()) { documents.append(document) }
                }
            case .new:
                counts.new += 1
                let message = "COMPATIBLE: \(result.path) is new since \(revision), so there is nothing to break"
                switch format {
                case .text: print(message)
                case .github: print("::notice file=\(percentEscaped(result.path, "%\r\n:,")),title=new schema::\(percentEscaped(message, "%\r\n"))")
                case .json: documents.append(.object([("schema", .string(result.path)), ("compatible", .bool(true)), ("new", .bool(true))]))
                }
            case .invalid(let message):
                counts.invalid += 1
                switch format {
                case .text: print("INVALID: \(message)")
                case .github: print("::error file=\(percentEscaped(result.path, "%\r\n:,")),title=invalid schema::\(percentEscaped(message, "%\r\n"))")
                case .json: documents.append(.object([("schema", .string(result.path)), ("valid", .bool(false)), ("error", .string(message))]))
                }
            }
            if let note = result.shallowNote { printError("note: \(note)") }
        }
        for file in deleted {
            let message = "DELETED: \(file) existed at \(revision) and is gone"
            switch format {
            case .text: print(message)
            case .github: print("::warning file=\(percentEscaped(file, "%\r\n:,")),title=schema deleted::\(percentEscaped(message, "%\r\n"))")
            case .json: documents.append(.object([("schema", .string(file)), ("deleted", .bool(true))]))
            }
        }
        var summary = "\(results.count) file\(results.count == 1 ? "" : "s"): \(counts.compatible + counts.new) compatible"
        if counts.incompatible > 0 { summary += ", \(counts.incompatible) INCOMPATIBLE" }
        if counts.invalid > 0 { summary += ", \(counts.invalid) INVALID" }
        if counts.new > 0 { summary += " (\(counts.new) new)" }
        if !deleted.isEmpty { summary += "; \(deleted.count) deleted" }
        switch format {
        case .text: print(summary)
        case .github: print("::notice title=schemactl check::\(percentEscaped(summary, "%\r\n"))")
        case .json:
            let payload = JSONValue.object([
                ("against", .string(revision)), ("files", .array(documents)), ("summary", .string(summary)),
                ("compatible", .bool(counts.incompatible == 0 && counts.invalid == 0)),
            ])
            print(payload.prettyText(sortingKeys: true))
        }
        if counts.invalid > 0 { throw ExitStatus.invalidInput }
        if counts.incompatible > 0 { throw ExitStatus.incompatible }
    }
}
