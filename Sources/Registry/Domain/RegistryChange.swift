import AvroCodec

/// One change to the registry's durable state, as a rule decides it. Every store writes these
/// (SQLite as rows in one transaction, PostgreSQL likewise), and memory applies them the same way.
enum RegistryChange: Sendable {
    /// New content under a new id (ids are never reused, so this row never changes afterwards).
    case addSchema(StoredSchema)
    /// A new version of a subject.
    case addVersion(subject: String, SchemaRegistry.SubjectVersion)
    /// Versions removed for good; `dropsSubject` when they were its last, which takes the subject's
    /// config and mode with them.
    case removeVersions(subject: String, versions: [Int], dropsSubject: Bool)
    /// Versions soft-deleted.
    case softDelete(subject: String, versions: [Int])
    /// A scope's (a subject's or `__GLOBAL`'s) config set, or removed (nil).
    case setConfig(scope: String, SubjectConfig?)
    /// A scope's mode set, or removed (nil).
    case setMode(scope: String, RegistryMode?)

    /// The subject or `__GLOBAL` whose state this changes (nil: none, a schema row is global).
    var scope: String? {
        switch self {
        case .addSchema: return nil
        case .addVersion(let subject, _), .removeVersions(let subject, _, _), .softDelete(let subject, _): return subject
        case .setConfig(let scope, _), .setMode(let scope, _): return scope
        }
    }
}

/// Everything a store holds, as loaded at start (and, for PostgreSQL, again after a lost feed).
struct RegistrySnapshot: Sendable {
    var schemas: [StoredSchema] = []
    /// Versions per subject, ascending.
    var subjects: [String: [SchemaRegistry.SubjectVersion]] = [:]
    var configs: [String: SubjectConfig] = [:]
    var modes: [String: RegistryMode] = [:]
    /// How many decisions each scope has seen (PostgreSQL; empty for SQLite, whose memory is the
    /// only writer).
    var generations: [String: Int64] = [:]
    /// The highest id ever given, when the store keeps it apart from the rows (SQLite).
    var maximumID = 0
}

/// The committed state of one scope, read from a shared store: what memory takes over when it is
/// newer than what memory has.
struct ScopeState: Sendable {
    var scope: String
    var generation: Int64
    /// Empty for `__GLOBAL` and for a subject without versions.
    var versions: [SchemaRegistry.SubjectVersion]
    var config: SubjectConfig?
    var mode: RegistryMode?
}

extension SchemaRegistry.State {
    /// Fills a new state from a store's snapshot.
    mutating func load(_ snapshot: RegistrySnapshot) {
        for stored in snapshot.schemas {
            schemas[stored.id] = stored
            maximumID = max(maximumID, stored.id)
            if stored.format == .legacyNormalized { hasLegacyRows = true }
        }
        maximumID = max(maximumID, snapshot.maximumID)
        subjects = snapshot.subjects
        for (subject, versions) in snapshot.subjects {
            for entry in versions { countUse(entry.id, subject: subject) }
        }
        configs = snapshot.configs
        modes = snapshot.modes
        generations = snapshot.generations
    }

    /// One more version uses `id`; the lowest id in use wins the content's hash (IMPORT can give the
    /// same content several ids), so every node picks the same one.
    mutating func countUse(_ id: Int, subject: String) {
        useCount[id, default: [:]][subject, default: 0] += 1
        if let stored = schemas[id], idByHash[stored.hash].map({ $0 > id || !isInUse($0) }) ?? true {
            idByHash[stored.hash] = id
        }
    }

    /// Applies a rule's changes to memory, in order.
    mutating func apply(_ changes: [RegistryChange]) {
        for change in changes {
            switch change {
            case .addSchema(let stored):
                if schemas[stored.id] == nil { schemas[stored.id] = stored }
                maximumID = max(maximumID, stored.id)
            case .addVersion(let subject, let entry):
                var versions = subjects[subject] ?? []
                versions.append(entry)
                versions.sort { $0.version < $1.version }
                subjects[subject] = versions
                countUse(entry.id, subject: subject)
            case .removeVersions(let subject, let list, let dropsSubject):
                let numbers = Set(list)
                let removed = (subjects[subject] ?? []).filter { numbers.contains($0.version) }
                if dropsSubject {
                    subjects[subject] = nil
                    configs[subject] = nil
                    modes[subject] = nil
                } else {
                    subjects[subject]?.removeAll { numbers.contains($0.version) }
                }
                forgetUnusedHashes(removed.map(\.id), subject: subject)
            case .softDelete(let subject, let list):
                let numbers = Set(list)
                guard var versions = subjects[subject] else { continue }
                for index in versions.indices where numbers.contains(versions[index].version) { versions[index].isDeleted = true }
                subjects[subject] = versions
            case .setConfig(let scope, let config):
                configs[scope] = config
            case .setMode(let scope, let mode):
                modes[scope] = mode
            }
        }
    }

    /// Takes over a scope's committed state from a shared store when it is newer than memory's copy
    /// (generations only grow, so an older read arriving late changes nothing). Returns whether it
    /// was taken. The schemas its versions use must be in `schemas` already.
    @discardableResult
    mutating func takeOver(_ committed: ScopeState) -> Bool {
        guard committed.generation > generations[committed.scope] ?? 0 else { return false }
        generations[committed.scope] = committed.generation
        configs[committed.scope] = committed.config
        modes[committed.scope] = committed.mode
        guard committed.scope != SchemaRegistry.globalScope else { return true }
        let old = subjects[committed.scope] ?? []
        let fields = { (entry: SchemaRegistry.SubjectVersion) in [Int64(entry.version), Int64(entry.id), entry.isDeleted ? 1 : 0, entry.timestamp] }
        guard old.map(fields) != committed.versions.map(fields) else {
            return true
        }
        subjects[committed.scope] = committed.versions.isEmpty ? nil : committed.versions
        // Only what came or went changes the use counts (a soft delete changes none).
        let oldPairs = Set(old.map { [$0.version, $0.id] })
        let newPairs = Set(committed.versions.map { [$0.version, $0.id] })
        for entry in committed.versions where !oldPairs.contains([entry.version, entry.id]) { countUse(entry.id, subject: committed.scope) }
        let gone = old.filter { !newPairs.contains([$0.version, $0.id]) }.map(\.id)
        if !gone.isEmpty { forgetUnusedHashes(gone, subject: committed.scope) }
        return true
    }
}
