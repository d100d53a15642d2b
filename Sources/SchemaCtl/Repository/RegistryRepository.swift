import AvroCodec
import RegistryClient

/// The files of a repository as a registry receives them: each under its subject, a file's dependencies before
/// it, a type from another file as a Confluent reference (`{name, subject, version}`) to the version that file
/// has in the registry. `register` sends them in that order; `check` resolves the same references against the
/// versions already registered, so what CI checks is what `register` would send.
struct RegistryRepository {
    struct Entry {
        let path: String
        let subject: String
        let loaded: SchemaSet.Loaded
        /// The file's text, sent as it is (a type from another file is written by name), or with the types of a
        /// file it needs in a cycle copied in.
        let text: String
        /// Asked about (given, or under a given directory), not only needed by a file that was.
        let isSelected: Bool
    }

    /// Every file to send, dependencies first.
    let entries: [Entry]
    /// Files asked about that are not valid schemas (or use one that is not): (path, reason).
    let invalid: [(path: String, message: String)]
    private let set: SchemaSet

    /// Orders the selected files of `set` and the files they use, each under its subject (`explicitSubject` for
    /// the one file given, not for the files it uses). Two files mapped to one subject are an error.
    init(set: SchemaSet, explicitSubject: String?) throws {
        if set.selected.contains("-"), explicitSubject == nil {
            throw InputError(description: "standard input has no file name to take a subject from: give --subject")
        }
        let selectedPaths = Set(set.selected)
        let subject = { (path: String) in subjectName(for: path, explicit: selectedPaths.contains(path) ? explicitSubject : nil) }
        var ordered: [Entry] = []
        var placed = Set<String>()
        var invalid: [(path: String, message: String)] = []
        let selected = Set(set.selected)
        func place(_ path: String) throws {
            guard !placed.contains(path) else { return }
            let loaded = try set.load(path)  // loaded already: dependencies load before their users
            placed.insert(path)
            for dependency in loaded.dependencies { try place(dependency) }
            ordered.append(
                Entry(
                    path: path, subject: subject(path), loaded: loaded, text: String(decoding: loaded.text, as: UTF8.self),
                    isSelected: selected.contains(path)))
        }
        for path in set.selected {
            do {
                _ = try set.load(path)
            } catch let error as InputError {
                invalid.append((path, error.description))
                continue
            }
            try place(path)
        }
        var pathBySubject: [String: String] = [:]
        for entry in ordered {
            if let other = pathBySubject[entry.subject], other != entry.path {
                throw InputError(
                    description: "\(other) and \(entry.path) both map to subject \(entry.subject); give one of them its own subject in schemactl.toml [subjects]")
            }
            pathBySubject[entry.subject] = entry.path
        }
        self.entries = ordered
        self.invalid = invalid
        self.set = set
    }

    /// The `path:'…'` of a verbose compatibility message (`{fix:'…', errorType:'…', path:'/fields/2', …}`).
    static func problemPath(in message: String) -> String? {
        let bytes = Array(message.utf8)
        let marker = Array(", path:'".utf8)
        guard bytes.count > marker.count else { return nil }
        for start in 0...(bytes.count - marker.count) where bytes[start..<(start + marker.count)].elementsEqual(marker) {
            let from = start + marker.count
            guard let end = bytes[from...].firstIndex(of: UInt8(ascii: "'")) else { return nil }
            return String(decoding: bytes[from..<end], as: UTF8.self)
        }
        return nil
    }

    private func references(of entry: Entry, versions: [String: Int]) -> [SchemaReferenceToVersion]? {
        var references: [SchemaReferenceToVersion] = []
        for (dependency, name) in zip(entry.loaded.dependencies, entry.loaded.referenceNames) {
            guard let version = versions[dependency], let subject = entries.first(where: { $0.path == dependency })?.subject else { return nil }
            references.append(SchemaReferenceToVersion(name: name, subject: subject, version: version))
        }
        return references
    }

    func invalidReports() -> [FileReport] {
        invalid.map { FileReport(path: $0.path, verdict: .invalid, message: "INVALID: \($0.message)", annotation: "error", title: "invalid schema") }
    }

    // MARK: Registering

