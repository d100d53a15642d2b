import AvroCodec
import PostgresClient
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The registry in one PostgreSQL database shared by any number of registry processes.
///
/// Every process keeps the whole state in memory and answers reads from it. A decision runs in one
/// database transaction: it takes advisory locks (the global scope shared, or exclusive for global
/// config and mode; its subject exclusive; subjects it references shared; the content's identity
/// exclusive), reads those scopes' committed state into memory (a scope's `generation` says which copy
/// is newer), runs the rule on memory, writes the changes, bumps the scope's generation, sends a
/// `NOTIFY`, and commits; memory applies the changes only then. So a rule always sees the committed
/// state of what it decides on, whatever this process has heard so far.
///
/// Ids come from a sequence (no hot counter row): a rollback leaves a gap, never a reuse. The content's
/// lock makes concurrent registrations of one schema on several nodes wait for each other and find one id.
///
/// Other processes' changes arrive by `LISTEN`: the payload names the scope, which is read again. After
/// the listening connection is lost, everything is read again (notifications sent meanwhile are lost).
final class PostgresStore: RegistryStore {
    static let channel = "schema_registry"
    /// Version of the tables below; a later release that changes them migrates from this number.
    static let tablesVersion = 1
    /// Advisory lock keys: the global scope is one constant, names go through `hashtextextended`.
    static let globalLockKey = 0x5347_5245_4749_5354
    /// Connections kept open for decisions when idle.
    static let idleConnections = 16

    let clusterID: String
    private let uri: String
    private let idle = Mutex<[PostgresConnection]>([])
    private let reachable = Atomic<Bool>(true)
    private let stopped = Atomic<Bool>(false)
    /// By-id misses go to the database one at a time, so a flood of unknown ids is one query at a time.
    private let misses = Mutex<Int>(0)

    var kind: String { "postgresql" }
    var isReachable: Bool { reachable.load(ordering: .relaxed) }

    /// Connects, creates the tables when this is the first process to start on the database, and
    /// checks that no newer release has changed them.
    init(uri: String) throws(RegistryError) {
        self.uri = uri
        do {
            let connection = try PostgresStore.connect(uri)
            let encoding = try connection.query("SHOW server_encoding").first?.first ?? nil
            guard encoding == "UTF8" else {
                throw RegistryError.storage("the database's encoding is \(encoding ?? "unknown"); the registry needs a UTF8 database")
            }
            // The session lock is taken and released in statements of their own: a multi-statement query is
            // one transaction, and releasing the lock inside it would let the next node in before the commit.
            try connection.execute("SELECT pg_advisory_lock(\(PostgresStore.globalLockKey - 1))")
            defer { try? connection.execute("SELECT pg_advisory_unlock(\(PostgresStore.globalLockKey - 1))") }
            try connection.execute(
                """
                CREATE TABLE IF NOT EXISTS registry_meta(key TEXT PRIMARY KEY, value BIGINT NOT NULL);
                CREATE TABLE IF NOT EXISTS registry_schemas(
                  id INTEGER PRIMARY KEY, hash TEXT NOT NULL, schema TEXT NOT NULL, refs TEXT NOT NULL,
                  format INTEGER NOT NULL, contract TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS registry_schemas_hash ON registry_schemas(hash);
                CREATE TABLE IF NOT EXISTS registry_schema_refs(
                  schema_id INTEGER NOT NULL REFERENCES registry_schemas(id), subject TEXT NOT NULL, version INTEGER NOT NULL);
                CREATE INDEX IF NOT EXISTS registry_schema_refs_target ON registry_schema_refs(subject, version);
                CREATE TABLE IF NOT EXISTS registry_scopes(
                  scope TEXT PRIMARY KEY, generation BIGINT NOT NULL, config_level TEXT, config_settings TEXT, mode TEXT);
                CREATE TABLE IF NOT EXISTS registry_versions(
                  subject TEXT NOT NULL, version INTEGER NOT NULL, schema_id INTEGER NOT NULL REFERENCES registry_schemas(id),
                  deleted BOOLEAN NOT NULL, ts BIGINT NOT NULL, PRIMARY KEY(subject, version));
                CREATE INDEX IF NOT EXISTS registry_versions_schema ON registry_versions(schema_id);
                CREATE SEQUENCE IF NOT EXISTS registry_schema_ids AS INTEGER MAXVALUE 2147483647;
                INSERT INTO registry_meta(key, value) VALUES('tables_version', \(PostgresStore.tablesVersion)) ON CONFLICT DO NOTHING;
                INSERT INTO registry_meta(key, value) VALUES('cluster_id', \(Int64.random(in: 1...Int64.max))) ON CONFLICT DO NOTHING;
                """)
            let meta = try connection.query("SELECT key, value FROM registry_meta")
            var values: [String: Int64] = [:]
            for row in meta { if let key = row[0], let value = row[1].flatMap({ Int64($0) }) { values[key] = value } }
            if let version = values["tables_version"], version > Int64(PostgresStore.tablesVersion) {
                throw RegistryError.storage("the database's tables are version \(version), written by a newer release; this one knows version \(PostgresStore.tablesVersion)")
            }
            clusterID = String(UInt64(values["cluster_id"] ?? 0), radix: 16)
            idle.withLock { $0.append(connection) }
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .storage("cannot open the PostgreSQL database: \(PostgresStore.describe(error))")
        }
    }

