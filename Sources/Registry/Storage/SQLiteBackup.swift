#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A consistent copy of a live SQLite registry database, made while the server keeps serving and writing.
///
/// ```swift
/// let counts = try SQLiteBackup.copy(from: "data/registry.db", to: "backups/registry-2025-01-01.db", verify: true)
/// print(counts?.schemas ?? 0)
/// ```
///
/// The copy is written to a new temporary file beside the destination (made with `mkstemp`) and renamed over
/// the destination only once it is complete (and verified, when asked), then the directory is synced: a
/// backup that fails leaves nothing under the destination's name, and an older backup there stays whole.
/// The copy is one self-contained file in rollback-journal mode (no `-wal` beside it to forget); a server
/// started on it switches it back to WAL.
public enum SQLiteBackup {
    /// What a copy holds, as `--verify` prints it.
    public struct Counts: Sendable, Equatable {
        /// Rows of the `schemas` table: distinct schemas, each with its id.
        public var schemas = 0
        /// The highest id ever assigned (ids are never reused), 0 for an empty registry.
        public var highestID = 0
        /// Subjects with at least one version, soft-deleted ones included.
        public var subjects = 0
        /// Versions, soft-deleted ones included.
        public var versions = 0
        /// Of those, the soft-deleted ones.
        public var deletedVersions = 0
    }

    /// Why a backup or a verification failed, in words for the person who ran it.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// Which part failed.
        public enum Stage: Sendable {
            /// Reading the source, writing or renaming the copy.
            case copy
            /// The copy was made but is damaged or not a registry database.
            case verification
        }

        public let description: String
        public var stage: Stage = .copy
    }

    /// Copies the registry database at `source` (which a server may be using) to `destination`; with
    /// `verify`, checks the copy (`verify(_:)`) before it takes the destination's name and returns its counts.
    /// `pagesPerStep`: see `SQLiteDatabase.backup`.
    /// `temporaryCreated` is told the temporary file's path as soon as it exists (the command removes it when
    /// interrupted by a signal).
    public static func copy(
        from source: String, to destination: String, verify: Bool, pagesPerStep: Int32 = 1024, temporaryCreated: (String) -> Void = { _ in }
    ) throws(Failure) -> Counts? {
        guard !destination.isEmpty, !destination.hasSuffix("/") else { throw Failure(description: "--to must name a file") }
        if let sourcePath = realPath(source), let destinationPath = realPath(destination) {
            if sourcePath == destinationPath { throw Failure(description: "\(destination) is the database itself") }
            for suffix in ["-wal", "-shm", "-journal"] where realPath(source + suffix) == destinationPath {
                throw Failure(description: "\(destination) is the database's own \(suffix) file")
            }
        }
        let database: SQLiteDatabase
        do {
            database = try SQLiteDatabase(path: source, opening: .readOnlyExisting)
            try requireRegistryTables(database)
        } catch {
            throw Failure(description: "cannot read the database \(source): \(error.message)")
        }
        let temporary = try makeTemporaryFile(beside: destination)
        temporaryCreated(temporary)
        var counts: Counts?
        do throws(Failure) {
            do {
                let copy = try SQLiteDatabase(path: temporary, opening: .plainReadWrite)
                try database.backup(into: copy, pagesPerStep: pagesPerStep)
                // The source's header says WAL; the copy becomes one self-contained file.
                try copy.execute("PRAGMA journal_mode=DELETE")
            } catch {
                throw Failure(description: "cannot copy \(source) to \(destination): \(error.message)")
            }
            if verify { counts = try self.verify(temporary, shownAs: destination) }
            guard rename(temporary, destination) == 0 else {
                throw Failure(description: "cannot rename the copy to \(destination): \(String(cString: strerror(errno)))")
            }
        } catch {
            unlink(temporary)
            unlink(temporary + "-journal")
            throw error
        }
        syncDirectory(of: destination)
        return counts
    }

    /// Opens the copy at `path` read-only, requires `PRAGMA integrity_check` to answer "ok", and counts what
    /// it holds; fails when it is damaged or not a registry database.
    public static func verify(_ path: String) throws(Failure) -> Counts {
        try verify(path, shownAs: path)
    }

    private static func verify(_ path: String, shownAs shown: String) throws(Failure) -> Counts {
        do {
            let database = try SQLiteDatabase(path: path, opening: .readOnlyExisting)
            var problems: [String] = []
            do {
                try database.query("PRAGMA integrity_check") { row in problems.append(row.text(0)) }
            } catch {
                // Damage bad enough stops the check itself (SQLITE_CORRUPT) instead of being listed by it.
                problems.append(error.message)
            }
            guard problems == ["ok"] else {
                throw Failure(
                    description: "the copy \(shown) fails its integrity check: \(problems.prefix(5).joined(separator: "; "))", stage: .verification)
            }
            try requireRegistryTables(database)
            var counts = Counts()
            try database.query("SELECT count(*), coalesce(max(id), 0) FROM schemas") { row in
                counts.schemas = Int(row.integer(0))
                counts.highestID = Int(row.integer(1))
            }
            try database.query("SELECT value FROM meta WHERE key = 'maximum_id'") { row in counts.highestID = max(counts.highestID, Int(row.integer(0))) }
            try database.query("SELECT count(DISTINCT subject), count(*), coalesce(sum(deleted != 0), 0) FROM versions") { row in
                counts.subjects = Int(row.integer(0))
                counts.versions = Int(row.integer(1))
                counts.deletedVersions = Int(row.integer(2))
            }
            return counts
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "cannot verify the copy \(shown): \(error.message)", stage: .verification)
        }
    }

    /// The registry's tables are there (a file that is some other SQLite database, or an empty one, is not a registry).
    private static func requireRegistryTables(_ database: SQLiteDatabase) throws(StorageError) {
        var tables: Set<String> = []
        try database.query("SELECT name FROM sqlite_master WHERE type = 'table'") { row in tables.insert(row.text(0)) }
        let missing = ["schemas", "versions", "config", "mode", "meta"].filter { !tables.contains($0) }
        guard missing.isEmpty else {
            throw StorageError(code: -1, message: "not a registry database (no table \(missing.joined(separator: ", ")))", statement: "sqlite_master")
        }
    }

    /// A new, empty file beside `destination` (same directory, so the rename is atomic), only readable by its owner.
    private static func makeTemporaryFile(beside destination: String) throws(Failure) -> String {
        var template = Array((destination + ".tmp-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.map { mkstemp($0) } ?? -1 }
        guard descriptor >= 0 else {
            throw Failure(description: "cannot write beside \(destination): \(String(cString: strerror(errno)))")
        }
        _ = fchmod(descriptor, 0o600)
        close(descriptor)
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func syncDirectory(of path: String) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let descriptor = open(directory, O_RDONLY)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

extension Error {
    /// A storage error's SQLite message with its code, other errors as they describe themselves.
    fileprivate var message: String {
        if let storage = self as? StorageError { return "\(storage.message) (SQLite code \(storage.code))" }
        return String(describing: self)
    }
}