    /// Registers every file in dependency order, each referencing the versions its dependencies got; a file whose
    /// dependency was refused is not sent. Content already registered under the subject keeps its version.
    func register(client: RegistryClient) async throws(RegistryClientError) -> [FileReport] {
        var versions: [String: Int] = [:]
        var reports = invalidReports()
        for entry in entries {
            let neededBy = entry.isSelected ? "" : " (used by the files given)"
            guard let references = references(of: entry, versions: versions) else {
                let missing = entry.loaded.dependencies.first { versions[$0] == nil } ?? "?"
                reports.append(
                    FileReport(
                        path: entry.path, verdict: .skipped,
                        message: "NOT REGISTERED: \(entry.path): it uses types from \(missing), which was not registered", annotation: "error",
                        title: "not registered"))
                continue
            }
            let referenceMembers = ("references", JSONValue.array(references.map { .string("\($0.subject) version \($0.version) (\($0.name))") }))
            do throws(RegistryClientError) {
                if let found = try await client.lookupVersion(subject: entry.subject, schema: entry.text, references: references) {
                    // Registered anyway (it changes nothing): the registry decides whether this user may write,
                    // as it does for Confluent's clients, rather than a read answering for a write.
                    _ = try await client.register(subject: entry.subject, schema: entry.text, references: references)
                    versions[entry.path] = found.version
                    reports.append(
                        FileReport(
                            path: entry.path, verdict: .unchanged,
                            message: "\(entry.path): already registered under \(entry.subject) as version \(found.version), id \(found.id)\(neededBy)",
                            annotation: "notice", title: "already registered",
                            extra: [
                                ("subject", .string(entry.subject)), ("id", .integer(Int64(found.id))), ("version", .integer(Int64(found.version))), referenceMembers,
                            ]))
                    continue
                }
                let id = try await client.register(subject: entry.subject, schema: entry.text, references: references)
                guard let found = try await client.lookupVersion(subject: entry.subject, schema: entry.text, references: references) else {
                    throw .malformedResponse("\(entry.subject): registered as id \(id) but not found by a lookup")
                }
                versions[entry.path] = found.version
                let fingerprint = SchemaFingerprint.hex(entry.loaded.schema.rabinFingerprint)
                reports.append(
                    FileReport(
                        path: entry.path, verdict: .registered,
                        message: "registered \(entry.path) under \(entry.subject): id \(id), version \(found.version) (fingerprint \(fingerprint))\(neededBy)",
                        annotation: "notice", title: "registered",
                        extra: [("subject", .string(entry.subject)), ("id", .integer(Int64(id))), ("version", .integer(Int64(found.version))), referenceMembers]))
            } catch {
                // A refusal of this file (incompatible, a read-only subject, a reference too deep) is its verdict, and
                // the report goes on; credentials refused (401/403) or an outage end the run (exit 2 / 3).
                guard case .rejected(let status, let code, let message) = error, status == 409 || status == 422 else { throw error }
                reports.append(
                    FileReport(
                        path: entry.path, verdict: status == 409 ? .incompatible : .refused,
                        message: "\(status == 409 ? "INCOMPATIBLE" : "REFUSED"): \(entry.path) under \(entry.subject): \(message) (HTTP \(status), error \(code))",
                        annotation: "error", title: status == 409 ? "incompatible with \(entry.subject)" : "refused by the registry",
                        extra: [("subject", .string(entry.subject)), ("status", .integer(Int64(status))), ("errorCode", .integer(Int64(code)))]))
            }
        }
        return reports
    }

    // MARK: Checking

    /// Checks every selected file against its subject's versions at the subject's level, as the registry would
    /// on `register`: a dependency whose content is registered is referenced at that version; one that is not
    /// (a change in the same pull request) has its types written inline, as `register` would send them after
    /// registering it first. A subject whose level in the registry is not the one `declaredLevel` gives
    /// (schemactl.toml's `[levels]`) gets a note: the registry's level decides.
    func check(
        client: RegistryClient, version: String?, declaredLevel: (String) -> CompatibilityLevel?
    ) async throws(RegistryClientError) -> [FileReport] {
        var versions: [String: Int] = [:]
        var reports = invalidReports()
        for entry in entries {
            let references = references(of: entry, versions: versions)
            if let references, let found = try await client.lookupVersion(subject: entry.subject, schema: entry.text, references: references) {
                versions[entry.path] = found.version
            }
            do throws(RegistryClientError) {
                try await reports.append(check(entry, client: client, version: version, references: references, versions: versions, declaredLevel: declaredLevel))
            } catch {
                guard case .rejected(let status, let code, let message) = error, status == 422 else { throw error }
                reports.append(
                    FileReport(
                        path: entry.path, verdict: .refused, message: "REFUSED: \(entry.path) under \(entry.subject): \(message) (HTTP \(status), error \(code))",
                        annotation: "error", title: "refused by the registry", extra: [("subject", .string(entry.subject))]))
            }
        }
        return reports
    }