    /// A new connection with the registry's settings: bounded waits everywhere, so a write fails within
    /// seconds rather than hanging when the database is gone.
    private static func connect(_ uri: String, name: String = "schema-registry") throws -> PostgresConnection {
        try PostgresConnection(
            conninfo: uri, replication: false,
            options: "-c statement_timeout=8000 -c lock_timeout=8000 -c idle_in_transaction_session_timeout=60000",
            settings: [
                ("connect_timeout", "5"), ("client_encoding", "UTF8"), ("application_name", name),
                ("keepalives_idle", "5"), ("keepalives_interval", "2"), ("keepalives_count", "2"), ("tcp_user_timeout", "8000"),
            ])
    }

    /// A PostgreSQL error for a client: the message, not the statement (which may hold request text).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PostgresError {
            return error.sqlState.map { "PostgreSQL error \($0): \(error.message)" } ?? "PostgreSQL: \(error.message)"
        }
        if let error = error as? RegistryError { return error.message }
        return String(describing: error)
    }

    func close() {
        stopped.store(true, ordering: .relaxed)
    }

    // MARK: Connections

    private func checkout() throws -> PostgresConnection {
        if let connection = idle.withLock({ $0.popLast() }) {
            if !connection.isBroken { return connection }
        }
        do {
            return try PostgresStore.connect(uri)
        } catch {
            reachable.store(false, ordering: .relaxed)
            throw error
        }
    }

    private func checkin(_ connection: PostgresConnection) {
        guard !connection.isBroken else { return }
        idle.withLock { if $0.count < PostgresStore.idleConnections { $0.append(connection) } }
    }

    /// Runs `body` on a pooled connection in a transaction it commits itself; rolls back on failure.
    private func inTransaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let connection = try checkout()
        do {
            try connection.execute("BEGIN")
            let value = try body(connection)
            checkin(connection)
            return value
        } catch {
            if !connection.isBroken, (try? connection.execute("ROLLBACK")) != nil { checkin(connection) }
            throw error
        }
    }

    // MARK: Loading

    func loadSnapshot() throws(RegistryError) -> RegistrySnapshot {
        do {
            let connection = try checkout()
            defer { checkin(connection) }
            let (scopes, schemas) = try readEverything(connection, known: [])
            var snapshot = RegistrySnapshot()
            snapshot.schemas = schemas
            for scope in scopes {
                snapshot.generations[scope.scope] = scope.generation
                if !scope.versions.isEmpty { snapshot.subjects[scope.scope] = scope.versions }
                if let config = scope.config { snapshot.configs[scope.scope] = config }
                if let mode = scope.mode { snapshot.modes[scope.scope] = mode }
            }
            return snapshot
        } catch {
            throw .storage(PostgresStore.describe(error))
        }
    }

    /// Every scope and the schemas not in `known`, read in one consistent snapshot.
    private func readEverything(_ connection: PostgresConnection, known: Set<Int>) throws -> ([ScopeState], [StoredSchema]) {
        try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        do {
            let result = try readEverythingInTransaction(connection, known: known)
            try connection.execute("COMMIT")
            return result
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    private func readEverythingInTransaction(_ connection: PostgresConnection, known: Set<Int>) throws -> ([ScopeState], [StoredSchema]) {
        var scopes: [String: ScopeState] = [:]
        for row in try connection.query("SELECT scope, generation, config_level, config_settings, mode FROM registry_scopes", []) {
            let scope = row[0] ?? ""
            scopes[scope] = ScopeState(
                scope: scope, generation: Int64(row[1] ?? "") ?? 0, versions: [], config: PostgresStore.config(level: row[2], settings: row[3]),
                mode: row[4].flatMap(RegistryMode.init(rawValue:)))
        }
        for row in try connection.query("SELECT subject, version, schema_id, deleted, ts FROM registry_versions ORDER BY subject, version", []) {
            guard let subject = row[0], let entry = PostgresStore.version(row, from: 1) else { continue }
            scopes[subject, default: ScopeState(scope: subject, generation: 0, versions: [])].versions.append(entry)
        }
        var missing: [Int] = []
        for row in try connection.query("SELECT id FROM registry_schemas", []) {
            if let id = row[0].flatMap({ Int($0) }), !known.contains(id) { missing.append(id) }
        }
        return (Array(scopes.values), try readSchemas(missing, connection))
    }

    private static func config(level: String?, settings: String?) -> SubjectConfig? {
        guard let settings else { return nil }
        return SubjectConfig(level: CompatibilityLevel(rawValue: level ?? ""), storedSettings: settings)
    }

    /// A version from columns version, schema_id, deleted, ts starting at `first`.
    private static func version(_ row: [String?], from first: Int) -> SchemaRegistry.SubjectVersion? {
        guard let version = row[first].flatMap({ Int($0) }), let id = row[first + 1].flatMap({ Int($0) }) else { return nil }
        return SchemaRegistry.SubjectVersion(version: version, id: id, isDeleted: row[first + 2] == "t", timestamp: Int64(row[first + 3] ?? "") ?? 0)
    }

    private func readSchemas(_ ids: [Int], _ connection: PostgresConnection) throws -> [StoredSchema] {
        guard !ids.isEmpty else { return [] }
        let list = "{" + ids.map(String.init).joined(separator: ",") + "}"
        return try connection.query("SELECT id, hash, schema, refs, format, contract FROM registry_schemas WHERE id = ANY($1::int[])", [list]).compactMap { row in
            guard let id = row[0].flatMap({ Int($0) }) else { return nil }
            return StoredSchema(
                id: id, schema: row[2] ?? "", references: SchemaRegistry.decodeReferences(row[3] ?? ""),
                contract: DataContract(storedText: row[5] ?? ""), hash: row[1] ?? "",
                format: StoredFormat(rawValue: Int(row[4] ?? "") ?? 1) ?? .canonical)
        }
    }

    /// PostgreSQL's array literal for text values: every element quoted, `"` and `\` escaped.
    static func textArray(_ values: [String]) -> String {
        "{" + values.map { value in
            var quoted = "\""
            for character in value {
                if character == "\"" || character == "\\" { quoted.append("\\") }
                quoted.append(character)
            }
            return quoted + "\""
        }.joined(separator: ",") + "}"
    }

    /// Reads the committed state of `scopes` (one statement, so one snapshot) and takes it into memory
    /// where it is newer, with any schema it uses that memory lacks (and, for those, the subjects their
    /// references point at).
    private func refresh(_ scopes: [String], _ connection: PostgresConnection, _ registry: SchemaRegistry, depth: Int = 0) throws {
        let names = scopes.uniqued()
        guard !names.isEmpty else { return }
        var states: [String: ScopeState] = [:]
        let rows = try connection.query(
            """
            SELECT q.scope, s.generation, s.config_level, s.config_settings, s.mode, v.version, v.schema_id, v.deleted, v.ts
            FROM unnest($1::text[]) AS q(scope)
            LEFT JOIN registry_scopes s ON s.scope = q.scope
            LEFT JOIN registry_versions v ON v.subject = q.scope
            ORDER BY q.scope, v.version
            """, [PostgresStore.textArray(names)])
        for row in rows {
            guard let scope = row[0], let generation = row[1].flatMap({ Int64($0) }) else { continue }
            if states[scope] == nil {
                states[scope] = ScopeState(
                    scope: scope, generation: generation, versions: [], config: PostgresStore.config(level: row[2], settings: row[3]),
                    mode: row[4].flatMap(RegistryMode.init(rawValue:)))
            }
            if let entry = PostgresStore.version(row, from: 5) { states[scope]?.versions.append(entry) }
        }
        try takeIn(Array(states.values), [], connection, registry, depth: depth)
    }

    /// Takes scope states into memory, with the schemas they use that memory lacks and (for those)
    /// the subjects their references point at.
    private func takeIn(_ states: [ScopeState], _ schemas: [StoredSchema], _ connection: PostgresConnection, _ registry: SchemaRegistry, depth: Int) throws {
        let used = Set(states.flatMap { $0.versions.map(\.id) })
        let given = Set(schemas.map(\.id))
        let missing = registry.state.withLock { state in used.filter { state.schemas[$0] == nil && !given.contains($0) } }
        let loaded = schemas + (try readSchemas(Array(missing), connection))
        let unresolved: [String] = registry.state.withLock { state in
            for stored in loaded where state.schemas[stored.id] == nil {
                state.schemas[stored.id] = stored
                state.maximumID = max(state.maximumID, stored.id)
            }
            for scope in states { state.takeOver(scope) }
            return loaded.flatMap(\.references).filter { state.referencedEntry($0) == nil }.map(\.subject)
        }
        if !unresolved.isEmpty, depth < SchemaRegistry.maximumReferenceDepth {
            try refresh(unresolved, connection, registry, depth: depth + 1)
        }
    }

    // MARK: Deciding

    func perform<Value>(_ decision: Decision<Value>, on registry: SchemaRegistry) throws(RegistryError) -> Value {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try inTransaction { connection in try decide(decision, registry, connection) }
            } catch let error as RegistryError {
                throw error
            } catch let error as CommitUnknown {
                throw .storage("the commit's outcome is unknown (\(PostgresStore.describe(error.cause))); retry the request")
            } catch let error as PostgresError {
                // A race another node won (the same id or version), a deadlock between lock orders, or a
                // connection lost before the commit: nothing was written, so run the decision again.
                // A lost connection is tried once more only, so that an outage fails fast.
                let raced = ["23505", "40P01", "40001"].contains(error.sqlState ?? "")
                let lost = error.sqlState == nil || error.sqlState == "57P01"
                // Idle connections opened before a loss are likely dead too: drop them all.
                if lost { idle.withLock { $0.removeAll() } }
                if (raced && attempt < 5) || (lost && attempt < 2) { continue }
                if error.sqlState == "2200H" { throw .invalidIdentifier("Every schema id up to 2^31-1 is used; no new schema can be registered") }
                throw .storage(PostgresStore.describe(error))
            } catch {
                throw .storage(PostgresStore.describe(error))
            }
        }
    }

    private struct CommitUnknown: Error {
        let cause: any Error
    }

    private func lock(_ name: String, shared: Bool, _ connection: PostgresConnection) throws {
        let function = shared ? "pg_advisory_xact_lock_shared" : "pg_advisory_xact_lock"
        _ = try connection.query("SELECT \(function)(hashtextextended($1, 0))", ["schema-registry:" + name])
    }

    private func decide<Value>(_ decision: Decision<Value>, _ registry: SchemaRegistry, _ connection: PostgresConnection) throws -> Value {
        let global = SchemaRegistry.globalScope
        let scope = decision.subject ?? global
        // Lock order: global, the subject, referenced subjects by name, the content: the same in every
        // decision, so two decisions never wait for each other in a cycle (PostgreSQL would detect one
        // and the retry above would run the loser again).
        _ = try connection.query(
            "SELECT \(decision.subject == nil ? "pg_advisory_xact_lock" : "pg_advisory_xact_lock_shared")(\(PostgresStore.globalLockKey))", [])
        var scopes = [global]
        if let subject = decision.subject {
            try lock("subject:" + subject, shared: false, connection)
            scopes.append(subject)
            for other in decision.readSubjects.uniqued().sorted() where other != subject {
                try lock("subject:" + other, shared: true, connection)
                scopes.append(other)
            }
            // Whoever references this subject (a delete must refuse; a registration supersedes with care).
            let referrers = try connection.query(
                "SELECT DISTINCT v.subject FROM registry_schema_refs r JOIN registry_versions v ON v.schema_id = r.schema_id WHERE r.subject = $1",
                [subject])
            scopes += referrers.compactMap { $0[0] }
        }
        if decision.readsAllSubjects {
            let known = registry.state.withLock { Set($0.schemas.keys) }
            let (states, schemas) = try readEverythingInTransaction(connection, known: known)
            try takeIn(states, schemas, connection, registry, depth: 0)
        } else {
            try refresh(scopes, connection, registry)
        }
        if let identity = decision.identity {
            let hash = registry.state.withLock { identity(&$0) }
            try lock("content:" + hash, shared: false, connection)
            let holders = try connection.query(
                "SELECT DISTINCT v.subject FROM registry_schemas s JOIN registry_versions v ON v.schema_id = s.id WHERE s.hash = $1", [hash])
            try refresh(holders.compactMap { $0[0] }, connection, registry)
        }
        if let id = decision.explicitID {
            try lock("id:\(id)", shared: false, connection)
            let schema = try readSchemas([id], connection)
            let holders = try connection.query("SELECT DISTINCT subject FROM registry_versions WHERE schema_id = $1", [String(id)])
            try takeIn([], schema, connection, registry, depth: 0)
            try refresh(holders.compactMap { $0[0] }, connection, registry)
        }
        let before = registry.state.withLock { $0.generations[scope] ?? 0 }
        var ids = IDSource.onRequest
        var outcome: (Value, [RegistryChange])?
        while outcome == nil {
            let result: Result<(Value, [RegistryChange]), RegistryError> = registry.state.withLock { state in
                do throws(RegistryError) {
                    return .success(try decision.rule(&state, ids))
                } catch {
                    return .failure(error)
                }
            }
            switch result {
            case .success(let decided): outcome = decided
            case .failure(.newIdentifierNeeded):
                if case .reserved = ids { throw RegistryError.storage("the rule asked for a second new id") }
                ids = .reserved(try reserveID(connection))
            case .failure(let error): throw error
            }
        }
        guard let (value, changes) = outcome else { throw RegistryError.storage("no decision") }
        guard !changes.isEmpty else {
            try connection.execute("COMMIT")
            return value
        }
        for change in changes { try write(change, connection) }
        let bumped = try connection.query(
            """
            INSERT INTO registry_scopes(scope, generation) VALUES($1, 1)
            ON CONFLICT(scope) DO UPDATE SET generation = registry_scopes.generation + 1 RETURNING generation
            """, [scope])
        guard let generation = bumped.first?[0].flatMap({ Int64($0) }) else { throw RegistryError.storage("no generation returned") }
        // A payload is at most 8000 bytes: a longer subject name is announced as "everything".
        _ = try connection.query("SELECT pg_notify($1, $2)", [PostgresStore.channel, scope.utf8.count < 7900 ? scope : ""])
        do {
            try connection.execute("COMMIT")
        } catch {
            throw CommitUnknown(cause: error)
        }
        let applied = registry.state.withLock { state in
            guard (state.generations[scope] ?? 0) == before else { return false }
            state.apply(changes)
            state.generations[scope] = generation
            decision.afterApply?(&state, value)
            return true
        }
        // Memory moved on meanwhile (the notification came first): read the scope as committed.
        if !applied { try? refresh([scope], connection, registry) }
        return value
    }

    /// A new id from the sequence, skipping any an IMPORT has taken explicitly.
    private func reserveID(_ connection: PostgresConnection) throws -> Int {
        for _ in 0..<10_000 {
            let rows = try connection.query(
                "SELECT n.id FROM (SELECT nextval('registry_schema_ids') AS id) n WHERE NOT EXISTS (SELECT 1 FROM registry_schemas s WHERE s.id = n.id)", [])
            if let id = rows.first?[0].flatMap({ Int($0) }) { return id }
        }
        throw RegistryError.storage("no free schema id found")
    }

    private func write(_ change: RegistryChange, _ connection: PostgresConnection) throws {
        switch change {
        case .addSchema(let stored):
            _ = try connection.query(
                "INSERT INTO registry_schemas(id, hash, schema, refs, format, contract) VALUES($1, $2, $3, $4, $5, $6)",
                [
                    String(stored.id), stored.hash, stored.schema, SchemaRegistry.encodeReferences(stored.references), String(stored.format.rawValue),
                    stored.contract.storedText,
                ])
            for reference in stored.references {
                _ = try connection.query(
                    "INSERT INTO registry_schema_refs(schema_id, subject, version) VALUES($1, $2, $3)",
                    [String(stored.id), reference.subject, String(reference.version)])
            }
            // An explicit id (IMPORT) above the sequence moves it on, so no later id collides.
            _ = try connection.query(
                "SELECT setval('registry_schema_ids', $1::int) WHERE $1::int > (SELECT last_value FROM registry_schema_ids)", [String(stored.id)])
        case .addVersion(let subject, let entry):
            _ = try connection.query(
                "INSERT INTO registry_versions(subject, version, schema_id, deleted, ts) VALUES($1, $2, $3, false, $4)",
                [subject, String(entry.version), String(entry.id), String(entry.timestamp)])
        case .removeVersions(let subject, let versions, let dropsSubject):
            for version in versions {
                _ = try connection.query("DELETE FROM registry_versions WHERE subject = $1 AND version = $2", [subject, String(version)])
            }
            if dropsSubject {
                _ = try connection.query("UPDATE registry_scopes SET config_level = NULL, config_settings = NULL, mode = NULL WHERE scope = $1", [subject])
            }
        case .softDelete(let subject, let versions):
            for version in versions {
                _ = try connection.query("UPDATE registry_versions SET deleted = true WHERE subject = $1 AND version = $2", [subject, String(version)])
            }
        case .setConfig(let scope, let config):
            _ = try connection.query(
                """
                INSERT INTO registry_scopes(scope, generation, config_level, config_settings) VALUES($1, 0, $2, $3)
                ON CONFLICT(scope) DO UPDATE SET config_level = excluded.config_level, config_settings = excluded.config_settings
                """, [scope, config.map { $0.level?.rawValue ?? "" }, config?.storedSettings])
        case .setMode(let scope, let mode):
            _ = try connection.query(
                "INSERT INTO registry_scopes(scope, generation, mode) VALUES($1, 0, $2) ON CONFLICT(scope) DO UPDATE SET mode = excluded.mode",
                [scope, mode?.rawValue])
        }
    }

    // MARK: Misses and the feed

    func fetchMissing(id: Int, into registry: SchemaRegistry) throws(RegistryError) -> Bool {
        do {
            return try misses.withLock { _ in
                let connection = try checkout()
                defer { checkin(connection) }
                let holders = try connection.query("SELECT DISTINCT subject FROM registry_versions WHERE schema_id = $1", [String(id)])
                guard !holders.isEmpty else { return false }
                try refresh(holders.compactMap { $0[0] }, connection, registry)
                return true
            }
        } catch {
            throw .storage(PostgresStore.describe(error))
        }
    }

    func startFollowing(_ registry: SchemaRegistry) {
        let body: @Sendable () -> Void = { [weak registry, self] in
            self.follow { registry }
        }
        spawnThread(body)
    }

    /// The feed: listens, reads again what others changed, and after any loss of the connection reads
    /// everything again. Runs until `close()` or until the registry is gone.
    private func follow(_ registry: () -> SchemaRegistry?) {
        while !stopped.load(ordering: .relaxed) {
            do {
                let connection = try PostgresStore.connect(uri, name: "schema-registry-feed")
                try connection.execute("LISTEN \(PostgresStore.channel)")
                // Listening first, then reading everything: a change committed in between is both read and
                // announced, never missed.
                guard let first = registry() else { return }
                try readAll(connection, first)
                reachable.store(true, ordering: .relaxed)
                var quiet = 0
                while !stopped.load(ordering: .relaxed) {
                    let notes = try connection.notifications(timeout: .milliseconds(250))
                    guard let current = registry() else { return }
                    if notes.isEmpty {
                        quiet += 1
                        // A probe every 2 s without news: a connection that died quietly is noticed.
                        if quiet % 8 == 0 { _ = try connection.query("SELECT 1") }
                        continue
                    }
                    quiet = 0
                    let scopes = notes.map(\.payload)
                    if scopes.contains("") { try readAll(connection, current) } else { try refresh(scopes, connection, current) }
                }
            } catch {
                reachable.store(false, ordering: .relaxed)
                usleep(250_000)
            }
        }
    }

    private func readAll(_ connection: PostgresConnection, _ registry: SchemaRegistry) throws {
        let known = registry.state.withLock { Set($0.schemas.keys) }
        let (states, schemas) = try readEverything(connection, known: known)
        try takeIn(states, schemas, connection, registry, depth: 0)
    }
}

/// Runs `body` on a new detached thread.
private func spawnThread(_ body: @escaping @Sendable () -> Void) {
    final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        guard let raw else { return nil }
        Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body()
        return nil
    }, box)
    if result == 0 { pthread_detach(thread) } else { Unmanaged<Box>.fromOpaque(box).release() }
}
