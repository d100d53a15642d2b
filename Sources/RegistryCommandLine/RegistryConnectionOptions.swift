import ArgumentParser
import RegistryClient

/// How a command reaches an https registry and who it is there: `--ca-cert`, `--client-cert`, `--client-key`
/// and `--user-info`, shared by schemactl, wal-source and wal-consume (`@OptionGroup`).
public struct RegistryConnectionOptions: ParsableArguments {
    @Option(help: "PEM file of the certificate authorities an https registry is verified with (default: $SCHEMA_REGISTRY_CA_CERT, else the system's).")
    public var caCert: String?

    @Option(help: "PEM file of a client certificate to present (mutual TLS); its key in --client-key or in the same file.")
    public var clientCert: String?

    @Option(help: "PEM file of the client certificate's private key.")
    public var clientKey: String?

    @Option(help: "HTTP Basic credentials user:password (default: $SCHEMA_REGISTRY_USER_INFO, else any in the registry URL).")
    public var userInfo: String?

    public init() {}

    /// The transport these flags (and the environment) describe.
    public var transport: RegistryTransportOptions {
        RegistryTransportOptions.fromCommandLine(caCert: caCert, clientCert: clientCert, clientKey: clientKey, userInfo: userInfo)
    }
}
