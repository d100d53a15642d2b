import ArgumentParser
import AvroCodec
import RegistryClient
import RegistryCommandLine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a registry's subjects, versions, ids, levels and modes as JSON Lines.",
        discussion: """
            Reads the registry through the Confluent REST API only, so the source can be Confluent, Karapace, \
            Redpanda, Apicurio's Confluent API or ours. The first line is a header (format, source, time, counts); \
            then the global config and mode, one line per version (a referenced version before its referrer), the \
            subject configs and modes. Progress goes to stderr.

            Example:
              schemactl export --registry https://old-registry:8081 --include-deleted > registry.jsonl
            """
    )

    @Flag(help: "Also export soft-deleted versions (marked \"deleted\": true). A soft-deleted version that a live one references is always exported.")
    var includeDeleted = false

    @Option(help: "Only subjects starting with this prefix.")
    var subjectPrefix: String?

    @OptionGroup var options: RegistryOptions

    func run() async throws {
        let client = options.client
        let reader = RegistryReader(client: client)
        let snapshot = try await migrationStep { () async throws(MigrationError) -> RegistrySnapshot in
            try await reader.snapshot(includeDeleted: includeDeleted, subjectPrefix: subjectPrefix, progress: Progress(label: "export"))
        }
        var output: [UInt8] = []
        for line in snapshot.lines(source: client.baseURL, time: utcTimestamp()) {
            output += line.compactText.utf8
            output.append(UInt8(ascii: "\n"))
            if output.count >= 65_536 {
                try writeStandardOutput(output)
                output.removeAll(keepingCapacity: true)
            }
        }
        try writeStandardOutput(output)
        printError("exported \(snapshot.distinctIDs) schemas, \(snapshot.subjects.count) subjects, \(snapshot.versions.count) versions (\(snapshot.versions.filter(\.deleted).count) soft-deleted)")
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Write an export into a registry, keeping every id and version, then verify it.",
        discussion: """
            Puts the target into IMPORT mode (and its previous mode back at the end), registers every version under \
            its id and version, soft-deletes again what was soft-deleted, restores levels and modes, then reads it all \
            back and compares. Running it again after an interruption finishes the job: versions already present with \
            the same content are skipped; a version or id holding other content stops it (exit 1) with both texts.

            Exit codes: 0 imported with no difference, 1 a conflict or a difference, 2 unreadable file or refused, 3 registry unreachable.

            Example:
              schemactl import registry.jsonl --registry http://127.0.0.1:8081
            """
    )

    @Argument(help: "The export file (JSON Lines, from schemactl export); - for standard input.")
    var file: String

    @Flag(help: "Import even when the target holds subjects that are not in the export.")
    var force = false

    @Option(help: "The global mode to leave the target in (default: the mode it had before; READWRITE when it was already in IMPORT).")
    var finalMode: String?

    @Flag(help: "Skip the verification pass.")
    var noVerify = false

    @OptionGroup var options: RegistryOptions

    func run() async throws {
        let bytes = try SchemaFile.readBytes(file)
        let snapshot = try await migrationStep { () async throws(MigrationError) -> RegistrySnapshot in
            try RegistrySnapshot(file: bytes, name: file)
        }
        let writer = RegistryWriter(client: options.client)
        StopSignal.install()
        try await migrationStep { () async throws(MigrationError) in
            try await writer.enterImportMode(subjects: Set(snapshot.subjects), force: force, finalMode: finalMode?.uppercased())
        }
        var written = 0
        var result: Result<Void, MigrationError> = .success(())
        do throws(MigrationError) {
            var state = try await writer.readState(subjects: snapshot.subjects)
            let changes = try writer.plan(snapshot, against: state, following: false, previous: nil)
            written = changes.count { if case .register = $0 { true } else { false } }
            try await writer.apply(changes, to: &state, progress: Progress(label: "import"))
        } catch {
            result = .failure(error)
        }
        // The previous mode comes back whatever happened.
        let restored: Result<Void, MigrationError>
        do throws(MigrationError) {
            try await writer.restoreMode()
            restored = .success(())
        } catch {
            restored = .failure(error)
        }
        try await migrationStep { () async throws(MigrationError) in
            try result.get()
            try restored.get()
        }
        let skipped = snapshot.versions.count - written
        var summary = "imported \(snapshot.distinctIDs) schemas, \(snapshot.subjects.count) subjects"
        let detail = "(\(snapshot.versions.count) versions: \(written) written, \(skipped) already present)"
        if noVerify {
            print("\(summary) \(detail), not verified")
            return
        }
        let differences = try await migrationStep { () async throws(MigrationError) -> [String] in
            try await writer.verify(snapshot, progress: Progress(label: "verify"))
        }
        for difference in differences.prefix(50) { printError("difference: \(difference)") }
        if differences.count > 50 { printError("… and \(differences.count - 50) more differences") }
        summary += ", \(differences.count) differences \(detail)"
        print(summary)
        if !differences.isEmpty { throw ExitStatus.incompatible }
    }
}

