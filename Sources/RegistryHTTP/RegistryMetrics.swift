import AvroCodec
import Registry
import Locking

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Counters for `GET /metrics` (Prometheus text format, version 0.0.4): requests by route and status, a latency
/// histogram, registrations and compatibility rejections by the subject's level, storage errors; read at scrape
/// time: schema and subject counts, cache sizes, the store's group commits (SQLite) or round trip and lag
/// (PostgreSQL), open connections, resident memory and start time of the process.
///
/// A scrape costs one copy of the counters under their lock, the store's statistics under theirs, and one read of
/// `/proc/self/statm`; nothing touches the database.
public final class RegistryMetrics: Sendable {
    static let bucketBounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

    struct RouteStatus: Hashable {
        let route: String
        let status: Int
    }

    struct Counters {
        var requests: [RouteStatus: Int] = [:]
        var buckets = [Int](repeating: 0, count: RegistryMetrics.bucketBounds.count + 1)
        var latencySum = 0.0
        var latencyCount = 0
        /// By the subject's compatibility level (its effective one: its own, else the global one, else the default).
        var registrations: [String: Int] = [:]
        var rejections: [String: Int] = [:]
        var storageErrors = 0
    }

    private let counters = Locked(Counters())
    /// How many connections are open (the HTTP server's count), once the server is started.
    private let openConnections = Locked<(@Sendable () -> Int)?>(nil)
    /// When the process started, in seconds since the epoch.
    private let startTime: Double

    public init() {
        startTime = ProcessFacts.startTime() ?? ProcessFacts.now()
    }

    /// Where `schema_registry_open_connections` is read from (the server, made after the API).
    public func countConnections(with count: @escaping @Sendable () -> Int) {
        openConnections.withLock { $0 = count }
    }

    func record(route: String, status: Int, seconds: Double) {
        counters.withLock { counters in
            counters.requests[RouteStatus(route: route, status: status), default: 0] += 1
            let bucket = RegistryMetrics.bucketBounds.firstIndex { seconds <= $0 } ?? RegistryMetrics.bucketBounds.count
            counters.buckets[bucket] += 1
            counters.latencySum += seconds
            counters.latencyCount += 1
        }
    }

    /// A registration answered (a new version, or one the subject already held) under a subject at `level`.
    func countRegistration(level: String) {
        counters.withLock { $0.registrations[level, default: 0] += 1 }
    }

    /// A registration refused as incompatible under a subject at `level`.
    func countRejection(level: String) {
        counters.withLock { $0.rejections[level, default: 0] += 1 }
    }

    /// A request answered with a storage error (the database refused a write or could not be reached).
    func countStorageError() {
        counters.withLock { $0.storageErrors += 1 }
    }

