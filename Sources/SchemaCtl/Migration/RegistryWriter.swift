import AvroCodec
import RegistryClient

/// What the target registry holds, as far as a migration knows: read once at the start, then kept up to date
/// with every change the migration makes.
struct TargetState {
    var versions: [ExportedVersion.Key: ExportedVersion] = [:]
    var globalConfig: JSONValue?
    var subjectConfigs: [String: JSONValue] = [:]
    var subjectModes: [String: String] = [:]
}

/// One write to the target.
enum PlannedChange {
    case register(ExportedVersion)
    case softDelete(ExportedVersion.Key)
    /// The source removed the version for good (or replaced it: removed, then registered again).
    case permanentDelete(ExportedVersion.Key)
    case putConfig(subject: String?, JSONValue)
    case deleteConfig(subject: String)
    case putMode(subject: String, String)
    case deleteMode(subject: String)
}

/// Writes a snapshot into a registry in IMPORT mode, through the Confluent API: every version under its id and
/// version, soft-deletes again, levels and modes; then checks the result.
final class RegistryWriter {
    let client: RegistryClient
    let reader: RegistryReader
    /// The global mode to put back when the migration ends.
    private(set) var modeToRestore: String?

    init(client: RegistryClient) {
        self.client = client
        self.reader = RegistryReader(client: client)
    }

    // MARK: IMPORT mode

    /// Puts the target into IMPORT mode. A target holding subjects is accepted only when every one of them is in
    /// the snapshot (an interrupted import, a restarted mirror) or with `force`.
    func enterImportMode(subjects: Set<String>, force: Bool, finalMode: String?) async throws(MigrationError) {
        let mode: String?
        do throws(MigrationError) {
            mode = try await reader.mode(subject: nil)
        } catch {
            if case .registry(.rejected(let status, _, let message)) = error {
                throw .refused("the target registry refused to show its global mode (HTTP \(status): \(message)); an import needs a user who may read and change it")
            }
            throw error
        }
        guard let previous = mode else {
            throw .refused("the target registry has no /mode endpoint: without IMPORT mode it cannot keep the source's ids")
        }
        if previous == "IMPORT" {
            modeToRestore = finalMode ?? "READWRITE"
            printError("note: the target is already in IMPORT mode (an earlier import interrupted?); it is set to \(modeToRestore!) at the end")
            return
        }
        modeToRestore = finalMode ?? previous
        do {
            _ = try await client.call(.putMode(subject: nil, force: false), body: .object([("mode", .string("IMPORT"))]))
            return
        } catch {
            guard case .rejected(_, 42205, _) = error else { throw Self.modeRefusal(error) }
        }
        // Refused because the target has subjects: fine when they are all the snapshot's.
        let present: [String]
        do {
            present = try await client.call(.listSubjects).arrayOfStrings
        } catch {
            throw .registry(error)
        }
        let foreign = present.filter { !subjects.contains($0) }.sorted()
        if !foreign.isEmpty, !force {
            let shown = foreign.prefix(5).joined(separator: ", ") + (foreign.count > 5 ? ", … (\(foreign.count) in all)" : "")
            throw .refused(
                "the target registry already has subjects that are not in the source (\(shown)): importing would mix two registries' ids. Import into an empty registry, or pass --force to import anyway"
            )
        }
        do {
            _ = try await client.call(.putMode(subject: nil, force: true), body: .object([("mode", .string("IMPORT"))]))
        } catch {
            throw Self.modeRefusal(error)
        }
    }

    /// Puts the global mode back.
    func restoreMode() async throws(MigrationError) {
        guard let mode = modeToRestore else { return }
        do {
            _ = try await client.call(.putMode(subject: nil, force: true), body: .object([("mode", .string(mode))]))
            modeToRestore = nil
        } catch {
            throw .registry(error)
        }
    }

    private static func modeRefusal(_ error: RegistryClientError) -> MigrationError {
        if case .rejected(let status, _, let message) = error {
            return .refused("the target registry refused IMPORT mode (HTTP \(status): \(message)); ids can be kept only in IMPORT mode. Use credentials allowed to change the global mode")
        }
        return .registry(error)
    }

    // MARK: Reading the target

