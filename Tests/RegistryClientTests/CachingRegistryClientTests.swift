import AvroCodec
import Foundation
import RegistryClient
import Testing

/// The caching client and the serializer/deserializer against a real registry process.
@Suite(.serialized)
struct CachingRegistryClientTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func fixture(_ relative: String) throws -> String {
        try String(contentsOf: repository.appendingPathComponent("fixtures/" + relative), encoding: .utf8)
    }

    @Test func schemasByIDAreFetchedOnceAndThenServedFromMemory() async throws {
        let server = try RegistryServerProcess()
        defer { server.stop() }
        let registry = CachingRegistryClient(RegistryClient(baseURL: server.url))
        let id = try await registry.register(subject: "users-value", schema: try Self.fixture("evolution/user-v1.avsc"))
        for _ in 0..<50 {
            let fetched = try await registry.schema(id: id)
            #expect(fetched.id == id)
            #expect(fetched.schema.rootNode.name?.name == "User")
        }
        #expect(try server.requestCount(route: "/schemas/ids/{id}") == 1)
        // Registering the same text again is answered from memory too.
        _ = try await registry.register(subject: "users-value", schema: try Self.fixture("evolution/user-v1.avsc"))
        #expect(try server.requestCount(route: "/subjects/{subject}/versions") == 1)
        #expect(registry.requestCount == 2)
    }

    @Test func latestVersionsAreCachedForTheirTimeToLive() async throws {
        let server = try RegistryServerProcess()
        defer { server.stop() }
        let registry = CachingRegistryClient(RegistryClient(baseURL: server.url), latestTimeToLive: .seconds(3))
        _ = try await registry.register(subject: "users-value", schema: try Self.fixture("evolution/user-v1.avsc"))
        #expect(try await registry.latest(subject: "users-value").version == 1)
        _ = try await registry.register(subject: "users-value", schema: try Self.fixture("evolution/user-add-optional-email.avsc"))
        #expect(try await registry.latest(subject: "users-value").version == 1)  // still cached
        // (3 s, not 300 ms: under the full parallel test run the two calls above took longer than that.)
        try await Task.sleep(for: .milliseconds(3_100))
        let latest = try await registry.latest(subject: "users-value")
        #expect(latest.version == 2)
        #expect(latest.schema.schema.rootNode.name?.name == "User")
    }

    @Test func connectionErrorsAreRetriedWithBackoffUntilTheRegistryAnswers() async throws {
        let port = try RegistryServerProcess.freePort()
        let client = RegistryClient(baseURL: "http://127.0.0.1:\(port)", retry: RetryPolicy(attempts: 12, initialDelay: .milliseconds(50), maximumDelay: .milliseconds(400)))
        let started = ContinuousClock.now
        // The registry comes up 600 ms after the first attempt.
        let lateServer = Task.detached { () -> RegistryServerProcess? in
            try? await Task.sleep(for: .milliseconds(600))
            return try? RegistryServerProcess(port: port)
        }
        let subjects = try await client.subjects()
        let server = try #require(await lateServer.value)
        defer { server.stop() }
        #expect(subjects.isEmpty)
        #expect(ContinuousClock.now - started >= .milliseconds(600))
    }

    @Test func anUnreachableRegistryFailsAfterTheLastAttempt() async throws {
        let port = try RegistryServerProcess.freePort()
        let client = RegistryClient(baseURL: "http://127.0.0.1:\(port)", retry: RetryPolicy(attempts: 3, initialDelay: .milliseconds(100), maximumDelay: .seconds(1)))
        let started = ContinuousClock.now
        do {
            _ = try await client.subjects()
            Issue.record("a registry nobody runs answered")
        } catch {
            guard case .unavailable = error else { Issue.record("expected unavailable, got \(error)"); return }
        }
        // Two waits: about 100 ms and 200 ms (each with up to 25% jitter).
        #expect(ContinuousClock.now - started >= .milliseconds(300))
    }

    @Test func refusalsAreNotRetried() async throws {
        let server = try RegistryServerProcess()
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: RetryPolicy(attempts: 5, initialDelay: .seconds(1)))
        let started = ContinuousClock.now
        do {
            _ = try await client.schema(id: 4242)
            Issue.record("fetched a schema id that does not exist")
        } catch {
            guard case .rejected(404, 40403, _) = error else { Issue.record("expected 40403, got \(error)"); return }
        }
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect(try server.requestCount(route: "/schemas/ids/{id}") == 1)
    }

    @Test func serializedRecordsDeserializeInTheWritersAndTheReadersShape() async throws {
        let server = try RegistryServerProcess()
        defer { server.stop() }
        let registry = CachingRegistryClient(RegistryClient(baseURL: server.url))
        let v1Text = try Self.fixture("evolution/serde-v1.avsc")
        let v2Text = try Self.fixture("evolution/serde-v2.avsc")
        let serializer = try AvroSerializer(registry: registry, subject: "accounts-value", schemaText: v1Text)
        let row = AvroValue.record([.long(9), .string("Grace"), .enumeration("B"), .int(3), .float(2.5), .union(branch: 1, value: .int(1)), .string("x")])
        let framed = try await serializer.serialize(row)
        let id = try await serializer.schemaID()
        #expect(Array(framed.prefix(5)) == [0, UInt8(id >> 24 & 0xFF), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)])

        let writerShape = try await AvroDeserializer(registry: registry).deserialize(framed)
        #expect(writerShape.schemaID == id)
        #expect(writerShape.value == row)

        let v2 = try AvroSchema(parsing: v2Text)
        let readerShape = AvroDeserializer(registry: registry, reader: v2)
        for _ in 0..<3 {
            let decoded = try await readerShape.deserialize(framed)
            #expect(
                decoded.value
                    == .record([
                        .long(9), .string("Grace"), .enumeration("B"), .long(3), .double(2.5), .union(branch: 1, value: .int(1)), .string("eu-west"),
                        .array([]),
                    ]))
        }
        #expect(try server.requestCount(route: "/schemas/ids/{id}") == 1)  // fetched once for both deserializers
    }

    @Test func unknownIdsAndWrongMagicBytesAreClearErrors() async throws {
        let server = try RegistryServerProcess()
        defer { server.stop() }
        let deserializer = AvroDeserializer(registry: CachingRegistryClient(RegistryClient(baseURL: server.url)))
        do {
            _ = try await deserializer.deserialize([0, 0, 0, 0x30, 0x39, 2])
            Issue.record("decoded a record under an unknown id")
        } catch {
            guard case .unknownSchemaID(12345) = error else { Issue.record("expected unknownSchemaID, got \(error)"); return }
            #expect(error.description == "schema id 12345 is not known to the registry")
        }
        do {
            _ = try await deserializer.deserialize([1, 0, 0, 0, 1, 2])
            Issue.record("decoded a record with magic byte 1")
        } catch {
            guard case .wireFormat(.unknownMagicByte(1)) = error else { Issue.record("expected a wire-format error, got \(error)"); return }
        }
    }

    @Test func aSerializerWithoutAutoRegisterOnlyLooksUp() async throws {
        let server = try RegistryServerProcess()
        defer { server.stop() }
        let registry = CachingRegistryClient(RegistryClient(baseURL: server.url))
        let text = try Self.fixture("evolution/user-v1.avsc")
        let lookupOnly = try AvroSerializer(registry: registry, subject: "users-value", schemaText: text, autoRegister: false)
        do {
            _ = try await lookupOnly.schemaID()
            Issue.record("found an id for a schema that was never registered")
        } catch {
            guard case .registry(.rejected(_, 40403, _)) = error else { Issue.record("expected a 40403 refusal, got \(error)"); return }
        }
        let id = try await registry.register(subject: "users-value", schema: text)
        #expect(try await AvroSerializer(registry: CachingRegistryClient(RegistryClient(baseURL: server.url)), subject: "users-value", schemaText: text, autoRegister: false).schemaID() == UInt32(id))
    }
}
