import CMicroHTTPD

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 server over libmicrohttpd: requests are read whole, handed to a handler, answered whole.
///
/// ```swift
/// var configuration = HTTPServerConfiguration()
/// configuration.port = 0
/// let server = try HTTPServer(configuration: configuration,
///                             oversizedBody: { limit in HTTPResponse(status: 413, contentType: "text/plain", body: Array("over \(limit) bytes".utf8)) },
///                             handler: { request in HTTPResponse(status: 200, contentType: "text/plain", body: request.body) })
/// print(server.port)
/// server.stop()
/// ```
///
/// `@unchecked Sendable` is sound: `port`, `context`, `listenDescriptor` and `drainTimeoutSeconds` are immutable;
/// `daemon` is only read or written under `lifecycleLock`; `ServerContext` is itself thread-safe.
public final class HTTPServer: @unchecked Sendable {
    /// The bound port: the real one when the configuration asked for 0.
    public let port: UInt16

    private let context: ServerContext
    private let listenDescriptor: Int32
    private let drainTimeoutSeconds: Int
    /// GnuTLS priorities for HTTPS: its defaults, TLS 1.2 and 1.3 only.
    static let tlsPriorities = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
    /// The C copies of the TLS certificate, key and priorities, freed once the daemon is stopped.
    private let tlsTexts: [UnsafeMutablePointer<CChar>]
    /// Whether the server speaks HTTPS.
    public let isTLS: Bool
    private let lifecycleLock = Lock()
    private var daemon: OpaquePointer?  // guarded by lifecycleLock; nil once stopped

