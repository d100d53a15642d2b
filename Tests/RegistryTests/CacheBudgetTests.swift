import Foundation
import Registry
import Testing

/// The in-memory caches are bounded by bytes, not by count: many large schemas cannot grow the process
/// without limit, and what was evicted is parsed (or rendered) again when needed.
@Suite struct CacheBudgetTests {
    /// A record of `fields` long fields: about 40 bytes of text per field.
    static func wide(_ name: String, fields: Int, extra: Int = 0) -> String {
        let list = (0..<fields).map { #"{"name":"f\#($0)","type":"long","default":0}"# }
            + (0..<extra).map { #"{"name":"x\#($0)","type":["null","string"],"default":null}"# }
        return #"{"type":"record","name":"\#(name)","fields":[\#(list.joined(separator: ","))]}"#
    }

    @Test func parsedSchemasStayWithinTheirByteBudget() throws {
        let (directory, path) = try SchemaRegistryTests.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let budget = 300_000
        let registry = try SchemaRegistry(databasePath: path, parsedCacheBytes: budget)
        try registry.setLevel(.fullTransitive, subject: "wide")
        var largest = 0
        for version in 0..<40 {
            // Each version adds an optional field: compatible with every earlier one, which are all
            // compared (FULL_TRANSITIVE), so evicted versions must be parsed again to be checked.
            _ = try registry.register(subject: "wide", schema: Self.wide("W", fields: 50, extra: version))
            largest = max(largest, registry.cacheBytes.parsedSchemas)
            #expect(registry.cacheBytes.parsedSchemas <= budget)
        }
        #expect(largest > budget / 2, "the cache was never used")
        #expect(try registry.versions(subject: "wide").count == 40)
        // Still checked against every version after evictions: a breaking change is refused.
        let breaking = Self.wide("W", fields: 50).replacingOccurrences(
            of: #"{"name":"f0","type":"long","default":0}"#, with: #"{"name":"f0","type":"string","default":""}"#)
        do {
            _ = try registry.register(subject: "wide", schema: breaking)
            Issue.record("a breaking change was registered")
        } catch {
            guard case .incompatibleSchema(_, let failure) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            // Newest first: the problems are against version 40; the other 39 fail too.
            #expect(failure.version == 40)
            #expect(failure.alsoFailing.count == 39)
        }
    }

    @Test func renderedBodiesStayWithinTheirByteBudget() throws {
        let (directory, path) = try SchemaRegistryTests.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let budget = 10_000
        let registry = try SchemaRegistry(databasePath: path, renderedCacheBytes: budget)
        var renders = 0
        for number in 0..<50 {
            let registered = try registry.register(subject: "s\(number)", schema: #"{"type":"fixed","name":"F\#(number)","size":\#(number + 1)}"#)
            let body = try registry.renderedSchema(id: registered.id) { _ in
                renders += 1
                return [UInt8](repeating: 0x20, count: 1_000)
            }
            #expect(body.count == 1_000)
            #expect(registry.cacheBytes.renderedBodies <= budget)
        }
        // A cached body is not rendered again.
        let last = try registry.version(subject: "s49", .latest)
        _ = try registry.renderedSchema(id: last.id) { _ in
            renders += 1
            return []
        }
        #expect(renders == 50)
    }
}
