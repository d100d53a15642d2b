import AvroCodec
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The registry: subjects, versions, global ids, configs and modes, kept in SQLite and served from
/// memory.
///
/// The whole state is loaded at start and mirrored in memory, so reads never touch SQLite. One lock
/// (`state`) orders every change. A registration changes memory first, under the lock, and queues its
/// rows in the journal; the caller is answered only after the journal's group commit has made those
/// rows durable (`Journal.waitUntilDurable`), so an id handed out is durable. Config, mode and delete
/// writes commit synchronously under the lock, before memory changes. Concurrent registrations of the
/// same schema yield one id because they are serialized by the lock.
public final class SchemaRegistry: Sendable {
    /// The level used when neither the subject nor the registry has one configured.
    public static let defaultLevel = CompatibilityLevel.backward
    /// How deep references may nest below a registered schema.
    static let maximumReferenceDepth = 32
    /// The key of the global scope in the config and mode tables (a subject name Confluent reserves).
    static let globalScope = "__GLOBAL"
    /// Parsed schemas kept in memory by default, by estimated size: a parsed schema takes about six
    /// to eight times the bytes of its text (measured: 66 MB of text parsed took 412 MB); evicted ones
    /// are parsed again when needed (the texts of all are kept).
    public static let defaultParsedCacheBytes = 64 << 20
    /// Rendered `GET /schemas/ids/{id}` bodies kept by default, by size.
    public static let defaultRenderedCacheBytes = 32 << 20

    let state: Mutex<State>
    let journal: Journal
    let renderedBodies: RenderedBodyCache
    /// A random id made when the database was created (`GET /v1/metadata/id`).
    public let clusterID: String

    struct SubjectVersion {
        var version: Int
        var id: Int
        var isDeleted: Bool
        var timestamp: Int64
    }

    struct State: ~Copyable {
        let journal: Journal
        let parsedCacheByteLimit: Int
        let renderedBodies: RenderedBodyCache
        var schemas: [Int: StoredSchema] = [:]
        var parsed: [Int: AvroSchema] = [:]
        var parsedCost: [Int: Int] = [:]
        var parsedBytes = 0
        var idByHash: [String: Int] = [:]
        /// Whether any row holds the old normalized form (then requests are also matched by it).
        var hasLegacyRows = false
        /// How many versions (live or soft-deleted) use each id; an id with none is gone (404).
        var useCount: [Int: Int] = [:]
        /// Versions per subject, ascending.
        var subjects: [String: [SubjectVersion]] = [:] {
            didSet { sortedSubjects = nil }
        }
        /// Every subject name, sorted: listings page through this until the next write.
        var sortedSubjects: [String]?
        var configs: [String: SubjectConfig] = [:]
        var modes: [String: RegistryMode] = [:]
        var maximumID = 0
    }

    /// Opens (creating if needed) the registry database at `path` and loads it. Databases written by
    /// earlier releases are upgraded in place (new columns only; nothing is renumbered or rewritten).
    public init(
        databasePath path: String, parsedCacheBytes: Int = SchemaRegistry.defaultParsedCacheBytes,
        renderedCacheBytes: Int = SchemaRegistry.defaultRenderedCacheBytes
    ) throws(StorageError) {
        let database = try SQLiteDatabase(path: path)
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
        journal = Journal(database: database)
        renderedBodies = RenderedBodyCache(byteLimit: renderedCacheBytes)
        var loaded = State(journal: journal, parsedCacheByteLimit: parsedCacheBytes, renderedBodies: renderedBodies)
        try database.query("SELECT id, hash, schema, refs, format, contract FROM schemas") { row in
            let id = Int(row.integer(0))
            let format = StoredFormat(rawValue: Int(row.integer(4))) ?? .canonical
            let stored = StoredSchema(
                id: id, schema: row.text(2), references: SchemaRegistry.decodeReferences(row.text(3)),
                contract: DataContract(storedText: row.text(5)), hash: row.text(1), format: format)
            loaded.schemas[id] = stored
            loaded.maximumID = max(loaded.maximumID, id)
            if format == .legacyNormalized { loaded.hasLegacyRows = true }
        }
        try database.query("SELECT value FROM meta WHERE key = 'maximum_id'") { row in
            loaded.maximumID = max(loaded.maximumID, Int(row.integer(0)))
        }
        try database.query("SELECT subject, version, schema_id, deleted, ts FROM versions ORDER BY subject, version") { row in
            let entry = SubjectVersion(version: Int(row.integer(1)), id: Int(row.integer(2)), isDeleted: row.integer(3) != 0, timestamp: row.integer(4))
            loaded.subjects[row.text(0), default: []].append(entry)
        }
        for versions in loaded.subjects.values {
            for entry in versions {
                loaded.useCount[entry.id, default: 0] += 1
                // The lowest id wins when IMPORT gave the same content several ids (deterministic).
                if let stored = loaded.schemas[entry.id], loaded.idByHash[stored.hash].map({ $0 > entry.id }) ?? true {
                    loaded.idByHash[stored.hash] = entry.id
                }
            }
        }
        try database.query("SELECT scope, level, settings FROM config") { row in
            loaded.configs[row.text(0)] = SubjectConfig(level: CompatibilityLevel(rawValue: row.text(1)), storedSettings: row.text(2))
        }
        try database.query("SELECT scope, mode FROM mode") { row in
            if let mode = RegistryMode(rawValue: row.text(1)) { loaded.modes[row.text(0)] = mode }
        }
        state = Mutex(loaded)
    }
}

extension VersionSelector {
    var text: String {
        switch self {
        case .latest: return "latest"
        case .number(let number): return String(number)
        }
    }
}

extension CompatibilityLevel {
    /// The same direction(s), against one version.
    var nonTransitive: CompatibilityLevel {
        switch self {
        case .backwardTransitive: return .backward
        case .forwardTransitive: return .forward
        case .fullTransitive: return .full
        default: return self
        }
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}

/// Wall-clock time for version timestamps.
enum WallClock {
    /// Milliseconds since 1970.
    static var milliseconds: Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