struct MirrorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror",
        abstract: "Import a registry into another, then keep following it until stopped.",
        discussion: """
            Does an import, then looks at the source every --interval and applies what changed: new versions, soft \
            and permanent deletes, levels and subject modes. The target stays in IMPORT mode while mirrored (it serves \
            reads; producers keep writing to the source); on SIGINT or SIGTERM the mirror stops and puts the target's \
            previous mode back. The lag (source changes not yet applied) is reported on stderr.

            Exit codes: 0 stopped by a signal, 1 a conflict, 2 refused, 3 a registry unreachable at the start.

            Example:
              schemactl mirror --from https://old:8081 --from-user-info ops:secret --to http://127.0.0.1:8081 --interval 1s
            """
    )

    @Option(help: "The source registry URL.")
    var from: String

    @Option(help: "The target registry URL.")
    var to: String

    @Option(help: "How often to look at the source: 1s, 500ms, 2m.")
    var interval: String = "1s"

    @Option(help: "Only subjects starting with this prefix.")
    var subjectPrefix: String?

    @Flag(help: "Mirror even when the target holds subjects that are not in the source.")
    var force = false

    @Option(help: "The global mode to leave the target in when stopped (default: the mode it had before).")
    var finalMode: String?

    @Option(help: "Stop after this many seconds (for scripts and tests; default: run until a signal).")
    var duration: Double?

    @OptionGroup(title: "Source connection") var source: SourceConnectionOptions
    @OptionGroup(title: "Target connection") var target: TargetConnectionOptions

    func validate() throws {
        guard Self.parseInterval(interval) != nil else { throw ValidationError("--interval \(interval): give a duration like 1s, 500ms or 2m") }
    }

    static func parseInterval(_ text: String) -> Int? {
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value > 0, value < 86_400 { return Int(value * scale) }
            return nil
        }
        if let value = Double(text), value > 0, value < 86_400 { return Int(value * 1000) }
        return nil
    }

    func run() async throws {
        let intervalMilliseconds = Self.parseInterval(interval) ?? 1000
        StopSignal.install()
        let started = Progress.milliseconds
        let deadline = duration.map { started + Int64($0 * 1000) }
        func shouldStop() -> Bool { StopSignal.requested || deadline.map { Progress.milliseconds >= $0 } == true }

        let reader = RegistryReader(client: RegistryClient(baseURL: from, transport: source.transport))
        let writer = RegistryWriter(client: RegistryClient(baseURL: to, transport: target.transport))
        var snapshot = try await migrationStep { () async throws(MigrationError) -> RegistrySnapshot in
            try await reader.snapshot(includeDeleted: true, subjectPrefix: subjectPrefix, progress: Progress(label: "read source"))
        }
        try await migrationStep { () async throws(MigrationError) in
            try await writer.enterImportMode(subjects: Set(snapshot.subjects), force: force, finalMode: finalMode?.uppercased())
        }
        var failure: MigrationError?
        do throws(MigrationError) {
            var state = try await writer.readState(subjects: snapshot.subjects)
            // The first pass is an import: a version holding other content on the target stops it before any write.
            let initial = try writer.plan(snapshot, against: state, following: false, previous: nil)
            printError("mirror: initial import of \(snapshot.versions.count) versions in \(snapshot.subjects.count) subjects; lag \(initial.count)")
            try await writer.apply(initial, to: &state, progress: Progress(label: "import"))
            printError("mirror: in sync with \(reader.client.baseURL) (lag 0); following every \(interval)")
            var lastReport = Progress.milliseconds
            // Looks start every interval (a slow look delays the next one, never piles them up).
            var wake = Progress.milliseconds
            following: while !shouldStop() {
                wake = max(wake + Int64(intervalMilliseconds), Progress.milliseconds)
                while !shouldStop(), Progress.milliseconds < wake { try? await Task.sleep(for: .milliseconds(20)) }
                if shouldStop() { break }
                let next: RegistrySnapshot
                let changes: [PlannedChange]
                do throws(MigrationError) {
                    next = try await reader.snapshot(includeDeleted: true, subjectPrefix: subjectPrefix, progress: nil)
                    changes = try writer.plan(next, against: state, following: true, previous: snapshot)
                    if !changes.isEmpty { printError("mirror: lag \(changes.count) (source changes not yet applied)") }
                    try await writer.apply(changes, to: &state, progress: nil)
                } catch {
                    // An outage of either side, or a registry asking to slow down (429), is waited out; anything
                    // else stops the mirror.
                    switch error {
                    case .registry(.unavailable(let reason)), .registry(.rejected(429, _, let reason)):
                        printError("mirror: \(reason); retrying in \(interval)")
                        continue
                    case .interrupted: break following  // a signal during the writes: stop as between looks
                    default: throw error
                    }
                }
                snapshot = next
                let now = Progress.milliseconds
                if !changes.isEmpty || now - lastReport >= 60_000 {
                    lastReport = now
                    printError("mirror: applied \(changes.count) changes; lag 0 (\(snapshot.versions.count) versions, \(snapshot.subjects.count) subjects)")
                }
            }
        } catch {
            failure = error
        }
        let restored: MigrationError?
        do throws(MigrationError) {
            try await writer.restoreMode()
            restored = nil
        } catch {
            restored = error
        }
        try await migrationStep { () async throws(MigrationError) in
            if let failure { throw failure }
            if let restored { throw restored }
        }
        printError("mirror: stopped; the target's mode is back")
    }
}

