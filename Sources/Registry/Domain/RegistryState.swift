import AvroCodec

/// Helpers on the registry's in-memory state; all run with the state lock held.
extension SchemaRegistry.State {
    func isInUse(_ id: Int) -> Bool {
        useCount[id] != nil
    }

    func registered(subject: String, entry: SchemaRegistry.SubjectVersion, stored: StoredSchema) -> RegisteredSchema {
        RegisteredSchema(
            subject: subject, version: entry.version, id: entry.id, schema: stored.schema, references: stored.references,
            contract: stored.contract, guid: stored.guid, isDeleted: entry.isDeleted, timestamp: entry.timestamp)
    }

    /// The subject's config over the registry's (each field falls back separately).
    func effectiveConfig(_ subject: String) -> SubjectConfig {
        (configs[subject] ?? SubjectConfig()).over(configs[SchemaRegistry.globalScope] ?? SubjectConfig())
    }

    func effectiveLevel(_ subject: String) -> CompatibilityLevel {
        effectiveConfig(subject).level ?? SchemaRegistry.defaultLevel
    }

    func effectiveMode(_ subject: String?) -> RegistryMode {
        (subject.flatMap { modes[$0] }) ?? modes[SchemaRegistry.globalScope] ?? .readWrite
    }

    func readOnlyMessage(_ subject: String?) -> String {
        subject.map { "Subject \($0) is in read-only mode" } ?? "The registry is in read-only mode"
    }

    /// Every subject name whose name starts with `prefix`, in name order. The sorted index is built
    /// once per write, and the start is found by binary search. Order and prefix are by UTF-8 bytes
    /// (code points, like Java's `startsWith`): `Character`-based comparison would let a combining mark
    /// end the prefix's range early.
    mutating func subjectNames(prefix: String) -> ArraySlice<String> {
        let sorted: [String]
        if let cached = sortedSubjects {
            sorted = cached
        } else {
            sorted = subjects.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            sortedSubjects = sorted
        }
        var low = 0
        var high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle].utf8.lexicographicallyPrecedes(prefix.utf8) { low = middle + 1 } else { high = middle }
        }
        var end = low
        while end < sorted.count, sorted[end].utf8.starts(with: prefix.utf8) { end += 1 }
        return sorted[low..<end]
    }

    /// Keeps a parsed schema for later checks, within a byte budget (about eight times the text's
    /// size each); when it is full, arbitrary entries go first (a dictionary's first keys).
    mutating func cacheParsed(_ schema: AvroSchema, id: Int) {
        guard parsed[id] == nil else { return }
        let cost = max(1, (schemas[id]?.schema.utf8.count ?? 0) * 8)
        guard cost <= parsedCacheByteLimit else { return }
        while parsedBytes + cost > parsedCacheByteLimit, let victim = parsed.keys.first {
            parsed[victim] = nil
            parsedBytes -= parsedCost.removeValue(forKey: victim) ?? 0
        }
        parsed[id] = schema
        parsedCost[id] = cost
        parsedBytes += cost
    }

    /// The parsed schema of `id` with its referenced types (parsed once, then cached: schemas by id
    /// never change).
    mutating func parsedSchema(_ id: Int, depth: Int = 0) -> AvroSchema? {
        if let schema = parsed[id] { return schema }
        guard depth <= SchemaRegistry.maximumReferenceDepth, let stored = schemas[id] else { return nil }
        var referenced: [AvroSchema] = []
        // Rows of older releases hold their referenced types inline: they parse on their own.
        for reference in stored.references where stored.format != .legacyNormalized {
            guard let entry = referencedEntry(reference), let schema = parsedSchema(entry.id, depth: depth + 1) else { return nil }
            referenced.append(schema)
        }
        guard let schema = try? AvroSchema(parsing: stored.schema, references: referenced, options: .init(validatesDefaults: false)) else { return nil }
        cacheParsed(schema, id: id)
        return schema
    }

    /// How many levels of references lie below schema `id` (0 without references), counted up to
    /// `limit` + 1: a stored schema is parsed again with its references (after a restart or an
    /// eviction) only to `maximumReferenceDepth` levels, so registration refuses deeper chains.
    func referenceDepth(_ id: Int, limit: Int = SchemaRegistry.maximumReferenceDepth, memo: inout [Int: Int]) -> Int {
        if let known = memo[id] { return known }
        guard limit >= 0, let stored = schemas[id], stored.format != .legacyNormalized else { return limit < 0 ? 1 : 0 }
        var deepest = 0
        for reference in stored.references {
            guard let entry = referencedEntry(reference) else { continue }
            deepest = max(deepest, 1 + referenceDepth(entry.id, limit: limit - 1, memo: &memo))
            if deepest > limit { break }
        }
        memo[id] = deepest
        return deepest
    }

    /// The version a reference points at (`-1`: the latest live one), soft-deleted ones included.
    func referencedEntry(_ reference: SchemaReference) -> SchemaRegistry.SubjectVersion? {
        guard let versions = subjects[reference.subject] else { return nil }
        if reference.version == -1 { return versions.last { !$0.isDeleted } }
        return versions.first { $0.version == reference.version }
    }

    /// What a check of `entries` (ascending) at `level` compares with, gathered under the state lock so
    /// that the check itself can run outside it: non-transitive levels compare with the newest only,
    /// transitive ones with each, newest first. A version that cannot be parsed is never taken as
    /// compatible: it is an error.
    mutating func comparedSchemas(_ entries: [SchemaRegistry.SubjectVersion], level: CompatibilityLevel) throws(RegistryError) -> ComparedSchemas {
        guard level != .none, let newest = entries.last else { return ComparedSchemas(level: level, entries: []) }
        var compared = ComparedSchemas(level: level, entries: [])
        for entry in level.isTransitive ? Array(entries.reversed()) : [newest] {
            guard let existing = parsedSchema(entry.id) else {
                throw .storage("version \(entry.version) (schema id \(entry.id)) no longer parses with its references; it cannot be compared")
            }
            compared.entries.append((entry.version, entry.id, existing, schemas[entry.id]?.schema ?? ""))
        }
        return compared
    }

    /// Checks `schema` against `entries` at `level` here, under the lock (see `ComparedSchemas.failure`).
    mutating func checkFailure(
        _ schema: AvroSchema, against entries: [SchemaRegistry.SubjectVersion], level: CompatibilityLevel
    ) throws(RegistryError) -> CompatibilityFailure? {
        try comparedSchemas(entries, level: level).failure(of: schema)
    }

    /// Subjects with a version whose schema references `subject` (a scan: for deletes only).
    func subjectsReferencing(_ subject: String) -> [String] {
        subjects.compactMap { name, entries in
            entries.contains { entry in schemas[entry.id]?.references.contains { $0.subject == subject } ?? false } ? name : nil
        }
    }

    /// Confluent's 42206: a version that another subject's schema (or a later version of the same
    /// subject not being deleted) references cannot go.
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

    /// After a permanent delete: content no version uses any more gets a new id if registered again,
    /// and rendered bodies are dropped (the generation tells racing readers not to keep theirs).
    mutating func forgetUnusedHashes(_ ids: [Int], subject: String) {
        renderedBodies.invalidate()
        for id in ids {
            guard var uses = useCount[id] else { continue }
            uses[subject, default: 0] -= 1
            if uses[subject, default: 0] <= 0 { uses[subject] = nil }
            guard uses.isEmpty else {
                useCount[id] = uses
                continue
            }
            useCount[id] = nil
            if let hash = schemas[id]?.hash, idByHash[hash] == id {
                // IMPORT can give the same content two ids: another one still in use keeps the hash.
                idByHash[hash] = schemas.values.filter { $0.hash == hash && $0.id != id && isInUse($0.id) }.map(\.id).min()
            }
            if let cost = parsedCost.removeValue(forKey: id) {
                parsed[id] = nil
                parsedBytes -= cost
            }
        }
    }
}

