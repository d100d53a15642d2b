import AvroCodec
import Locking

/// A schema the registry holds, with its id and its parsed form (the client side of the registry's
/// `RegisteredSchema`: what a consumer needs to decode).
public struct ParsedRegistrySchema: Sendable {
    public let id: Int
    public let text: String
    public let schema: AvroSchema
}

/// A subject's version as the registry reports it.
public struct SubjectVersion: Sendable {
    public let subject: String
    public let version: Int
    public let schema: ParsedRegistrySchema
}

/// A `RegistryClient` that remembers what cannot change and, for a while, what can.
///
/// - Schemas by id are cached forever: an id always names the same schema (the registry never
///   reuses or rewrites one), so these entries can never be stale.
/// - Registrations and lookups are cached per (subject, schema text): registering the same schema
///   under the same subject always gives the same id.
/// - Latest versions are cached for `latestTimeToLive`, since a new version can be registered at any
///   time.
///
/// Requests go through the wrapped client, with its retries.
///
/// ```swift
/// let registry = CachingRegistryClient(RegistryClient(baseURL: "http://127.0.0.1:8081"))
/// let writer = try await registry.schema(id: 42)   // one request, then from memory
/// ```
public final class CachingRegistryClient: Sendable {
    public let client: RegistryClient
    public let latestTimeToLive: Duration
    private let cache = Locked(Cache())

    private struct Cache {
        var schemasByID: [Int: ParsedRegistrySchema] = [:]
        var idsBySubjectAndText: [SubjectAndText: Int] = [:]
        var latest: [String: (version: SubjectVersion, expires: ContinuousClock.Instant)] = [:]
        var requests = 0
    }

    private struct SubjectAndText: Hashable {
        let subject: String
        let text: String
    }

    public init(_ client: RegistryClient, latestTimeToLive: Duration = .seconds(30)) {
        self.client = client
        self.latestTimeToLive = latestTimeToLive
    }

    /// How many requests this cache has let through to the registry (for tests and metrics).
    public var requestCount: Int { cache.withLock { $0.requests } }

    private func countRequest() { cache.withLock { $0.requests += 1 } }

    /// The schema with this id: from memory after the first fetch.
    public func schema(id: Int) async throws(RegistryClientError) -> ParsedRegistrySchema {
        if let cached = cache.withLock({ $0.schemasByID[id] }) { return cached }
        countRequest()
        let text = try await client.schema(id: id)
        let registered = try Self.parse(text, id: id)
        cache.withLock { $0.schemasByID[id] = registered }
        return registered
    }

    /// Registers `text` under `subject` (or finds it already registered there) and returns its id.
    public func register(subject: String, schema text: String) async throws(RegistryClientError) -> Int {
        let key = SubjectAndText(subject: subject, text: text)
        if let id = cache.withLock({ $0.idsBySubjectAndText[key] }) { return id }
        countRequest()
        let id = try await client.register(subject: subject, schema: text)
        cache.withLock { $0.idsBySubjectAndText[key] = id }
        return id
    }

    /// The id of `text` if it is registered under `subject`, without registering it; nil if not.
    /// Only found ids are cached (a missing schema may be registered later).
    public func lookup(subject: String, schema text: String) async throws(RegistryClientError) -> Int? {
        let key = SubjectAndText(subject: subject, text: text)
        if let id = cache.withLock({ $0.idsBySubjectAndText[key] }) { return id }
        countRequest()
        guard let id = try await client.lookup(subject: subject, schema: text) else { return nil }
        cache.withLock { $0.idsBySubjectAndText[key] = id }
        return id
    }

    /// The subject's latest version, cached for `latestTimeToLive`.
    public func latest(subject: String) async throws(RegistryClientError) -> SubjectVersion {
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0.latest[subject] }), cached.expires > now { return cached.version }
        countRequest()
        let answer = try await client.version(subject: subject, version: nil)
        guard case .integer(let id)? = answer["id"], case .integer(let version)? = answer["version"],
            case .string(let text)? = answer["schema"]
        else {
            throw .malformedResponse("no id, version or schema in \(answer.compactText)")
        }
        let registered = try Self.parse(text, id: Int(id))
        let subjectVersion = SubjectVersion(subject: subject, version: Int(version), schema: registered)
        cache.withLock {
            $0.latest[subject] = (subjectVersion, now.advanced(by: latestTimeToLive))
            $0.schemasByID[Int(id)] = registered
        }
        return subjectVersion
    }

    /// Whether `text` may follow the subject's versions (not cached: the answer depends on the
    /// subject's versions and level, which change).
    public func checkCompatibility(subject: String, schema text: String) async throws(RegistryClientError) -> (isCompatible: Bool, messages: [String]) {
        countRequest()
        return try await client.checkCompatibility(subject: subject, schema: text, version: nil)
    }

    /// Parses a schema the registry served. Defaults are not re-validated: the registry accepted it.
    static func parse(_ text: String, id: Int) throws(RegistryClientError) -> ParsedRegistrySchema {
        do {
            return ParsedRegistrySchema(id: id, text: text, schema: try AvroSchema(parsing: text, options: .init(validatesDefaults: false)))
        } catch {
            throw .malformedResponse("schema \(id) from the registry does not parse: \(error)")
        }
    }
}
