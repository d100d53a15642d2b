import Registry
import Locking

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Counters for `GET /metrics` (Prometheus text format): requests by route and status, a latency
/// histogram, compatibility rejections; schema and subject counts are read from the registry.
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
        var rejections = 0
    }

    private let counters = Locked(Counters())

    public init() {}

    func record(route: String, status: Int, seconds: Double) {
        counters.withLock { counters in
            counters.requests[RouteStatus(route: route, status: status), default: 0] += 1
            let bucket = RegistryMetrics.bucketBounds.firstIndex { seconds <= $0 } ?? RegistryMetrics.bucketBounds.count
            counters.buckets[bucket] += 1
            counters.latencySum += seconds
            counters.latencyCount += 1
        }
    }

    func countRejection() {
        counters.withLock { $0.rejections += 1 }
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
        out += "# HELP schema_registry_compatibility_rejections_total Registrations refused as incompatible.\n# TYPE schema_registry_compatibility_rejections_total counter\n"
        out += "schema_registry_compatibility_rejections_total \(snapshot.rejections)\n"
        return out
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