    /// Starts listening; `handler` runs on MHD worker threads, concurrently.
    /// `oversizedBody` produces the response sent (status 413) when a body exceeds `maximumBodyBytes` — the body is
    /// not buffered beyond the limit. `refused` sees every response the server makes without calling `handler`
    /// (413, 414, a refused path, query or framing, 503 when the body budget is spent), with the request as far as
    /// it was read (method, path, headers, client address; no query, no body), and returns the response to send:
    /// the place to log those and to add headers every response carries. Its status is kept. No closure may call
    /// `stop()`.
    public init(
        configuration: HTTPServerConfiguration,
        oversizedBody: @escaping @Sendable (Int) -> HTTPResponse,
        refused: @escaping @Sendable (HTTPRequest, HTTPResponse) -> HTTPResponse = { $1 },
        handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse
    ) throws(HTTPServerError) {
        guard configuration.maximumBodyBytes >= 0 else { throw HTTPServerError("maximumBodyBytes must not be negative") }
        guard configuration.connectionTimeoutSeconds >= 0, configuration.connectionTimeoutSeconds <= Int(UInt32.max) else {
            throw HTTPServerError("connectionTimeoutSeconds must be between 0 and \(UInt32.max)")
        }
        guard (1...1024).contains(configuration.threads) else { throw HTTPServerError("threads must be between 1 and 1024") }
        guard configuration.requestTimeoutSeconds >= 0, configuration.requestTimeoutSeconds <= 86_400 else {
            throw HTTPServerError("requestTimeoutSeconds must be between 0 and 86400")
        }

        let listening = try ListenSocket.open(host: configuration.host, port: configuration.port)
        let context = ServerContext(
            maximumBodyBytes: configuration.maximumBodyBytes,
            maximumInflightBodyBytes: configuration.maximumInflightBodyBytes ?? 4 * configuration.maximumBodyBytes,
            clientCertificates: configuration.tlsClientCAPEM == nil ? nil : configuration.tlsClientCertificates,
            requestTimeoutSeconds: configuration.requestTimeoutSeconds, idleTimeoutSeconds: configuration.connectionTimeoutSeconds,
            oversizedBody: oversizedBody, refused: refused, handler: handler)
        let contextPointer = Unmanaged.passUnretained(context).toOpaque()

        // poll(), not epoll: libmicrohttpd 0.9.75's edge-triggered epoll loop misses the end-of-stream of a client
        // that hangs up mid-upload (data and FIN arrive together, a short read is taken as "drained"), so such a
        // request stays open until the connection timeout — and `stop()` would wait for it. With poll() it is
        // closed at once. Measured on this machine (wrk -t2, 300-byte body, 4 threads): 112k req/s either way with
        // 512 connections; epoll ~10% ahead only at 1,500 connections.
        var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_POLL.rawValue
        flags |= MHD_USE_ITC.rawValue  // required by MHD_quiesce_daemon with a thread pool
        if listening.isIPv6 { flags |= MHD_USE_IPv6.rawValue }

        let unescape: UnescapeCallback = keepEscapes
        let completed: MHD_RequestCompletedCallback = completeRequest
        let notify: MHD_NotifyConnectionCallback = notifyConnection
        let uriLog: URILogCallback = beginRequest
        // In an MHD_OPTION_ARRAY, two-pointer options carry the function pointer in `value` and its argument in
        // `ptr_value`; integer options carry the integer in `value`.
        var options = [
            MHD_OptionItem(option: .LISTEN_SOCKET, value: Int(listening.descriptor), ptr_value: nil),
            MHD_OptionItem(option: .UNESCAPE_CALLBACK, value: unsafeBitCast(unescape, to: Int.self), ptr_value: nil),
            MHD_OptionItem(option: .NOTIFY_COMPLETED, value: unsafeBitCast(completed, to: Int.self), ptr_value: contextPointer),
            MHD_OptionItem(option: .NOTIFY_CONNECTION, value: unsafeBitCast(notify, to: Int.self), ptr_value: contextPointer),
            MHD_OptionItem(option: .URI_LOG_CALLBACK, value: unsafeBitCast(uriLog, to: Int.self), ptr_value: contextPointer),
            // Each connection's memory pool (request line, headers, parameters), libmicrohttpd's default made
            // explicit: a target within RefusedRequest's limits (8 KiB, 256 parameters) fits with 60 headers beside
            // it (checked over 192 shapes). A larger pool would be mmap'd per connection and zeroed per request.
            MHD_OptionItem(option: .CONNECTION_MEMORY_LIMIT, value: 32 * 1024, ptr_value: nil),
            MHD_OptionItem(option: .CONNECTION_TIMEOUT, value: configuration.connectionTimeoutSeconds, ptr_value: nil),
        ]
        if configuration.threads > 1 {
            options.append(MHD_OptionItem(option: .THREAD_POOL_SIZE, value: configuration.threads, ptr_value: nil))
        }
        if configuration.maximumConnections > 0 {
            options.append(MHD_OptionItem(option: .CONNECTION_LIMIT, value: configuration.maximumConnections, ptr_value: nil))
        }
        if configuration.maximumConnectionsPerAddress > 0 {
            options.append(MHD_OptionItem(option: .PER_IP_CONNECTION_LIMIT, value: configuration.maximumConnectionsPerAddress, ptr_value: nil))
        }
        // HTTPS: the texts are kept (C copies) until the server is gone; TLS 1.2 and 1.3 only.
        var tlsTexts: [UnsafeMutablePointer<CChar>] = []
        switch (configuration.tlsCertificatePEM, configuration.tlsPrivateKeyPEM) {
        case (let certificate?, let key?):
            let texts = [certificate, key, HTTPServer.tlsPriorities] + (configuration.tlsClientCAPEM.map { [$0] } ?? [])
            tlsTexts = texts.compactMap { strdup($0) }
            guard tlsTexts.count == texts.count else {
                HTTPServer.free(tlsTexts)
                _ = close(listening.descriptor)
                throw HTTPServerError("out of memory")
            }
            let (certificateText, keyText, priorities) = (tlsTexts[0], tlsTexts[1], tlsTexts[2])
            flags |= MHD_USE_TLS.rawValue
            options.append(MHD_OptionItem(option: .HTTPS_MEM_CERT, value: 0, ptr_value: UnsafeMutableRawPointer(certificateText)))
            options.append(MHD_OptionItem(option: .HTTPS_MEM_KEY, value: 0, ptr_value: UnsafeMutableRawPointer(keyText)))
            options.append(MHD_OptionItem(option: .HTTPS_PRIORITIES, value: 0, ptr_value: UnsafeMutableRawPointer(priorities)))
            if tlsTexts.count == 4 {
                // Mutual TLS: the trusted authorities; `notifyConnection` makes each session ask for and verify
                // the client's certificate during the handshake.
                options.append(MHD_OptionItem(option: .HTTPS_MEM_TRUST, value: 0, ptr_value: UnsafeMutableRawPointer(tlsTexts[3])))
            }
        case (nil, nil):
            guard configuration.tlsClientCAPEM == nil else {
                _ = close(listening.descriptor)
                throw HTTPServerError("client certificate authorities (mutual TLS) need a TLS certificate and key")
            }
        default:
            _ = close(listening.descriptor)
            throw HTTPServerError("TLS needs both a certificate and a private key")
        }
        options.append(MHD_OptionItem(option: .END, value: 0, ptr_value: nil))

        let started: OpaquePointer? = options.withUnsafeMutableBufferPointer { items in
            guard let first = items.baseAddress else { return nil }
            // MHD_start_daemon is variadic and not callable from Swift; its va_list twin is, with every option
            // packed into one MHD_OPTION_ARRAY.
            return withVaList([MHD_OPTION.ARRAY.rawValue, first, MHD_OPTION.END.rawValue]) { arguments in
                MHD_start_daemon_va(flags, listening.port, nil, nil, handleAccess, contextPointer, arguments)
            }
        }
        guard let started else {
            // MHD may or may not have closed the socket on its failure path; close it only if still open.
            if fcntl(listening.descriptor, F_GETFD) != -1 { _ = close(listening.descriptor) }
            HTTPServer.free(tlsTexts)
            let reason = tlsTexts.isEmpty ? "" : " (with TLS: is the certificate or key unreadable, or do they not match?)"
            throw HTTPServerError("libmicrohttpd failed to start on \(configuration.host):\(listening.port)\(reason)")
        }
        self.tlsTexts = tlsTexts
        self.isTLS = !tlsTexts.isEmpty
        self.port = listening.port
        self.context = context
        self.listenDescriptor = listening.descriptor
        self.drainTimeoutSeconds = configuration.connectionTimeoutSeconds > 0 ? configuration.connectionTimeoutSeconds : 30
        self.daemon = started
        context.deadlines.start()
    }

