import Dispatch

/// Sends a request to a registry and reads the whole response: HTTP/1.1 over our own sockets (and
/// GnuTLS for https) instead of URLSession, whose Foundation + FoundationNetworking cost every
/// schemactl run ~12 ms of start-up, offline commands included, and which on Linux cannot take a
/// custom CA file or client certificate.
enum HTTPTransport {
    /// The blocking socket work runs here, never on Swift's cooperative pool: that pool has one
    /// thread per core, and a request waiting up to its timeout there would stall every other task of
    /// the process. A queue of our own (not a global one) may grow a thread per waiting request.
    private static let queue = DispatchQueue(label: "RegistryClient.HTTPTransport", attributes: .concurrent)

    /// Sends `request` to `endpoint` off the cooperative pool and resumes with the response. A cancelled
    /// task still waits for the exchange to end (at most the timeout per wait): nothing in the project
    /// cancels registry calls, and the retry loop above stops at cancellation.
    static func send(_ request: HTTPRequest, to endpoint: RegistryEndpoint, options: RegistryTransportOptions) async throws(TransportError) -> HTTPResponse {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<HTTPResponse, TransportError>, Never>) in
            queue.async {
                continuation.resume(returning: Result { () throws(TransportError) in try exchange(request, with: endpoint, options: options) })
            }
        }
        return try result.get()
    }

    /// One exchange, on an idle pooled connection when there is one. A reused connection that fails
    /// before the first response byte was most likely closed by the server while idle (the race
    /// `isReusable` cannot close): the request goes once more, on a fresh connection. A timeout is
    /// not that, and is not repeated.
    static func exchange(_ request: HTTPRequest, with endpoint: RegistryEndpoint, options: RegistryTransportOptions, pool: HTTPConnectionPool = .shared) throws(TransportError) -> HTTPResponse {
        let key = HTTPConnectionPool.Key(endpoint, options)
        let bytes = request.serialized(hostHeader: endpoint.hostHeader, authorization: options.authorization)
        if let reused = pool.take(key) {
            do {
                return try exchange(bytes, method: request.method, on: reused, key: key, pool: pool)
            } catch where error.isTimeout || !error.isBeforeResponse {
                throw error
            } catch {
                // Closed while idle: on to a fresh connection.
            }
        }
        let fresh = try HTTPConnection.open(endpoint, options: options)
        return try exchange(bytes, method: request.method, on: fresh, key: key, pool: pool)
    }

    private static func exchange(_ bytes: [UInt8], method: String, on connection: HTTPConnection, key: HTTPConnectionPool.Key, pool: HTTPConnectionPool) throws(TransportError) -> HTTPResponse {
        let receivedBefore = connection.bytesReceived
        let response: HTTPResponse
        do {
            try connection.write(bytes)
            response = try HTTPResponseReader.read(from: connection, method: method)
        } catch {
            var failure = error
            failure.isBeforeResponse = connection.bytesReceived == receivedBefore
            throw failure
        }
        if response.keepsConnection && connection.isReusable {
            pool.put(connection, key)
        }
        return response
    }
}
