import AvroCodec
import PostgresClient
import Synchronization
import Locking

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
    let statistics = StorageStatistics()
    private let uri: String
    private let idle = Locked<[PostgresConnection]>([])
    private let reachable = Atomic<Bool>(true)
    private let stopped = Atomic<Bool>(false)
    /// By-id misses go to the database one at a time, so a flood of unknown ids is one query at a time.
    private let misses = Locked<Int>(0)

    var kind: String { "postgresql" }
    var isReachable: Bool { reachable.load(ordering: .relaxed) }

    /// Connects, creates the tables when this is the first process to start on the database, checks that
    /// no newer release has changed them, and moves the id sequence past the highest id (a database
    /// copied or restored without its sequence would otherwise hand out ids that exist).
    init(uri: String) throws(RegistryError) {
        self.uri = uri
        do {
            let connection = try PostgresStore.connect(uri, prepares: false)
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
                SELECT setval('registry_schema_ids', m) FROM (SELECT max(id) AS m FROM registry_schemas) x
                  WHERE m > (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM registry_schema_ids);
                """)
            let meta = try connection.query("SELECT key, value FROM registry_meta")
            var values: [String: Int64] = [:]
            for row in meta { if let key = row[0], let value = row[1].flatMap({ Int64($0) }) { values[key] = value } }
            if let version = values["tables_version"], version > Int64(PostgresStore.tablesVersion) {
                throw RegistryError.storage("the database's tables are version \(version), written by a newer release; this one knows version \(PostgresStore.tablesVersion)")
            }
            clusterID = String(UInt64(bitPattern: values["cluster_id"] ?? 0), radix: 16)
            _ = try connection.batch(PostgresStore.preparedStatements)
            idle.withLock { $0.append(connection) }
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .storage("cannot open the PostgreSQL database: \(PostgresStore.describe(error))")
        }
    }

    /// A new connection with the registry's settings: bounded waits everywhere, so a write fails within
    /// seconds rather than hanging when the database is gone. The session settings are set after
    /// connecting rather than through `options`, which would replace a URI's own `options`.
    private static func connect(_ uri: String, name: String = "schema-registry", prepares: Bool = true) throws -> PostgresConnection {
        let connection: PostgresConnection
        do {
            connection = try PostgresConnection(
                conninfo: uri, replication: false,
                settings: [
                    ("connect_timeout", "3"), ("client_encoding", "UTF8"), ("application_name", name),
                    ("keepalives_idle", "3"), ("keepalives_interval", "1"), ("keepalives_count", "2"), ("tcp_user_timeout", "4000"),
                ])
        } catch {
            throw Unreachable(cause: error)
        }
        _ = try connection.batch(
            "SET statement_timeout = 5000; SET lock_timeout = 5000; SET idle_in_transaction_session_timeout = 60000; SET standard_conforming_strings = on")
        if prepares { _ = try connection.batch(PostgresStore.preparedStatements) }
        return connection
    }

    /// The statements every decision uses, prepared once per connection (planned once, not per request).
    /// The scope readers take the scopes' names and the highest schema id memory holds: schemas above it
    /// come with the versions, so a new one costs no second round trip.
    static let preparedStatements = [
        "PREPARE sr_scopes(text[], int) AS " + scopeStatesSQL("SELECT unnest($1)"),
        "PREPARE sr_scopes_and_referrers(text[], int, text) AS "
            + scopeStatesSQL(
                "SELECT unnest($1) UNION SELECT v.subject FROM registry_schema_refs r, "
                    + "LATERAL (SELECT subject FROM registry_versions WHERE schema_id = r.schema_id OFFSET 0) v WHERE r.subject = $3"),
        "PREPARE sr_holders(text, int) AS "
            + scopeStatesSQL(
                "SELECT DISTINCT v.subject FROM registry_schemas s, LATERAL (SELECT subject FROM registry_versions WHERE schema_id = s.id OFFSET 0) v "
                    + "WHERE s.hash = $1"),
        "PREPARE sr_lowest_id(text) AS SELECT min(s.id) FROM registry_schemas s WHERE s.hash = $1 AND EXISTS (SELECT 1 FROM registry_versions v WHERE v.schema_id = s.id)",
        "PREPARE sr_lock(text) AS SELECT pg_advisory_xact_lock(hashtextextended('schema-registry:' || $1, 0))",
        "PREPARE sr_lock_shared(text) AS SELECT pg_advisory_xact_lock_shared(hashtextextended('schema-registry:' || $1, 0))",
        "PREPARE sr_add_schema(int, text, text, text, int, text) AS INSERT INTO registry_schemas(id, hash, schema, refs, format, contract) VALUES($1, $2, $3, $4, $5, $6)",
        "PREPARE sr_add_reference(int, text, int) AS INSERT INTO registry_schema_refs(schema_id, subject, version) VALUES($1, $2, $3)",
        "PREPARE sr_add_version(text, int, int, bigint) AS INSERT INTO registry_versions(subject, version, schema_id, deleted, ts) VALUES($1, $2, $3, false, $4)",
        // The scope's next generation, announced with it ("7 orders-value"): a node that already holds it
        // (its own change) reads nothing again.
        "PREPARE sr_bump_and_notify(text, text) AS WITH b AS (INSERT INTO registry_scopes(scope, generation) VALUES($1, 1) "
            + "ON CONFLICT(scope) DO UPDATE SET generation = registry_scopes.generation + 1 RETURNING generation) "
            + "SELECT generation, pg_notify('\(channel)', generation || ' ' || $2) FROM b",
        "PREPARE sr_next_id AS SELECT n.id FROM (SELECT nextval('registry_schema_ids') AS id) n WHERE NOT EXISTS (SELECT 1 FROM registry_schemas s WHERE s.id = n.id)",
    ].joined(separator: "; ")

    /// No connection could be made: the database is unreachable (a session ended after connecting, say by
    /// `pg_terminate_backend`, is not).
    struct Unreachable: Error {
        let cause: PostgresError
    }

    /// A PostgreSQL error for a client: the message, not the statement (which may hold request text).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PostgresError {
            return error.sqlState.map { "PostgreSQL error \($0): \(error.message)" } ?? "PostgreSQL: \(error.message)"
        }
        if let error = error as? RegistryError { return error.message }
        if let error = error as? Unreachable { return describe(error.cause) }
        return String(describing: error)
    }

    func close() {
        stopped.store(true, ordering: .relaxed)
        idle.withLock { $0.removeAll() }
    }

    // MARK: Connections

    private func checkout() throws -> PostgresConnection {
        if let connection = idle.withLock({ $0.popLast() }) {
            if !connection.isBroken { return connection }
        }
        do {
            return try PostgresStore.connect(uri)
        } catch let error as Unreachable {
            reachable.store(false, ordering: .relaxed)
            throw error.cause
        }
    }

    private func checkin(_ connection: PostgresConnection) {
        guard !connection.isBroken, !stopped.load(ordering: .relaxed) else { return }
        idle.withLock { if $0.count < PostgresStore.idleConnections { $0.append(connection) } }
    }

    /// Runs `body` on a pooled connection; `body` begins and commits its transaction itself, and it is
    /// rolled back on failure.
    private func inTransaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let connection = try checkout()
        do {
            let value = try body(connection)  // which begins the transaction in its first round trip
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
        // A whole registry may take longer than the per-statement limit to read.
        try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = 0")
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
        return PostgresStore.schemas(try connection.query("SELECT id, hash, schema, refs, format, contract FROM registry_schemas WHERE id = ANY($1::int[])", [list]))
    }

    /// Schemas from rows of (id, hash, schema, refs, format, contract).
    private static func schemas(_ rows: [[String?]]) -> [StoredSchema] {
        rows.compactMap { row in
            guard let id = row[0].flatMap({ Int($0) }) else { return nil }
            return StoredSchema(
                id: id, schema: row[2] ?? "", references: SchemaRegistry.decodeReferences(row[3] ?? ""),
                contract: DataContract(storedText: row[5] ?? ""), hash: row[1] ?? "",
                format: StoredFormat(rawValue: Int(row[4] ?? "") ?? 1) ?? .canonical)
        }
    }

    /// The statement that reads the committed state of the scopes `scopes` (a subquery with one column)
    /// in one snapshot: each scope's generation, config and mode, its versions, and the schemas of those
    /// above id `$2`.
    private static func scopeStatesSQL(_ scopes: String) -> String {
        // Correlated subqueries (LATERAL … OFFSET 0, which the planner keeps as they are) make index
        // lookups per scope whatever the statistics say: a generic plan planned on a young table once
        // chose hash joins over whole tables, which cost more with every registration.
        """
        SELECT q.scope, s.generation, s.config_level, s.config_settings, s.mode, v.version, v.schema_id, v.deleted, v.ts,
               n.id, n.hash, n.schema, n.refs, n.format, n.contract
        FROM (\(scopes)) AS q(scope)
        LEFT JOIN LATERAL (SELECT * FROM registry_scopes WHERE scope = q.scope OFFSET 0) s ON true
        LEFT JOIN LATERAL (SELECT * FROM registry_versions WHERE subject = q.scope OFFSET 0) v ON true
        LEFT JOIN LATERAL (SELECT * FROM registry_schemas WHERE id = v.schema_id AND v.schema_id > $2 OFFSET 0) n ON true
        ORDER BY q.scope, v.version
        """
    }

    /// The scope states in rows of `scopeStatesSQL` (scopes never written are left out), and the
    /// schemas that came with them.
    private static func scopeStates(_ rows: [[String?]]) -> (states: [ScopeState], schemas: [StoredSchema]) {
        var states: [String: ScopeState] = [:]
        var order: [String] = []
        for row in rows {
            guard let scope = row[0], let generation = row[1].flatMap({ Int64($0) }) else { continue }
            if states[scope] == nil {
                order.append(scope)
                states[scope] = ScopeState(
                    scope: scope, generation: generation, versions: [], config: PostgresStore.config(level: row[2], settings: row[3]),
                    mode: row[4].flatMap(RegistryMode.init(rawValue:)))
            }
            if let entry = PostgresStore.version(row, from: 5) { states[scope]?.versions.append(entry) }
        }
        return (order.compactMap { states[$0] }, schemas(rows.filter { $0.count > 14 && $0[9] != nil }.map { Array($0[9...14]) }))
    }

    /// `'{"a","b"}'`: names as a text[] literal for a batch.
    private static func nameArray(_ names: [String]) throws -> String {
        // Per Unicode scalar, never per `Character`: a grapheme cluster can swallow a quote or backslash.
        let elements = names.map { name in
            var quoted = String.UnicodeScalarView()
            quoted.append("\"")
            for scalar in name.unicodeScalars {
                if scalar == "\"" || scalar == "\\" { quoted.append("\\") }
                quoted.append(scalar)
            }
            quoted.append("\"")
            return String(quoted)
        }
        return try literal("{" + elements.joined(separator: ",") + "}")
    }

    /// A text literal for a batch: single quotes doubled (`standard_conforming_strings` is on, so a
    /// backslash is an ordinary character). Text PostgreSQL cannot hold (a NUL) is refused.
    static func literal(_ text: String) throws -> String {
        guard !text.utf8.contains(0) else { throw RegistryError.invalidSchema("a value contains a NUL character, which the store cannot hold") }
        return PostgresConnection.quoteLiteral(text)
    }

    /// Reads the committed state of `scopes` and takes it into memory where it is newer.
    private func refresh(_ scopes: [String], _ connection: PostgresConnection, _ registry: SchemaRegistry, depth: Int = 0) throws {
        let names = scopes.uniqued()
        guard !names.isEmpty else { return }
        let known = registry.state.withLock { $0.maximumID }
        let rows = try connection.batch("EXECUTE sr_scopes(\(try PostgresStore.nameArray(names)), \(known))").last ?? []
        try takeIn(PostgresStore.scopeStates(rows), connection, registry, depth: depth)
    }

    private func takeIn(_ read: (states: [ScopeState], schemas: [StoredSchema]), _ connection: PostgresConnection, _ registry: SchemaRegistry, depth: Int) throws {
        try takeIn(read.states, read.schemas, connection, registry, depth: depth)
    }

    /// Takes scope states into memory, with the schemas they use that memory lacks (those not given are
    /// read) and, for those, the subjects their references point at.
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
        // While the database is gone, a registration memory already holds is answered from memory (a
        // producer starting up re-registers its schema; a SQLite node or a Confluent follower answers that
        // from memory too). Anything that would change something waits for the database.
        if !isReachable, decision.groupCommit {
            let known: Value? = registry.state.withLock { state in
                guard let (value, changes) = try? decision.rule(&state, .onRequest), changes.isEmpty else { return nil }
                return value
            }
            if let known { return known }
        }
        let started = ContinuousClock.now
        var attempt = 0
        while true {
            attempt += 1
            do {
                let value = try inTransaction { connection in try decide(decision, registry, connection) }
                reachable.store(true, ordering: .relaxed)
                return value
            } catch let error as RegistryError {
                throw error
            } catch let error as CommitUnknown {
                throw .storage("the commit's outcome is unknown (\(PostgresStore.describe(error.cause))); retry the request")
            } catch let error as PostgresError {
                // A race another node won (the same id or version), a deadlock between lock orders, or a
                // connection lost before the commit: nothing was written, so run the decision again — a lost
                // connection once only, and only while the answer can still come within a few seconds.
                let raced = ["23505", "40P01", "40001"].contains(error.sqlState ?? "")
                let lost = error.sqlState == nil || error.sqlState == "57P01"
                // Idle connections opened before a loss are likely dead too: drop them all.
                if lost { idle.withLock { $0.removeAll() } }
                let early = ContinuousClock.now - started < .seconds(2)
                if (raced && attempt < 5) || (lost && attempt < 2 && early) { continue }
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

    /// `EXECUTE sr_lock…` of a named lock, as a batch statement.
    private static func lockSQL(_ name: String, shared: Bool) throws -> String {
        "EXECUTE \(shared ? "sr_lock_shared" : "sr_lock")(\(try literal(name)))"
    }

    private func decide<Value>(_ decision: Decision<Value>, _ registry: SchemaRegistry, _ connection: PostgresConnection) throws -> Value {
        let global = SchemaRegistry.globalScope
        let scope = decision.subject ?? global
        // Round trip 1: begin, the locks, then the scopes as committed. Lock order: global; subjects by name
        // (the decision's own exclusive, those it only reads shared); then content and id. The same order
        // in every decision, so two never wait for each other in a cycle.
        var statements = [
            "BEGIN ISOLATION LEVEL READ COMMITTED", "SELECT \(decision.subject == nil ? "pg_advisory_xact_lock" : "pg_advisory_xact_lock_shared")(\(PostgresStore.globalLockKey))",
        ]
        var scopes = [global]
        var referrersOf: String?
        if let subject = decision.subject {
            let subjects = ([subject] + decision.readSubjects).uniqued().sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for name in subjects { statements.append(try PostgresStore.lockSQL("subject:" + name, shared: name != subject)) }
            scopes += subjects
            if decision.readsReferrers {
                // Whoever references this subject, as the database and as memory know it (a delete must refuse
                // while one does; memory may still hold a referrer the database no longer has).
                scopes += registry.state.withLock { $0.subjectsReferencing(subject) }
                referrersOf = subject
            }
        }
        let known = registry.state.withLock { $0.maximumID }
        if decision.readsAllSubjects {
            // Global IMPORT asks whether any subject has a live version: one the database names (if any),
            // and those memory believes live, are read as committed — not the whole registry.
            statements.append("SELECT subject FROM registry_versions WHERE NOT deleted LIMIT 1")
            let live = (try connection.batch(statements.joined(separator: "; ")).last ?? []).compactMap { $0[0] }
            // None live in the database: whatever memory believes live is stale and read again.
            let believed = live.isEmpty ? registry.state.withLock { state in state.subjects.filter { $0.value.contains { !$0.isDeleted } }.map(\.key) } : []
            try refresh([global] + live + believed, connection, registry)
        } else {
            let names = try PostgresStore.nameArray(scopes.uniqued())
            statements.append(
                try referrersOf.map { "EXECUTE sr_scopes_and_referrers(\(names), \(known), \(try PostgresStore.literal($0)))" }
                    ?? "EXECUTE sr_scopes(\(names), \(known))")
            let rows = try connection.batch(statements.joined(separator: "; ")).last ?? []
            try takeIn(PostgresStore.scopeStates(rows), connection, registry, depth: 0)
        }
        // A registration in a subject with soft-deleted versions may supersede one, which asks who
        // references it: read those too (one more round trip, rarely).
        if let subject = decision.subject, !decision.readsReferrers, decision.identity != nil,
            registry.state.withLock({ $0.subjects[subject]?.contains { $0.isDeleted } ?? false })
        {
            let believed = try PostgresStore.nameArray(registry.state.withLock { $0.subjectsReferencing(subject) })
            let rows = try connection.batch("EXECUTE sr_scopes_and_referrers(\(believed), \(known), \(try PostgresStore.literal(subject)))").last ?? []
            try takeIn(PostgresStore.scopeStates(rows), connection, registry, depth: 0)
        }
        // Round trip 2 (registrations): the content's lock, then everyone holding it as committed, and the
        // lowest id in use for it. Memory may still believe in a holder the database no longer has: then
        // those subjects are read again too, until memory agrees with the database.
        if let identity = decision.identity {
            let hash = registry.state.withLock { identity(&$0) }
            let quoted = try PostgresStore.literal(hash)
            let results = try connection.batch(
                "\(try PostgresStore.lockSQL("content:" + hash, shared: false)); EXECUTE sr_holders(\(quoted), \(known)); EXECUTE sr_lowest_id(\(quoted))")
            try takeIn(PostgresStore.scopeStates(results.count > 1 ? results[1] : []), connection, registry, depth: 0)
            let committedID = results.last?.first?[0].flatMap { Int($0) }
            let stale: [String] = registry.state.withLock { state in
                guard let believed = state.idByHash[hash], believed != committedID else { return [] }
                return state.subjects.filter { $0.value.contains { state.schemas[$0.id]?.hash == hash } }.map(\.key)
            }
            if !stale.isEmpty { try refresh(stale, connection, registry) }
        }
        if let id = decision.explicitID {
            let results = try connection.batch(
                [
                    try PostgresStore.lockSQL("id:\(id)", shared: false),
                    "SELECT DISTINCT subject FROM registry_versions WHERE schema_id = \(id)",
                    "SELECT id, hash, schema, refs, format, contract FROM registry_schemas WHERE id = \(id)",
                ].joined(separator: "; "))
            try takeIn([], PostgresStore.schemas(results.last ?? []), connection, registry, depth: 0)
            try refresh((results.count > 1 ? results[1] : []).compactMap { $0[0] }, connection, registry)
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
        // Round trip 3: every change, the scope's new generation, the notification and the commit.
        var writes: [String] = []
        for change in changes { writes += try PostgresStore.statements(for: change, explicitID: decision.explicitID != nil) }
        // A payload holds at most 8000 bytes: a longer scope name (none today: subjects are capped) would
        // be announced as "everything".
        let payload = scope.utf8.count < 7900 ? scope : ""
        writes.append("EXECUTE sr_bump_and_notify(\(try PostgresStore.literal(scope)), \(try PostgresStore.literal(payload)))")
        writes.append("COMMIT")
        let results: [[[String?]]]
        do {
            results = try connection.batch(writes.joined(separator: ";\n"))
        } catch {
            // Refused by the server: the rest, the commit included, was skipped, so nothing was written.
            // Lost on the way: it may or may not have committed.
            if error.sqlState != nil { throw error }
            throw CommitUnknown(cause: error)
        }
        guard results.count >= 2, let generation = results[results.count - 2].first?[0].flatMap({ Int64($0) }) else {
            throw CommitUnknown(cause: RegistryError.storage("no generation returned"))
        }
        // On a lost COMMIT the outcome is unknown: the feed reads the scope again if it was committed
        // (its notification carries a generation this node does not hold).
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
            if let id = try connection.batch("EXECUTE sr_next_id").last?.first?[0].flatMap({ Int($0) }) { return id }
        }
        throw RegistryError.storage("no free schema id found")
    }

    /// The statements that store one change, with literals.
    private static func statements(for change: RegistryChange, explicitID: Bool) throws -> [String] {
        switch change {
        case .addSchema(let stored):
            var statements = [
                "EXECUTE sr_add_schema(\(stored.id), \(try literal(stored.hash)), \(try literal(stored.schema)), "
                    + "\(try literal(SchemaRegistry.encodeReferences(stored.references))), \(stored.format.rawValue), \(try literal(stored.contract.storedText)))"
            ]
            for reference in stored.references {
                statements.append("EXECUTE sr_add_reference(\(stored.id), \(try literal(reference.subject)), \(reference.version))")
            }
            if explicitID {
                // An explicit id (IMPORT) above the sequence moves it on, so no later id collides; under a
                // lock, so two imports cannot move it back.
                statements.append(try lockSQL("sequence", shared: false))
                statements.append(
                    "SELECT setval('registry_schema_ids', \(stored.id)) WHERE \(stored.id) > (SELECT last_value FROM registry_schema_ids)")
            }
            return statements
        case .addVersion(let subject, let entry):
            return [
                "EXECUTE sr_add_version(\(try literal(subject)), \(entry.version), \(entry.id), \(entry.timestamp))"
            ]
        case .removeVersions(let subject, _, true):
            // Every version goes (a subject dropped for good), with the subject's config and mode.
            return [
                "DELETE FROM registry_versions WHERE subject = \(try literal(subject))",
                "UPDATE registry_scopes SET config_level = NULL, config_settings = NULL, mode = NULL WHERE scope = \(try literal(subject))",
            ]
        case .removeVersions(let subject, let versions, false):
            return try versions.map { "DELETE FROM registry_versions WHERE subject = \(try literal(subject)) AND version = \($0)" }
        case .softDelete(let subject, let versions):
            return try versions.map { "UPDATE registry_versions SET deleted = true WHERE subject = \(try literal(subject)) AND version = \($0)" }
        case .setConfig(let scope, let config):
            let level = try config.map { try literal($0.level?.rawValue ?? "") } ?? "NULL"
            let settings = try config.map { try literal($0.storedSettings) } ?? "NULL"
            return [
                "INSERT INTO registry_scopes(scope, generation, config_level, config_settings) VALUES(\(try literal(scope)), 0, \(level), \(settings)) "
                    + "ON CONFLICT(scope) DO UPDATE SET config_level = excluded.config_level, config_settings = excluded.config_settings"
            ]
        case .setMode(let scope, let mode):
            let value = try mode.map { try literal($0.rawValue) } ?? "NULL"
            return [
                "INSERT INTO registry_scopes(scope, generation, mode) VALUES(\(try literal(scope)), 0, \(value)) ON CONFLICT(scope) DO UPDATE SET mode = excluded.mode"
            ]
        }
    }

    // MARK: Misses and the feed

    func fetchMissing(id: Int, into registry: SchemaRegistry) throws(RegistryError) -> Bool {
        // While the database is known to be gone, say so at once rather than queue every miss behind a
        // connect timeout (a 5xx, which clients retry, not a 404, which they take as final).
        guard isReachable else { throw .storage("the database is unreachable, and schema \(id) is not in this node's memory") }
        do {
            return try misses.withLock { _ in
                let connection = try checkout()
                defer { checkin(connection) }
                let subjects = try connection.batch("SELECT DISTINCT subject FROM registry_versions WHERE schema_id = \(id)").last ?? []
                guard !subjects.isEmpty else { return false }
                try refresh(subjects.compactMap { $0[0] }, connection, registry)
                return true
            }
        } catch {
            throw .storage(PostgresStore.describe(error))
        }
    }

    func refresh(subjects: [String], into registry: SchemaRegistry) throws(RegistryError) {
        // Best effort: while the database is gone (or a name cannot be stored), memory's copy is what there is.
        guard !subjects.isEmpty, isReachable, let connection = try? checkout() else { return }
        defer { checkin(connection) }
        try? refresh(subjects, connection, registry)
    }

    func startFollowing(_ registry: SchemaRegistry) {
        let body: @Sendable () -> Void = { [weak registry, self] in
            self.follow { registry }
        }
        spawnThread(body)
    }

    /// The feed: listens, reads again what others changed, and after any loss of the connection reads
    /// everything again. Runs until `close()` or until the registry is gone (it holds the registry only
    /// while taking something in).
    private func follow(_ registry: () -> SchemaRegistry?) {
        while !stopped.load(ordering: .relaxed) {
            // A lost feed connection alone says nothing about the database; failing to connect again does.
            let connection: PostgresConnection
            do {
                connection = try PostgresStore.connect(uri, name: "schema-registry-feed")
            } catch {
                if error is Unreachable { reachable.store(false, ordering: .relaxed) }
                usleep(error is Unreachable ? 250_000 : 50_000)
                continue
            }
            do {
                try connection.execute("LISTEN \(PostgresStore.channel)")
                // Listening first, then reading everything: a change committed in between is both read and
                // announced, never missed.
                guard try withRegistry(registry, { try readAll(connection, $0) }) else { return }
                reachable.store(true, ordering: .relaxed)
                var lastProbe = StorageStatistics.monotonicSeconds()
                while !stopped.load(ordering: .relaxed) {
                    let notes = try connection.notifications(timeout: .milliseconds(250))
                    // A probe every second: a connection that died quietly is noticed, a database that answers is
                    // said to, and the round trip and this node's lag are measured.
                    let now = StorageStatistics.monotonicSeconds()
                    if now - lastProbe >= 1 {
                        lastProbe = now
                        guard try probe(connection, registry) else { return }
                        reachable.store(true, ordering: .relaxed)
                    }
                    if notes.isEmpty { continue }
                    // "generation scope": what memory already holds (this node's own changes) is skipped.
                    let announced = notes.map { note -> (generation: Int64, scope: String) in
                        guard let space = note.payload.firstIndex(of: " "), let generation = Int64(note.payload[..<space]) else { return (0, "") }
                        return (generation, String(note.payload[note.payload.index(after: space)...]))
                    }
                    let scopes: [String] = withRegistryState(registry) { state in
                        announced.filter { $0.scope.isEmpty || $0.generation > state.generations[$0.scope] ?? 0 }.map(\.scope)
                    }
                    if scopes.isEmpty { continue }
                    let taken = try withRegistry(registry) { current in
                        if scopes.contains("") { try readAll(connection, current) } else { try refresh(scopes, connection, current) }
                    }
                    guard taken else { return }
                }
            } catch {
                usleep(50_000)
            }
        }
    }

    /// Times the head query (the round trip) and compares the database's head with memory: the sum of every scope's
    /// generation there (each committed decision adds one) against the sum memory holds. The difference is the
    /// number of committed changes this node has not applied yet — announced or not, since a lost notification
    /// leaves its generation behind too. False when the registry is gone.
    private func probe(_ connection: PostgresConnection, _ registry: () -> SchemaRegistry?) throws -> Bool {
        let started = StorageStatistics.monotonicSeconds()
        let rows = try connection.query("SELECT coalesce(sum(generation), 0)::text FROM registry_scopes")
        let roundTrip = StorageStatistics.monotonicSeconds() - started
        let head = rows.first?.first.flatMap { $0 }.flatMap { Int64($0) } ?? 0
        guard let current = registry() else { return false }
        let held = current.state.withLock { $0.generations.values.reduce(0, &+) }
        statistics.recordProbe(seconds: roundTrip, changesBehind: Int(max(0, head - held)))
        return true
    }

    /// `body` over the registry's memory, if the registry still exists (nothing otherwise).
    private func withRegistryState<T>(_ registry: () -> SchemaRegistry?, _ body: (inout SchemaRegistry.State) -> [T]) -> [T] {
        guard let current = registry() else { return [] }
        return current.state.withLock { body(&$0) }
    }

    /// Runs `body` with the registry if it still exists; false when it is gone.
    private func withRegistry(_ registry: () -> SchemaRegistry?, _ body: (SchemaRegistry) throws -> Void) throws -> Bool {
        guard let current = registry() else { return false }
        try body(current)
        return true
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