    /// The target's state for the snapshot's subjects (and those it already follows).
    func readState(subjects: [String]) async throws(MigrationError) -> TargetState {
        var state = TargetState()
        for subject in subjects {
            let all = try await reader.versionNumbers(subject, includeDeleted: true)
            guard !all.isEmpty else {
                if let config = try await reader.config(subject: subject) { state.subjectConfigs[subject] = config }
                if let mode = try await reader.mode(subject: subject) { state.subjectModes[subject] = mode }
                continue
            }
            let live = Set(try await reader.versionNumbers(subject, includeDeleted: false))
            for version in all {
                guard var entry = try await reader.fetchVersion(subject, version) else { continue }
                entry.deleted = !live.contains(version)
                state.versions[entry.key] = entry
            }
            if let config = try await reader.config(subject: subject) { state.subjectConfigs[subject] = config }
            if let mode = try await reader.mode(subject: subject) { state.subjectModes[subject] = mode }
        }
        state.globalConfig = try await reader.config(subject: nil)
        return state
    }

    // MARK: Planning

    /// The writes that make the target match `desired`. An import (`following` false) stops at a version that
    /// holds other content on the target; a mirror (`following`) replaces it, and removes for good what the
    /// source removed since it last looked (`previous`).
    func plan(_ desired: RegistrySnapshot, against state: TargetState, following: Bool, previous: RegistrySnapshot?) throws(MigrationError) -> [PlannedChange] {
        var changes: [PlannedChange] = []
        let desiredKeys = Set(desired.versions.map(\.key))
        if following, let previous {
            // Gone from the source since the last look: referrers (higher ids) first.
            let removed = previous.versions.filter { !desiredKeys.contains($0.key) && state.versions[$0.key] != nil }.sorted { $0.id > $1.id }
            changes += removed.map { .permanentDelete($0.key) }
        }
        let referenced = Set(desired.versions.filter { !$0.deleted }.flatMap(\.referencedKeys))
        let comparer = SchemaTextComparer(desired)
        var postponed: [ExportedVersion.Key] = []
        for record in desired.versions {
            if let existing = state.versions[record.key] {
                let sameContent = record.hasSameContent(as: existing, sameText: comparer.same)
                if !sameContent || (existing.deleted && !record.deleted) {
                    guard following else { throw .conflict(Self.conflictText(record, existing)) }
                    changes.append(.permanentDelete(record.key))
                    changes.append(.register(record))
                    if record.deleted { changes.append(.softDelete(record.key)) }
                    continue
                }
                if record.deleted, !existing.deleted { changes.append(.softDelete(record.key)) }
                continue
            }
            changes.append(.register(record))
            if record.deleted {
                if referenced.contains(record.key) { postponed.append(record.key) } else { changes.append(.softDelete(record.key)) }
            }
        }
        changes += postponed.reversed().map { .softDelete($0) }

        if let config = desired.globalConfig, !Self.sameJSON(config, state.globalConfig) { changes.append(.putConfig(subject: nil, config)) }
        // The snapshot's subjects get exactly its settings; a mirror also drops those of subjects the source dropped.
        var settled = Set(desired.subjects)
        if following, let previous { settled.formUnion(previous.subjects) }
        for subject in settled.sorted() {
            switch (desired.subjectConfigs[subject], state.subjectConfigs[subject]) {
            case (let wanted?, let present) where !Self.sameJSON(wanted, present): changes.append(.putConfig(subject: subject, wanted))
            case (nil, _?): changes.append(.deleteConfig(subject: subject))
            default: break
            }
            switch (desired.subjectModes[subject], state.subjectModes[subject]) {
            case (let wanted?, let present) where wanted != present: changes.append(.putMode(subject: subject, wanted))
            case (nil, _?): changes.append(.deleteMode(subject: subject))
            default: break
            }
        }
        return changes
    }

    static func conflictText(_ record: ExportedVersion, _ existing: ExportedVersion) -> String {
        var text = "subject \(record.subject) version \(record.version) differs between the source and the target\n"
        if existing.deleted, !record.deleted { text += "  it is soft-deleted on the target and live in the source\n" }
        text += "  source: id \(record.id): \(record.schema)\n"
        text += "  target: id \(existing.id): \(existing.schema)"
        if record.schema == existing.schema, record.id == existing.id {
            text += "\n  (same text and id: the references, metadata or rule set differ)"
        }
        return text
    }

