import AvroCodec

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a `RegistryClient` connects: how long it waits, and for https whom it trusts and which
/// certificate it presents.
///
/// ```swift
/// var transport = RegistryTransportOptions(timeout: .seconds(5))
/// transport.tls.caFile = "/etc/registry/ca.pem"
/// let client = RegistryClient(baseURL: "https://registry.internal:8081", transport: transport)
/// ```
public struct RegistryTransportOptions: Sendable, Hashable {
    /// The longest wait for a connection to open, and for each read or write to make progress
    /// (an idle timeout, as URLSession's `timeoutInterval` was: a slow but steady answer is not cut).
    public var timeout: Duration
    /// Trust and identity for https registries; ignored for http.
    public var tls: TLSOptions
    /// HTTP Basic credentials, `user:password` (as confluent-kafka's `basic.auth.user.info`); nil: none, unless
    /// the registry URL carries them.
    public var credentials: String?

    /// 30 seconds, the system trust store, no client certificate, no credentials.
    public init(timeout: Duration = .seconds(30), tls: TLSOptions = TLSOptions(), credentials: String? = nil) {
        self.timeout = timeout
        self.tls = tls
        self.credentials = credentials
    }

    /// The `Authorization` header value for `credentials`, or nil.
    var authorization: String? {
        credentials.map { "Basic " + Base64.encode(Array($0.utf8)) }
    }
}

/// Whom an https connection trusts and which certificate it presents. The server's certificate is
/// always verified, and so is its host name.
public struct TLSOptions: Sendable, Hashable {
    /// A PEM file of the certificate authorities to trust instead of the system trust store
    /// (as curl's `--cacert`); nil: the system trust store.
    public var caFile: String?
    /// A PEM file with the client certificate (chain) to present when the server asks for one.
    public var clientCertificateFile: String?
    /// The PEM file of the client certificate's private key; nil: it is in `clientCertificateFile`.
    public var clientKeyFile: String?

    /// The system trust store and no client certificate.
    public init(caFile: String? = nil, clientCertificateFile: String? = nil, clientKeyFile: String? = nil) {
        self.caFile = caFile
        self.clientCertificateFile = clientCertificateFile
        self.clientKeyFile = clientKeyFile
    }
}

extension RegistryTransportOptions {
    /// What a command's `--ca-cert`, `--client-cert`, `--client-key` and `--user-info` flags mean, with
    /// `$SCHEMA_REGISTRY_CA_CERT` and `$SCHEMA_REGISTRY_USER_INFO` when a flag is not given.
    public static func fromCommandLine(caCert: String?, clientCert: String?, clientKey: String?, userInfo: String?) -> RegistryTransportOptions {
        func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        let tls = TLSOptions(caFile: caCert ?? environment("SCHEMA_REGISTRY_CA_CERT"), clientCertificateFile: clientCert, clientKeyFile: clientKey)
        return RegistryTransportOptions(tls: tls, credentials: userInfo ?? environment("SCHEMA_REGISTRY_USER_INFO"))
    }
}
