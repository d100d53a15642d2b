import ArgumentParser
import HTTPServer
import Registry
import RegistryHTTP

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `schema-registry`: the Confluent-compatible registry service. Wiring only.
@main
struct SchemaRegistryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema-registry",
        abstract: "A Confluent-compatible Avro schema registry, stored in SQLite.",
        discussion: """
            Every flag has an environment-variable equivalent (the flag wins): SCHEMA_REGISTRY_LISTEN, \
            SCHEMA_REGISTRY_DB, SCHEMA_REGISTRY_THREADS, SCHEMA_REGISTRY_LOG_LEVEL, SCHEMA_REGISTRY_MAX_BODY_BYTES.

            Example:
              schema-registry --listen 127.0.0.1:8081 --db ./data/registry.db
            """
    )

    @Option(help: "Address and port to listen on (port 0 picks a free one).")
    var listen: String = environment("SCHEMA_REGISTRY_LISTEN") ?? "127.0.0.1:8081"

    @Option(help: "SQLite database file, created on first start.")
    var db: String = environment("SCHEMA_REGISTRY_DB") ?? "./data/registry.db"

    @Option(help: "HTTP worker threads.")
    var threads: Int = Int(environment("SCHEMA_REGISTRY_THREADS") ?? "") ?? 4

    @Option(help: "error, info or debug.")
    var logLevel: String = environment("SCHEMA_REGISTRY_LOG_LEVEL") ?? "info"

    @Option(help: "Largest accepted request body, in bytes.")
    var maxBodyBytes: Int = Int(environment("SCHEMA_REGISTRY_MAX_BODY_BYTES") ?? "") ?? 16 * 1024 * 1024

    func validate() throws {
        guard parseListen(listen) != nil else { throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:8081") }
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
    }

    func run() throws {
        guard let (host, port) = parseListen(listen) else { throw ExitCode.validationFailure }
        // Signals are taken synchronously by the main thread (sigwait), so block them before any
        // worker thread starts: every thread inherits the mask.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        if let slash = db.lastIndex(of: "/") {
            let directory = String(db[..<slash])
            if !directory.isEmpty { mkdir(directory, 0o755) }
        }
        let registry: SchemaRegistry
        do {
            registry = try SchemaRegistry(databasePath: db)
        } catch {
            log("error", "cannot open database \(db): \(error)")
            throw ExitCode.failure
        }
        let api = RegistryAPI(registry: registry)
        var configuration = HTTPServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.threads = threads
        configuration.maximumBodyBytes = maxBodyBytes
        let server: HTTPServer
        do {
            server = try HTTPServer(
                configuration: configuration, oversizedBody: { RegistryAPI.oversizedBody(limit: $0) }, handler: { api.handle($0) })
        } catch {
            log("error", "cannot listen on \(listen): \(error)")
            throw ExitCode.failure
        }
        log("info", "schema-registry listening on http://\(host):\(server.port) (database \(db), \(threads) threads)")
        var received: Int32 = 0
        sigwait(&signals, &received)
        log("info", "received signal \(received), stopping: finishing in-flight requests")
        server.stop()
        log("info", "stopped")
    }

    private func log(_ level: String, _ message: String) {
        let levels = ["error": 0, "info": 1, "debug": 2]
        guard (levels[level] ?? 1) <= (levels[logLevel.lowercased()] ?? 1) else { return }
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
