import ArgumentParser

/// `schemactl`: checks, normalizes and fingerprints Avro schemas; talks to the registry (later steps).
@main
struct SchemaCtlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schemactl",
        abstract: "Validate, normalize, fingerprint and compatibility-check Avro schemas.",
        discussion: """
            Exit codes: \(ExitStatus.success.rawValue) valid/compatible, \(ExitStatus.incompatible.rawValue) incompatible, \
            \(ExitStatus.invalidInput.rawValue) invalid input or usage, \(ExitStatus.unavailable.rawValue) registry unreachable or failing (5xx).
            Registry commands use --registry, else $SCHEMA_REGISTRY_URL, else http://127.0.0.1:8081.
            """,
        subcommands: [
            ValidateCommand.self, NormalizeCommand.self, CanonicalCommand.self, FingerprintCommand.self, CheckCommand.self,
            RegisterCommand.self, GetCommand.self, SubjectsCommand.self, ConfigCommand.self, EncodeCommand.self, DecodeCommand.self,
            ExportCommand.self, ImportCommand.self, MirrorCommand.self, DiffCommand.self,
        ]
    )

    /// Runs the command line, mapping every failure to the documented exit codes (argument parser
    /// usage errors would otherwise exit 64).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let status as ExitStatus {
            Self.exit(withError: ExitCode(status.rawValue))
        } catch let exit as ExitCode {
            Self.exit(withError: exit)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                Self.exit(withError: error)  // --help, --version: printed, exit 0
            }
            printError(fullMessage(for: error))
            if !(error is InputError) {
                printError("Run 'schemactl help' for usage.")
            }
            Self.exit(withError: ExitCode(ExitStatus.invalidInput.rawValue))
        }
    }
}

/// The exit statuses scripts rely on.
enum ExitStatus: Int32, Error {
    /// Valid, or compatible.
    case success = 0
    /// The new schema is incompatible with an existing version.
    case incompatible = 1
    /// A file is unreadable or not a valid schema, or the command line is wrong.
    case invalidInput = 2
    /// The registry is unreachable or answers 5xx: an outage, not a verdict on the schema.
    case unavailable = 3
}
