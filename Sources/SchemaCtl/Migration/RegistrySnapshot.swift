import AvroCodec
import RegistryClient

/// One version of one subject, as a registry's API shows it and as the export file keeps it.
struct ExportedVersion: Equatable, Sendable {
    var subject: String
    var version: Int
    var id: Int
    var schemaType: String
    var schema: String
    /// `{name, subject, version}` objects, as the registry returned them.
    var references: [JSONValue]
    var metadata: JSONValue?
    var ruleSet: JSONValue?
    var deleted: Bool

    struct Key: Hashable, Sendable {
        let subject: String
        let version: Int
    }

    var key: Key { Key(subject: subject, version: version) }

    /// The versions this one references.
    var referencedKeys: [Key] {
        references.compactMap { reference in
            guard let subject = reference["subject"]?.stringValue, case .integer(let version)? = reference["version"] else { return nil }
            return Key(subject: subject, version: Int(version))
        }
    }

    /// Same content (everything but the soft-deleted mark). The texts are compared by `sameText`: registries
    /// store different texts for one schema (Karapace and Apicurio keep what was sent, Confluent and we the
    /// canonical string).
    func hasSameContent(as other: ExportedVersion, sameText: (ExportedVersion, String) -> Bool) -> Bool {
        id == other.id && schemaType == other.schemaType && references == other.references && RegistryWriter.sameJSON(metadata, other.metadata)
            && RegistryWriter.sameJSON(ruleSet, other.ruleSet) && sameText(self, other.schema)
    }

    /// Reads a version from a `GET /subjects/{s}/versions/{v}` answer.
    init(subject: String, answer: JSONValue, deleted: Bool) throws(MigrationError) {
        guard case .integer(let version)? = answer["version"], case .integer(let id)? = answer["id"], let schema = answer["schema"]?.stringValue else {
            throw .unexpected("version of \(subject) without version, id or schema: \(answer.compactText.prefix(200))")
        }
        self.subject = subject
        self.version = Int(version)
        self.id = Int(id)
        self.schemaType = answer["schemaType"]?.stringValue ?? "AVRO"
        self.schema = schema
        if case .array(let references)? = answer["references"] { self.references = references } else { self.references = [] }
        self.metadata = ExportedVersion.nonEmpty(answer["metadata"])
        self.ruleSet = ExportedVersion.nonEmpty(answer["ruleSet"] ?? answer["ruleset"])
        self.deleted = deleted
    }

    /// Reads a line of the export file.
    init(line: JSONValue) throws(MigrationError) {
        guard let subject = line["subject"]?.stringValue else { throw .invalidFile("a version line without a subject") }
        try self.init(subject: subject, answer: line, deleted: line["deleted"] == .bool(true))
    }

    /// The line of the export file.
    var line: JSONValue {
        var members: [(String, JSONValue)] = [
            ("type", .string("version")), ("subject", .string(subject)), ("version", .integer(Int64(version))), ("id", .integer(Int64(id))),
            ("schemaType", .string(schemaType)), ("schema", .string(schema)),
        ]
        if !references.isEmpty { members.append(("references", .array(references))) }
        if let metadata { members.append(("metadata", metadata)) }
        if let ruleSet { members.append(("ruleSet", ruleSet)) }
        if deleted { members.append(("deleted", .bool(true))) }
        return .object(members)
    }

    /// The body that registers this version under its id and version in IMPORT mode.
    var registrationBody: JSONValue {
        var members: [(String, JSONValue)] = [
            ("schema", .string(schema)), ("schemaType", .string(schemaType)), ("references", .array(references)),
            ("id", .integer(Int64(id))), ("version", .integer(Int64(version))),
        ]
        if let metadata { members.append(("metadata", metadata)) }
        if let ruleSet { members.append(("ruleSet", ruleSet)) }
        return .object(members)
    }

    /// Null, `{}` and `[]` are absent: registries differ in which of them they print.
    static func nonEmpty(_ value: JSONValue?) -> JSONValue? {
        switch value {
        case nil, .null?: return nil
        case .object(let object)? where object.members.isEmpty: return nil
        case .object(let object)?:
            // Empty members are absent too (Confluent prints `NON_EMPTY`).
            let kept = object.members.filter { member in
                switch member.value {
                case .null, .array([]): return false
                case .object(let inner): return !inner.members.isEmpty
                default: return true
                }
            }
            return kept.isEmpty ? nil : .object(JSONObject(members: kept))
        case .array([])?: return nil
        default: return value
        }
    }
}

