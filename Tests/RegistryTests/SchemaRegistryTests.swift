import AvroCodec
import Foundation
import Testing

@testable import Registry

/// The registry domain over a real SQLite file in a temporary directory.
struct SchemaRegistryTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/evolution")

    static func text(_ name: String) -> String {
        (try? String(contentsOf: fixtures.appendingPathComponent(name + ".avsc"), encoding: .utf8)) ?? ""
    }

    /// A fresh database path; the directory is removed by the caller's `defer`.
    static func temporaryDatabase() throws -> (directory: URL, path: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (directory, directory.appendingPathComponent("registry.db").path)
    }

    @Test func idsAreGlobalAndDeduplicated() throws {
        let (directory, path) = try Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(databasePath: path)
        let first = try registry.register(subject: "users-value", schema: Self.text("user-v1"))
        #expect(first.id == 1 && first.version == 1)
        // Identical again: the existing id, no new version.
        #expect(try registry.register(subject: "users-value", schema: Self.text("user-v1")) == first)
        // Whitespace, key order and a full name instead of a namespace: the same normalized schema.
        let variant = #"{"fields":[{"type":"long","name":"id"},{"name":"name","type":"string"}],"name":"com.example.User","type":"record"}"#
        #expect(try registry.register(subject: "users-value", schema: variant).id == 1)
        // The same schema under another subject: same id, that subject's version 1.
        let other = try registry.register(subject: "audit-value", schema: Self.text("user-v1"))
        #expect(other.id == 1 && other.version == 1)
        // New content: the next id.
        let second = try registry.register(subject: "users-value", schema: Self.text("user-add-optional-email"))
        #expect(second.id == 2 && second.version == 2)
        #expect(try registry.versions(subject: "users-value") == [1, 2])
        #expect(registry.subjects() == ["audit-value", "users-value"])
        #expect(try registry.subjects(usingID: 1) == ["audit-value", "users-value"])
        #expect(try registry.schema(id: 2).schema.contains("email"))
    }

    @Test func incompatibleRegistrationIsRefusedWithDetails() throws {
        let (directory, path) = try Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(databasePath: path)
        _ = try registry.register(subject: "users-value", schema: Self.text("user-v1"))
        do {
            _ = try registry.register(subject: "users-value", schema: Self.text("user-add-required-email"))
            Issue.record("registered an incompatible schema")
        } catch {
            #expect(error.httpStatus == 409)
            #expect(error.errorCode == 40901)
            #expect(error.message.hasPrefix("Schema being registered is incompatible with an earlier schema for subject \"users-value\", details: [{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE'"))
            #expect(error.message.contains("{oldSchemaVersion: 1}"))
            #expect(error.message.contains("{validateFields: 'false', compatibility: 'BACKWARD'}"))
            #expect(error.message.contains("fix:'give field `email` a default"))
        }
        #expect(try registry.versions(subject: "users-value") == [1])
        // At level NONE it goes through.
        try registry.setLevel(.none, subject: "users-value")
        #expect(try registry.register(subject: "users-value", schema: Self.text("user-add-required-email")).version == 2)
    }

    @Test func invalidSchemaIsRefusedAndNothingIsWritten() throws {
        let (directory, path) = try Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(databasePath: path)
        #expect(throws: RegistryError.self) { try registry.register(subject: "s", schema: #"{"type":"record","name":"R"}"#) }
        #expect(throws: RegistryError.self) { try registry.register(subject: "s", schema: "not json") }
        #expect(registry.subjects(filter: .all).isEmpty)
        #expect(registry.maximumID == 0)
        do {
            _ = try registry.register(subject: "s", schema: #"{"type":"enum","name":"E","symbols":["A","A"]}"#)
            Issue.record("an enum with a duplicate symbol was accepted")
        } catch {
            #expect(error.errorCode == 42201)
            #expect(error.message.hasPrefix("Invalid schema at /symbols/1"))
        }
    }

    @Test func everythingSurvivesARestart() throws {
        let (directory, path) = try Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        var expected: [RegisteredSchema] = []
        do {
            let registry = try SchemaRegistry(databasePath: path)
            try registry.setLevel(.full, subject: nil)
            try registry.setLevel(.none, subject: "s2")
            try registry.setMode(.readOnly, subject: "frozen", force: false)
            expected.append(try registry.register(subject: "s1", schema: Self.text("user-v1")))
            expected.append(try registry.register(subject: "s1", schema: Self.text("user-add-optional-email")))
            expected.append(try registry.register(subject: "s2", schema: Self.text("order-v1")))
            _ = try registry.deleteVersion(subject: "s2", .number(1), permanent: false)
        }
        let reopened = try SchemaRegistry(databasePath: path)
        #expect(try reopened.version(subject: "s1", .number(1)) == expected[0])
        #expect(try reopened.version(subject: "s1", .latest) == expected[1])
        #expect(try reopened.version(subject: "s2", .number(1), includeDeleted: true).isDeleted)
        #expect(try reopened.level(subject: nil, defaultToGlobal: false) == .full)
        #expect(try reopened.level(subject: "s2", defaultToGlobal: false) == CompatibilityLevel.none)
        #expect(try reopened.mode(subject: "frozen", defaultToGlobal: false) == .readOnly)
        #expect(reopened.maximumID == 3)
        // The next id continues after the highest ever used.
        #expect(try reopened.register(subject: "s3", schema: Self.text("order-v2-breaking")).id == 4)
    }

    @Test func deletesFollowConfluentsOrder() throws {
        let (directory, path) = try Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(databasePath: path)
        let first = try registry.register(subject: "s", schema: Self.text("user-v1"))
        _ = try registry.register(subject: "s", schema: Self.text("user-add-optional-email"))

        #expect(throws: RegistryError.versionNotSoftDeleted(subject: "s", version: 1)) { try registry.deleteVersion(subject: "s", .number(1), permanent: true) }
        #expect(try registry.deleteVersion(subject: "s", .number(1), permanent: false) == 1)
        #expect(throws: RegistryError.versionSoftDeleted(subject: "s", version: 1)) { try registry.deleteVersion(subject: "s", .number(1), permanent: false) }
        #expect(throws: RegistryError.versionNotFound("1")) { try registry.version(subject: "s", .number(1)) }
        // A soft-deleted version's id still resolves.
        #expect(try registry.schema(id: first.id).id == first.id)

        #expect(throws: RegistryError.subjectNotSoftDeleted("s")) { try registry.deleteSubject("s", permanent: true) }
        #expect(try registry.deleteSubject("s", permanent: false) == [2])
        #expect(throws: RegistryError.subjectSoftDeleted("s")) { try registry.deleteSubject("s", permanent: false) }
        #expect(registry.subjects().isEmpty)
        #expect(registry.subjects(filter: .all) == ["s"])
        #expect(try registry.deleteSubject("s", permanent: true) == [1, 2])
        #expect(throws: RegistryError.subjectNotFound("s")) { try registry.versions(subject: "s", filter: .all) }
        #expect(throws: RegistryError.schemaNotFound(id: first.id)) { try registry.schema(id: first.id) }
        // Re-registering content whose id was permanently deleted gets a new id, as Confluent does.
        let again = try registry.register(subject: "s", schema: Self.text("user-v1"))
        #expect(again.id == 3)
        #expect(again.version == 1)
    }

    @Test func softDeletedContentReRegisteredKeepsItsIdWithANewVersion() throws {
        let (directory, path) = try Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(databasePath: path)
        let first = try registry.register(subject: "s", schema: Self.text("user-v1"))
        _ = try registry.deleteVersion(subject: "s", .number(1), permanent: false)
        let again = try registry.register(subject: "s", schema: Self.text("user-v1"))
        #expect(again.id == first.id)
        #expect(again.version == 2)
        // Confluent removes the soft-deleted version with the same id for good, and remembers that.
        #expect(try registry.versions(subject: "s", filter: .all) == [2])
        #expect(try SchemaRegistry(databasePath: path).versions(subject: "s", filter: .all) == [2])
    }

    @Test func configAndModeScopes() throws {
        let (directory, path) = try Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(databasePath: path)
        #expect(try registry.level(subject: nil, defaultToGlobal: false) == .backward)
        #expect(throws: RegistryError.subjectCompatibilityNotConfigured("s")) { try registry.level(subject: "s", defaultToGlobal: false) }
        #expect(try registry.level(subject: "s", defaultToGlobal: true) == .backward)
        try registry.setLevel(.forwardTransitive, subject: "s")
        #expect(try registry.level(subject: "s", defaultToGlobal: false) == .forwardTransitive)
        #expect(try registry.deleteLevel(subject: "s") == .forwardTransitive)
        #expect(throws: RegistryError.subjectNotFound("s")) { try registry.deleteLevel(subject: "s") }

        #expect(throws: RegistryError.subjectModeNotConfigured("s")) { try registry.mode(subject: "s", defaultToGlobal: false) }
        _ = try registry.register(subject: "s", schema: Self.text("user-v1"))
        try registry.setMode(.readOnly, subject: "s", force: false)
        #expect(throws: RegistryError.operationNotPermitted("Subject s is in read-only mode")) {
            try registry.register(subject: "s", schema: Self.text("user-add-optional-email"))
        }
        // Re-registering what exists works even in READONLY (the fast path comes before the mode check).
        #expect(try registry.register(subject: "s", schema: Self.text("user-v1")).version == 1)
        #expect(throws: RegistryError.operationNotPermitted("Cannot import since found existing subjects")) {
            try registry.setMode(.import, subject: nil, force: false)
        }
        #expect(try registry.deleteMode(subject: "s") == .readOnly)
    }

    @Test func importModeKeepsExplicitIdsAndVersions() throws {
        let (directory, path) = try Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(databasePath: path)
        #expect(throws: RegistryError.self) { try registry.register(subject: "s", schema: Self.text("user-v1"), explicitID: 42) }
        try registry.setMode(.import, subject: nil, force: false)
        let imported = try registry.register(subject: "s", schema: Self.text("user-v1"), explicitID: 42, explicitVersion: 7)
        #expect(imported.id == 42 && imported.version == 7)
        #expect(throws: RegistryError.operationNotPermitted("Overwrite new schema with id 42 is not permitted.")) {
            try registry.register(subject: "t", schema: Self.text("order-v1"), explicitID: 42)
        }
        try registry.setMode(.readWrite, subject: nil, force: false)
        #expect(try registry.register(subject: "u", schema: Self.text("order-v1")).id == 43)
    }

    @Test func lookupFindsRegisteredContent() throws {
        let (directory, path) = try Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(databasePath: path)
        #expect(throws: RegistryError.subjectNotFound("s")) { try registry.lookup(subject: "s", schema: Self.text("user-v1")) }
        let registered = try registry.register(subject: "s", schema: Self.text("user-v1"))
        #expect(try registry.lookup(subject: "s", schema: Self.text("user-v1")) == registered)
        #expect(throws: RegistryError.schemaNotFound(id: nil)) { try registry.lookup(subject: "s", schema: Self.text("order-v1")) }
    }

    @Test func referencesResolveAndProtectTheirTarget() throws {
        let (directory, path) = try Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(databasePath: path)
        let address = try registry.register(subject: "address", schema: #"{"type":"record","name":"com.acme.Address","fields":[{"name":"city","type":"string"}]}"#)
        let reference = SchemaReference(name: "com.acme.Address", subject: "address", version: 1)
        let user = try registry.register(
            subject: "user", schema: #"{"type":"record","name":"com.acme.User","fields":[{"name":"home","type":"Address"}]}"#, references: [reference])
        #expect(user.references == [reference])
        #expect(try registry.referencedBy(subject: "address", .number(1)) == [user.id])
        #expect(throws: RegistryError.referenceExists("{subject=address,version=1}")) { try registry.deleteVersion(subject: "address", .number(1), permanent: false) }
        #expect(throws: RegistryError.self) {
            try registry.register(subject: "bad", schema: #"{"type":"record","name":"X","fields":[{"name":"a","type":"com.acme.Address"}]}"#,
                references: [SchemaReference(name: "com.acme.Address", subject: "address", version: 9)])
        }
        #expect(address.id == 1)
    }

    @Test func compatibilityEndpointSemantics() throws {
        let (directory, path) = try Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(databasePath: path)
        // Unknown subject: compatible.
        #expect(try registry.checkCompatibility(subject: "s", schema: Self.text("user-v1")).isCompatible)
        _ = try registry.register(subject: "s", schema: Self.text("user-v1"))
        let result = try registry.checkCompatibility(subject: "s", schema: Self.text("user-add-required-email"))
        #expect(!result.isCompatible)
        let messages = VerboseCompatibilityMessages.render(try #require(result.failure))
        #expect(messages.first?.hasPrefix("{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'email' at path '/fields/2' in the new schema has no default value and is missing in the old schema', additionalInfo:'email'}") == true)
        #expect(messages.contains("{oldSchemaVersion: 1}"))
        #expect(messages.last == "{validateFields: 'false', compatibility: 'BACKWARD'}")
        #expect(throws: RegistryError.versionNotFound("5")) { try registry.checkCompatibility(subject: "s", schema: Self.text("user-v1"), version: .number(5)) }
        // The trailer quotes this subject's old version, not another subject's version of the same number.
        for other in 0..<20 {
            _ = try registry.register(subject: "other-\(other)", schema: #"{"type":"record","name":"O\#(other)","fields":[]}"#)
        }
        let again = try registry.checkCompatibility(subject: "s", schema: Self.text("user-add-required-email"))
        let againFailure = try #require(again.failure)
        let trailer = try #require(VerboseCompatibilityMessages.render(againFailure).first { $0.hasPrefix("{oldSchema:") })
        #expect(trailer.contains(#""name":"User","namespace":"com.example""#))
    }

    @Test func concurrentRegistrationsOfOneSchemaYieldOneId() async throws {
        let (directory, path) = try Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(databasePath: path)
        let text = Self.text("order-v1")
        let ids = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<16 {
                group.addTask { try registry.register(subject: "s\(index % 4)", schema: text).id }
            }
            return try await group.reduce(into: Set<Int>()) { $0.insert($1) }
        }
        #expect(ids == [1])
        #expect(registry.maximumID == 1)
    }

    /// Group commit: every answered registration is in the database, with the id it was answered with.
    @Test func concurrentRegistrationsAreAllDurable() async throws {
        let (directory, path) = try Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        var answered: [RegisteredSchema] = []
        do {
            let registry = try SchemaRegistry(databasePath: path)
            try registry.setLevel(.none, subject: nil)
            answered = try await withThrowingTaskGroup(of: RegisteredSchema.self) { group in
                for index in 0..<64 {
                    group.addTask {
                        let schema = #"{"type":"record","name":"R\#(index)","fields":[{"name":"f","type":"long"}]}"#
                        return try registry.register(subject: "s\(index % 8)", schema: schema)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(Set(answered.map(\.id)) == Set(1...64))
        let reopened = try SchemaRegistry(databasePath: path)
        for registered in answered {
            #expect(try reopened.version(subject: registered.subject, .number(registered.version)) == registered)
        }
        #expect(reopened.maximumID == 64)
    }

    @Test(arguments: [
        ("latest", VersionSelector.latest), ("LATEST", .latest), (" -1 ", .latest), ("1", .number(1)), ("\t7 ", .number(7)),
        ("2147483647", .number(2_147_483_647)),
    ])
    func versionSelectorsParse(_ text: String, _ expected: VersionSelector) throws {
        #expect(try VersionSelector(parsing: text) == expected)
    }

    @Test(arguments: ["0", "-2", "abc", "2147483648", ""])
    func invalidVersionSelectorsAre42202(_ text: String) {
        #expect(throws: RegistryError.invalidVersion(text)) { try VersionSelector(parsing: text) }
    }
}
