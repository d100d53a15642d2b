import ArgumentParser
import Registry

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `schema-registry backup`: a consistent copy of a live SQLite database. Wiring only: the copy is `SQLiteBackup`'s.
struct BackupCommand: ParsableCommand {
    /// The exit codes of `backup`, as `--help` documents them.
    enum Exit {
        static let copied: Int32 = 0
        static let copyFailed: Int32 = 1
        static let verificationFailed: Int32 = 3
    }

    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy a SQLite registry database into one file, while the server keeps running.",
        discussion: """
            The copy is made with SQLite's online backup API: a consistent snapshot, taken a chunk of pages at a \
            time, that never holds a writer off for long. It is written beside FILE under a temporary name and \
            renamed to FILE only once complete (and verified, with --verify), so a failed backup leaves no \
            partial file; an older FILE is replaced whole. Restore: stop the server, put the copy in place of the \
            database file (remove any old PATH-wal and PATH-shm), start the server.

            With --verify the copy is opened read-only, PRAGMA integrity_check must answer "ok", and its \
            counts are printed (schemas and the highest id, subjects, versions).

            The PostgreSQL store is backed up with pg_dump (see the README).

            Exit codes: 0 copied (and verified); 1 the copy failed (nothing written under FILE); \
            3 the copy failed its verification (nothing written under FILE); 64 invalid arguments.

            Example:
              schema-registry backup --db ./data/registry.db --to /backups/registry-$(date +%F).db --verify
            """)

    @Option(help: "The SQLite database file the server uses.")
    var db: String = environment("SCHEMA_REGISTRY_DB") ?? "./data/registry.db"

    @Option(help: ArgumentHelp("The copy to write (replaced if it exists).", valueName: "file"))
    var to: String

    @Flag(help: "Check the copy (integrity check, counts) before it takes FILE's name.")
    var verify = false

    @Option(help: "Database pages copied per step (a writer waits at most one step; a write between steps restarts the copy, and after 5 restarts the rest goes in one step).")
    var pagesPerStep: Int = 1024

    func validate() throws {
        guard !SchemaRegistry.isPostgresLocation(db) else {
            throw ValidationError("--db is a PostgreSQL URI: back PostgreSQL up with pg_dump (see the README)")
        }
        guard !to.isEmpty else { throw ValidationError("--to must name the copy's file") }
        guard pagesPerStep >= 1, pagesPerStep <= 1 << 30 else { throw ValidationError("--pages-per-step must be between 1 and 2^30") }
    }

    func run() throws {
        let counts: SQLiteBackup.Counts?
        BackupInterruption.install()
        do {
            counts = try SQLiteBackup.copy(from: db, to: to, verify: verify, pagesPerStep: Int32(pagesPerStep)) { temporary in
                BackupInterruption.remember(temporary)
            }
        } catch {
            printError("error: backup failed: \(error)")
            throw ExitCode(error.stage == .verification ? Exit.verificationFailed : Exit.copyFailed)
        }
        if let counts {
            print(
                "backup of \(db) written to \(to), verified: integrity ok, \(counts.schemas) schemas (highest id \(counts.highestID)), "
                    + "\(counts.subjects) subjects, \(counts.versions) versions (\(counts.deletedVersions) soft-deleted)")
        } else {
            print("backup of \(db) written to \(to)")
        }
    }

    private func printError(_ text: String) {
        let line = text + "\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}

/// SIGINT or SIGTERM during a backup removes its temporary file (and the file's journal) before the process
/// ends, so an interrupted backup leaves nothing behind. unlink(2) and _exit(2) are async-signal-safe.
enum BackupInterruption {
    nonisolated(unsafe) private static var temporaryPath: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var journalPath: UnsafeMutablePointer<CChar>?

    /// Installs the handlers and holds the signals back until `remember` names the file they remove (so a signal
    /// between the file's creation and its naming cannot leave it behind).
    static func install() {
        let handler: @convention(c) (Int32) -> Void = { received in
            if let path = BackupInterruption.temporaryPath { unlink(path) }
            if let path = BackupInterruption.journalPath { unlink(path) }
            _exit(128 + received)
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        var signals = heldSignals
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    static func remember(_ temporary: String) {
        journalPath = strdup(temporary + "-journal")
        temporaryPath = strdup(temporary)
        var signals = heldSignals
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    private static var heldSignals: sigset_t {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        return signals
    }
}