    /// Connections open now: accepted and not yet closed (idle kept-alive ones included).
    public var openConnectionCount: Int { context.deadlines.openCount }

    /// Connections closed so far for not delivering a request within the deadline.
    public var deadlineClosedCount: Int { context.deadlines.closedCount.load(ordering: .relaxed) }

    /// Stops gracefully: stops accepting (new connections are refused), lets in-flight requests finish for up to
    /// `connectionTimeoutSeconds` (30 s when that is 0), then closes every connection. Idempotent; returns once the
    /// server is stopped. Must not be called from the handler (it waits for the handler's own worker thread).
    public func stop() {
        lifecycleLock.withLock {
            guard let daemon else { return }
            self.daemon = nil
            context.beginStopping()
            let quiescedDescriptor = MHD_quiesce_daemon(daemon)
            if quiescedDescriptor >= 0 {
                // MHD no longer polls the socket, but the kernel would still queue new connections on it until it
                // is closed, which must wait until after MHD_stop_daemon; shutting it down refuses them now.
                _ = shutdown(quiescedDescriptor, Int32(SHUT_RDWR))
            }
            waitForInFlightRequests()
            MHD_stop_daemon(daemon)
            context.deadlines.stop()
            if quiescedDescriptor >= 0 {
                _ = close(quiescedDescriptor)  // after a quiesce, closing the listen socket is ours to do
            }
        }
    }

    deinit {
        stop()
        HTTPServer.free(tlsTexts)
    }

    /// Frees the C copies, zeroing them first (the private key is among them).
    private static func free(_ texts: [UnsafeMutablePointer<CChar>]) {
        for text in texts {
            memset(text, 0, strlen(text))
            Glibc.free(text)
        }
    }

    private func waitForInFlightRequests() {
        let pollMicroseconds: UInt32 = 2_000
        var remaining = drainTimeoutSeconds * 1_000_000
        while context.inFlightRequestCount > 0 && remaining > 0 {
            usleep(pollMicroseconds)
            remaining -= Int(pollMicroseconds)
        }
    }
}
