import ArgumentParser
import HTTPServer
import Foundation
import KafkaClient
import WALSource
import RegistryClient
import RegistryCommandLine

#if canImport(Glibc)
    import Glibc
#endif

/// wal-source: PostgreSQL logical replication → Avro change events in per-table files.
@main
struct WALSourceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal-source",
        abstract: "Stream a PostgreSQL database's changes into Confluent-framed Avro change events.",
        discussion: """
            `wal-source --pg … --tables …` streams (the stream subcommand, the default: see \
            `wal-source help stream`); `wal-source snapshot --table …` asks a streaming source for an \
            incremental snapshot of a table.
            """,
        subcommands: [StreamCommand.self, SnapshotRequestCommand.self],
        defaultSubcommand: StreamCommand.self
    )
}

/// `wal-source stream` (the default): the source itself.
struct StreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Stream a PostgreSQL database's changes into Confluent-framed Avro change events (the default).",
        discussion: """
            Creates (or reuses) the publication for --tables and the logical replication slot (pgoutput), \
            registers each table's key and value schemas under PREFIX.SCHEMA.TABLE-key / -value, and appends \
            every event to DIR/PREFIX.SCHEMA.TABLE.log. Events are made durable at each COMMIT before its \
            LSN is acknowledged; a restart resumes from the durable position with no loss and no \
            duplicates. A PostgreSQL restart or failover, a dropped connection or a registry outage is \
            waited out (1 s, 2 s, … 30 s between attempts). A table change the subject's compatibility level \
            refuses stops the source with the registry's reasons and nothing acknowledged; change the level \
            or the table and start it again.
            Runs until SIGINT/SIGTERM (exit 0). Exit 1: PostgreSQL refusal (credentials, permissions, a \
            malformed stream) or sink failure; 2: bad arguments or configuration; 4: schema refused by the \
            registry.

            Example:
              wal-source --pg "host=127.0.0.1 port=5432 dbname=app user=cdc" --tables public.items \\
                --registry http://127.0.0.1:8081 --slot cdc --publication cdc --topic-prefix cdc --out ./events

            `wal-source snapshot --table public.items …` asks the source streaming from a slot for an \
            incremental snapshot of a table while it streams on.
            """
    )

    @Option(help: "libpq connection string: key=value form or a postgresql:// URI.")
    var pg: String

    @Option(help: "Tables to stream, comma-separated schema.table (a bare table is in public); quote a name with a comma or dot as in SQL: \"odd,name\".")
    var tables: String?

    @Option(help: "A file of tables to stream, one schema.table a line (commas need no quotes there; # starts a comment).")
    var tablesFile: String?

    @Option(help: "Schema registry URL.")
    var registry: String

    @OptionGroup var connection: RegistryConnectionOptions

    @Option(help: "Logical replication slot name (created if missing).")
    var slot: String

    @Option(help: "Publication name (created if missing).")
    var publication: String

    @Option(help: "Topic prefix: subjects are PREFIX.SCHEMA.TABLE-key/-value.")
    var topicPrefix: String

    @Option(help: "Directory for the change-log files (or --kafka-brokers).")
    var out: String?

    @Option(help: "Send the events to Kafka instead of files: bootstrap brokers HOST:PORT[,…].")
    var kafkaBrokers: String?

    @Option(name: .customLong("kafka-config"), help: "A librdkafka setting KEY=VALUE for the producer (repeatable): security.protocol, sasl.*, ssl.*, compression.type, linger.ms, …")
    var kafkaConfig: [String] = []

    @Flag(help: "Kafka: idempotent producer without transactions (duplicates possible after a crash) instead of exactly once.")
    var atLeastOnce = false

    @Flag(help: "Kafka: no tombstone (same key, null value) after a delete.")
    var noTombstones = false

    @Option(help: "Kafka: the directory for the source's own state (slot, snapshots; default ./wal-source-state).")
    var stateDir: String?

    @Flag(help: "When the slot is created, first emit every existing row (op \"r\").")
    var snapshot = false

    @Option(help: "Serve Prometheus metrics (lag in bytes and milliseconds, events, reconnects) at http://HOST:PORT/metrics (PORT 0: any free port, logged).")
    var metricsListen: String?

    @Option(help: "While idle, ask the server for its position this often, in seconds, and acknowledge it (0: only on the server's own keepalives).")
    var heartbeatInterval: Double = 10

    @Option(help: "A table (created if missing) that gets one row upserted at every heartbeat, so a quiet database on a busy cluster does not hold WAL.")
    var heartbeatTable: String?

    @Flag(help: "Capture tables without a key under REPLICA IDENTITY DEFAULT (inserts only: PostgreSQL then refuses UPDATE and DELETE on them).")
    var allowTablesWithoutKey = false

    @Flag(help: "When the slot this source used is gone, create a new one and stream from now (the changes in between are not captured).")
    var allowNewSlot = false

    @Option(help: "Rows per query of a snapshot (each a short query in key order; Debezium's snapshot.fetch.size); an incremental snapshot's chunk.")
    var snapshotChunkRows = 10_000

    @Option(help: "At most this many rows a second are read by incremental snapshots (0: no limit).")
    var snapshotRowsPerSecond: Double = 0

    @Option(help: "A signal table, as Debezium's (id, type, data; created if missing): an inserted execute-snapshot row asks for incremental snapshots.")
    var signalTable: String?

    func validate() throws {
        guard tables != nil || tablesFile != nil else { throw ValidationError("give the tables to stream: --tables, --tables-file, or both") }
        guard (out == nil) != (kafkaBrokers == nil) else { throw ValidationError("give one of --out DIR (files) or --kafka-brokers HOST:PORT (Kafka)") }
        if kafkaBrokers == nil, atLeastOnce || noTombstones || !kafkaConfig.isEmpty || stateDir != nil {
            throw ValidationError("--at-least-once, --no-tombstones, --kafka-config and --state-dir go with --kafka-brokers")
        }
        switch KafkaSettings.parse(kafkaConfig) {
        case .failure(let error):
            throw ValidationError(error.description)
        case .success(let settings):
            for (key, value) in settings.pairs {
                if let reason = KafkaSinkConfiguration.reservedReason(key, value: value) { throw ValidationError("--kafka-config \(key): wal-source sets it itself (\(reason))") }
            }
        }
        guard snapshotChunkRows >= 1 else { throw ValidationError("--snapshot-chunk-rows must be at least 1") }
        guard snapshotRowsPerSecond.isFinite, snapshotRowsPerSecond >= 0 else { throw ValidationError("--snapshot-rows-per-second must be 0 or more") }
        guard heartbeatInterval.isFinite, heartbeatInterval >= 0, heartbeatInterval <= 86_400 else {
            throw ValidationError("--heartbeat-interval must be between 0 and 86400 seconds")
        }
    }

    func run() async throws {
        let directory = out ?? stateDir ?? "./wal-source-state"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw fail("cannot create \(directory): \(error.localizedDescription)", status: 2)
        }
        signal(SIGINT, WALSourceSignals.handler)
        signal(SIGTERM, WALSourceSignals.handler)
        signal(SIGPIPE, SIG_IGN)
        var configuration = WALSourceConfiguration(
            conninfo: pg, tables: try tableList(), registryURL: registry, slot: slot,
            publication: publication, topicPrefix: topicPrefix, outputDirectory: directory, snapshot: snapshot)
        if let kafkaBrokers, case .success(let settings) = KafkaSettings.parse(kafkaConfig) {
            var kafka = KafkaSinkConfiguration(brokers: kafkaBrokers, settings: settings)
            kafka.exactlyOnce = !atLeastOnce
            kafka.tombstones = !noTombstones
            // The test hook (the exactly-once tests): SIGKILL right after the K-th Kafka commit.
            if let hook = ProcessInfo.processInfo.environment["WAL_SOURCE_CRASH_AFTER_COMMIT"], let count = Int(hook), count > 0 {
                kafka.crashAfterCommit = count
            }
            configuration.kafka = kafka
        }
        configuration.snapshotChunkRows = snapshotChunkRows
        configuration.registryTransport = connection.transport
        configuration.allowNewSlot = allowNewSlot
        configuration.allowTablesWithoutKey = allowTablesWithoutKey
        if heartbeatInterval > 0 { configuration.heartbeatInterval = .milliseconds(Int64(heartbeatInterval * 1000)) }
        if snapshotRowsPerSecond > 0 { configuration.snapshotRowsPerSecond = snapshotRowsPerSecond }
        if let signalTable { configuration.signalTable = try oneTable(signalTable, option: "--signal-table") }
        if let heartbeatTable { configuration.heartbeatTable = try oneTable(heartbeatTable, option: "--heartbeat-table") }
        var metricsServer: HTTPServer?
        if let metricsListen {
            metricsServer = try startMetricsServer(metricsListen)
        }
        defer { metricsServer?.stop() }
        do {
            try await WALSourceSupervisor.run(configuration: configuration)
        } catch {
            switch error {
            case .incompatibleSchema: throw fail(error.description, status: 4)
            case .registry(.unavailable), .registry(.malformedResponse): throw fail(error.description, status: 3)
            case .configuration: throw fail(error.description, status: 2)
            default: throw fail(error.description, status: 1)
            }
        }
        WALSourceEngine.writeStandardError("wal-source: stopped\n")
    }

    /// Serves GET /metrics (Prometheus text) on HOST:PORT; logs the address it listens on.
    func startMetricsServer(_ listen: String) throws -> HTTPServer {
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]) else {
            throw fail("--metrics-listen takes HOST:PORT, not \(listen)", status: 2)
        }
        var configuration = HTTPServerConfiguration()
        configuration.host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        configuration.port = port
        configuration.threads = 1
        configuration.maximumBodyBytes = 0
        let server: HTTPServer
        do {
            server = try HTTPServer(
                configuration: configuration,
                oversizedBody: { _ in HTTPResponse(status: 413, contentType: "text/plain", body: Array("no bodies here\n".utf8)) },
                handler: { request in
                    guard request.path == "/metrics" else {
                        return HTTPResponse(status: 404, contentType: "text/plain", body: Array("only /metrics\n".utf8))
                    }
                    guard request.method == "GET" || request.method == "HEAD" else {
                        return HTTPResponse(status: 405, contentType: "text/plain", body: Array("GET /metrics\n".utf8))
                    }
                    return HTTPResponse(
                        status: 200, contentType: "text/plain; version=0.0.4", body: Array(WALSourceMetrics.shared.prometheusText().utf8))
                })
        } catch {
            throw fail("cannot serve metrics on \(listen): \(error)", status: 2)
        }
        WALSourceEngine.writeStandardError("wal-source: metrics on http://\(configuration.host):\(server.port)/metrics\n")
        return server
    }

    /// The one table an option names.
    func oneTable(_ text: String, option: String) throws -> TableName {
        do {
            let tables = try TableName.parseList(text)
            guard tables.count == 1 else { throw fail("\(option) takes one table", status: 2) }
            return tables[0]
        } catch let error as TableName.ListError {
            throw fail(error.description, status: 2)
        }
    }

    /// The tables of --tables and --tables-file, in that order, each once.
    func tableList() throws -> [TableName] {
        var list: [TableName] = []
        do {
            if let tables { list += try TableName.parseList(tables) }
            if let tablesFile {
                let text: String
                do {
                    text = try String(contentsOfFile: tablesFile, encoding: .utf8)
                } catch {
                    throw fail("cannot read --tables-file \(tablesFile): \(error.localizedDescription)", status: 2)
                }
                list += try TableName.parseFile(text)
            }
        } catch let error as TableName.ListError {
            throw fail(error.description, status: 2)
        }
        var seen: Set<TableName> = []
        return list.filter { seen.insert($0).inserted }
    }

    func fail(_ message: String, status: Int32) -> ExitCode {
        WALSourceEngine.writeStandardError("wal-source: \(message)\n")
        return ExitCode(status)
    }
}

