import AvroCodec

/// A parsed request schema and the texts it can be stored or matched as.
struct Candidate {
    let schema: AvroSchema
    let references: [SchemaReference]
    /// The schema id each reference resolved to when the request was parsed: a rule refuses the request
    /// if one of them points elsewhere by the time it decides (deleted for good and registered again).
    let referencedIDs: [Int]
    /// Confluent's canonical string (what is stored without `normalize`).
    let canonicalText: String
    /// The normalized form (what is stored with `normalize`).
    let normalizedText: String
    /// The identity an earlier release gave this schema, when the database has rows of one.
    let legacyHash: String?
    /// Whether the request carried `metadata` / `ruleSet` members at all.
    let metadata: SchemaMetadata?
    let ruleSet: SchemaRuleSet?
}

extension SchemaRegistry {
    // MARK: Preparing

    /// Parses and validates a request's schema with its references resolved.
    func prepare(_ request: SchemaRequest) throws(RegistryError) -> Candidate {
        for reference in request.references where reference.version != -1 {
            try SchemaRegistry.validateIdentifier(reference.version, what: "reference version")
        }
        // `version: -1` (latest) is resolved now and stored as the concrete version, as Confluent does:
        // what a schema refers to must not change when the referenced subject gets a new version.
        // Another node may have registered what is referenced (or a newer latest): read those subjects as
        // committed first (nothing to do for SQLite).
        if !request.references.isEmpty { try store.refresh(subjects: request.references.map(\.subject).uniqued(), into: self) }
        let (referenced, references, referencedIDs) = try resolve(request.references)
        let schema: AvroSchema
        do {
            schema = try AvroSchema(parsing: request.schema, references: referenced)
        } catch {
            throw .invalidSchema(error.description)
        }
        let hasLegacyRows = state.withLock { $0.hasLegacyRows }
        let legacyHash = hasLegacyRows ? SchemaRegistry.identity(schema.normalizedForm, references, .none) : nil
        return Candidate(
            schema: schema, references: references, referencedIDs: referencedIDs, canonicalText: schema.canonicalText, normalizedText: schema.normalizedText,
            legacyHash: legacyHash, metadata: request.metadata, ruleSet: request.ruleSet)
    }

    /// The parsed schemas a request's references point at (each with its own references, to any
    /// depth; a type reached along two paths is taken once).
    private func resolve(_ references: [SchemaReference]) throws(RegistryError) -> ([AvroSchema], [SchemaReference], [Int]) {
        // Each distinct referenced subject is locked while a registration decides (PostgreSQL): bounded.
        guard references.map(\.subject).uniqued().count <= SchemaRegistry.maximumReferencedSubjects else {
            throw .invalidSchema("a schema may reference at most \(SchemaRegistry.maximumReferencedSubjects) subjects")
        }
        return try state.withLock { (state) throws(RegistryError) -> ([AvroSchema], [SchemaReference], [Int]) in
            var resolved: [AvroSchema] = []
            var concrete: [SchemaReference] = []
            var ids: [Int] = []
            for reference in references {
                guard let entry = state.referencedEntry(reference), state.schemas[entry.id] != nil else {
                    throw .invalidSchema("reference \(reference.name) to subject '\(reference.subject)' version \(reference.version) does not exist")
                }
                var memo: [Int: Int] = [:]
                guard state.referenceDepth(entry.id, memo: &memo) < SchemaRegistry.maximumReferenceDepth else {
                    throw .invalidSchema("references nest deeper than \(SchemaRegistry.maximumReferenceDepth) levels")
                }
                guard let schema = state.parsedSchema(entry.id) else {
                    throw .invalidSchema("referenced schema \(reference.subject) version \(reference.version) is invalid or references what no longer exists")
                }
                resolved.append(schema)
                concrete.append(SchemaReference(name: reference.name, subject: reference.subject, version: entry.version))
                ids.append(entry.id)
            }
            return (resolved, concrete, ids)
        }
    }

    // MARK: Registering

