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

            Online (no --against): asks the registry to check each file against its subject's versions at the \
            subject's own level. The subject is --subject (one file), else the file's entry in schemactl.toml \
            ([subjects] "schemas/orders.avsc" = "orders-value"), else the file's base name. A subject \
            that does not exist yet is compatible. A type from another file is sent as a reference to the \
            version that file's content has in the registry, as register would send it; when that content is \
            not registered yet, its types are sent inline (what register would create by registering it first).

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

    @Argument(help: "The new schema files (.avsc) or directories (with --against, one file).")
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
        if againstGit != nil, files.contains("-") { throw ValidationError("standard input has no history in git: give the file's path") }
        let several = files.count > 1 || (files.first.map(SchemaSet.isDirectory) ?? false)
        if !existing.isEmpty, several { throw ValidationError("with --against, check one file; several files are checked online or with --against-git") }
        if subject != nil || version != nil, several { throw ValidationError("--subject and --version name one file's subject; give one file") }
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

    /// Asks the registry about every file (a type from another file as a reference to the version that file has
    /// there, as `register` would send it); the report is the registry's verbose messages, fixes included.
    private func checkOnline() async throws {
        let project = try ProjectFile.current()
        let set = try SchemaSet(arguments: files, library: project.schemaDirectories)
        let repository = try RegistryRepository(set: set, explicitSubject: subject)
        let client = options.client
        let reports = try await callRegistry { () async throws(RegistryClientError) -> [FileReport] in
            try await repository.check(client: client, version: version, declaredLevel: project.level(forSubject:))
        }
        try printReports(reports, format: format, counted: .compatible, okKey: "compatible", header: [("registry", .string(client.baseURL))], summaryTitle: "schemactl check")
    }

    /// Every file against its history in git; one report, a summary line, exit 2 if any file is invalid, else 1
    /// if any is incompatible.
    private func checkAgainstGit(_ revision: String) throws {
        let check = GitHistoryCheck(revision: revision, explicitLevel: level.flatMap { CompatibilityLevel(rawValue: $0.uppercased()) }, project: try ProjectFile.current())
        let (results, deleted) = try check.run(arguments: files)
        var reports: [FileReport] = []
        for result in results {
            switch result.verdict {
            case .compatible(let formatter), .incompatible(let formatter):
                reports.append(FileReport(path: result.path, formatter: formatter))
            case .new(let noValidVersion):
                let message =
                    noValidVersion
                    ? "COMPATIBLE: \(result.path) had no valid version up to \(revision) (each skipped, see the notes), so there is nothing to break"
                    : "COMPATIBLE: \(result.path) is new since \(revision), so there is nothing to break"
                reports.append(FileReport(path: result.path, verdict: .new, message: message, annotation: "notice", title: "new schema"))
            case .invalid(let message):
                reports.append(FileReport(path: result.path, verdict: .invalid, message: "INVALID: \(message)", annotation: "error", title: "invalid schema"))
            }
            if let note = result.shallowNote { printError("note: \(note)") }
        }
        for file in deleted {
            reports.append(
                FileReport(path: file, verdict: .deleted, message: "DELETED: \(file) existed at \(revision) and is gone", annotation: "warning", title: "schema deleted"))
        }
        try printReports(reports, format: format, counted: .compatible, okKey: "compatible", header: [("against", .string(revision))], summaryTitle: "schemactl check")
    }
}
