import AvroCodec
import Foundation
import Testing

@testable import Registry

/// The SQLite store's failure path, through a store that fails on demand: a second connection to the
/// same file holds SQLite's write lock, so the registry's commit really fails (SQLITE_BUSY).
struct StoreFailureTests {
    static func record(_ name: String, _ fields: [String]) -> String {
        "{\"type\":\"record\",\"name\":\"\(name)\",\"fields\":[" + fields.map { "{\"name\":\"\($0)\",\"type\":\"int\"}" }.joined(separator: ",") + "]}"
    }

    @Test func aFailedGroupCommitRefusesEveryLaterWriteUntilARestartAndLosesNothingAnswered() throws {
        let (directory, path) = try SchemaRegistryTests.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(
            store: try SQLiteStore(path: path, busyTimeoutMilliseconds: 20), parsedCacheBytes: 1 << 20, renderedCacheBytes: 1 << 20)
        let first = try registry.register(subject: "orders-value", schema: Self.record("Order", ["a"]))
        #expect(registry.isStoreReachable)

        let blocker = try SQLiteDatabase(path: path)
        try blocker.execute("BEGIN EXCLUSIVE")
        // A registration whose group commit fails is not answered.
        #expect(throws: RegistryError.self) { try registry.register(subject: "orders-value", schema: Self.record("Order", ["a", "b"])) }
        #expect(throws: RegistryError.self) { try registry.register(subject: "lost-value", schema: Self.record("Lost", ["a"])) }
        try blocker.execute("ROLLBACK")

        // Memory may now be ahead of the file: every write is refused, even with the lock free again, and
        // readiness says so; reads keep being served.
        #expect(!registry.isStoreReachable)
        #expect(throws: RegistryError.self) { try registry.register(subject: "other-value", schema: Self.record("Other", ["x"])) }
        #expect(throws: RegistryError.self) { try registry.setLevel(.full, subject: nil) }
        #expect(throws: RegistryError.self) { try registry.deleteSubject("orders-value", permanent: false) }
        #expect(try registry.schema(id: first.id).schema == first.schema)

        // A restart reloads what is durable: the answered registration, not the failed one.
        let restarted = try SchemaRegistry(databasePath: path)
        #expect(restarted.isStoreReachable)
        #expect(try restarted.versions(subject: "orders-value") == [1])
        #expect(try restarted.schema(id: first.id).schema == first.schema)
        #expect(restarted.subjects() == ["orders-value"])
        let again = try restarted.register(subject: "lost-value", schema: Self.record("Lost", ["a"]))
        #expect(again.version == 1)
        #expect(again.id != first.id)
    }

    @Test func aFailedSynchronousWriteChangesNeitherMemoryNorTheFile() throws {
        let (directory, path) = try SchemaRegistryTests.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(
            store: try SQLiteStore(path: path, busyTimeoutMilliseconds: 20), parsedCacheBytes: 1 << 20, renderedCacheBytes: 1 << 20)
        _ = try registry.register(subject: "orders-value", schema: Self.record("Order", ["a"]))
        let blocker = try SQLiteDatabase(path: path)
        try blocker.execute("BEGIN EXCLUSIVE")
        #expect(throws: RegistryError.self) { try registry.setLevel(.none, subject: "orders-value") }
        #expect(throws: RegistryError.self) { try registry.deleteSubject("orders-value", permanent: false) }
        try blocker.execute("ROLLBACK")
        // Nothing was queued, so nothing is lost: memory still matches the file and writes go on.
        #expect(registry.isStoreReachable)
        #expect(throws: RegistryError.self) { try registry.level(subject: "orders-value", defaultToGlobal: false) }
        #expect(try registry.versions(subject: "orders-value") == [1])
        try registry.setLevel(.none, subject: "orders-value")
        #expect(try SchemaRegistry(databasePath: path).level(subject: "orders-value", defaultToGlobal: false) == CompatibilityLevel.none)
    }
}

/// IMPORT can give one content several ids; a registration finds the version holding it by content.
struct ImportedDuplicateTests {
    @Test func retryingAnImportOfContentWithALowerIdFindsTheVersionItMade() throws {
        let (directory, path) = try SchemaRegistryTests.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(databasePath: path)
        let content = StoreFailureTests.record("Shared", ["a"])
        try registry.setMode(.import, subject: nil, force: false)
        #expect(try registry.register(subject: "a-value", schema: content, explicitID: 5, explicitVersion: 1).id == 5)
        let imported = try registry.register(subject: "b-value", schema: content, explicitID: 10, explicitVersion: 1)
        #expect(imported.id == 10)
        // The importer retries: the version it made is found, not a second one made.
        #expect(try registry.register(subject: "b-value", schema: content, explicitID: 10, explicitVersion: 1) == imported)
        #expect(try registry.register(subject: "b-value", schema: content, explicitID: 10) == imported)
        try registry.setMode(.readWrite, subject: nil, force: false)
        // And in READWRITE, registering it again under b-value is its version 1, with its id.
        #expect(try registry.register(subject: "b-value", schema: content) == imported)
        #expect(try registry.versions(subject: "b-value") == [1])
    }
}