    /// Registers a schema under a subject (Confluent's algorithm): a matching live version returns
    /// its id; otherwise the mode must allow writes, the schema must be compatible at the subject's
    /// level, and it gets the next version, reusing the global id of identical content.
    public func register(subject: String, _ request: SchemaRequest) throws(RegistryError) -> RegisteredSchema {
        try SchemaRegistry.validateNewSubject(subject)
        if let id = request.explicitID { try SchemaRegistry.validateIdentifier(id, what: "schema id") }
        if let version = request.explicitVersion { try SchemaRegistry.validateIdentifier(version, what: "version") }
        let candidate = try prepare(request)
        let precheck = precheckCompatibility(subject: subject, candidate, request: request)
        let decision = Decision<RegisteredSchema>(
            subject: subject, readSubjects: candidate.references.map(\.subject).uniqued().filter { $0 != subject },
            identity: { state in state.registrationIdentity(subject: subject, candidate, request: request) },
            explicitID: request.explicitID, groupCommit: true,
            rule: { (state, ids) throws(RegistryError) in
                try state.register(subject: subject, candidate, request: request, ids: ids, precheck: precheck)
            },
            afterApply: { state, registered in
                if state.parsed[registered.id] == nil { state.cacheParsed(candidate.schema, id: registered.id) }
            })
        return try store.perform(decision, on: self)
    }

    /// A registration's compatibility check, made before the decision and outside the state lock on
    /// what memory holds now: the rule uses its outcome when it compares with the same versions at the
    /// same level (the stamp), and checks again under the lock otherwise. Nil when a version already
    /// holds the schema (the rule answers that without a check) or nothing is to be compared.
    func precheckCompatibility(subject: String, _ candidate: Candidate, request: SchemaRequest) -> (stamp: [Int], failure: CompatibilityFailure?)? {
        // IMPORT (an explicit id) skips the check, and a refused mode answers before it: no check for those.
        guard request.explicitID == nil else { return nil }
        let compared: ComparedSchemas? = state.withLock { state in
            guard state.effectiveMode(subject) == .readWrite else { return nil }
            let versions = state.subjects[subject] ?? []
            let config = state.effectiveConfig(subject)
            let normalize = request.normalize || config.normalize == true
            let contract = state.mergedContract(candidate, versions: versions, config: config)
            let hash = SchemaRegistry.identity(normalize ? candidate.normalizedText : candidate.canonicalText, candidate.references, contract)
            if state.matchingVersion(versions, candidate, hash: hash, contract: contract, normalize: normalize, includeDeleted: false) != nil { return nil }
            let entries = state.comparedVersions(versions, candidate: candidate, config: config)
            return try? state.comparedSchemas(entries, level: config.level ?? SchemaRegistry.defaultLevel)
        }
        guard let compared, !compared.entries.isEmpty else { return nil }
        return (compared.stamp, compared.failure(of: candidate.schema))
    }

    /// Registers a schema text without a data contract (a convenience for tests and tools).
    public func register(
        subject: String, schema text: String, references: [SchemaReference] = [], explicitID: Int? = nil, explicitVersion: Int? = nil
    ) throws(RegistryError) -> RegisteredSchema {
        try register(subject: subject, SchemaRequest(schema: text, references: references, explicitID: explicitID, explicitVersion: explicitVersion))
    }