    static func sameJSON(_ a: JSONValue?, _ b: JSONValue?) -> Bool {
        a?.prettyText(sortingKeys: true) == b?.prettyText(sortingKeys: true)
    }

    // MARK: Applying

    /// Makes the changes in order, keeping `state` true to what the target now holds.
    func apply(_ changes: [PlannedChange], to state: inout TargetState, progress: Progress?) async throws(MigrationError) {
        progress?.start(total: changes.count)
        defer { progress?.finish() }
        for change in changes {
            if StopSignal.requested { throw .interrupted }
            switch change {
            case .register(let record):
                try await inSubjectImportMode(record.subject) { () async throws(MigrationError) in try await self.register(record) }
                var stored = record
                stored.deleted = false
                state.versions[record.key] = stored
            case .softDelete(let key):
                try await inSubjectImportMode(key.subject) { () async throws(MigrationError) in try await self.deleteVersion(key, permanent: false) }
                state.versions[key]?.deleted = true
            case .permanentDelete(let key):
                try await inSubjectImportMode(key.subject) { () async throws(MigrationError) in
                    try await self.deleteVersion(key, permanent: false)
                    try await self.deleteVersion(key, permanent: true)
                }
                state.versions[key] = nil
            case .putConfig(let subject, let config):
                try await inSubjectImportMode(subject) { () async throws(MigrationError) in
                    try await self.send(.putConfig(subject: subject), body: Self.configUpdate(config))
                }
                if let subject { state.subjectConfigs[subject] = config } else { state.globalConfig = config }
            case .deleteConfig(let subject):
                try await inSubjectImportMode(subject) { () async throws(MigrationError) in
                    try await self.send(.deleteConfig(subject: subject), acceptingNotFound: true)
                }
                state.subjectConfigs[subject] = nil
            case .putMode(let subject, let mode):
                try await send(.putMode(subject: subject, force: true), body: .object([("mode", .string(mode))]))
                state.subjectModes[subject] = mode
            case .deleteMode(let subject):
                try await send(.deleteMode(subject: subject), acceptingNotFound: true)
                state.subjectModes[subject] = nil
            }
            progress?.advance()
        }
    }

    /// `GET /config` answers `compatibilityLevel`; `PUT /config` takes `compatibility`.
    static func configUpdate(_ config: JSONValue) -> JSONValue {
        guard case .object(let object) = config else { return config }
        return .object(JSONObject(members: object.members.map { member in
            member.key == "compatibilityLevel" ? JSONObject.Member(key: "compatibility", value: member.value) : member
        }))
    }

    /// Registers a version under its id and version. A subject whose own mode is not IMPORT is switched to IMPORT
    /// for the call and back.
    private func register(_ record: ExportedVersion) async throws(MigrationError) {
        let answer: JSONValue
        do {
            answer = try await client.call(.registerVersion(subject: record.subject), body: record.registrationBody)
        } catch {
            if case .rejected(_, 42205, let message) = error, message.contains("Overwrite") {
                let present = try await reader.schemaText(id: record.id) ?? "(not readable)"
                throw .conflict(
                    "id \(record.id) holds other content on the target\n  source: subject \(record.subject) version \(record.version): \(record.schema)\n  target: \(present)")
            }
            throw .registry(error)
        }
        if case .integer(let id)? = answer["id"], Int(id) != record.id {
            throw .conflict("subject \(record.subject) version \(record.version) was given id \(id) by the target, not the source's \(record.id)")
        }
    }

