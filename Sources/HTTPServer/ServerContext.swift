/// What the libmicrohttpd callbacks need, reached through the `cls` pointer MHD hands back to them.
///
/// `@unchecked Sendable` is sound: the closures and the limit are immutable; the request count and the stopping
/// flag are only touched under `lock`. MHD worker threads and `HTTPServer.stop()` share one instance.
final class ServerContext: @unchecked Sendable {
    let handler: @Sendable (HTTPRequest) -> HTTPResponse
    let oversizedBody: @Sendable (Int) -> HTTPResponse
    /// Sees (and may add headers to) each response made without the handler.
    let refused: @Sendable (HTTPRequest, HTTPResponse) -> HTTPResponse
    let maximumBodyBytes: Int
    let maximumInflightBodyBytes: Int
    /// With mutual TLS: how each new TLS session asks for the client's certificate; nil without.
    let clientCertificates: ClientCertificatePolicy?
    /// Every open connection and its request deadline.
    let deadlines: RequestDeadlines

    private let lock = Lock()
    private var inFlightRequests = 0  // guarded by lock
    private var stopping = false      // guarded by lock
    private var inflightBodyBytes = 0 // guarded by lock

    init(
        maximumBodyBytes: Int, maximumInflightBodyBytes: Int, clientCertificates: ClientCertificatePolicy? = nil, requestTimeoutSeconds: Int = 0,
        idleTimeoutSeconds: Int = 0, oversizedBody: @escaping @Sendable (Int) -> HTTPResponse,
        refused: @escaping @Sendable (HTTPRequest, HTTPResponse) -> HTTPResponse = { $1 }, handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse
    ) {
        self.deadlines = RequestDeadlines(requestTimeoutSeconds: requestTimeoutSeconds, idleTimeoutSeconds: idleTimeoutSeconds)
        self.maximumBodyBytes = maximumBodyBytes
        self.maximumInflightBodyBytes = maximumInflightBodyBytes
        self.clientCertificates = clientCertificates
        self.oversizedBody = oversizedBody
        self.refused = refused
        self.handler = handler
    }

    /// Requests between their request line (MHD's URI callback) and MHD's completion notice.
    var inFlightRequestCount: Int { lock.withLock { inFlightRequests } }

    /// Set once `stop()` begins: responses from then on carry `Connection: close`.
    var isStopping: Bool { lock.withLock { stopping } }

    /// Body bytes all requests hold now.
    var inflightBodyByteCount: Int { lock.withLock { inflightBodyBytes } }

    /// Takes `bytes` more of the body budget for a request; false (nothing taken) when that would pass it.
    func reserveBodyBytes(_ bytes: Int) -> Bool {
        lock.withLock {
            guard bytes <= maximumInflightBodyBytes - inflightBodyBytes else { return false }
            inflightBodyBytes += bytes
            return true
        }
    }

    /// Whether `bytes` more would fit in the body budget now (nothing is taken).
    func hasBodyRoom(for bytes: Int) -> Bool {
        lock.withLock { bytes <= maximumInflightBodyBytes - inflightBodyBytes }
    }

    /// Gives back what a request held.
    func releaseBodyBytes(_ bytes: Int) {
        guard bytes > 0 else { return }
        lock.withLock { inflightBodyBytes -= bytes }
    }

    func requestStarted() { lock.withLock { inFlightRequests += 1 } }
    func requestFinished() { lock.withLock { inFlightRequests -= 1 } }
    func beginStopping() { lock.withLock { stopping = true } }
}

/// Per-request state behind MHD's `con_cls` pointer (reset by MHD between requests on a keep-alive connection).
///
/// Only the MHD worker thread that owns the connection touches it, one callback at a time.
final class RequestState {
    /// The access handler has been called (with the headers): later calls carry the body.
    var hasHeaders = false
    var body: [UInt8] = []
    /// The body's capacity, of which all but the first bytes count against the server's budget.
    var reservedBodyBytes = 0
    /// The body outgrew the limit: the rest of the upload is read and dropped, never stored.
    var isOversized = false
    /// The server's budget for bodies in flight was spent: the upload is dropped and the answer is 503.
    var isOverBudget = false
    /// A response is queued; later calls for this request only drain the upload.
    var hasResponded = false
    /// Read on the first call, from the request line.
    var method = ""
    var path = ""
    var query: [(name: String, value: String)] = []
    /// Set when the request line is refused: the upload is drained, never stored, and this is the answer.
    var refusal: RefusedRequest?
}
