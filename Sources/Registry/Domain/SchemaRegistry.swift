import AvroCodec
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The registry: subjects, versions, global ids, compatibility levels and modes, kept in SQLite and
/// served from memory.
///
/// Every write is one SQLite transaction (WAL, `synchronous=FULL`), committed before memory changes
/// and before the caller gets its answer: an id handed out is durable. The whole state is loaded at
/// start and mirrored in memory, so reads never touch SQLite. One lock orders all writes (SQLite
/// serializes writers anyway), which also makes concurrent registrations of the same schema yield one id.
public final class SchemaRegistry: Sendable {
    /// The level used when neither the subject nor the registry has one configured.
    public static let defaultLevel = CompatibilityLevel.backward
    /// The key of the global scope in the config and mode tables (a subject name Confluent reserves).
    static let globalScope = "__GLOBAL"
    /// How many parsed schemas are kept in memory (the texts of all are).
    static let parsedCacheLimit = 4096

    private let state: Mutex<State>
    private let journal: Journal

    struct SubjectVersion {
        var version: Int
        var id: Int
        var isDeleted: Bool
        var timestamp: Int64
    }

    struct State: ~Copyable {
        let journal: Journal
        var schemas: [Int: StoredSchema] = [:]
        var parsed: [Int: AvroSchema] = [:]
        var idByHash: [String: Int] = [:]
        /// How many versions (live or soft-deleted) use each id; an id with none is gone (404).
        var useCount: [Int: Int] = [:]
        /// Versions per subject, ascending.
        var subjects: [String: [SubjectVersion]] = [:] {
            didSet { sortedLiveSubjects = nil }
        }
        /// Subjects with a live version, sorted: `GET /subjects` is answered from this until a write.
        var sortedLiveSubjects: [String]?
        var levels: [String: CompatibilityLevel] = [:]
        var modes: [String: RegistryMode] = [:]
        var maximumID = 0
    }

