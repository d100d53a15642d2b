import AvroCodec
import Locking

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The registry: subjects, versions, global ids, configs and modes, kept in a store (SQLite, or
/// PostgreSQL shared by several processes) and served from memory.
///
/// The whole state is loaded at start and mirrored in memory, so reads never touch the store. One lock
/// (`state`) guards memory. Every change is a `Decision`: a rule over memory that returns changes,
/// which the store makes atomic and durable (see `RegistryStore`) before the caller is answered.
public final class SchemaRegistry: Sendable {
    /// The level used when neither the subject nor the registry has one configured.
    public static let defaultLevel = CompatibilityLevel.backward
    /// How deep references may nest below a registered schema.
    static let maximumReferenceDepth = 32
    /// How many distinct subjects one schema may reference.
    static let maximumReferencedSubjects = 1000
    /// The key of the global scope in the config and mode tables (a subject name Confluent reserves).
    static let globalScope = "__GLOBAL"
    /// Parsed schemas kept in memory by default, by estimated size: a parsed schema takes about six
    /// to eight times the bytes of its text (measured: 66 MB of text parsed took 412 MB); evicted ones
    /// are parsed again when needed (the texts of all are kept).
    public static let defaultParsedCacheBytes = 64 << 20
    /// Rendered `GET /schemas/ids/{id}` bodies kept by default, by size.
    public static let defaultRenderedCacheBytes = 32 << 20

    let state: Locked<State>
    let store: any RegistryStore
    let renderedBodies: RenderedBodyCache
    /// A random id made when the database was created (`GET /v1/metadata/id`).
    public var clusterID: String { store.clusterID }

    struct SubjectVersion: Sendable {
        var version: Int
        var id: Int
        var isDeleted: Bool
        var timestamp: Int64
    }

    struct State: ~Copyable {
        let parsedCacheByteLimit: Int
        let renderedBodies: RenderedBodyCache
        var schemas: [Int: StoredSchema] = [:]
        var parsed: [Int: AvroSchema] = [:]
        var parsedCost: [Int: Int] = [:]
        var parsedBytes = 0
        var idByHash: [String: Int] = [:]
        /// Whether any row holds the old normalized form (then requests are also matched by it).
        var hasLegacyRows = false
        /// How many versions (live or soft-deleted) of each subject use each id; an id with none is gone (404).
        var useCount: [Int: [String: Int]] = [:]
        /// Versions per subject, ascending.
        var subjects: [String: [SubjectVersion]] = [:] {
            didSet { sortedSubjects = nil }
        }
        /// Every subject name, sorted: listings page through this until the next write.
        var sortedSubjects: [String]?
        var configs: [String: SubjectConfig] = [:]
        var modes: [String: RegistryMode] = [:]
        var maximumID = 0
        /// Per scope, the newest committed decision memory holds (shared stores only).
        var generations: [String: Int64] = [:]
    }

    /// Opens the registry at `location`: a PostgreSQL URI (`postgresql://…` or `postgres://…`), shared
    /// with other processes, or else a SQLite file path (created if needed). Databases written by
    /// earlier releases are upgraded in place.
    public convenience init(
        databasePath location: String, parsedCacheBytes: Int = SchemaRegistry.defaultParsedCacheBytes,
        renderedCacheBytes: Int = SchemaRegistry.defaultRenderedCacheBytes
    ) throws(RegistryError) {
        let store: any RegistryStore
        if SchemaRegistry.isPostgresLocation(location) {
            store = try PostgresStore(uri: location)
        } else {
            do {
                store = try SQLiteStore(path: location)
            } catch {
                throw .storage(String(describing: error))
            }
        }
        try self.init(store: store, parsedCacheBytes: parsedCacheBytes, renderedCacheBytes: renderedCacheBytes)
    }

    /// Whether `location` names a PostgreSQL database rather than a SQLite file.
    public static func isPostgresLocation(_ location: String) -> Bool {
        location.hasPrefix("postgresql://") || location.hasPrefix("postgres://")
    }

    /// A registry over `store`, loaded from it.
    init(store: any RegistryStore, parsedCacheBytes: Int, renderedCacheBytes: Int) throws(RegistryError) {
        self.store = store
        renderedBodies = RenderedBodyCache(byteLimit: renderedCacheBytes)
        var loaded = State(parsedCacheByteLimit: parsedCacheBytes, renderedBodies: renderedBodies)
        loaded.load(try store.loadSnapshot())
        state = Locked(loaded)
        store.startFollowing(self)
    }

    deinit {
        store.close()
    }

    /// Whether the store answers now: `/health/ready`.
    public var isStoreReachable: Bool { store.isReachable }

    /// `sqlite` or `postgresql`.
    public var storeKind: String { store.kind }

    /// The store's statistics now: group commits (SQLite), round trip and lag (PostgreSQL).
    public var storageStatistics: StorageStatisticsSnapshot { store.statistics.snapshot }
}

extension VersionSelector {
    var text: String {
        switch self {
        case .latest: return "latest"
        case .number(let number): return String(number)
        }
    }
}

extension CompatibilityLevel {
    /// The same direction(s), against one version.
    var nonTransitive: CompatibilityLevel {
        switch self {
        case .backwardTransitive: return .backward
        case .forwardTransitive: return .forward
        case .fullTransitive: return .full
        default: return self
        }
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}

/// Wall-clock time for version timestamps.
enum WallClock {
    /// Milliseconds since 1970.
    static var milliseconds: Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
