import ArgumentParser
import AvroCodec

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a new schema against existing versions at a compatibility level.",
        discussion: """
            The --against files are the existing versions, oldest first (version 1, 2, …). BACKWARD, \
            FORWARD and FULL compare with the latest version only; the _TRANSITIVE levels with every \
            version. Every problem is reported with its type, its path in the new schema, the version it \
            conflicts with and a concrete fix.

            Exit codes: 0 compatible, 1 incompatible (report printed), 2 invalid input or usage.

            Examples:
              schemactl check user-v3.avsc --against user-v1.avsc --against user-v2.avsc
              schemactl check new.avsc --against old.avsc --level FULL_TRANSITIVE --format github
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

    func validate() throws {
        guard CompatibilityLevel(rawValue: level.uppercased()) != nil else {
            throw ValidationError(
                "unknown level '\(level)'; use one of \(CompatibilityLevel.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        let compatibilityLevel = CompatibilityLevel(rawValue: level.uppercased()) ?? .backward
        let new = try SchemaFile(path: newSchema)
        let versions = try existing.enumerated().map { index, path in
            (file: try SchemaFile(path: path), version: index + 1)
        }
        let report = CompatibilityChecker.check(
            new.schema, against: versions.map { ExistingSchemaVersion(version: $0.version, schema: $0.file.schema) },
            level: compatibilityLevel)
        let formatter = CheckReportFormatter(newPath: newSchema, existingPaths: existing, report: report)
        switch format {
        case .text: print(formatter.text(), terminator: "")
        case .json: print(formatter.json())
        case .github: print(formatter.github(), terminator: "")
        }
        if !report.isCompatible { throw ExitStatus.incompatible }
    }
}