    /// Opens (creating if needed) the registry database at `path` and loads it.
    public init(databasePath path: String) throws(StorageError) {
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
        journal = Journal(database: database)
        var loaded = State(journal: journal)
        try database.query("SELECT id, hash, schema, refs FROM schemas") { row in
            let id = Int(row.integer(0))
            let stored = StoredSchema(id: id, schema: row.text(2), references: SchemaRegistry.decodeReferences(row.text(3)), hash: row.text(1))
            loaded.schemas[id] = stored
            loaded.maximumID = max(loaded.maximumID, id)
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
                if let stored = loaded.schemas[entry.id] { loaded.idByHash[stored.hash] = entry.id }
            }
        }
        try database.query("SELECT scope, level FROM config") { row in
            if let level = CompatibilityLevel(rawValue: row.text(1)) { loaded.levels[row.text(0)] = level }
        }
        try database.query("SELECT scope, mode FROM mode") { row in
            if let mode = RegistryMode(rawValue: row.text(1)) { loaded.modes[row.text(0)] = mode }
        }
        state = Mutex(loaded)
    }

    // MARK: Reading

    /// The schema with this global id. Ids stay resolvable while any version (even soft-deleted) uses them.
    public func schema(id: Int) throws(RegistryError) -> StoredSchema {
        let found: StoredSchema? = state.withLock { state in
            guard let stored = state.schemas[id], state.isInUse(id) else { return nil }
            return stored
        }
        guard let found else { throw .schemaNotFound(id: id) }
        return found
    }

    /// The highest id ever assigned.
    public var maximumID: Int { state.withLock { $0.maximumID } }

    /// Subjects with at least one live version (or, with `includeDeleted`, any version), sorted.
    public func subjects(prefix: String = "", includeDeleted: Bool = false, deletedOnly: Bool = false) -> [String] {
        state.withLock { state in
            if !includeDeleted && !deletedOnly {
                let sorted = state.sortedLiveSubjects ?? state.subjects.compactMap { subject, versions in
                    versions.contains { !$0.isDeleted } ? subject : nil
                }.sorted()
                state.sortedLiveSubjects = sorted
                return prefix.isEmpty ? sorted : sorted.filter { $0.hasPrefix(prefix) }
            }
            return state.subjects.compactMap { subject, versions -> String? in
                guard subject.hasPrefix(prefix) else { return nil }
                let hasLive = versions.contains { !$0.isDeleted }
                if deletedOnly { return versions.contains { $0.isDeleted } && !hasLive ? subject : nil }
                return hasLive || (includeDeleted && !versions.isEmpty) ? subject : nil
            }.sorted()
        }
    }

    /// Version numbers of a subject, ascending.
    public func versions(subject: String, includeDeleted: Bool = false, deletedOnly: Bool = false) throws(RegistryError) -> [Int] {
        let numbers: [Int] = state.withLock { state in
            (state.subjects[subject] ?? []).filter { deletedOnly ? $0.isDeleted : (includeDeleted || !$0.isDeleted) }.map(\.version)
        }
        guard !numbers.isEmpty else { throw .subjectNotFound(subject) }
        return numbers
    }

    /// One version of a subject.
    public func version(subject: String, _ selector: VersionSelector, includeDeleted: Bool = false) throws(RegistryError) -> RegisteredSchema {
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

    /// Subjects using schema `id`.
    public func subjects(usingID id: Int, includeDeleted: Bool = false) throws(RegistryError) -> [String] {
        try versions(usingID: id, includeDeleted: includeDeleted).map(\.subject).uniqued()
    }

    /// (subject, version) pairs using schema `id`, by subject then version.
    public func versions(usingID id: Int, includeDeleted: Bool = false) throws(RegistryError) -> [(subject: String, version: Int)] {
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

    // MARK: Registering

    /// Parses, validates and normalizes a schema text, resolving its references. Returns the parsed
    /// schema, the normalized text that is stored, and its identity hash.
    func prepare(_ text: String, references: [SchemaReference]) throws(RegistryError) -> (AvroSchema, String, String) {
        let resolved = try resolve(references)
        let schema: AvroSchema
        do {
            schema = try AvroSchema(parsing: text, references: resolved)
        } catch {
            throw .invalidSchema(error.description)
        }
        let normalized = schema.normalizedForm
        return (schema, normalized, SchemaRegistry.identity(normalized, references))
    }

    private func resolve(_ references: [SchemaReference], depth: Int = 0) throws(RegistryError) -> [AvroSchema] {
        guard depth < 32 else { throw .invalidSchema("references nest deeper than 32 levels") }
        var resolved: [AvroSchema] = []
        for reference in references {
            let registered: RegisteredSchema
            do {
                registered = try version(subject: reference.subject, reference.version < 0 ? .latest : .number(reference.version), includeDeleted: true)
            } catch {
                throw .invalidSchema("reference \(reference.name) to subject '\(reference.subject)' version \(reference.version) does not exist")
            }
            let nested = try resolve(registered.references, depth: depth + 1)
            do {
                resolved.append(contentsOf: nested)
                resolved.append(try AvroSchema(parsing: registered.schema, references: nested, options: .init(validatesDefaults: false)))
            } catch {
                throw .invalidSchema("referenced schema \(reference.subject) version \(reference.version) is invalid: \(error)")
            }
        }
        return resolved
    }

    static func identity(_ normalized: String, _ references: [SchemaReference]) -> String {
        var bytes = Array(normalized.utf8)
        for reference in references {
            bytes.append(0)
            bytes.append(contentsOf: "\(reference.name)\u{1}\(reference.subject)\u{1}\(reference.version)".utf8)
        }
        return SchemaFingerprint.hex(SchemaFingerprint.md5(bytes))
    }

    /// Registers a schema under a subject (Confluent's algorithm): an identical live version returns
    /// its id; otherwise the mode must allow writes, the schema must be compatible at the subject's
    /// level, and it gets the next version, reusing the global id of identical content.
    public func register(
        subject: String, schema text: String, references: [SchemaReference] = [], explicitID: Int? = nil, explicitVersion: Int? = nil
    ) throws(RegistryError) -> RegisteredSchema {
        try SchemaRegistry.validateSubject(subject)
        let (schema, normalized, hash) = try prepare(text, references: references)
        let result: Result<(RegisteredSchema, Int), RegistryError> = state.withLock { state in
            do throws(RegistryError) {
                let registered = try state.register(
                    subject: subject, schema: schema, normalized: normalized, hash: hash, references: references, explicitID: explicitID,
                    explicitVersion: explicitVersion)
                // An existing version is answered too only once everything queued is durable.
                return .success((registered, state.journal.lastTicket))
            } catch {
                return .failure(error)
            }
        }
        let (registered, ticket) = try result.get()
        do {
            try journal.waitUntilDurable(ticket)
        } catch {
            throw .storage(String(describing: error))
        }
        return registered
    }

    /// Finds the live (or, with `includeDeleted`, any) version of `subject` holding this schema.
    public func lookup(subject: String, schema text: String, references: [SchemaReference] = [], includeDeleted: Bool = false) throws(RegistryError) -> RegisteredSchema {
        let (_, _, hash) = try prepare(text, references: references)
        let result: Result<RegisteredSchema, RegistryError> = state.withLock { state in
            guard let versions = state.subjects[subject], versions.contains(where: { includeDeleted || !$0.isDeleted }) else {
                return .failure(.subjectNotFound(subject))
            }
            guard let id = state.idByHash[hash],
                let entry = versions.last(where: { $0.id == id && (includeDeleted || !$0.isDeleted) }),
                let stored = state.schemas[id]
            else { return .failure(.schemaNotFound(id: nil)) }
            return .success(state.registered(subject: subject, entry: entry, stored: stored))
        }
        return try result.get()
    }

    // MARK: Compatibility

    /// Checks a schema against a subject's live versions at the subject's effective level: all of
    /// them (the level decides which count), or only `selector`'s version.
    public func checkCompatibility(subject: String, schema text: String, references: [SchemaReference] = [], version selector: VersionSelector? = nil) throws(RegistryError) -> CompatibilityResult {
        let (schema, _, _) = try prepare(text, references: references)
        let result: Result<CompatibilityResult, RegistryError> = state.withLock { state in
            let level = state.effectiveLevel(subject)
            let live = (state.subjects[subject] ?? []).filter { !$0.isDeleted }
            var compared = live
            if let selector {
                switch selector {
                case .latest: compared = live.last.map { [$0] } ?? []
                case .number(let number):
                    guard let entry = live.first(where: { $0.version == number }) else {
                        return .failure(.versionNotFound(String(number)))
                    }
                    compared = [entry]
                }
            }
            // Checking against one named version compares with it alone, whatever the level.
            let effective: CompatibilityLevel = selector == nil ? level : level.nonTransitive
            let report = state.check(schema, against: compared, level: effective)
            return .success(CompatibilityResult(isCompatible: report.isCompatible, messages: state.verboseMessages(report, subject: subject)))
        }
        return try result.get()
    }

    // MARK: Config and mode

    /// The subject's configured level (or the global one, or the default, with `defaultToGlobal`).
    public func level(subject: String?, defaultToGlobal: Bool) throws(RegistryError) -> CompatibilityLevel {
        let scope = subject ?? SchemaRegistry.globalScope
        let level: CompatibilityLevel? = state.withLock { state in
            if let level = state.levels[scope] { return level }
            if subject == nil || defaultToGlobal { return state.levels[SchemaRegistry.globalScope] ?? SchemaRegistry.defaultLevel }
            return nil
        }
        guard let level else { throw .subjectCompatibilityNotConfigured(subject ?? "") }
        return level
    }

    /// Sets the global (nil) or a subject's level.
    public func setLevel(_ level: CompatibilityLevel, subject: String?) throws(RegistryError) {
        if let subject { try SchemaRegistry.validateSubject(subject) }
        let scope = subject ?? SchemaRegistry.globalScope
        try state.withLock { (state) throws(RegistryError) in
            if state.effectiveMode(subject).refusesWrites { throw .operationNotPermitted(state.readOnlyMessage(subject)) }
            try state.write { (database) throws(StorageError) in
                try database.run("INSERT INTO config(scope, level) VALUES(?, ?) ON CONFLICT(scope) DO UPDATE SET level = excluded.level", [.text(scope), .text(level.rawValue)])
            }
            state.levels[scope] = level
        }
    }

    /// Removes the global (nil) or a subject's level; returns the one removed.
    public func deleteLevel(subject: String?) throws(RegistryError) -> CompatibilityLevel {
        let scope = subject ?? SchemaRegistry.globalScope
        return try state.withLock { (state) throws(RegistryError) -> CompatibilityLevel in
            if state.effectiveMode(subject).refusesWrites { throw .operationNotPermitted(state.readOnlyMessage(subject)) }
            guard let previous = state.levels[scope] else {
                if let subject { throw .subjectNotFound(subject) }
                return SchemaRegistry.defaultLevel
            }
            try state.write { (database) throws(StorageError) in try database.run("DELETE FROM config WHERE scope = ?", [.text(scope)]) }
            state.levels[scope] = nil
            return previous
        }
    }

    /// The subject's configured mode (or the global one with `defaultToGlobal`).
    public func mode(subject: String?, defaultToGlobal: Bool) throws(RegistryError) -> RegistryMode {
        let scope = subject ?? SchemaRegistry.globalScope
        let mode: RegistryMode? = state.withLock { state in
            if let mode = state.modes[scope] { return mode }
            if subject == nil || defaultToGlobal { return state.modes[SchemaRegistry.globalScope] ?? .readWrite }
            return nil
        }
        guard let mode else { throw .subjectModeNotConfigured(subject ?? "") }
        return mode
    }

    /// Sets the global (nil) or a subject's mode. IMPORT needs an empty scope unless `force`.
    public func setMode(_ mode: RegistryMode, subject: String?, force: Bool) throws(RegistryError) {
        if let subject { try SchemaRegistry.validateSubject(subject) }
        let scope = subject ?? SchemaRegistry.globalScope
        try state.withLock { (state) throws(RegistryError) in
            if mode == .import, !force {
                let hasLive = state.subjects.contains { name, versions in
                    (subject == nil || name == subject) && versions.contains { !$0.isDeleted }
                }
                if hasLive { throw .operationNotPermitted("Cannot import since found existing subjects") }
            }
            try state.write { (database) throws(StorageError) in
                try database.run("INSERT INTO mode(scope, mode) VALUES(?, ?) ON CONFLICT(scope) DO UPDATE SET mode = excluded.mode", [.text(scope), .text(mode.rawValue)])
            }
            state.modes[scope] = mode
        }
    }

    /// Removes a subject's mode; returns the one removed.
    public func deleteMode(subject: String) throws(RegistryError) -> RegistryMode {
        try state.withLock { (state) throws(RegistryError) -> RegistryMode in
            guard let previous = state.modes[subject] else { throw .subjectNotFound(subject) }
            try state.write { (database) throws(StorageError) in try database.run("DELETE FROM mode WHERE scope = ?", [.text(subject)]) }
            state.modes[subject] = nil
            return previous
        }
    }

    // MARK: Deleting

    /// Soft-deletes a subject (every live version), or with `permanent` removes a soft-deleted one.
    /// Returns the versions deleted.
    public func deleteSubject(_ subject: String, permanent: Bool) throws(RegistryError) -> [Int] {
        try state.withLock { (state) throws(RegistryError) -> [Int] in
            guard let versions = state.subjects[subject], !versions.isEmpty else { throw .subjectNotFound(subject) }
            if state.effectiveMode(subject).refusesWrites { throw .operationNotPermitted(state.readOnlyMessage(subject)) }
            let live = versions.filter { !$0.isDeleted }
            if permanent {
                guard live.isEmpty else { throw .subjectNotSoftDeleted(subject) }
                try state.refuseIfReferenced(subject: subject, versions: versions.map(\.version), countingDeleted: true)
                try state.write { (database) throws(StorageError) in
                    try database.run("DELETE FROM versions WHERE subject = ?", [.text(subject)])
                    try database.run("DELETE FROM config WHERE scope = ?", [.text(subject)])
                    try database.run("DELETE FROM mode WHERE scope = ?", [.text(subject)])
                }
                state.subjects[subject] = nil
                state.levels[subject] = nil
                state.modes[subject] = nil
                state.forgetUnusedHashes(versions.map(\.id))
                return versions.map(\.version)
            }
            guard !live.isEmpty else { throw .subjectSoftDeleted(subject) }
            try state.refuseIfReferenced(subject: subject, versions: live.map(\.version), countingDeleted: false)
            try state.write { (database) throws(StorageError) in
                try database.run("UPDATE versions SET deleted = 1 WHERE subject = ?", [.text(subject)])
            }
            state.subjects[subject] = versions.map { SubjectVersion(version: $0.version, id: $0.id, isDeleted: true, timestamp: $0.timestamp) }
            return live.map(\.version)
        }
    }

    /// Soft-deletes one version, or with `permanent` removes a soft-deleted one. Returns its number.
    public func deleteVersion(subject: String, _ selector: VersionSelector, permanent: Bool) throws(RegistryError) -> Int {
        try state.withLock { (state) throws(RegistryError) -> Int in
            guard let versions = state.subjects[subject], !versions.isEmpty else { throw .subjectNotFound(subject) }
            if state.effectiveMode(subject).refusesWrites { throw .operationNotPermitted(state.readOnlyMessage(subject)) }
            let index: Int?
            switch selector {
            case .latest: index = versions.lastIndex { !$0.isDeleted }
            case .number(let number): index = versions.firstIndex { $0.version == number }
            }
            guard let index else { throw .versionNotFound(selector.text) }
            let entry = versions[index]
            if permanent {
                guard entry.isDeleted else { throw .versionNotSoftDeleted(subject: subject, version: entry.version) }
                try state.refuseIfReferenced(subject: subject, versions: [entry.version], countingDeleted: true)
                // Removing the last version drops the subject's config and mode too, in the same transaction.
                let removesSubject = versions.count == 1
                try state.write { (database) throws(StorageError) in
                    try database.run("DELETE FROM versions WHERE subject = ? AND version = ?", [.text(subject), .integer(Int64(entry.version))])
                    if removesSubject {
                        try database.run("DELETE FROM config WHERE scope = ?", [.text(subject)])
                        try database.run("DELETE FROM mode WHERE scope = ?", [.text(subject)])
                    }
                }
                if removesSubject {
                    state.subjects[subject] = nil
                    state.levels[subject] = nil
                    state.modes[subject] = nil
                } else {
                    state.subjects[subject]?.remove(at: index)
                }
                state.forgetUnusedHashes([entry.id])
                return entry.version
            }
            guard !entry.isDeleted else { throw .versionSoftDeleted(subject: subject, version: entry.version) }
            try state.refuseIfReferenced(subject: subject, versions: [entry.version], countingDeleted: false)
            try state.write { (database) throws(StorageError) in
                try database.run("UPDATE versions SET deleted = 1 WHERE subject = ? AND version = ?", [.text(subject), .integer(Int64(entry.version))])
            }
            state.subjects[subject]?[index].isDeleted = true
            return entry.version
        }
    }

    // MARK: Helpers

    /// Confluent refuses subjects with control characters and the reserved scope names.
    static func validateSubject(_ subject: String) throws(RegistryError) {
        if subject == globalScope || subject == "__EMPTY" || subject.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw .invalidSubject(subject)
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
}

extension SchemaRegistry.State {
    func isInUse(_ id: Int) -> Bool {
        (useCount[id] ?? 0) > 0
    }

    func registered(subject: String, entry: SchemaRegistry.SubjectVersion, stored: StoredSchema) -> RegisteredSchema {
        RegisteredSchema(
            subject: subject, version: entry.version, id: entry.id, schema: stored.schema, references: stored.references,
            isDeleted: entry.isDeleted, timestamp: entry.timestamp)
    }

    func effectiveLevel(_ subject: String) -> CompatibilityLevel {
        levels[subject] ?? levels[SchemaRegistry.globalScope] ?? SchemaRegistry.defaultLevel
    }

    func effectiveMode(_ subject: String?) -> RegistryMode {
        (subject.flatMap { modes[$0] }) ?? modes[SchemaRegistry.globalScope] ?? .readWrite
    }

    func readOnlyMessage(_ subject: String?) -> String {
        subject.map { "Subject \($0) is in read-only mode" } ?? "The registry is in read-only mode"
    }

    /// Runs storage writes in one transaction, mapping failures to a registry error.
    func write(_ body: (SQLiteDatabase) throws(StorageError) -> Void) throws(RegistryError) {
        do {
            try journal.writeNow(body)
        } catch {
            throw .storage(String(describing: error))
        }
    }

    /// Keeps a parsed schema for later compatibility checks. Parsed schemas are about ten times the
    /// size of their text, so the cache is bounded; an evicted one is parsed again when needed.
    mutating func cacheParsed(_ schema: AvroSchema, id: Int) {
        if parsed.count >= SchemaRegistry.parsedCacheLimit, let victim = parsed.keys.first {
            parsed[victim] = nil
        }
        parsed[id] = schema
    }

    /// The parsed schema of `id` (parsed once, then cached: schemas by id never change).
    mutating func parsedSchema(_ id: Int) -> AvroSchema? {
        if let schema = parsed[id] { return schema }
        guard let stored = schemas[id] else { return nil }
        var referenced: [AvroSchema] = []
        for reference in stored.references {
            if let entry = subjects[reference.subject]?.first(where: { $0.version == reference.version }), let schema = parsedSchema(entry.id) {
                referenced.append(schema)
            }
        }
        guard let schema = try? AvroSchema(parsing: stored.schema, references: referenced, options: .init(validatesDefaults: false)) else { return nil }
        cacheParsed(schema, id: id)
        return schema
    }

    mutating func check(_ schema: AvroSchema, against entries: [SchemaRegistry.SubjectVersion], level: CompatibilityLevel) -> CompatibilityReport {
        let existing = entries.compactMap { entry in parsedSchema(entry.id).map { ExistingSchemaVersion(version: entry.version, schema: $0) } }
        return CompatibilityChecker.check(schema, against: existing, level: level)
    }

    /// Confluent's verbose messages: per compared version its problems, `{oldSchemaVersion: n}` and
    /// `{oldSchema: '…'}`; then our fix for each problem; then `{validateFields…, compatibility…}`.
    func verboseMessages(_ report: CompatibilityReport, subject: String) -> [String] {
        guard !report.isCompatible else { return [] }
        var messages: [String] = []
        var version: Int?
        func trailer(_ number: Int) {
            messages.append("{oldSchemaVersion: \(number)}")
            if let entry = subjects[subject]?.first(where: { $0.version == number }), let text = schemas[entry.id]?.schema {
                let shown = text.utf8.count > 10_240 ? "<truncated> '\(String(text.prefix(10_240)))...'" : "'\(text)'"
                messages.append("{oldSchema: \(shown)}")
            }
        }
        for problem in report.incompatibilities {
            if let current = version, current != problem.version { trailer(current) }
            version = problem.version
            messages.append("{errorType:'\(problem.type.rawValue)', description:'\(problem.message)', additionalInfo:'\(problem.additionalInfo)'}")
        }
        if let version { trailer(version) }
        for problem in report.incompatibilities {
            messages.append("{fix:'\(problem.fix)', errorType:'\(problem.type.rawValue)', path:'\(problem.path.isEmpty ? "/" : problem.path)', oldSchemaVersion: \(problem.version)}")
        }
        messages.append("{validateFields: 'false', compatibility: '\(report.level.rawValue)'}")
        return messages
    }

    func refuseIfReferenced(subject: String, versions: [Int], countingDeleted: Bool) throws(RegistryError) {
        for (otherSubject, entries) in subjects {
            for entry in entries where countingDeleted || !entry.isDeleted {
                guard let stored = schemas[entry.id] else { continue }
                for reference in stored.references where reference.subject == subject && versions.contains(reference.version) {
                    if otherSubject == subject && versions.contains(entry.version) { continue }
                    throw .referenceExists("{subject=\(subject),version=\(reference.version)}")
                }
            }
        }
    }

    /// After a permanent delete: content no version uses any more gets a new id if registered again.
    mutating func forgetUnusedHashes(_ ids: [Int]) {
        for id in ids {
            useCount[id, default: 0] -= 1
            guard useCount[id, default: 0] <= 0 else { continue }
            useCount[id] = nil
            if let hash = schemas[id]?.hash, idByHash[hash] == id { idByHash[hash] = nil }
        }
    }

    mutating func register(
        subject: String, schema: AvroSchema, normalized: String, hash: String, references: [SchemaReference], explicitID: Int?, explicitVersion: Int?
    ) throws(RegistryError) -> RegisteredSchema {
        let versions = subjects[subject] ?? []
        // Fast path, before any mode check: an identical live version is returned as it is.
        if let id = idByHash[hash], explicitID == nil || explicitID == id,
            let entry = versions.last(where: { $0.id == id && !$0.isDeleted }), let stored = schemas[id]
        {
            return registered(subject: subject, entry: entry, stored: stored)
        }
        let mode = effectiveMode(subject)
        if mode.refusesWrites { throw .operationNotPermitted(readOnlyMessage(subject)) }
        if explicitID != nil, mode != .import { throw .operationNotPermitted("Subject \(subject) is not in import mode") }
        if explicitID == nil, mode != .readWrite { throw .operationNotPermitted("Subject \(subject) is not in read-write mode") }

        if mode != .import {
            let live = versions.filter { !$0.isDeleted }
            let report = check(schema, against: live, level: effectiveLevel(subject))
            if !report.isCompatible {
                throw .incompatibleSchema(subject: subject, details: verboseMessages(report, subject: subject))
            }
        }
        let nextVersion = (versions.last?.version ?? 0) + 1
        let version: Int
        if let explicitVersion, mode == .import {
            guard explicitVersion >= 1, !versions.contains(where: { $0.version == explicitVersion }) else {
                throw .invalidSchema("version \(explicitVersion) already exists under subject \(subject)")
            }
            version = explicitVersion
        } else {
            if let explicitVersion, explicitVersion != nextVersion {
                throw .invalidSchema("Version is not one more than previous version")
            }
            version = nextVersion
        }
        var isNewContent = false
        let id: Int
        if let explicitID {
            if let existing = schemas[explicitID], existing.hash != hash {
                throw .operationNotPermitted("Overwrite new schema with id \(explicitID) is not permitted.")
            }
            id = explicitID
            isNewContent = schemas[explicitID] == nil
        } else if let existing = idByHash[hash] {
            id = existing
        } else {
            id = maximumID + 1
            isNewContent = true
        }
        let timestamp = WallClock.milliseconds
        let stored = StoredSchema(id: id, schema: normalized, references: references, hash: hash)
        let newMaximum = max(maximumID, id)
        var operations: [Journal.Operation] = []
        if isNewContent {
            operations.append(
                Journal.Operation(
                    sql: "INSERT INTO schemas(id, hash, schema, refs) VALUES(?, ?, ?, ?)",
                    values: [.integer(Int64(id)), .text(hash), .text(normalized), .text(SchemaRegistry.encodeReferences(references))]))
        }
        operations.append(
            Journal.Operation(
                sql: "INSERT INTO versions(subject, version, schema_id, deleted, ts) VALUES(?, ?, ?, 0, ?)",
                values: [.text(subject), .integer(Int64(version)), .integer(Int64(id)), .integer(timestamp)]))
        operations.append(
            Journal.Operation(
                sql: "INSERT INTO meta(key, value) VALUES('maximum_id', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                values: [.integer(Int64(newMaximum))]))
        // Memory changes now, so the next registration sees this one; the caller answers only after
        // the journal has made it durable (group commit).
        _ = journal.enqueue(operations)
        if isNewContent { schemas[id] = stored }
        if parsed[id] == nil { cacheParsed(schema, id: id) }
        idByHash[hash] = id
        useCount[id, default: 0] += 1
        maximumID = newMaximum
        let entry = SchemaRegistry.SubjectVersion(version: version, id: id, isDeleted: false, timestamp: timestamp)
        var updated = versions
        updated.append(entry)
        updated.sort { $0.version < $1.version }
        subjects[subject] = updated
        return registered(subject: subject, entry: entry, stored: schemas[id] ?? stored)
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
