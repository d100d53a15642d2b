import AvroCodec
import RegistryClient
import Testing

@testable import SchemaCtl

/// The migration's logic without a registry: the export file, the order of versions, the plan of writes.
struct MigrationPlanTests {
    static func version(_ subject: String, _ number: Int, id: Int, references: [(String, Int)] = [], deleted: Bool = false, schema: String? = nil) throws
        -> ExportedVersion
    {
        let answer = JSONValue.object([
            ("subject", .string(subject)), ("version", .integer(Int64(number))), ("id", .integer(Int64(id))),
            ("schema", .string(schema ?? "{\"type\":\"fixed\",\"name\":\"F\(id)\",\"size\":1}")),
            (
                "references",
                .array(references.map { .object([("name", .string("n")), ("subject", .string($0.0)), ("version", .integer(Int64($0.1)))]) })
            ),
        ])
        return try ExportedVersion(subject: subject, answer: answer, deleted: deleted)
    }

    @Test func referencedVersionsComeFirstEvenWithHigherIDs() throws {
        var snapshot = RegistrySnapshot()
        snapshot.versions = [
            try Self.version("c", 1, id: 1, references: [("b", 1)]),
            try Self.version("b", 1, id: 5, references: [("a", 2)]),
            try Self.version("a", 2, id: 9),
            try Self.version("z", 1, id: 2),
        ]
        snapshot.orderReferencesFirst()
        #expect(snapshot.versions.map(\.subject) == ["a", "b", "c", "z"])
    }

    @Test func aLongChainOfReferencesIsOrderedWithoutRecursion() throws {
        var snapshot = RegistrySnapshot()
        let count = 20_000
        snapshot.versions = try (1...count).map { number in
            try Self.version("s\(number)", 1, id: number, references: number < count ? [("s\(number + 1)", 1)] : [])
        }
        snapshot.orderReferencesFirst()
        #expect(snapshot.versions.first?.subject == "s\(count)")
        #expect(snapshot.versions.last?.subject == "s1")
        #expect(snapshot.versions.count == count)
    }

    @Test func aCycleOfReferencesDoesNotHangOrLoseVersions() throws {
        var snapshot = RegistrySnapshot()
        snapshot.versions = [try Self.version("a", 1, id: 1, references: [("b", 1)]), try Self.version("b", 1, id: 2, references: [("a", 1)])]
        snapshot.orderReferencesFirst()
        #expect(Set(snapshot.versions.map(\.subject)) == ["a", "b"])
    }

    @Test func theFileReadsBackWhatWasWritten() throws {
        var snapshot = RegistrySnapshot()
        snapshot.versions = [try Self.version("a/b ü", 3, id: 7, deleted: true), try Self.version("c", 1, id: 8, references: [("a/b ü", 3)])]
        snapshot.globalConfig = .object([("compatibilityLevel", .string("FULL"))])
        snapshot.globalMode = "READWRITE"
        snapshot.subjectConfigs = ["c": .object([("compatibilityLevel", .string("NONE"))])]
        snapshot.subjectModes = ["a/b ü": "READONLY"]
        let text = snapshot.lines(source: "http://x", time: "2026-12-06T00:00:00Z").map(\.compactText).joined(separator: "\n")
        let read = try RegistrySnapshot(file: Array(text.utf8), name: "f")
        #expect(read.versions == snapshot.versions)
        #expect(read.globalConfig == snapshot.globalConfig && read.globalMode == "READWRITE")
        #expect(read.subjectConfigs == snapshot.subjectConfigs && read.subjectModes == snapshot.subjectModes)
    }

