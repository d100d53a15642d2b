/// Where and how an `HTTPServer` listens.
///
/// ```swift
/// var configuration = HTTPServerConfiguration()
/// configuration.port = 0          // any free port; read it back from `HTTPServer.port`
/// configuration.threads = 2
/// ```
public struct HTTPServerConfiguration: Sendable {
    /// The address to bind: a numeric IPv4 or IPv6 address, or a host name that resolves to one.
    public var host: String = "127.0.0.1"
    /// The port to bind; 0 picks a free port.
    public var port: UInt16 = 8081
    /// Number of libmicrohttpd worker threads (each runs its own event loop and calls the handler).
    public var threads: Int = 4
    /// Largest request body accepted; larger bodies get a 413 and are never buffered past this size.
    public var maximumBodyBytes: Int = 16 * 1024 * 1024
    /// Request body bytes held in memory by all requests together (past the first 64 KiB of each, which
    /// small requests use); a body that would take more is refused with 503 and dropped, so stalled uploads
    /// cannot exhaust memory. Nil: four times `maximumBodyBytes`.
    public var maximumInflightBodyBytes: Int?
    /// Connections open at once, in all and from one client address; past either, a new connection is closed
    /// at once. 0: libmicrohttpd's defaults (about 1,000 in all, no per-address limit).
    public var maximumConnections: Int = 0
    public var maximumConnectionsPerAddress: Int = 0
    /// PEM text of the server's certificate (chain) and private key: with both, the server speaks HTTPS
    /// only, TLS 1.2 and 1.3.
    public var tlsCertificatePEM: String?
    public var tlsPrivateKeyPEM: String?
    /// PEM text of the certificate authorities client certificates must chain to (mutual TLS), with HTTPS.
    /// The handshake verifies what a client presents; `tlsClientCertificates` says whether it must present one.
    public var tlsClientCAPEM: String?
    public var tlsClientCertificates: ClientCertificatePolicy = .required
    /// Seconds a connection has to deliver a request's headers (from its accept, or on a kept-alive connection
    /// from its request line; before that it is idle, within `connectionTimeoutSeconds`, or this deadline when
    /// that is 0) and then its body (from the end of the headers), however slowly it sends them; past it the
    /// connection is closed. 0 means no deadline (only `connectionTimeoutSeconds`, which a client sending a byte
    /// now and then never reaches).
    public var requestTimeoutSeconds: Int = 30
    /// Seconds a connection may stay idle (or stall mid-request) before it is closed; 0 means never.
    /// Also bounds how long `HTTPServer.stop()` waits for in-flight requests.
    public var connectionTimeoutSeconds: Int = 30

    /// Creates the default configuration: 127.0.0.1:8081, 4 threads, 16 MiB bodies, 30 s timeout.
    public init() {}
}

/// Whether a TLS client must present a certificate (with `tlsClientCAPEM`). Either way a certificate that is
/// presented and does not verify against those authorities fails the handshake.
public enum ClientCertificatePolicy: String, Sendable {
    /// A client without a valid certificate is refused during the handshake.
    case required
    /// A client may present none; one it presents must verify.
    case optional
}

/// Why an `HTTPServer` could not start.
public struct HTTPServerError: Error, CustomStringConvertible {
    /// What failed, with the system's reason where there is one.
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