    func render(registry: SchemaRegistry) -> String {
        let snapshot = counters.withLock { $0 }
        var out = "# HELP schema_registry_requests_total HTTP requests by route and status.\n# TYPE schema_registry_requests_total counter\n"
        for (key, count) in snapshot.requests.sorted(by: { ($0.key.route, $0.key.status) < ($1.key.route, $1.key.status) }) {
            out += "schema_registry_requests_total{route=\"\(key.route)\",status=\"\(key.status)\"} \(count)\n"
        }
        out += "# HELP schema_registry_request_duration_seconds Request latency.\n# TYPE schema_registry_request_duration_seconds histogram\n"
        var cumulative = 0
        for (index, bound) in RegistryMetrics.bucketBounds.enumerated() {
            cumulative += snapshot.buckets[index]
            out += "schema_registry_request_duration_seconds_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        cumulative += snapshot.buckets[RegistryMetrics.bucketBounds.count]
        out += "schema_registry_request_duration_seconds_bucket{le=\"+Inf\"} \(cumulative)\n"
        out += "schema_registry_request_duration_seconds_sum \(snapshot.latencySum)\n"
        out += "schema_registry_request_duration_seconds_count \(snapshot.latencyCount)\n"
        out += "# HELP schema_registry_schemas Highest schema id assigned.\n# TYPE schema_registry_schemas gauge\n"
        out += "schema_registry_schemas \(registry.maximumID)\n"
        out += "# HELP schema_registry_subjects Subjects with a live version.\n# TYPE schema_registry_subjects gauge\n"
        out += "schema_registry_subjects \(registry.liveSubjectCount)\n"
        let cache = registry.cacheBytes
        out += "# HELP schema_registry_cache_bytes Estimated bytes held by the parsed-schema and rendered-body caches.\n# TYPE schema_registry_cache_bytes gauge\n"
        out += "schema_registry_cache_bytes{cache=\"parsed\"} \(cache.parsedSchemas)\nschema_registry_cache_bytes{cache=\"rendered\"} \(cache.renderedBodies)\n"

        // Every level is listed, at 0 until it counts, so a rate() alert has a series from the start.
        out += "# HELP schema_registry_registrations_total Registrations answered (new versions and ones the subject already held), by the subject's compatibility level.\n"
        out += "# TYPE schema_registry_registrations_total counter\n"
        for level in CompatibilityLevel.allCases {
            out += "schema_registry_registrations_total{level=\"\(level.rawValue)\"} \(snapshot.registrations[level.rawValue] ?? 0)\n"
        }
        out += "# HELP schema_registry_compatibility_rejections_total Registrations refused as incompatible, by the subject's compatibility level.\n"
        out += "# TYPE schema_registry_compatibility_rejections_total counter\n"
        for level in CompatibilityLevel.allCases {
            out += "schema_registry_compatibility_rejections_total{level=\"\(level.rawValue)\"} \(snapshot.rejections[level.rawValue] ?? 0)\n"
        }
        let storage = registry.storageStatistics
        out += "# HELP schema_registry_storage_errors_total Requests answered with a storage error (the database refused a write or could not be reached).\n"
        out += "# TYPE schema_registry_storage_errors_total counter\nschema_registry_storage_errors_total \(snapshot.storageErrors)\n"
        switch registry.storeKind {
        case "sqlite":
            out += "# HELP schema_registry_storage_failed_commits_total SQLite transactions that failed to commit (after one, writes are refused until a restart).\n"
            out += "# TYPE schema_registry_storage_failed_commits_total counter\nschema_registry_storage_failed_commits_total \(storage.failedCommits)\n"
            RegistryMetrics.appendHistogram(
                &out, "schema_registry_group_commit_batch_size", "Registrations made durable together by one SQLite group commit (one transaction, one fsync).",
                storage.commitBatchSizes)
            RegistryMetrics.appendHistogram(
                &out, "schema_registry_group_commit_duration_seconds", "Time of each SQLite commit transaction, its fsync included.", storage.commitSeconds)
        case "postgresql":
            if let roundTrip = storage.roundTripSeconds {
                out += "# HELP schema_registry_database_round_trip_seconds Round trip of the last probe (SELECT 1, once a second) to PostgreSQL.\n"
                out += "# TYPE schema_registry_database_round_trip_seconds gauge\nschema_registry_database_round_trip_seconds \(roundTrip)\n"
            }
            if let changes = storage.changesBehind, let seconds = storage.secondsBehind {
                out += "# HELP schema_registry_replication_lag_changes At the last probe, changes committed in the database (by any node) that this node's memory had not applied.\n"
                out += "# TYPE schema_registry_replication_lag_changes gauge\nschema_registry_replication_lag_changes \(changes)\n"
                out += "# HELP schema_registry_replication_lag_seconds Seconds since this node's memory was last seen holding every committed change (0 when it did at the last probe).\n"
                out += "# TYPE schema_registry_replication_lag_seconds gauge\nschema_registry_replication_lag_seconds \(seconds)\n"
            }
        default:
            break
        }
        if let connections = openConnections.withLock({ $0 }) {
            out += "# HELP schema_registry_open_connections HTTP connections open now (idle kept-alive ones included).\n"
            out += "# TYPE schema_registry_open_connections gauge\nschema_registry_open_connections \(connections())\n"
        }
        if let resident = ProcessFacts.residentBytes() {
            out += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
            out += "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes \(resident)\n"
        }
        out += "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
        out += "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds \(startTime)\n"
        return out
    }

    private static func appendHistogram(_ out: inout String, _ name: String, _ help: String, _ histogram: Histogram) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        var cumulative = 0
        for (index, bound) in histogram.bounds.enumerated() {
            cumulative += histogram.counts[index]
            out += "\(name)_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        cumulative += histogram.counts[histogram.bounds.count]
        out += "\(name)_bucket{le=\"+Inf\"} \(cumulative)\n\(name)_sum \(histogram.sum)\n\(name)_count \(histogram.count)\n"
    }
}

/// Facts about this process from `/proc` (Linux; nil elsewhere).
enum ProcessFacts {
    /// Resident memory: the second field of `/proc/self/statm`, in pages.
    static func residentBytes() -> Int? {
        guard let text = readSmallFile("/proc/self/statm") else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The process's start: its start in clock ticks after boot (`/proc/self/stat`, field 22) plus the boot time
    /// (`btime` in `/proc/stat`).
    static func startTime() -> Double? {
        guard let stat = readSmallFile("/proc/self/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces and parentheses) start at field 3.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]) else { return nil }
        guard let system = readSmallFile("/proc/stat"),
            let line = system.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let boot = Double(line.dropFirst("btime ".count).trimmingCharacters())
        else { return nil }
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ticksPerSecond > 0 ? boot + ticks / ticksPerSecond : nil
    }

    static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// A small file (under 64 KiB) as text, or nil.
    private static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 65536)
        var count = 0
        while count < bytes.count {
            let read = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return -1 }
                return systemRead(descriptor, base + count, buffer.count - count)
            }
            if read < 0, errno == EINTR { continue }
            guard read > 0 else { break }
            count += read
        }
        return String(decoding: bytes[..<count], as: UTF8.self)
    }
}

/// read(2) from whichever C library the platform has.
private func systemRead(_ descriptor: Int32, _ bytes: UnsafeMutableRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.read(descriptor, bytes, count)
    #else
        Darwin.read(descriptor, bytes, count)
    #endif
}

extension Substring {
    fileprivate func trimmingCharacters() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\n" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\n" { text = text.dropLast() }
        return text
    }
}

/// Monotonic time for latency measurement (not the wall clock: it never jumps).
enum MonotonicClock {
    static var nanoseconds: Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}