/// `--from-ca-cert`, `--from-user-info`, … for the mirror's source.
struct SourceConnectionOptions: ParsableArguments {
    @Option(help: "PEM file of the certificate authorities the source is verified with.")
    var fromCaCert: String?
    @Option(help: "Client certificate to present to the source.")
    var fromClientCert: String?
    @Option(help: "Its private key.")
    var fromClientKey: String?
    @Option(help: "HTTP Basic credentials user:password for the source.")
    var fromUserInfo: String?

    var transport: RegistryTransportOptions {
        RegistryTransportOptions.fromCommandLine(caCert: fromCaCert, clientCert: fromClientCert, clientKey: fromClientKey, userInfo: fromUserInfo)
    }
}

/// `--to-ca-cert`, `--to-user-info`, … for the mirror's target.
struct TargetConnectionOptions: ParsableArguments {
    @Option(help: "PEM file of the certificate authorities the target is verified with.")
    var toCaCert: String?
    @Option(help: "Client certificate to present to the target.")
    var toClientCert: String?
    @Option(help: "Its private key.")
    var toClientKey: String?
    @Option(help: "HTTP Basic credentials user:password for the target.")
    var toUserInfo: String?

    var transport: RegistryTransportOptions {
        RegistryTransportOptions.fromCommandLine(caCert: toCaCert, clientCert: toClientCert, clientKey: toClientKey, userInfo: toUserInfo)
    }
}

/// Runs a migration step, mapping its failures to exit statuses: 1 conflict, 2 refused or bad file, 3 outage.
func migrationStep<T>(_ body: () async throws(MigrationError) -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        printError("error: \(error.description)")
        switch error {
        case .conflict: throw ExitStatus.incompatible
        case .refused, .invalidFile: throw ExitStatus.invalidInput
        case .interrupted: throw ExitCode(130)
        case .unexpected: throw ExitStatus.unavailable
        case .registry(let failure):
            switch failure {
            case .unavailable, .malformedResponse: throw ExitStatus.unavailable
            case .rejected: throw ExitStatus.invalidInput
            }
        }
    }
}

/// Now, as `2026-12-06T22:18:56Z`.
func utcTimestamp() -> String {
    var now = time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    var buffer = [CChar](repeating: 0, count: 32)
    let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
    return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