    /// Finds the live (or, with `includeDeleted`, any) version of `subject` holding this schema: by
    /// identity first, then by a semantic match (references inlined, normalized or not, an older
    /// release's form, a request without the stored metadata).
    public func lookup(subject: String, _ request: SchemaRequest, includeDeleted: Bool = false) throws(RegistryError) -> RegisteredSchema {
        try SchemaRegistry.validateSubject(subject)
        let candidate = try prepare(request)
        let result: Result<RegisteredSchema, RegistryError> = state.withLock { state in
            guard let versions = state.subjects[subject], versions.contains(where: { includeDeleted || !$0.isDeleted }) else {
                return .failure(.subjectNotFound(subject))
            }
            let config = state.effectiveConfig(subject)
            let normalize = request.normalize || config.normalize == true
            let contract = state.mergedContract(candidate, versions: versions, config: config)
            let text = normalize ? candidate.normalizedText : candidate.canonicalText
            let hash = SchemaRegistry.identity(text, candidate.references, contract)
            if let entry = state.matchingVersion(versions, candidate, hash: hash, contract: contract, normalize: normalize, includeDeleted: includeDeleted),
                let stored = state.schemas[entry.id]
            {
                return .success(state.registered(subject: subject, entry: entry, stored: stored))
            }
            // A request without metadata or rules also finds a version that has some.
            if candidate.metadata == nil && candidate.ruleSet == nil {
                for entry in versions.reversed() where includeDeleted || !entry.isDeleted {
                    guard let stored = state.schemas[entry.id], stored.references == candidate.references else { continue }
                    if stored.schema == text || stored.schema == candidate.canonicalText || stored.schema == candidate.normalizedText {
                        return .success(state.registered(subject: subject, entry: entry, stored: stored))
                    }
                }
            }
            return .failure(.schemaNotFound(id: nil))
        }
        return try result.get()
    }

    /// Looks up a schema text without a data contract (a convenience for tests and tools).
    public func lookup(subject: String, schema text: String, references: [SchemaReference] = [], includeDeleted: Bool = false) throws(RegistryError) -> RegisteredSchema {
        try lookup(subject: subject, SchemaRequest(schema: text, references: references), includeDeleted: includeDeleted)
    }

    // MARK: Compatibility

    /// Checks a schema against a subject's live versions at the subject's effective level: all of
    /// them (the level decides which count), or only `selector`'s version.
    public func checkCompatibility(subject: String, _ request: SchemaRequest, version selector: VersionSelector? = nil) throws(RegistryError) -> CompatibilityResult {
        try SchemaRegistry.validateSubject(subject)
        let candidate = try prepare(request)
        let result: Result<ComparedSchemas, RegistryError> = state.withLock { state in
            let config = state.effectiveConfig(subject)
            let level = config.level ?? SchemaRegistry.defaultLevel
            let versions = state.subjects[subject] ?? []
            var compared = state.comparedVersions(versions, candidate: candidate, config: config)
            if let selector {
                let live = versions.filter { !$0.isDeleted }
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
            do throws(RegistryError) {
                return .success(try state.comparedSchemas(compared, level: effective))
            } catch {
                return .failure(error)
            }
        }
        // The check runs outside the state lock: reads and writes of other subjects go on meanwhile.
        return CompatibilityResult(failure: try result.get().failure(of: candidate.schema))
    }

    /// Checks a schema text without a data contract (a convenience for tests and tools).
    public func checkCompatibility(subject: String, schema text: String, references: [SchemaReference] = [], version selector: VersionSelector? = nil) throws(RegistryError) -> CompatibilityResult {
        try checkCompatibility(subject: subject, SchemaRequest(schema: text, references: references), version: selector)
    }
}

extension SchemaRegistry.State {
    /// The data contract a registration stores, in Confluent's order: the config's default, then
    /// the request's own (or, when the request has none, the previous version's), then the override.
    func mergedContract(_ candidate: Candidate, versions: [SchemaRegistry.SubjectVersion], config: SubjectConfig) -> DataContract {
        let previous = versions.last { !$0.isDeleted }.flatMap { schemas[$0.id] }
        let specificMetadata = candidate.metadata ?? previous?.contract.metadata
        let specificRules = candidate.ruleSet ?? previous?.contract.ruleSet
        var metadata = config.defaultMetadata ?? SchemaMetadata()
        if let specificMetadata { metadata = metadata.merged(with: specificMetadata) }
        if let override = config.overrideMetadata { metadata = metadata.merged(with: override) }
        var rules = config.defaultRuleSet ?? SchemaRuleSet()
        if let specificRules { rules = rules.merged(with: specificRules) }
        if let override = config.overrideRuleSet { rules = rules.merged(with: override) }
        return DataContract(metadata: metadata, ruleSet: rules)
    }

