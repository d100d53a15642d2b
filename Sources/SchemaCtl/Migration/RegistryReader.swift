import AvroCodec
import RegistryClient

/// Reads a registry's state through the Confluent API. Keeps what it fetched: a subject's version, once
/// registered, never changes but for its soft-deleted mark, so a mirror fetches only new versions.
final class RegistryReader {
    let client: RegistryClient
    /// Versions fetched so far, by subject and version (the soft-deleted mark is refreshed from the lists).
    private var known: [ExportedVersion.Key: ExportedVersion] = [:]
    /// Each subject's version list at the previous read: a subject whose versions went away and came back
    /// (permanently deleted, registered anew) is fetched again.
    private var previousVersions: [String: Set<Int>] = [:]
    /// Whether the registry has `/mode` at all (Karapace before 3.x answers 404).
    private var modesSupported = true

    init(client: RegistryClient) {
        self.client = client
    }

    /// The registry's state: every subject's versions (soft-deleted ones when `includeDeleted`, and any a live
    /// version references even without it), levels and modes.
    func snapshot(includeDeleted: Bool, subjectPrefix: String?, progress: Progress?) async throws(MigrationError) -> RegistrySnapshot {
        var snapshot = RegistrySnapshot()
        let subjects = try await call(.listSubjects).arrayOfStrings.filter { subjectPrefix == nil || $0.hasPrefix(subjectPrefix!) }.sorted()
        // Lists first (two requests a subject), then the versions not yet known.
        var lists: [(subject: String, all: [Int], live: Set<Int>)] = []
        for subject in subjects {
            let all = try await versionNumbers(subject, includeDeleted: true)
            let live = Set(try await versionNumbers(subject, includeDeleted: false))
            lists.append((subject, all, live))
        }
        let wanted = lists.reduce(0) { $0 + $1.all.count }
        progress?.start(total: wanted)
        var byKey: [ExportedVersion.Key: ExportedVersion] = [:]
        for (subject, all, live) in lists {
            let current = Set(all)
            let previous = previousVersions[subject]
            if let previous, !previous.isSubset(of: current) {
                // Versions went away for good: the subject may have been deleted and registered anew, with its
                // numbers starting again at 1, so nothing kept of it is trusted.
                for version in previous { known[ExportedVersion.Key(subject: subject, version: version)] = nil }
            }
            previousVersions[subject] = current
            // The same numbers can hide a subject deleted for good and registered anew: the newest version is read
            // again each time, and when it changed nothing kept of the subject is trusted.
            if let top = all.max(), let cached = known[ExportedVersion.Key(subject: subject, version: top)] {
                let fresh = try await fetchVersion(subject, top)
                if fresh?.id != cached.id || fresh?.schema != cached.schema {
                    for version in current.union(previous ?? []) { known[ExportedVersion.Key(subject: subject, version: version)] = nil }
                }
            }
            for version in all {
                let key = ExportedVersion.Key(subject: subject, version: version)
                var entry: ExportedVersion
                if let cached = known[key] {
                    entry = cached
                } else {
                    guard let fetched = try await fetchVersion(subject, version) else { continue }  // gone meanwhile
                    entry = fetched
                }
                entry.deleted = !live.contains(version)
                known[key] = entry
                byKey[key] = entry
                progress?.advance()
            }
        }
        // Without --include-deleted a soft-deleted version is still exported when a live one references it:
        // the referrer cannot be imported without it.
        var kept = byKey.values.filter { includeDeleted || !$0.deleted }
        var keptKeys = Set(kept.map(\.key))
        var pending = kept.flatMap(\.referencedKeys)
        var liveOutside: [String: Set<Int>] = [:]  // live versions of subjects outside the prefix
        while let key = pending.popLast() {
            guard !keptKeys.contains(key) else { continue }
            var referenced: ExportedVersion? = byKey[key]
            if referenced == nil, var fetched = try await fetchVersion(key.subject, key.version) {
                if liveOutside[key.subject] == nil { liveOutside[key.subject] = Set(try await versionNumbers(key.subject, includeDeleted: false)) }
                fetched.deleted = !(liveOutside[key.subject]!.contains(key.version))
                referenced = fetched
            }
            guard let referenced else { continue }
            kept.append(referenced)
            keptKeys.insert(key)
            pending += referenced.referencedKeys
        }
        snapshot.versions = kept
        snapshot.orderReferencesFirst()
        progress?.finish()

        snapshot.globalConfig = try await config(subject: nil)
        snapshot.globalMode = try await mode(subject: nil)
        for subject in Set(snapshot.versions.map(\.subject)).sorted() {
            if let config = try await config(subject: subject) { snapshot.subjectConfigs[subject] = config }
            if let mode = try await mode(subject: subject) { snapshot.subjectModes[subject] = mode }
        }
        return snapshot
    }

    /// A subject's version numbers; none when the subject does not exist.
    func versionNumbers(_ subject: String, includeDeleted: Bool) async throws(MigrationError) -> [Int] {
        let answer: JSONValue
        do {
            answer = try await client.call(.listVersions(subject: subject, includeDeleted: includeDeleted))
        } catch {
            if case .rejected(404, _, _) = error { return [] }
            throw .registry(error)
        }
        guard case .array(let items) = answer else { throw .unexpected("the versions of \(subject) are not a list: \(answer.compactText.prefix(200))") }
        return items.compactMap { if case .integer(let number) = $0 { Int(number) } else { nil } }
    }

    /// One version (soft-deleted or not); nil when it does not exist. The soft-deleted mark is left false.
    func fetchVersion(_ subject: String, _ version: Int) async throws(MigrationError) -> ExportedVersion? {
        let answer: JSONValue
        do {
            answer = try await client.call(.getVersion(subject: subject, version: version))
        } catch {
            if case .rejected(404, _, _) = error { return nil }
            throw .registry(error)
        }
        return try ExportedVersion(subject: subject, answer: answer, deleted: false)
    }

    /// The config of a subject (its own, not the global one: nil when it has none) or the global one.
    func config(subject: String?) async throws(MigrationError) -> JSONValue? {
        do {
            return ExportedVersion.nonEmpty(try await client.call(.getConfig(subject: subject)))
        } catch {
            if subject != nil, case .rejected(404, _, _) = error { return nil }
            throw .registry(error)
        }
    }

    /// The mode of a subject (its own; nil when it has none) or the global one.
    func mode(subject: String?) async throws(MigrationError) -> String? {
        guard modesSupported else { return nil }
        do {
            return try await client.call(.getMode(subject: subject))["mode"]?.stringValue
        } catch {
            if case .rejected(404, let code, _) = error {
                // 40409/40401: no subject mode. A bare 404 on the global mode: the registry has no /mode.
                if subject == nil, code == 404 { modesSupported = false }
                return nil
            }
            throw .registry(error)
        }
    }

    /// The text of a schema by id; nil when the id does not exist.
    func schemaText(id: Int) async throws(MigrationError) -> String? {
        do {
            return try await client.call(.getSchema(id: id))["schema"]?.stringValue
        } catch {
            if case .rejected(404, _, _) = error { return nil }
            throw .registry(error)
        }
    }

    private func call(_ call: ConfluentCall) async throws(MigrationError) -> JSONValue {
        do {
            return try await client.call(call)
        } catch {
            throw .registry(error)
        }
    }
}