/// What export writes and import applies: a registry's versions (references first), its levels and modes.
struct RegistrySnapshot: Sendable {
    var versions: [ExportedVersion] = []
    /// The registry-wide config (`GET /config`), as returned.
    var globalConfig: JSONValue?
    var globalMode: String?
    /// Subject-level configs and modes (only subjects that have their own).
    var subjectConfigs: [String: JSONValue] = [:]
    var subjectModes: [String: String] = [:]

    var subjects: [String] {
        var seen = Set<String>()
        return versions.compactMap { seen.insert($0.subject).inserted ? $0.subject : nil }
    }

    var distinctIDs: Int { Set(versions.map(\.id)).count }

    /// Orders the versions so that each comes after every version it references; otherwise by id, then
    /// subject and version (the order the source most likely registered them in).
    mutating func orderReferencesFirst() {
        let sorted = versions.sorted { ($0.id, $0.subject, $0.version) < ($1.id, $1.subject, $1.version) }
        var index: [ExportedVersion.Key: Int] = [:]
        for (position, version) in sorted.enumerated() { index[version.key] = position }
        var placed = [Bool](repeating: false, count: sorted.count)
        var visiting = [Bool](repeating: false, count: sorted.count)
        var ordered: [ExportedVersion] = []
        ordered.reserveCapacity(sorted.count)
        // Depth-first, iteratively (a long chain of references must not exhaust the stack).
        for start in sorted.indices where !placed[start] {
            var stack: [(position: Int, next: Int)] = [(start, 0)]
            visiting[start] = true
            while let top = stack.last {
                let references = sorted[top.position].referencedKeys
                if top.next < references.count {
                    stack[stack.count - 1].next += 1
                    if let child = index[references[top.next]], !placed[child], !visiting[child] {
                        visiting[child] = true
                        stack.append((child, 0))
                    }
                    continue
                }
                stack.removeLast()
                placed[top.position] = true
                ordered.append(sorted[top.position])
            }
        }
        versions = ordered
    }

    // MARK: The export file

    static let formatVersion: Int64 = 1

    /// The export file's lines: a header, the global config and mode, the versions, then subject configs and modes.
    func lines(source: String, time: String) -> [JSONValue] {
        let deleted = versions.filter(\.deleted).count
        var lines: [JSONValue] = [
            .object([
                ("type", .string("header")), ("format", .integer(Self.formatVersion)), ("tool", .string("schemactl export")),
                ("source", .string(source)), ("exportedAt", .string(time)),
                (
                    "counts",
                    .object([
                        ("subjects", .integer(Int64(subjects.count))), ("versions", .integer(Int64(versions.count))),
                        ("deletedVersions", .integer(Int64(deleted))), ("schemas", .integer(Int64(distinctIDs))),
                        ("subjectConfigs", .integer(Int64(subjectConfigs.count))), ("subjectModes", .integer(Int64(subjectModes.count))),
                    ])
                ),
            ])
        ]
        if let globalConfig { lines.append(.object([("type", .string("config")), ("config", globalConfig)])) }
        if let globalMode { lines.append(.object([("type", .string("mode")), ("mode", .string(globalMode))])) }
        lines += versions.map(\.line)
        for subject in subjectConfigs.keys.sorted() {
            lines.append(.object([("type", .string("config")), ("subject", .string(subject)), ("config", subjectConfigs[subject]!)]))
        }
        for subject in subjectModes.keys.sorted() {
            lines.append(.object([("type", .string("mode")), ("subject", .string(subject)), ("mode", .string(subjectModes[subject]!))]))
        }
        return lines
    }