    /// One file's online check (`references`: its dependencies' registered versions, nil when one is not).
    private func check(
        _ entry: Entry, client: RegistryClient, version: String?, references: [SchemaReferenceToVersion]?, versions: [String: Int],
        declaredLevel: (String) -> CompatibilityLevel?
    ) async throws(RegistryClientError) -> FileReport {
        let inline = references == nil
        let neededBy = entry.isSelected ? "" : " (used by the files given: register sends it too)"
        let sent = inline ? entry.loaded.schema.resolvedText : entry.text
        let inlineNote =
            inline
            ? " (\(entry.loaded.dependencies.filter { versions[$0] == nil }.joined(separator: ", ")) not registered yet: their types checked inline)" : ""
        let existing = try await client.versions(subject: entry.subject) ?? []
        guard !existing.isEmpty else {
            return FileReport(
                path: entry.path, verdict: .new,
                message: "COMPATIBLE: \(entry.path): subject \(entry.subject) does not exist yet at \(client.baseURL), so there is nothing to break\(neededBy)",
                annotation: "notice", title: "new subject", extra: [("subject", .string(entry.subject))])
        }
        let level = try await client.level(subject: entry.subject)
        if let declared = declaredLevel(entry.subject), declared.rawValue != level {
            printError(
                "note: \(entry.path): schemactl.toml declares \(declared.rawValue) for \(entry.subject), the registry checks it at \(level) (set it with schemactl config --subject \(entry.subject) --set \(declared.rawValue))")
        }
        let result = try await client.checkCompatibility(subject: entry.subject, schema: sent, references: references ?? [], version: version)
        let against = version.map { "version \($0)" } ?? "version\(existing.count == 1 ? "" : "s") \(existing.map(String.init).joined(separator: ", "))"
        let extra: [(String, JSONValue)] = [
            ("subject", .string(entry.subject)), ("level", .string(level)), ("messages", .array(result.messages.map(JSONValue.string))),
            ("inline", .bool(inline)),
        ]
        if result.isCompatible {
            return FileReport(
                path: entry.path, verdict: .compatible,
                message: "COMPATIBLE: \(entry.path) is \(level) compatible with subject \(entry.subject) (\(against)) at \(client.baseURL)\(inlineNote)\(neededBy)",
                annotation: "notice", title: "schema compatible", extra: extra)
        }
        let headline = "INCOMPATIBLE: \(entry.path) is not \(level) compatible with subject \(entry.subject) (\(against)) at \(client.baseURL)\(inlineNote)\(neededBy)"
        var report = headline + "\n\n"
        for message in result.messages { report += "  \(message)\n" }
        let file = percentEscaped(entry.path, "%\r\n:,")
        let title = percentEscaped("incompatible with \(entry.subject)", "%\r\n:,")
        // One annotation a problem: the fix messages (they carry the error type and path), else the error types.
        let fixes = result.messages.filter { $0.hasPrefix("{fix:") }
        let problems = fixes.isEmpty ? result.messages.filter { $0.hasPrefix("{errorType:") } : fixes
        var github = ""
        for message in problems.isEmpty ? [result.messages.joined(separator: " ")] : problems {
            // A problem inside a type from another file is annotated there, where the fix goes.
            if let definer = Self.problemPath(in: message).flatMap({ set.definingFile(of: $0, in: entry.loaded) }) {
                let through = percentEscaped("incompatible with \(entry.subject), breaks \(entry.path)", "%\r\n:,")
                github += "::error file=\(percentEscaped(definer, "%\r\n:,")),title=\(through)::\(percentEscaped(message, "%\r\n"))\n"
            } else {
                github += "::error file=\(file),title=\(title)::\(percentEscaped(message, "%\r\n"))\n"
            }
        }
        return FileReport(
            path: entry.path, verdict: .incompatible, text: report, github: github,
            json: .object([("path", .string(entry.path)), ("verdict", .string("incompatible")), ("message", .string(headline))] + extra))
    }
}