/// The versions a compatibility check compares with, parsed, with the level: gathered under the state
/// lock, checked outside it (a check of a large subject must not hold up reads of others).
struct ComparedSchemas {
    var level: CompatibilityLevel
    var entries: [(version: Int, id: Int, schema: AvroSchema, text: String)]

    /// What decides the outcome besides the new schema: the level and the versions compared (ids never
    /// change meaning). Checks of one schema on equal stamps have the same outcome.
    var stamp: [Int] { ComparedSchemas.stamp(level: level, versions: entries.map { ($0.version, $0.id) }) }

    /// The stamp of a check of `entries` (ascending) at `level`, without parsing anything.
    static func stamp(_ entries: [SchemaRegistry.SubjectVersion], level: CompatibilityLevel) -> [Int] {
        guard level != .none, let newest = entries.last else { return stamp(level: level, versions: []) }
        let compared = level.isTransitive ? Array(entries.reversed()) : [newest]
        return stamp(level: level, versions: compared.map { ($0.version, $0.id) })
    }

    private static func stamp(level: CompatibilityLevel, versions: [(Int, Int)]) -> [Int] {
        [CompatibilityLevel.allCases.firstIndex(of: level) ?? -1] + versions.flatMap { [$0.0, $0.1] }
    }

    /// Confluent's check: every problem is reported against the first failing version (newest first);
    /// the others that fail are only counted.
    func failure(of schema: AvroSchema) -> CompatibilityFailure? {
        var failure: CompatibilityFailure?
        var alsoFailing: [Int] = []
        for entry in entries {
            if failure == nil {
                let report = CompatibilityChecker.check(schema, against: [ExistingSchemaVersion(version: entry.version, schema: entry.schema)], level: level.nonTransitive)
                guard !report.isCompatible else { continue }
                failure = CompatibilityFailure(level: level, version: entry.version, oldSchema: entry.text, problems: report.incompatibilities, alsoFailing: [])
            } else {
                let readsOld = !level.checksBackward || SchemaResolution.canRead(reader: schema, writer: entry.schema)
                let oldReads = !level.checksForward || SchemaResolution.canRead(reader: entry.schema, writer: schema)
                if !(readsOld && oldReads) { alsoFailing.append(entry.version) }
            }
        }
        guard let failure else { return nil }
        return CompatibilityFailure(
            level: failure.level, version: failure.version, oldSchema: failure.oldSchema, problems: failure.problems, alsoFailing: alsoFailing)
    }
}