/// `wal-source snapshot`: asks the source streaming from a slot for incremental snapshots.
struct SnapshotRequestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Ask the source streaming from a slot for an incremental snapshot of tables.",
        discussion: """
            Writes a request into the WAL (a logical decoding message): the source streaming from --slot reads \
            it in order with the changes, and reads the tables' rows in chunks between watermarks while it \
            streams on (resumed after a restart). A source that is stopped now reads it when it starts. \
            Exit 0: the request is committed; 1: PostgreSQL refused or failed; 2: bad arguments, no such slot or table.
            """
    )

    @Option(help: "libpq connection string of the captured database.")
    var pg: String

    @Option(help: "The slot of the source that is to take the snapshot.")
    var slot: String

    @Option(name: .customLong("table"), help: "A table to snapshot, schema.table (repeat, or comma-separate).")
    var tables: [String] = []

    func validate() throws {
        guard !tables.isEmpty else { throw ValidationError("give a table: --table schema.table") }
    }

    func run() throws {
        var list: [TableName] = []
        for text in tables {
            guard let parsed = try? TableName.parseList(text) else { throw fail("\"\(text)\" is not a list of tables (schema.table, comma-separated)") }
            list += parsed
        }
        do {
            let lsn = try WALSourceEngine.requestSnapshot(conninfo: pg, slot: slot, tables: list)
            print("requested an incremental snapshot of \(list.map(\.description).joined(separator: ", ")) from the source of slot \(slot) at \(lsn)")
        } catch {
            if case .configuration = error { throw fail(error.description) }
            throw fail(error.description, status: 1)
        }
    }

    func fail(_ message: String, status: Int32 = 2) -> ExitCode {
        WALSourceEngine.writeStandardError("wal-source snapshot: \(message)\n")
        return ExitCode(status)
    }
}
