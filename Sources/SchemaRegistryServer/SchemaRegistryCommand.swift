import ArgumentParser
import HTTPServer
import Logging
import Registry
import RegistryHTTP

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `schema-registry`: the Confluent-compatible registry service (`serve`, the default) and the auth file's
/// `user add`, and `backup` of a SQLite database. Wiring only.
@main
struct SchemaRegistryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema-registry",
        abstract: "A Confluent-compatible Avro schema registry, stored in SQLite or shared PostgreSQL.",
        subcommands: [ServeCommand.self, UserCommand.self, BackupCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}

/// `schema-registry [serve]`: runs the service.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the registry (the default command).",
        discussion: """
            Every flag has an environment-variable equivalent (the flag wins): SCHEMA_REGISTRY_LISTEN, \
            SCHEMA_REGISTRY_DB, SCHEMA_REGISTRY_THREADS, SCHEMA_REGISTRY_LOG_LEVEL, SCHEMA_REGISTRY_MAX_BODY_BYTES, \
            SCHEMA_REGISTRY_MAX_INFLIGHT_BODY_BYTES, SCHEMA_REGISTRY_MAX_CONNECTIONS, SCHEMA_REGISTRY_MAX_CONNECTIONS_PER_ADDRESS, \
            SCHEMA_REGISTRY_TLS_CERT, SCHEMA_REGISTRY_TLS_KEY, SCHEMA_REGISTRY_TLS_CLIENT_CA, SCHEMA_REGISTRY_TLS_CLIENT_AUTH, \
            SCHEMA_REGISTRY_AUTH_FILE, SCHEMA_REGISTRY_METRICS_PUBLIC (true/false), SCHEMA_REGISTRY_LOG_FORMAT.

            Logs: one line per request at info on standard error (method, path without the query, route, status, \
            duration in ms, response bytes, client address, user when authenticated, request id), as text or, with \
            --log-format json, one JSON object per line. The request id is the caller's X-Request-Id when it is 1 to \
            128 characters of A-Z a-z 0-9 . _ : - (else a new one), and every response carries it in X-Request-Id. \
            Never logged: query strings, headers, passwords, schema bodies. Start and stop messages go to standard \
            output (errors to standard error) as plain lines.

            With --auth-file, every request but GET /, /health and /health/ready needs HTTP Basic credentials \
            of a user in the file (Karapace's format), and each user may read or write only the subjects its \
            permissions name. The file is reloaded when it changes and on SIGHUP; a file that does not load \
            keeps the rules in force. Add users with `schema-registry user add`.

            Examples:
              schema-registry --listen 127.0.0.1:8081 --db ./data/registry.db
              schema-registry --listen 127.0.0.1:8081 --db postgresql://registry@db.internal:5432/registry
            With a PostgreSQL URI, any number of registry processes share the database: each answers \
            reads from memory and accepts writes.
            """
    )

    @Option(help: "Address and port to listen on (port 0 picks a free one).")
    var listen: String = environment("SCHEMA_REGISTRY_LISTEN") ?? "127.0.0.1:8081"

    @Option(help: "SQLite database file (created on first start), or a PostgreSQL URI (postgresql://user@host:port/db) shared by several nodes.")
    var db: String = environment("SCHEMA_REGISTRY_DB") ?? "./data/registry.db"

    @Option(help: "HTTP worker threads.")
    var threads: Int = Int(environment("SCHEMA_REGISTRY_THREADS") ?? "") ?? 4

    @Option(help: "trace, debug, info, notice, warning, error or critical: the least severe level logged (info logs every request).")
    var logLevel: String = environment("SCHEMA_REGISTRY_LOG_LEVEL") ?? "info"

    @Option(help: "text (for people) or json (one object per line, for machines).")
    var logFormat: String = environment("SCHEMA_REGISTRY_LOG_FORMAT") ?? "text"

    @Option(help: "Largest accepted request body, in bytes.")
    var maxBodyBytes: Int = Int(environment("SCHEMA_REGISTRY_MAX_BODY_BYTES") ?? "") ?? 16 * 1024 * 1024

    @Option(help: "Request body bytes held in memory by all requests together; beyond, a body is refused with 503 (0: 4 × --max-body-bytes).")
    var maxInflightBodyBytes: Int = Int(environment("SCHEMA_REGISTRY_MAX_INFLIGHT_BODY_BYTES") ?? "") ?? 0

    @Option(help: "Connections open at once; past it, new ones are closed at once (bounded by the open-file limit, which the server raises to its hard limit).")
    var maxConnections: Int = Int(environment("SCHEMA_REGISTRY_MAX_CONNECTIONS") ?? "") ?? 10_000

    @Option(help: "Connections open at once from one client address (0: no limit; raise it behind a proxy that holds more).")
    var maxConnectionsPerAddress: Int = Int(environment("SCHEMA_REGISTRY_MAX_CONNECTIONS_PER_ADDRESS") ?? "") ?? 1_000

    @Option(help: "Seconds a connection has to send a request's headers, and then its body, however slowly it sends them; past it the connection is closed (0: no deadline).")
    var requestTimeout: Int = Int(environment("SCHEMA_REGISTRY_REQUEST_TIMEOUT") ?? "") ?? 30

    @Option(help: "PEM file of the server certificate (chain): with --tls-key, serve HTTPS only (TLS 1.2 and 1.3).")
    var tlsCert: String = environment("SCHEMA_REGISTRY_TLS_CERT") ?? ""

    @Option(help: "PEM file of the server's private key, for --tls-cert.")
    var tlsKey: String = environment("SCHEMA_REGISTRY_TLS_KEY") ?? ""

    @Option(help: "PEM file of the authorities client certificates must chain to: mutual TLS (with --tls-cert).")
    var tlsClientCa: String = environment("SCHEMA_REGISTRY_TLS_CLIENT_CA") ?? ""

    @Option(help: "With --tls-client-ca: 'required' refuses a client without a valid certificate in the handshake; 'optional' lets one without a certificate in.")
    var tlsClientAuth: String = environment("SCHEMA_REGISTRY_TLS_CLIENT_AUTH") ?? "required"

    @Option(help: "Karapace-format auth file (users and permissions): turns HTTP Basic authentication and per-subject permissions on.")
    var authFile: String = environment("SCHEMA_REGISTRY_AUTH_FILE") ?? ""

    @Flag(help: "With --auth-file: serve /metrics without credentials.")
    var metricsPublic: Bool = environment("SCHEMA_REGISTRY_METRICS_PUBLIC") == "true"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel.lowercased()) != nil else {
            throw ValidationError("--log-level must be trace, debug, info, notice, warning, error or critical")
        }
        guard LogOutput.Format(rawValue: logFormat.lowercased()) != nil else { throw ValidationError("--log-format must be text or json") }
        guard ClientCertificatePolicy(rawValue: tlsClientAuth) != nil else { throw ValidationError("--tls-client-auth must be required or optional") }
        guard tlsClientCa.isEmpty || !tlsCert.isEmpty else { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
        guard maxConnections >= 0, maxConnections <= 1_000_000, maxConnectionsPerAddress >= 0, maxConnectionsPerAddress <= 1_000_000 else {
            throw ValidationError("--max-connections and --max-connections-per-address must be between 0 and 1000000")
        }
        guard requestTimeout >= 0, requestTimeout <= 86_400 else { throw ValidationError("--request-timeout must be between 0 and 86400 seconds") }
        guard tlsCert.isEmpty == tlsKey.isEmpty else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard parseListen(listen) != nil else { throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:8081") }
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        guard maxBodyBytes >= 1024, maxBodyBytes <= 1 << 30 else { throw ValidationError("--max-body-bytes must be between 1024 and 1 GiB") }
        guard maxInflightBodyBytes >= 0, maxInflightBodyBytes <= 1 << 40 else { throw ValidationError("--max-inflight-body-bytes must be between 0 and 1 TiB") }
        if maxInflightBodyBytes != 0, maxInflightBodyBytes < maxBodyBytes {
            throw ValidationError("--max-inflight-body-bytes must be at least --max-body-bytes")
        }
    }

    func run() throws {
        guard let (host, port) = parseListen(listen) else { throw ExitCode.validationFailure }
        // Signals are taken synchronously by the main thread (sigwait), so block them before any
        // worker thread starts: every thread inherits the mask.
        // A closed standard error (a log shipper restarting, `| head`) must cost log lines, not the process.
        signal(SIGPIPE, SIG_IGN)
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGHUP)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        var authFileWatch: AuthFileWatch?
        if !authFile.isEmpty {
            do {
                authFileWatch = try AuthFileWatch(path: authFile)
            } catch {
                log("error", "cannot use the auth file \(authFile): \(error)")
                throw ExitCode(2)
            }
        }

        let isPostgres = SchemaRegistry.isPostgresLocation(db)
        let shownDatabase = isPostgres ? redactedURI(db) : db
        if !isPostgres, let slash = db.lastIndex(of: "/") {
            let directory = String(db[..<slash])
            if !directory.isEmpty { mkdir(directory, 0o755) }
        }
        let registry: SchemaRegistry
        do {
            registry = try SchemaRegistry(databasePath: db)
        } catch {
            log("error", "cannot open database \(shownDatabase): \(error)")
            throw ExitCode.failure
        }
        // Every logger of the process writes through one output (one write(2) per line, under its lock).
        let level = Logger.Level(rawValue: logLevel.lowercased()) ?? .info
        let output = LogOutput(format: LogOutput.Format(rawValue: logFormat.lowercased()) ?? .text, batched: true)
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, output: output, level: level) }
        let metrics = RegistryMetrics()
        let api = RegistryAPI(
            registry: registry, metrics: metrics, authenticator: authFileWatch?.authenticator, metricsArePublic: metricsPublic,
            logger: Logger(label: "schema-registry.http"))
        var configuration = HTTPServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.threads = threads
        configuration.maximumBodyBytes = maxBodyBytes
        configuration.maximumConnections = connectionLimit(maxConnections)
        configuration.maximumConnectionsPerAddress = maxConnectionsPerAddress
        configuration.requestTimeoutSeconds = requestTimeout
        if !tlsCert.isEmpty {
            guard let certificate = readTextFile(tlsCert), let key = readTextFile(tlsKey) else {
                log("error", "cannot read the TLS certificate \(tlsCert) or key \(tlsKey)")
                throw ExitCode(2)
            }
            configuration.tlsCertificatePEM = certificate
            configuration.tlsPrivateKeyPEM = key
            if !tlsClientCa.isEmpty {
                guard let authorities = readTextFile(tlsClientCa) else {
                    log("error", "cannot read the client certificate authorities \(tlsClientCa)")
                    throw ExitCode(2)
                }
                configuration.tlsClientCAPEM = authorities
                configuration.tlsClientCertificates = ClientCertificatePolicy(rawValue: tlsClientAuth) ?? .required
            }
        }
        configuration.maximumInflightBodyBytes = maxInflightBodyBytes == 0 ? nil : maxInflightBodyBytes
        let server: HTTPServer
        do {
            server = try HTTPServer(
                configuration: configuration, oversizedBody: { RegistryAPI.oversizedBody(limit: $0) }, refused: { api.refused($0, $1) },
                handler: { api.handle($0) })
        } catch {
            log("error", "cannot listen on \(listen): \(error)")
            throw ExitCode.failure
        }
        metrics.countConnections { [weak server] in server?.openConnectionCount ?? 0 }
        let authentication = authFileWatch.map { ", authentication from \($0.path): \($0.summary)" } ?? ""
        log("info", "schema-registry listening on \(server.isTLS ? "https" : "http")://\(host):\(server.port) (database \(shownDatabase), \(threads) threads\(authentication))")
        // The main thread waits for signals, and once a second looks whether the auth file changed.
        var received: Int32 = 0
        var second = timespec(tv_sec: 1, tv_nsec: 0)
        while true {
            received = sigtimedwait(&signals, nil, &second)
            if received == SIGINT || received == SIGTERM { break }
            guard let watch = authFileWatch else { continue }
            let outcome = received == SIGHUP ? watch.reload() : watch.reloadIfChanged()
            switch outcome {
            case .unchanged: break
            case .reloaded(let summary): log("info", "auth file \(watch.path) reloaded: \(summary)")
            case .refused(let reason): log("error", "auth file \(watch.path) not reloaded, the rules in force stay: \(reason)")
            }
        }
        log("info", "received signal \(received), stopping: finishing in-flight requests")
        server.stop()
        output.flush()
        log("info", "stopped")
    }

    /// The connection limit the open-file limit allows: raises the soft limit to the hard one, and keeps some
    /// descriptors for the database, the auth file and the listen socket.
    private func connectionLimit(_ wanted: Int) -> Int {
        guard wanted > 0 else { return 0 }
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return wanted }
        if limits.rlim_cur < limits.rlim_max {
            limits.rlim_cur = limits.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits)
        }
        // The database, the auth file, the listen socket, and one event descriptor per worker thread.
        let reserved = rlim_t(64 + threads)
        let available = limits.rlim_cur > reserved ? Int(min(limits.rlim_cur - reserved, rlim_t(Int.max))) : 1
        if wanted > available {
            log("info", "--max-connections \(wanted) lowered to \(available): the open-file limit is \(limits.rlim_cur)")
            return available
        }
        return wanted
    }

    /// A start, stop or configuration message: plain text, info to standard output, errors to standard error.
    private func log(_ level: String, _ message: String) {
        guard (Logger.Level(rawValue: level) ?? .info) >= (Logger.Level(rawValue: logLevel.lowercased()) ?? .info) else { return }
        let line = "\(level): \(message)\n"
        _ = line.withCString { write(level == "error" ? 2 : 1, $0, strlen($0)) }
    }
}