    /// Reads an export file (JSON Lines).
    init(file bytes: [UInt8], name: String) throws(MigrationError) {
        var lineNumber = 0
        var lineOfVersion: [ExportedVersion.Key: Int] = [:]
        var sawHeader = false
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            lineNumber += 1
            defer { start = end + 1 }
            let slice = Array(bytes[start..<end])
            if slice.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            let line: JSONValue
            do {
                line = try JSONParser.parse(bytes: slice)
            } catch {
                throw .invalidFile("\(name):\(lineNumber): not JSON: \(error)")
            }
            let subject = line["subject"]?.stringValue
            switch line["type"]?.stringValue {
            case "header":
                guard case .integer(let format)? = line["format"], format == Self.formatVersion else {
                    throw .invalidFile("\(name):\(lineNumber): unknown export format \(line["format"]?.compactText ?? "none") (this schemactl reads format \(Self.formatVersion))")
                }
                sawHeader = true
            case "config":
                guard let config = line["config"] else { throw .invalidFile("\(name):\(lineNumber): config line without \"config\"") }
                if let subject { subjectConfigs[subject] = config } else { globalConfig = config }
            case "mode":
                guard let mode = line["mode"]?.stringValue else { throw .invalidFile("\(name):\(lineNumber): mode line without \"mode\"") }
                if let subject { subjectModes[subject] = mode } else { globalMode = mode }
            case "version":
                let version: ExportedVersion
                do throws(MigrationError) {
                    version = try ExportedVersion(line: line)
                } catch {
                    throw .invalidFile("\(name):\(lineNumber): \(error)")
                }
                if let earlier = lineOfVersion[version.key] {
                    throw .invalidFile("\(name):\(lineNumber): subject \(version.subject) version \(version.version) again (first on line \(earlier))")
                }
                lineOfVersion[version.key] = lineNumber
                versions.append(version)
            default:
                throw .invalidFile("\(name):\(lineNumber): unknown line type \(line["type"]?.compactText ?? "none")")
            }
            if !sawHeader { throw .invalidFile("\(name):\(lineNumber): the first line is not a schemactl export header") }
        }
        guard sawHeader else { throw .invalidFile("\(name): empty; not a schemactl export") }
    }

    init() {}
}

/// Why a migration stopped.
enum MigrationError: Error, CustomStringConvertible {
    case registry(RegistryClientError)
    /// The same id or version holds other content on the two sides.
    case conflict(String)
    /// The target cannot take the import (mode refused, foreign subjects).
    case refused(String)
    case invalidFile(String)
    case unexpected(String)
    /// Stopped by SIGINT or SIGTERM.
    case interrupted

    var description: String {
        switch self {
        case .registry(let error): return error.description
        case .conflict(let text): return "conflict: \(text)"
        case .refused(let text): return text
        case .invalidFile(let text): return text
        case .unexpected(let text): return text
        case .interrupted: return "interrupted"
        }
    }
}

/// Compares a version's schema text with another registry's text for it: equal texts, or, for Avro, the same
/// canonical string once both are parsed (with the version's references taken from the snapshot).
final class SchemaTextComparer {
    private let records: [ExportedVersion.Key: ExportedVersion]
    private var parsed: [ExportedVersion.Key: AvroSchema] = [:]
    private static let lenient = AvroSchema.ParseOptions(validatesDefaults: false)

    init(_ snapshot: RegistrySnapshot) {
        records = Dictionary(snapshot.versions.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func same(_ record: ExportedVersion, _ text: String) -> Bool {
        if record.schema == text { return true }
        guard record.schemaType == "AVRO", let references = references(of: record, depth: 0) else { return false }
        guard let mine = try? AvroSchema(parsing: record.schema, references: references, options: Self.lenient),
            let theirs = try? AvroSchema(parsing: text, references: references, options: Self.lenient)
        else { return false }
        return mine.canonicalText == theirs.canonicalText
    }

    /// The parsed schemas a version references, or nil when one is missing or does not parse.
    private func references(of record: ExportedVersion, depth: Int) -> [AvroSchema]? {
        guard depth < 64 else { return nil }
        var schemas: [AvroSchema] = []
        for key in record.referencedKeys {
            if let schema = parsed[key] {
                schemas.append(schema)
                continue
            }
            guard let referenced = records[key], let inner = references(of: referenced, depth: depth + 1),
                let schema = try? AvroSchema(parsing: referenced.schema, references: inner, options: Self.lenient)
            else { return nil }
            parsed[key] = schema
            schemas.append(schema)
        }
        return schemas
    }
}
