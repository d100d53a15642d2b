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

    // MARK: Reading

    /// The schema with this global id. Ids stay resolvable while any version (even soft-deleted) uses them.
    public func schema(id: Int) throws(RegistryError) -> StoredSchema {
        try SchemaRegistry.validateIdentifier(id, what: "schema id")
        let found: StoredSchema? = state.withLock { state in
            guard let stored = state.schemas[id], state.isInUse(id) else { return nil }
            return stored
        }
        guard let found else { throw .schemaNotFound(id: id) }
        return found
    }

    /// The schema whose identity hash renders as `guid` (Confluent 8's `/schemas/guids/{guid}`).
    public func schema(guid: String) throws(RegistryError) -> StoredSchema {
        let hash = guid.lowercased().filter { $0 != "-" }
        let found: StoredSchema? = state.withLock { state in
            guard hash.count == 32, let id = state.idByHash[hash], let stored = state.schemas[id], state.isInUse(id) else { return nil }
            return stored
        }
        guard let found else { throw .schemaNotFound(id: nil) }
        return found
    }

    /// A rendered answer for schema `id`, cached (see `RenderedBodyCache` for why a cached body cannot
    /// outlive its id).
    public func renderedSchema(id: Int, render: (StoredSchema) -> [UInt8]) throws(RegistryError) -> [UInt8] {
        try SchemaRegistry.validateIdentifier(id, what: "schema id")
        if let body = renderedBodies.body(id) { return body }
        let lookup: (stored: StoredSchema?, generation: Int) = state.withLock { state in
            let generation = renderedBodies.generation
            guard let stored = state.schemas[id], state.isInUse(id) else { return (nil, generation) }
            return (stored, generation)
        }
        guard let stored = lookup.stored else { throw .schemaNotFound(id: id) }
        let body = render(stored)
        renderedBodies.store(body, id: id, generation: lookup.generation)
        return body
    }

    /// The schema of `id` with its referenced types written inline (`format=resolved`).
    public func resolvedText(id: Int) throws(RegistryError) -> String {
        let stored = try schema(id: id)
        guard !stored.references.isEmpty else { return stored.schema }
        let schema: AvroSchema? = state.withLock { $0.parsedSchema(id) }
        guard let schema else { throw .invalidSchema("stored schema \(id) no longer parses with its references") }
        return schema.resolvedText
    }

    /// The highest id ever assigned.
    public var maximumID: Int { state.withLock { $0.maximumID } }

    /// What the caches hold now, in (estimated) bytes: each stays within its limit.
    public var cacheBytes: (parsedSchemas: Int, renderedBodies: Int) { (state.withLock { $0.parsedBytes }, renderedBodies.bytes) }

    /// Which subjects a listing shows.
    public enum SubjectFilter: Sendable {
        /// Subjects with a live version (the default).
        case live
        /// Subjects with any version, live or soft-deleted (`deleted=true`).
        case all
        /// Subjects whose every version is soft-deleted (`deletedOnly=true`).
        case deletedOnly
    }

    /// Subjects under `filter` whose name starts with `prefix`, sorted, from `offset`, at most `limit`.
    public func subjects(prefix: String = "", filter: SubjectFilter = .live, offset: Int = 0, limit: Int = .max) -> [String] {
        state.withLock { state in
            var result: [String] = []
            var skipped = 0
            for subject in state.subjectNames(prefix: prefix) {
                guard let versions = state.subjects[subject] else { continue }
                let hasLive = versions.contains { !$0.isDeleted }
                let shown: Bool
                switch filter {
                case .live: shown = hasLive
                case .all: shown = !versions.isEmpty
                case .deletedOnly: shown = !hasLive && !versions.isEmpty
                }
                guard shown else { continue }
                if skipped < offset {
                    skipped += 1
                    continue
                }
                guard result.count < limit else { break }
                result.append(subject)
            }
            return result
        }
    }

    /// How many subjects have a live version.
    public var liveSubjectCount: Int {
        state.withLock { state in state.subjects.values.reduce(0) { $0 + ($1.contains { !$0.isDeleted } ? 1 : 0) } }
    }

    /// Version numbers of a subject, ascending; with `deletedAsNegative`, soft-deleted ones negated.
    public func versions(
        subject: String, filter: SubjectFilter = .live, deletedAsNegative: Bool = false, offset: Int = 0, limit: Int = .max
    ) throws(RegistryError) -> [Int] {
        try SchemaRegistry.validateSubject(subject)
        let numbers: [Int] = state.withLock { state in
            (state.subjects[subject] ?? []).compactMap { entry -> Int? in
                switch filter {
                case .live: return entry.isDeleted ? nil : entry.version
                case .all: return entry.isDeleted && deletedAsNegative ? -entry.version : entry.version
                case .deletedOnly: return entry.isDeleted ? (deletedAsNegative ? -entry.version : entry.version) : nil
                }
            }
        }
        guard !numbers.isEmpty else { throw .subjectNotFound(subject) }
        return Array(numbers.dropFirst(max(0, offset)).prefix(max(0, limit)))
    }

    /// One version of a subject.
    public func version(subject: String, _ selector: VersionSelector, includeDeleted: Bool = false) throws(RegistryError) -> RegisteredSchema {
        try SchemaRegistry.validateSubject(subject)
        let result: Result<RegisteredSchema, RegistryError> = state.withLock { state in
            guard let versions = state.subjects[subject], versions.contains(where: { includeDeleted || !$0.isDeleted }) else {
                return .failure(.subjectNotFound(subject))
            }
            let entry: SubjectVersion?
            switch selector {
            case .latest: entry = versions.last { !$0.isDeleted } ?? (includeDeleted ? versions.last : nil)
            case .number(let number): entry = versions.first { $0.version == number && (includeDeleted || !$0.isDeleted) }
            }
            guard let entry, let stored = state.schemas[entry.id] else {
                return .failure(.versionNotFound(selector.text))
            }
            return .success(state.registered(subject: subject, entry: entry, stored: stored))
        }
        return try result.get()
    }

    /// The latest version of `subject` whose metadata properties hold every pair in `properties`
    /// (`GET /subjects/{s}/metadata`, used by clients with `use.latest.with.metadata`).
    public func latestVersion(subject: String, withMetadata properties: [(key: String, value: String)], includeDeleted: Bool = false) throws(RegistryError) -> RegisteredSchema {
        try SchemaRegistry.validateSubject(subject)
        let result: Result<RegisteredSchema, RegistryError> = state.withLock { state in
            guard let versions = state.subjects[subject], versions.contains(where: { includeDeleted || !$0.isDeleted }) else {
                return .failure(.subjectNotFound(subject))
            }
            for entry in versions.reversed() where includeDeleted || !entry.isDeleted {
                guard let stored = state.schemas[entry.id] else { continue }
                let held = stored.contract.metadata?.properties ?? [:]
                if properties.allSatisfy({ held[$0.key] == $0.value }) {
                    return .success(state.registered(subject: subject, entry: entry, stored: stored))
                }
            }
            return .failure(.schemaNotFound(id: nil))
        }
        return try result.get()
    }

    /// Schema objects of `GET /schemas`: every version (or the latest only) of each subject under
    /// `prefix`, by subject then version, from `offset`, at most `limit`. Pages are cut from the
    /// sorted subject index, so a page costs its own size plus a count per skipped subject.
    public func listSchemas(prefix: String, includeDeleted: Bool, latestOnly: Bool, offset: Int, limit: Int) -> [RegisteredSchema] {
        state.withLock { state in
            var result: [RegisteredSchema] = []
            var toSkip = max(0, offset)
            for subject in state.subjectNames(prefix: prefix) {
                guard result.count < limit else { break }
                guard let versions = state.subjects[subject] else { continue }
                let visible = versions.filter { includeDeleted || !$0.isDeleted }
                let chosen = latestOnly ? Array(visible.suffix(1)) : visible
                if toSkip >= chosen.count {
                    toSkip -= chosen.count
                    continue
                }
                for entry in chosen.dropFirst(toSkip) where result.count < limit {
                    if let stored = state.schemas[entry.id] { result.append(state.registered(subject: subject, entry: entry, stored: stored)) }
                }
                toSkip = 0
            }
            return result
        }
    }

    /// Subjects using schema `id`.
    public func subjects(usingID id: Int, includeDeleted: Bool = false) throws(RegistryError) -> [String] {
        try versions(usingID: id, includeDeleted: includeDeleted).map(\.subject).uniqued()
    }

    /// (subject, version) pairs using schema `id`, by subject then version.
    public func versions(usingID id: Int, includeDeleted: Bool = false) throws(RegistryError) -> [(subject: String, version: Int)] {
        try SchemaRegistry.validateIdentifier(id, what: "schema id")
        let pairs: [(subject: String, version: Int)]? = state.withLock { state in
            guard state.schemas[id] != nil, state.isInUse(id) else { return nil }
            var pairs: [(subject: String, version: Int)] = []
            for (subject, versions) in state.subjects {
                for entry in versions where entry.id == id && (includeDeleted || !entry.isDeleted) {
                    pairs.append((subject, entry.version))
                }
            }
            return pairs.sorted { ($0.subject, $0.version) < ($1.subject, $1.version) }
        }
        guard let pairs else { throw .schemaNotFound(id: id) }
        return pairs
    }

    /// Ids of schemas whose references point at (subject, version).
    public func referencedBy(subject: String, _ selector: VersionSelector) throws(RegistryError) -> [Int] {
        let target = try version(subject: subject, selector, includeDeleted: true)
        return state.withLock { state in
            state.schemas.values.filter { stored in
                state.isInUse(stored.id) && stored.references.contains { $0.subject == subject && $0.version == target.version }
            }.map(\.id).sorted()
        }
    }

    // MARK: Helpers

    /// Refuses what Confluent refuses as a subject (control characters, the reserved scope names),
    /// the empty name (no route could reach it again) and context syntax (not supported here).
    static func validateSubject(_ subject: String) throws(RegistryError) {
        if subject.hasPrefix(":.") || subject.hasPrefix(":*:") { throw .contextNotSupported(subject) }
        if subject.isEmpty || subject == globalScope || subject == "__EMPTY"
            || subject.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        {
            throw .invalidSubject(subject)
        }
    }

    /// Ids and versions are 1…2^31−1 wherever they enter.
    static func validateIdentifier(_ value: Int, what: String) throws(RegistryError) {
        guard value >= 1, value <= maximumIdentifier else {
            throw .invalidIdentifier("Invalid \(what) \(value): allowed values are between 1 and 2^31-1")
        }
    }

    static func encodeReferences(_ references: [SchemaReference]) -> String {
        references.map { "\($0.name)\u{1}\($0.subject)\u{1}\($0.version)" }.joined(separator: "\u{2}")
    }

    static func decodeReferences(_ text: String) -> [SchemaReference] {
        guard !text.isEmpty else { return [] }
        return text.split(separator: "\u{2}", omittingEmptySubsequences: false).compactMap { item in
            let parts = item.split(separator: "\u{1}", omittingEmptySubsequences: false)
            guard parts.count == 3, let version = Int(parts[2]) else { return nil }
            return SchemaReference(name: String(parts[0]), subject: String(parts[1]), version: version)
        }
    }

    /// The identity hash: MD5 over the stored text, the references and the data contract. Without a
    /// contract it is the hash earlier releases computed, so their rows keep matching.
    static func identity(_ text: String, _ references: [SchemaReference], _ contract: DataContract) -> String {
        var bytes = Array(text.utf8)
        for reference in references {
            bytes.append(0)
            bytes.append(contentsOf: "\(reference.name)\u{1}\(reference.subject)\u{1}\(reference.version)".utf8)
        }
        if !contract.isEmpty {
            bytes.append(3)
            bytes.append(contentsOf: contract.storedText.utf8)
        }
        return SchemaFingerprint.hex(SchemaFingerprint.md5(bytes))
    }

    /// A 32-digit hex hash as a UUID string (8-4-4-4-12).
    static func guid(_ hash: String) -> String {
        let digits = Array(hash)
        guard digits.count == 32 else { return hash }
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(digits[$0]) }.joined(separator: "-")
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