    @Test(arguments: [
        ("", "empty"),
        ("{\"type\":\"version\",\"subject\":\"a\",\"version\":1,\"id\":1,\"schema\":\"\\\"int\\\"\"}", "not a schemactl export header"),
        ("{\"type\":\"header\",\"format\":2}", "unknown export format 2"),
        ("{\"type\":\"header\",\"format\":1}\n{\"type\":\"version\",\"subject\":\"a\"}", "f:2: version of a without version, id or schema"),
        ("{\"type\":\"header\",\"format\":1}\n{\"type\":\"surprise\"}", "unknown line type"),
        ("{\"type\":\"header\",\"format\":1}\n{\"type\":", "f:2: not JSON"),
    ])
    func aDamagedFileIsRefusedWithItsLine(text: String, message: String) {
        #expect {
            _ = try RegistrySnapshot(file: Array(text.utf8), name: "f")
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test func anImportStopsAtOtherContentButAMirrorReplacesIt() throws {
        let writer = RegistryWriter(client: RegistryClient(baseURL: "http://127.0.0.1:9"))
        var desired = RegistrySnapshot()
        desired.versions = [try Self.version("a", 1, id: 1, schema: "\"int\"")]
        var state = TargetState()
        state.versions[desired.versions[0].key] = try Self.version("a", 1, id: 1, schema: "\"long\"")
        #expect {
            _ = try writer.plan(desired, against: state, following: false, previous: nil)
        } throws: { error in
            "\(error)".contains("source: id 1: \"int\"") && "\(error)".contains("target: id 1: \"long\"")
        }
        let changes = try writer.plan(desired, against: state, following: true, previous: nil)
        #expect(changes.map(Self.describe) == ["permanentDelete a 1", "register a 1"])
    }

    @Test func identicalVersionsAreSkippedAndOnlyTheirDeletionIsRedone() throws {
        let writer = RegistryWriter(client: RegistryClient(baseURL: "http://127.0.0.1:9"))
        var desired = RegistrySnapshot()
        desired.versions = [try Self.version("a", 1, id: 1, deleted: true), try Self.version("a", 2, id: 2)]
        var state = TargetState()
        for var version in desired.versions {
            version.deleted = false
            state.versions[version.key] = version
        }
        #expect(try writer.plan(desired, against: state, following: false, previous: nil).map(Self.describe) == ["softDelete a 1"])
    }

    @Test func aDeletedVersionThatOthersReferenceIsDeletedAfterThem() throws {
        let writer = RegistryWriter(client: RegistryClient(baseURL: "http://127.0.0.1:9"))
        var desired = RegistrySnapshot()
        desired.versions = [
            try Self.version("base", 1, id: 1, deleted: true), try Self.version("user", 1, id: 2, references: [("base", 1)], deleted: true),
            try Self.version("live", 1, id: 3, references: [("base", 1)]),
        ]
        let changes = try writer.plan(desired, against: TargetState(), following: false, previous: nil)
        #expect(changes.map(Self.describe) == ["register base 1", "register user 1", "softDelete user 1", "register live 1", "softDelete base 1"])
    }

    @Test func aMirrorRemovesWhatTheSourceRemovedAndFollowsSettings() throws {
        let writer = RegistryWriter(client: RegistryClient(baseURL: "http://127.0.0.1:9"))
        var previous = RegistrySnapshot()
        previous.versions = [try Self.version("a", 1, id: 1), try Self.version("a", 2, id: 2), try Self.version("gone", 1, id: 3)]
        previous.subjectConfigs = ["gone": .object([("compatibilityLevel", .string("NONE"))])]
        var state = TargetState()
        for version in previous.versions { state.versions[version.key] = version }
        state.subjectConfigs = previous.subjectConfigs
        var desired = RegistrySnapshot()
        desired.versions = [try Self.version("a", 1, id: 1), try Self.version("a", 2, id: 2, deleted: true)]
        desired.subjectModes = ["a": "READONLY"]
        let changes = try writer.plan(desired, against: state, following: true, previous: previous)
        #expect(changes.map(Self.describe) == ["permanentDelete gone 1", "softDelete a 2", "putMode a READONLY", "deleteConfig gone"])
    }

    @Test(arguments: [("1s", 1000), ("500ms", 500), ("2m", 120_000), ("0.25", 250), ("0s", nil), ("-1s", nil), ("soon", nil), ("1h", nil)] as [(String, Int?)])
    func intervals(text: String, milliseconds: Int?) {
        #expect(MirrorCommand.parseInterval(text) == milliseconds)
    }

    static func describe(_ change: PlannedChange) -> String {
        switch change {
        case .register(let version): return "register \(version.subject) \(version.version)"
        case .softDelete(let key): return "softDelete \(key.subject) \(key.version)"
        case .permanentDelete(let key): return "permanentDelete \(key.subject) \(key.version)"
        case .putConfig(let subject, _): return "putConfig \(subject ?? "global")"
        case .deleteConfig(let subject): return "deleteConfig \(subject)"
        case .putMode(let subject, let mode): return "putMode \(subject) \(mode)"
        case .deleteMode(let subject): return "deleteMode \(subject)"
        }
    }
}