    /// The live versions a new schema is compared with: with a `compatibilityGroup`, only those whose
    /// metadata property of that name has the candidate's value.
    func comparedVersions(_ versions: [SchemaRegistry.SubjectVersion], candidate: Candidate, config: SubjectConfig) -> [SchemaRegistry.SubjectVersion] {
        let live = versions.filter { !$0.isDeleted }
        guard let group = config.compatibilityGroup else { return live }
        let value = mergedContract(candidate, versions: versions, config: config).metadata?.properties[group]
        return live.filter { schemas[$0.id]?.contract.metadata?.properties[group] == value }
    }

    /// The version of a subject that already holds a request's schema, newest first: the same
    /// identity; an older release's row of the same schema; a normalized row when the request is not
    /// normalized; a row with references when the request has them inlined.
    mutating func matchingVersion(
        _ versions: [SchemaRegistry.SubjectVersion], _ candidate: Candidate, hash: String, contract: DataContract, normalize: Bool, includeDeleted: Bool
    ) -> SchemaRegistry.SubjectVersion? {
        let visible = versions.reversed().filter { includeDeleted || !$0.isDeleted }
        // By content, not only by `idByHash`'s id: IMPORT can give one content several ids.
        if let id = idByHash[hash], let entry = visible.first(where: { $0.id == id }) { return entry }
        if let entry = visible.first(where: { schemas[$0.id]?.hash == hash }) { return entry }
        if let legacyHash = candidate.legacyHash, contract.isEmpty, let id = idByHash[legacyHash],
            schemas[id]?.format == .legacyNormalized, let entry = visible.first(where: { $0.id == id })
        {
            return entry
        }
        if !normalize {
            for entry in visible {
                guard let stored = schemas[entry.id], stored.format == .normalized, stored.references == candidate.references, stored.contract == contract else {
                    continue
                }
                if stored.schema == candidate.normalizedText { return entry }
            }
        }
        if candidate.references.isEmpty {
            for entry in visible {
                guard let stored = schemas[entry.id], !stored.references.isEmpty, stored.contract == contract, let parsed = parsedSchema(entry.id),
                    let inlined = try? AvroSchema(parsing: parsed.resolvedText, options: .init(validatesDefaults: false))
                else { continue }
                if inlined.normalizedText == candidate.normalizedText { return entry }
            }
        }
        return nil
    }

    /// The identity a registration deduplicates by (the stored text, references and merged contract).
    func registrationIdentity(subject: String, _ candidate: Candidate, request: SchemaRequest) -> String {
        let config = effectiveConfig(subject)
        let normalize = request.normalize || config.normalize == true
        let text = normalize ? candidate.normalizedText : candidate.canonicalText
        let contract = mergedContract(candidate, versions: subjects[subject] ?? [], config: config)
        return SchemaRegistry.identity(text, candidate.references, contract)
    }

