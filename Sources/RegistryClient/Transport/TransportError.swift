/// Why an exchange with the registry failed below HTTP: resolution, connection, TLS, a timeout, or an
/// answer that is not HTTP/1.1 within our limits. `RegistryClient` reports it as `.unavailable`.
struct TransportError: Error, Sendable {
    /// What failed, readable on its own ("cannot connect to 127.0.0.1 port 9: Connection refused").
    let reason: String
    /// A wait ran out; set apart because a timeout is never a sign of a stale keep-alive connection.
    let isTimeout: Bool
    /// Not one byte of the response had arrived (set by `HTTPTransport` for the retry on a fresh
    /// connection).
    var isBeforeResponse = false

    init(_ reason: String, isTimeout: Bool = false) {
        self.reason = reason
        self.isTimeout = isTimeout
    }
}