    /// Makes a write on a subject; when the target refuses it for the subject's own mode (READONLY, READWRITE
    /// where an explicit id needs IMPORT), switches that subject to IMPORT for the write and back.
    private func inSubjectImportMode(_ subject: String?, _ write: () async throws(MigrationError) -> Void) async throws(MigrationError) {
        guard let subject else { return try await write() }
        do {
            try await write()
            return
        } catch {
            guard case .registry(.rejected(_, 42205, let message)) = error, !message.contains("Overwrite") else { throw error }
        }
        let own = try await reader.mode(subject: subject)
        try await send(.putMode(subject: subject, force: true), body: .object([("mode", .string("IMPORT"))]))
        var failure: MigrationError?
        do throws(MigrationError) {
            try await write()
        } catch {
            failure = error
        }
        if let own {
            try await send(.putMode(subject: subject, force: true), body: .object([("mode", .string(own))]))
        } else {
            try await send(.deleteMode(subject: subject), acceptingNotFound: true)
        }
        if let failure { throw failure }
    }

    private func deleteVersion(_ key: ExportedVersion.Key, permanent: Bool) async throws(MigrationError) {
        do {
            _ = try await client.call(.deleteVersion(subject: key.subject, version: key.version, permanent: permanent))
        } catch {
            // Already soft-deleted (40406), already gone (40401, 40402): the wanted state holds.
            if case .rejected(404, _, _) = error { return }
            throw .registry(error)
        }
    }

    private func send(_ call: ConfluentCall, body: JSONValue? = nil, acceptingNotFound: Bool = false) async throws(MigrationError) {
        do {
            _ = try await client.call(call, body: body)
        } catch {
            if acceptingNotFound, case .rejected(404, _, _) = error { return }
            throw .registry(error)
        }
    }

    // MARK: Verifying

    /// Reads everything back: each version's id and content, each subject's version lists (all and live), each
    /// id's text, the subject settings. Returns the differences, described.
    func verify(_ desired: RegistrySnapshot, progress: Progress?) async throws(MigrationError) -> [String] {
        var differences: [String] = []
        let comparer = SchemaTextComparer(desired)
        let bySubject = Dictionary(grouping: desired.versions, by: \.subject)
        progress?.start(total: desired.versions.count + desired.distinctIDs)
        defer { progress?.finish() }
        for subject in bySubject.keys.sorted() {
            let records = bySubject[subject]!
            let all = try await reader.versionNumbers(subject, includeDeleted: true)
            let live = try await reader.versionNumbers(subject, includeDeleted: false)
            let wantedAll = records.map(\.version).sorted()
            let wantedLive = records.filter { !$0.deleted }.map(\.version).sorted()
            if all.sorted() != wantedAll { differences.append("subject \(subject): versions \(all.sorted()) on the target, \(wantedAll) in the source") }
            if live.sorted() != wantedLive {
                differences.append("subject \(subject): live versions \(live.sorted()) on the target, \(wantedLive) in the source")
            }
            for record in records {
                progress?.advance()
                guard let present = try await reader.fetchVersion(subject, record.version) else {
                    differences.append("subject \(subject) version \(record.version): missing on the target")
                    continue
                }
                if !record.hasSameContent(as: present, sameText: comparer.same) { differences.append(Self.conflictText(record, present)) }
            }
            if !Self.sameJSON(desired.subjectConfigs[subject], try await reader.config(subject: subject)) {
                differences.append("subject \(subject): config \(desired.subjectConfigs[subject]?.compactText ?? "none") in the source, \((try await reader.config(subject: subject))?.compactText ?? "none") on the target")
            }
            let mode = try await reader.mode(subject: subject)
            if desired.subjectModes[subject] != mode {
                differences.append("subject \(subject): mode \(desired.subjectModes[subject] ?? "none") in the source, \(mode ?? "none") on the target")
            }
        }
        var recordByID: [Int: ExportedVersion] = [:]
        for record in desired.versions where recordByID[record.id] == nil { recordByID[record.id] = record }
        for id in recordByID.keys.sorted() {
            progress?.advance()
            let record = recordByID[id]!
            let present = try await reader.schemaText(id: id)
            if present.map({ comparer.same(record, $0) }) != true {
                differences.append("id \(id): \(present.map { "answers \($0)" } ?? "missing") on the target; the source has \(record.schema)")
            }
        }
        if let config = desired.globalConfig, !Self.sameJSON(config, try await reader.config(subject: nil)) {
            differences.append("global config: \(config.compactText) in the source, \((try await reader.config(subject: nil))?.compactText ?? "none") on the target")
        }
        return differences
    }
}