    /// Confluent's registration rule: the existing version, or a new one (with its changes).
    mutating func register(
        subject: String, _ candidate: Candidate, request: SchemaRequest, ids: IDSource, precheck: (stamp: [Int], failure: CompatibilityFailure?)? = nil
    ) throws(RegistryError) -> (RegisteredSchema, [RegistryChange]) {
        let versions = subjects[subject] ?? []
        // The references were resolved under an earlier hold of the lock: a permanent delete since then
        // must not leave this schema pointing at nothing.
        for (reference, id) in zip(candidate.references, candidate.referencedIDs) {
            guard let entry = referencedEntry(reference) else {
                throw .invalidSchema("reference \(reference.name) to subject '\(reference.subject)' version \(reference.version) does not exist")
            }
            guard entry.id == id else {
                throw .invalidSchema("reference \(reference.name) to subject '\(reference.subject)' version \(reference.version) changed while the request was checked; send it again")
            }
        }
        let config = effectiveConfig(subject)
        let normalize = request.normalize || config.normalize == true
        let text = normalize ? candidate.normalizedText : candidate.canonicalText
        let contract = mergedContract(candidate, versions: versions, config: config)
        let hash = SchemaRegistry.identity(text, candidate.references, contract)
        // Fast path, before any mode check: a matching live version is returned as it is.
        if let entry = matchingVersion(versions, candidate, hash: hash, contract: contract, normalize: normalize, includeDeleted: false),
            request.explicitID == nil || request.explicitID == entry.id, let stored = schemas[entry.id]
        {
            return (registered(subject: subject, entry: entry, stored: stored), [])
        }
        let mode = effectiveMode(subject)
        if mode.refusesWrites { throw .operationNotPermitted(readOnlyMessage(subject)) }
        if request.explicitID != nil, mode != .import { throw .operationNotPermitted("Subject \(subject) is not in import mode") }
        if request.explicitID == nil, mode != .readWrite { throw .operationNotPermitted("Subject \(subject) is not in read-write mode") }

        let checkedBefore: Bool
        if case .reserved = ids { checkedBefore = true } else { checkedBefore = false }
        if mode != .import, !checkedBefore {
            let entries = comparedVersions(versions, candidate: candidate, config: config)
            let level = config.level ?? SchemaRegistry.defaultLevel
            // The check made outside the lock stands when it compared with the same versions at the same
            // level; otherwise (something changed meanwhile) it is made again here.
            let failure: CompatibilityFailure?
            if let precheck, precheck.stamp == ComparedSchemas.stamp(entries, level: level) {
                failure = precheck.failure
            } else {
                failure = try comparedSchemas(entries, level: level).failure(of: candidate.schema)
            }
            if let failure { throw .incompatibleSchema(subject: subject, failure: failure) }
        }
        let lastVersion = versions.last?.version ?? 0
        let version: Int
        if let explicitVersion = request.explicitVersion, mode == .import {
            guard !versions.contains(where: { $0.version == explicitVersion }) else {
                throw .invalidSchema("version \(explicitVersion) already exists under subject \(subject)")
            }
            version = explicitVersion
        } else {
            guard lastVersion < maximumIdentifier else {
                throw .invalidIdentifier("Subject \(subject) has used every version number up to 2^31-1")
            }
            if let explicitVersion = request.explicitVersion, explicitVersion != lastVersion + 1 {
                throw .invalidSchema("Version is not one more than previous version")
            }
            version = lastVersion + 1
        }
        var isNewContent = false
        let id: Int
        if let explicitID = request.explicitID {
            if let existing = schemas[explicitID], existing.hash != hash, existing.hash != candidate.legacyHash {
                throw .operationNotPermitted("Overwrite new schema with id \(explicitID) is not permitted.")
            }
            id = explicitID
            isNewContent = schemas[explicitID] == nil
        } else if let existing = idByHash[hash] {
            id = existing
        } else {
            switch ids {
            case .afterMaximum:
                guard maximumID < maximumIdentifier else {
                    throw .invalidIdentifier("Every schema id up to 2^31-1 is used; no new schema can be registered")
                }
                id = maximumID + 1
            case .reserved(let reserved): id = reserved
            case .onRequest: throw .newIdentifierNeeded
            }
            isNewContent = true
        }
        // Confluent: soft-deleted versions of this subject with the same id are removed for good
        // (unless something still references them).
        let superseded = versions.filter { $0.isDeleted && $0.id == id }.filter { entry in
            (try? refuseIfReferenced(subject: subject, versions: [entry.version], countingDeleted: true)) != nil
        }
        let format: StoredFormat = normalize ? .normalized : .canonical
        let stored = StoredSchema(id: id, schema: text, references: candidate.references, contract: contract, hash: hash, format: format)
        let entry = SchemaRegistry.SubjectVersion(version: version, id: id, isDeleted: false, timestamp: WallClock.milliseconds)
        var changes: [RegistryChange] = []
        if isNewContent { changes.append(.addSchema(stored)) }
        changes.append(.addVersion(subject: subject, entry))
        if !superseded.isEmpty { changes.append(.removeVersions(subject: subject, versions: superseded.map(\.version), dropsSubject: false)) }
        return (registered(subject: subject, entry: entry, stored: schemas[id] ?? stored), changes)
    }
}
