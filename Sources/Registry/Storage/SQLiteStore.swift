import AvroCodec

/// The registry in one SQLite file, for one process.
///
/// Memory is the committed state: a decision runs under the state lock on memory, its changes go to
/// memory at once and to the journal. A registration is answered only after the journal's group
/// commit has made its rows durable (`Journal.waitUntilDurable`), so an id handed out is durable;
/// config, mode and delete writes commit synchronously under the lock, before memory changes.
/// Concurrent registrations of the same schema yield one id because the lock serializes them.
final class SQLiteStore: RegistryStore {
    let journal: Journal
    private let database: SQLiteDatabase
    let clusterID: String
    let statistics = StorageStatistics()

    /// Opens (creating if needed) the database at `path`. Databases written by earlier releases are
    /// upgraded in place (new columns only; nothing is renumbered or rewritten).
    init(path: String, busyTimeoutMilliseconds: Int32 = 5_000) throws(StorageError) {
        let database = try SQLiteDatabase(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS schemas(
              id INTEGER PRIMARY KEY, hash TEXT NOT NULL, schema TEXT NOT NULL, refs TEXT NOT NULL DEFAULT '');
            CREATE TABLE IF NOT EXISTS versions(
              subject TEXT NOT NULL, version INTEGER NOT NULL, schema_id INTEGER NOT NULL REFERENCES schemas(id),
              deleted INTEGER NOT NULL DEFAULT 0, ts INTEGER NOT NULL, PRIMARY KEY(subject, version));
            CREATE TABLE IF NOT EXISTS config(scope TEXT PRIMARY KEY, level TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS mode(scope TEXT PRIMARY KEY, mode TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            """)
        // Step 5 columns: how the text was written (0 = the old normalized form), the data contract,
        // and the config fields besides the level.
        try database.addColumnIfMissing(table: "schemas", column: "format", definition: "INTEGER NOT NULL DEFAULT 0")
        try database.addColumnIfMissing(table: "schemas", column: "contract", definition: "TEXT NOT NULL DEFAULT ''")
        try database.addColumnIfMissing(table: "config", column: "settings", definition: "TEXT NOT NULL DEFAULT ''")
        var cluster: Int64?
        try database.query("SELECT value FROM meta WHERE key = 'cluster_id'") { row in cluster = row.integer(0) }
        if cluster == nil {
            let made = Int64.random(in: 1...Int64.max)
            try database.run("INSERT INTO meta(key, value) VALUES('cluster_id', ?)", [.integer(made)])
            cluster = made
        }
        clusterID = String(UInt64(cluster ?? 0), radix: 16)
        self.database = database
        journal = Journal(database: database, statistics: statistics)
    }

    var kind: String { "sqlite" }
    var isReachable: Bool { journal.failure == nil }
    func startFollowing(_ registry: SchemaRegistry) {}
    func close() {}
    func fetchMissing(id: Int, into registry: SchemaRegistry) throws(RegistryError) -> Bool { false }
    func refresh(subjects: [String], into registry: SchemaRegistry) throws(RegistryError) {}

    func loadSnapshot() throws(RegistryError) -> RegistrySnapshot {
        do {
            return try readSnapshot()
        } catch {
            throw .storage(String(describing: error))
        }
    }

    private func readSnapshot() throws(StorageError) -> RegistrySnapshot {
        var snapshot = RegistrySnapshot()
        try database.query("SELECT id, hash, schema, refs, format, contract FROM schemas") { row in
            let format = StoredFormat(rawValue: Int(row.integer(4))) ?? .canonical
            snapshot.schemas.append(
                StoredSchema(
                    id: Int(row.integer(0)), schema: row.text(2), references: SchemaRegistry.decodeReferences(row.text(3)),
                    contract: DataContract(storedText: row.text(5)), hash: row.text(1), format: format))
        }
        try database.query("SELECT value FROM meta WHERE key = 'maximum_id'") { row in snapshot.maximumID = Int(row.integer(0)) }
        try database.query("SELECT subject, version, schema_id, deleted, ts FROM versions ORDER BY subject, version") { row in
            let entry = SchemaRegistry.SubjectVersion(
                version: Int(row.integer(1)), id: Int(row.integer(2)), isDeleted: row.integer(3) != 0, timestamp: row.integer(4))
            snapshot.subjects[row.text(0), default: []].append(entry)
        }
        try database.query("SELECT scope, level, settings FROM config") { row in
            snapshot.configs[row.text(0)] = SubjectConfig(level: CompatibilityLevel(rawValue: row.text(1)), storedSettings: row.text(2))
        }
        try database.query("SELECT scope, mode FROM mode") { row in
            if let mode = RegistryMode(rawValue: row.text(1)) { snapshot.modes[row.text(0)] = mode }
        }
        return snapshot
    }

    func perform<Value>(_ decision: Decision<Value>, on registry: SchemaRegistry) throws(RegistryError) -> Value {
        let outcome: Result<(Value, Int?), RegistryError> = registry.state.withLock { state in
            do throws(RegistryError) {
                let (value, changes) = try decision.rule(&state, .afterMaximum)
                let operations = changes.flatMap(SQLiteStore.operations)
                if decision.groupCommit {
                    // Memory changes now, so the next registration sees this one; the caller is answered
                    // once the journal has made it durable. An existing version is answered too only once
                    // everything queued (which the answer may rest on) is durable.
                    let ticket = operations.isEmpty ? journal.lastTicket : journal.enqueue(operations)
                    state.apply(changes)
                    if !changes.isEmpty { decision.afterApply?(&state, value) }
                    return .success((value, ticket))
                }
                if !operations.isEmpty {
                    do {
                        try journal.writeNow(operations)
                    } catch {
                        throw .storage(String(describing: error))
                    }
                }
                state.apply(changes)
                if !changes.isEmpty { decision.afterApply?(&state, value) }
                return .success((value, nil))
            } catch {
                return .failure(error)
            }
        }
        let (value, ticket) = try outcome.get()
        if let ticket {
            do {
                try journal.waitUntilDurable(ticket)
            } catch {
                throw .storage(String(describing: error))
            }
        }
        return value
    }

    /// The statements that store one change.
    static func operations(for change: RegistryChange) -> [Journal.Operation] {
        switch change {
        case .addSchema(let stored):
            return [
                Journal.Operation(
                    sql: "INSERT INTO schemas(id, hash, schema, refs, format, contract) VALUES(?, ?, ?, ?, ?, ?)",
                    values: [
                        .integer(Int64(stored.id)), .text(stored.hash), .text(stored.schema), .text(SchemaRegistry.encodeReferences(stored.references)),
                        .integer(Int64(stored.format.rawValue)), .text(stored.contract.storedText),
                    ]),
                Journal.Operation(
                    sql: "INSERT INTO meta(key, value) VALUES('maximum_id', ?) ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
                    values: [.integer(Int64(stored.id))]),
            ]
        case .addVersion(let subject, let entry):
            return [
                Journal.Operation(
                    sql: "INSERT INTO versions(subject, version, schema_id, deleted, ts) VALUES(?, ?, ?, 0, ?)",
                    values: [.text(subject), .integer(Int64(entry.version)), .integer(Int64(entry.id)), .integer(entry.timestamp)])
            ]
        case .removeVersions(let subject, _, true):
            // Every version goes (a subject dropped for good), with the subject's config and mode.
            return [
                Journal.Operation(sql: "DELETE FROM versions WHERE subject = ?", values: [.text(subject)]),
                Journal.Operation(sql: "DELETE FROM config WHERE scope = ?", values: [.text(subject)]),
                Journal.Operation(sql: "DELETE FROM mode WHERE scope = ?", values: [.text(subject)]),
            ]
        case .removeVersions(let subject, let versions, false):
            return versions.map { version in
                Journal.Operation(sql: "DELETE FROM versions WHERE subject = ? AND version = ?", values: [.text(subject), .integer(Int64(version))])
            }
        case .softDelete(let subject, let versions):
            return versions.map { version in
                Journal.Operation(sql: "UPDATE versions SET deleted = 1 WHERE subject = ? AND version = ?", values: [.text(subject), .integer(Int64(version))])
            }
        case .setConfig(let scope, let config?):
            return [
                Journal.Operation(
                    sql: "INSERT INTO config(scope, level, settings) VALUES(?, ?, ?) ON CONFLICT(scope) DO UPDATE SET level = excluded.level, settings = excluded.settings",
                    values: [.text(scope), .text(config.level?.rawValue ?? ""), .text(config.storedSettings)])
            ]
        case .setConfig(let scope, nil):
            return [Journal.Operation(sql: "DELETE FROM config WHERE scope = ?", values: [.text(scope)])]
        case .setMode(let scope, let mode?):
            return [
                Journal.Operation(
                    sql: "INSERT INTO mode(scope, mode) VALUES(?, ?) ON CONFLICT(scope) DO UPDATE SET mode = excluded.mode",
                    values: [.text(scope), .text(mode.rawValue)])
            ]
        case .setMode(let scope, nil):
            return [Journal.Operation(sql: "DELETE FROM mode WHERE scope = ?", values: [.text(scope)])]
        }
    }
}
