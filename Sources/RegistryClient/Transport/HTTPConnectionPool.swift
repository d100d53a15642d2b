import Locking

/// Idle keep-alive connections, shared by every `RegistryClient` of the process: a CLI command or a
/// consumer making many requests opens one connection (and does one TLS handshake), not one each.
///
/// A connection is in the pool or in the hands of exactly one exchange, never both: `take` removes it
/// under the lock and `put` gives it back. The lock is held only to move connections in and out,
/// never across I/O.
final class HTTPConnectionPool: Sendable {
    /// Connections are shared only between requests that would open the same one: same scheme, host
    /// and port, and the same trust and client certificate (a connection verified against one CA
    /// file must not serve a client that asked for another).
    struct Key: Hashable, Sendable {
        let scheme: RegistryEndpoint.Scheme
        let host: String
        let port: UInt16
        let tls: TLSOptions?

        init(_ endpoint: RegistryEndpoint, _ options: RegistryTransportOptions) {
            scheme = endpoint.scheme
            host = endpoint.host
            port = endpoint.port
            tls = endpoint.scheme == .https ? options.tls : nil
        }
    }

    static let shared = HTTPConnectionPool()

    /// Idle connections kept per key; more concurrent requests than this open (and then close) more.
    let maximumIdlePerKey = 4
    /// Older idle connections are closed rather than reused: servers close theirs after a while
    /// (ours and Confluent's after 30 s), and a connection closed under a request costs a retry.
    let maximumIdleTime: Duration = .seconds(15)

    private struct Idle {
        let connection: HTTPConnection
        let since: ContinuousClock.Instant
    }

    private let idle = Locked<[Key: [Idle]]>([:])

    /// The most recently used idle connection for `key` that is still fit for a request, if any.
    func take(_ key: Key) -> HTTPConnection? {
        while true {
            // Expired connections leave the lock in `dropped` and are closed after it.
            let (candidate, dropped) = idle.withLock { (idle) -> (HTTPConnection?, [Idle]) in
                guard let all = idle[key] else { return (nil, []) }
                let now = ContinuousClock.now  // once: an entry expiring between two reads would be closed under the lock
                var kept = all.filter { now - $0.since <= maximumIdleTime }
                let dropped = all.filter { now - $0.since > maximumIdleTime }
                let last = kept.popLast()
                idle[key] = kept.isEmpty ? nil : kept
                return (last?.connection, dropped)
            }
            _ = dropped
            guard let candidate else { return nil }
            if candidate.isReusable { return candidate }
            // Closed by the server while idle: dropped here, and the next one is tried.
        }
    }

    /// Keeps `connection` for the next request to `key` (or closes it when enough are kept).
    func put(_ connection: HTTPConnection, _ key: Key) {
        let dropped = idle.withLock { (idle) -> [Idle] in
            let all = idle[key, default: []]
            let now = ContinuousClock.now
            var kept = all.filter { now - $0.since <= maximumIdleTime }
            let dropped = all.filter { now - $0.since > maximumIdleTime }
            if kept.count < maximumIdlePerKey { kept.append(Idle(connection: connection, since: .now)) }
            idle[key] = kept
            return dropped
        }
        _ = dropped  // closed here, after the lock
    }
}
