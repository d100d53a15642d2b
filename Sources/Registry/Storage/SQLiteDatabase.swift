import CSQLite

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A SQLite failure: the result code, SQLite's message (copied at once), and the statement.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public let statement: String

    public var description: String { "SQLite error \(code) (\(message)) in: \(statement)" }
}

/// One SQLite connection. Owns the `sqlite3*` and closes it in `deinit`.
///
/// `@unchecked Sendable`: the connection and its statement cache are used by one thread at a time.
/// `SchemaRegistry.init` reads through it before the registry is shared with any other thread; after
/// that only the `Journal` touches it, always inside its committer lock (group commits and the
/// synchronous writes of config, mode and deletes). The connection is also opened in serialized
/// threading mode (`SQLITE_OPEN_FULLMUTEX`), but the statement cache relies on the committer lock.
/// The connections of a backup (`SQLiteBackup`) are made, used and closed by the one thread that runs it.
final class SQLiteDatabase: @unchecked Sendable {
    private let handle: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    /// Opens (creating if needed) the database at `path`, in WAL mode with `synchronous=FULL`: a
    /// committed transaction survives a process crash and a power loss.
    /// `busyTimeoutMilliseconds`: how long a statement waits for another connection's lock.
    init(path: String, busyTimeoutMilliseconds: Int32 = 5_000) throws(StorageError) {
        handle = try SQLiteDatabase.open(path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX)
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=FULL")
        try execute("PRAGMA foreign_keys=ON")
    }

    /// How `init(path:opening:)` opens a file that may be another process's live database.
    enum Opening {
        /// Read only, and only an existing file (a backup's source, a copy being verified).
        case readOnlyExisting
        /// Read and write, created if missing, in whatever journal mode the file has (a backup's destination).
        case plainReadWrite
    }

    /// Opens `path` without the registry's settings (no WAL switch, no pragmas): for backups.
    init(path: String, opening: Opening, busyTimeoutMilliseconds: Int32 = 5_000) throws(StorageError) {
        let flags = switch opening {
        case .readOnlyExisting: SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX
        case .plainReadWrite: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        }
        handle = try SQLiteDatabase.open(path, flags: flags)
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
    }

    private static func open(_ path: String, flags: Int32) throws(StorageError) -> OpaquePointer {
        var connection: OpaquePointer?
        let result = sqlite3_open_v2(path, &connection, flags, nil)
        guard result == SQLITE_OK, let connection else {
            let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let connection { sqlite3_close_v2(connection) }
            throw StorageError(code: result, message: message, statement: "open \(path)")
        }
        return connection
    }

    /// Copies this whole database into `destination` with SQLite's online backup API, while other
    /// connections (the server's, in another process) keep writing.
    ///
    /// The copy goes `pagesPerStep` pages at a time, each step in a read transaction of its own on this
    /// database, so a writer is never held off for longer than one step (in WAL mode, not at all: a reader
    /// does not block the writer). A step that finds the source locked (`SQLITE_BUSY`, `SQLITE_LOCKED`) is
    /// retried after `busyPauseMicroseconds`, until `timeoutSeconds`. A write by another connection between
    /// steps makes SQLite restart the copy; after `restartLimit` restarts the rest is copied in one step
    /// (one read transaction: a consistent snapshot that, in WAL mode, still blocks no writer), so a busy
    /// registry cannot keep a backup from ever finishing.
    func backup(
        into destination: SQLiteDatabase, pagesPerStep: Int32 = 1024, busyPauseMicroseconds: UInt32 = 10_000, timeoutSeconds: Int64 = 600,
        restartLimit: Int = 5
    ) throws(StorageError) {
        guard let backup = sqlite3_backup_init(destination.handle, "main", handle, "main") else {
            throw destination.error(sqlite3_errcode(destination.handle), "backup init")
        }
        let deadline = StorageStatistics.monotonicSeconds() + Double(timeoutSeconds)
        var pages = pagesPerStep
        var restarts = 0
        var lastRemaining = Int32.max
        while true {
            let result = sqlite3_backup_step(backup, pages)
            switch result {
            case SQLITE_DONE:
                let finished = sqlite3_backup_finish(backup)
                guard finished == SQLITE_OK else { throw destination.error(finished, "backup finish") }
                return
            case SQLITE_OK:
                let remaining = sqlite3_backup_remaining(backup)
                if remaining > lastRemaining {
                    restarts += 1
                    if restarts >= restartLimit { pages = -1 }
                }
                lastRemaining = remaining
            case SQLITE_BUSY, SQLITE_LOCKED:
                guard StorageStatistics.monotonicSeconds() < deadline else {
                    sqlite3_backup_finish(backup)
                    throw StorageError(code: result, message: "the source stayed locked for \(timeoutSeconds) s", statement: "backup step")
                }
                usleep(busyPauseMicroseconds)
            default:
                // The code's own text: after a failed step the connections' messages may describe something else.
                let message = String(cString: sqlite3_errstr(result))
                sqlite3_backup_finish(backup)
                throw StorageError(code: result, message: message, statement: "backup step")
            }
        }
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    private func error(_ code: Int32, _ sql: String) -> StorageError {
        StorageError(code: code, message: String(cString: sqlite3_errmsg(handle)), statement: sql)
    }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws(StorageError) {
        var message: UnsafeMutablePointer<CChar>?
        let result = sqlite3_exec(handle, sql, nil, nil, &message)
        if result != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw StorageError(code: result, message: text, statement: sql)
        }
    }