func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// "127.0.0.1:8081" → ("127.0.0.1", 8081).
func parseListen(_ text: String) -> (String, UInt16)? {
    guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
    let host = String(text[..<colon])
    return host.isEmpty ? nil : (host, port)
}

/// A database URI with any password replaced by `***`, for logs.
func redactedURI(_ uri: String) -> String {
    guard let colon = uri.firstIndex(of: ":"), uri[colon...].hasPrefix("://") else { return uri }
    let schemeEnd = uri.index(colon, offsetBy: 3)
    let rest = uri[schemeEnd...]
    let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
    let authority = rest[..<authorityEnd]
    guard let at = authority.lastIndex(of: "@") else {
        return String(uri[..<schemeEnd]) + String(rest[..<authorityEnd]) + redactedQuery(String(rest[authorityEnd...]))
    }
    var credentials = authority[..<at]
    if let colon = credentials.firstIndex(of: ":") { credentials = credentials[..<colon] }
    return String(uri[..<schemeEnd]) + credentials + ":***" + authority[at...] + redactedQuery(String(rest[authorityEnd...]))
}

/// `?password=…` in the query hidden too.
private func redactedQuery(_ tail: String) -> String {
    guard let question = tail.firstIndex(of: "?") else { return tail }
    let items = tail[tail.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { item -> String in
        item.lowercased().hasPrefix("password=") ? "password=***" : String(item)
    }
    return String(tail[...question]) + items.joined(separator: "&")
}

/// A whole (small) text file, or nil when it cannot be read.
func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count > 0 { bytes += buffer[..<count] }
        if count < buffer.count { break }
        if bytes.count > 16 << 20 { return nil }
    }
    return String(validating: bytes, as: UTF8.self)
}
