import AvroCodec

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension SchemaRegistry {
    // MARK: Reading

    /// The schema with this global id. Ids stay resolvable while any version (even soft-deleted) uses them.
    public func schema(id: Int) throws(RegistryError) -> StoredSchema {
        try SchemaRegistry.validateIdentifier(id, what: "schema id")
        func inMemory() -> StoredSchema? {
            state.withLock { state in
                guard let stored = state.schemas[id], state.isInUse(id) else { return nil }
                return stored
            }
        }
        if let found = inMemory() { return found }
        // Another node may have answered this id a moment ago: ask the store before saying 404.
        guard try store.fetchMissing(id: id, into: self), let found = inMemory() else { throw .schemaNotFound(id: id) }
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
        guard let stored = lookup.stored else {
            // Not in memory: `schema(id:)` asks the store; such a body is not kept (the next request finds it in memory).
            return render(try schema(id: id))
        }
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

    /// Whether any subject holding schema `id` (in a live or soft-deleted version) passes `accepts`; false when no
    /// version holds it (in memory: a by-id read the store answers is checked again once memory has it).
    public func anySubject(holding id: Int, where accepts: (String) -> Bool) -> Bool {
        // The dictionary itself (a reference, copied only if a writer changes it meanwhile), checked outside the lock.
        let holders = state.withLock { state in state.useCount[id] }
        return holders?.keys.contains(where: accepts) ?? false
    }

    /// (subject, version) pairs using schema `id`, by subject then version.
    public func versions(usingID id: Int, includeDeleted: Bool = false) throws(RegistryError) -> [(subject: String, version: Int)] {
        try SchemaRegistry.validateIdentifier(id, what: "schema id")
        if !state.withLock({ $0.isInUse(id) }) { _ = try schema(id: id) }
        let pairs: [(subject: String, version: Int)]? = state.withLock { state in
            guard state.schemas[id] != nil, state.isInUse(id) else { return nil }
            var pairs: [(subject: String, version: Int)] = []
            for subject in state.useCount[id]?.keys ?? [:].keys {
                for entry in state.subjects[subject] ?? [] where entry.id == id && (includeDeleted || !entry.isDeleted) {
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
}