    /// A value bound to a `?` parameter.
    enum Value: Sendable {
        case integer(Int64)
        case text(String)
        case null
    }

    private func prepared(_ sql: String) throws(StorageError) -> OpaquePointer {
        if let statement = statements[sql] {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
            return statement
        }
        var statement: OpaquePointer?
        let result = sql.utf8CString.withUnsafeBufferPointer { text in
            sqlite3_prepare_v2(handle, text.baseAddress, Int32(text.count), &statement, nil)
        }
        guard result == SQLITE_OK, let statement else { throw error(result, sql) }
        statements[sql] = statement
        return statement
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private func bind(_ values: [Value], to statement: OpaquePointer, sql: String) throws(StorageError) {
        for (index, value) in values.enumerated() {
            let position = Int32(index + 1)
            let result: Int32
            switch value {
            case .integer(let number): result = sqlite3_bind_int64(statement, position, number)
            case .text(let text): result = SQLiteDatabase.bindText(text, to: statement, at: position)
            case .null: result = sqlite3_bind_null(statement, position)
            }
            guard result == SQLITE_OK else { throw error(result, sql) }
        }
    }

    /// Binds text with its explicit byte length, so an embedded NUL does not cut it.
    private static func bindText(_ text: String, to statement: OpaquePointer, at position: Int32) -> Int32 {
        var copy = text
        return copy.withUTF8 { bytes in
            // An empty buffer may have no base address, which SQLite would bind as NULL.
            guard let base = bytes.baseAddress, !bytes.isEmpty else {
                return sqlite3_bind_text(statement, position, "", 0, SQLiteDatabase.transient)
            }
            return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { pointer in
                sqlite3_bind_text(statement, position, pointer, Int32(bytes.count), SQLiteDatabase.transient)
            }
        }
    }

    /// Adds a column to an existing table unless it is there (upgrading a database an older release
    /// wrote: new columns get their default on every existing row).
    func addColumnIfMissing(table: String, column: String, definition: String) throws(StorageError) {
        var exists = false
        try query("SELECT 1 FROM pragma_table_info(?) WHERE name = ?", [.text(table), .text(column)]) { _ in exists = true }
        if !exists { try execute("ALTER TABLE \(table) ADD COLUMN \(column) \(definition)") }
    }

    /// Runs a statement that returns no rows.
    func run(_ sql: String, _ values: [Value] = []) throws(StorageError) {
        let statement = try prepared(sql)
        defer { sqlite3_reset(statement) }
        try bind(values, to: statement, sql: sql)
        let result = sqlite3_step(statement)
        guard result == SQLITE_DONE else { throw error(result, sql) }
    }

    /// One row of a query, read by column index.
    struct Row {
        fileprivate let statement: OpaquePointer

        func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

        /// The column's text, read with its byte length (an embedded NUL does not cut it).
        func text(_ column: Int32) -> String {
            guard let pointer = sqlite3_column_text(statement, column) else { return "" }
            let count = Int(sqlite3_column_bytes(statement, column))
            return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
        }

        func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
    }

    /// Runs a query, calling `body` for each row.
    func query(_ sql: String, _ values: [Value] = [], _ body: (Row) -> Void) throws(StorageError) {
        let statement = try prepared(sql)
        defer { sqlite3_reset(statement) }
        try bind(values, to: statement, sql: sql)
        while true {
            let result = sqlite3_step(statement)
            if result == SQLITE_DONE { return }
            guard result == SQLITE_ROW else { throw error(result, sql) }
            body(Row(statement: statement))
        }
    }

    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}
