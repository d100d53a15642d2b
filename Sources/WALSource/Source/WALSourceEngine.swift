import AvroCodec
import ChangeEvents
import KafkaClient
import RegistryClient
import Synchronization
import PostgresClient

#if canImport(Glibc)
    import Glibc
#endif

/// What the source is told to do.
public struct WALSourceConfiguration: Sendable {
    /// libpq connection string ("host=127.0.0.1 port=5432 dbname=app user=cdc") or URI.
    public var conninfo: String
    /// The tables to capture.
    public var tables: [TableName]
    public var registryURL: String
    /// How the registry is reached (https trust, client certificate, credentials).
    public var registryTransport = RegistryTransportOptions()
    public var slot: String
    public var publication: String
    public var topicPrefix: String
    public var outputDirectory: String
    public var snapshot: Bool
    /// Rows read per chunk of the initial snapshot.
    public var snapshotChunkRows = 10_000
    /// While idle, how often the source asks the server for its position (and acknowledges it), so the
    /// slot keeps up with WAL written outside the publication; nil: only when the server sends a
    /// keepalive by itself (every wal_sender_timeout / 2, 30 s by default).
    public var heartbeatInterval: Duration?
    /// Kafka instead of change-log files (`outputDirectory` then holds only the source's state).
    public var kafka: KafkaSinkConfiguration?
    /// A table the source upserts one row into at every heartbeat (created if missing), so that a quiet
    /// database on a busy cluster has WAL of its own to advance past.
    public var heartbeatTable: TableName?
    /// Whether tables that have no key under REPLICA IDENTITY DEFAULT (or NOTHING) may be captured:
    /// in a publication, their UPDATEs and DELETEs fail in the application.
    public var allowTablesWithoutKey = false
    /// Whether a missing slot may be created afresh although this source used one before (changes in
    /// between are then not captured).
    public var allowNewSlot = false
    /// How often a status line is written to stderr.
    public var statusInterval: Duration = .seconds(1)
    /// At most this many rows a second are read by incremental snapshots (nil: as fast as they go).
    public var snapshotRowsPerSecond: Double?
    /// A table whose inserted rows are signals, as Debezium's signal table (`id`, `type`, `data`):
    /// `execute-snapshot` with `{"data-collections": ["schema.table"], "type": "incremental"}`.
    public var signalTable: TableName?

    public init(
        conninfo: String, tables: [TableName], registryURL: String, slot: String, publication: String, topicPrefix: String, outputDirectory: String,
        snapshot: Bool
    ) {
        self.conninfo = conninfo
        self.tables = tables
        self.registryURL = registryURL
        self.slot = slot
        self.publication = publication
        self.topicPrefix = topicPrefix
        self.outputDirectory = outputDirectory
        self.snapshot = snapshot
    }
}

/// Why the source stopped other than by a signal.
public enum WALSourceError: Error, CustomStringConvertible {
    case postgres(PostgresError)
    case registry(RegistryClientError)
    /// The registry refused a table's new schema: the reasons, and nothing after it was acknowledged.
    case incompatibleSchema(subject: String, reasons: [String])
    case sink(ChangeLogError)
    /// Kafka refused or could not take the events (`KafkaError.isPermanentForMessage`: never by waiting).
    case kafka(KafkaError)
    case event(String)
    case configuration(String)
    /// A stop signal arrived during work that is undone rather than finished (a snapshot).
    case stopped
    /// A row holds NULL in a column the table's current schema says is NOT NULL (the catalog changed
    /// after the row was written): the source widens the column and encodes the row again.
    case nullInNotNullColumn(relationID: UInt32, column: Int, message: String)

    public var description: String {
        switch self {
        case .postgres(let error): return "PostgreSQL: \(error)"
        case .registry(let error): return error.description
        case .incompatibleSchema(let subject, let reasons):
            return "the new schema of \(subject) is incompatible: the registry refused it, and the source stopped without acknowledging the change:\n"
                + reasons.map { "  - " + $0 }.joined(separator: "\n")
                + "\nchange the subject's compatibility level or the table, then start the source again: it resumes where it stopped."
        case .sink(let error): return "sink: \(error)"
        case .kafka(let error):
            return error.isPermanentForMessage
                ? "Kafka refused an event for good: \(error); the source stopped without acknowledging it (fix the topic, its permissions or the broker's limits, then start it again)"
                : "Kafka: \(error)"
        case .event(let message): return message
        case .configuration(let message): return message
        case .stopped: return "stopped by a signal"
        case .nullInNotNullColumn(_, _, let message): return message
        }
    }
}

/// Set by SIGINT/SIGTERM; the replication loop checks it between messages.
let stopRequested = Atomic<Bool>(false)

/// Streams a PostgreSQL database's changes (pgoutput logical replication) into per-table change-log
/// files of Confluent-framed Avro events, registering each table's key and value schemas.
///
/// Delivery is at-least-once and, across clean restarts, exactly-once: every event of a transaction
/// is written to its table's file, the files are fsynced at the transaction's COMMIT, and only then
/// is the commit's end LSN acknowledged to PostgreSQL, and the source's own position record
/// (`DurablePosition`) says how far the files are durable. A restarted source cuts each file back to
/// that position (or the slot's, when it is further), and skips what PostgreSQL sends again below it.
public final class WALSourceEngine {
    let configuration: WALSourceConfiguration
    let registry: CachingRegistryClient
    var query: PostgresConnection!
    var replication: PostgresConnection!
    var databaseName = ""

    /// Per relation OID: the table's schemas and ids (nil for tables outside the configuration).
    var relations: [UInt32: TableState] = [:]
    var writers: [TableName: ChangeLogWriter] = [:]
    /// Where the events go instead of `writers` (`--kafka-brokers`).
    var kafkaSink: KafkaEventSink?

    struct TableState {
        let schemas: ChangeEventSchemas
        let keySchemaID: UInt32?
        let valueSchemaID: UInt32
        let keySerializer: AvroSerializer?
        let valueSerializer: AvroSerializer
        /// The table's change-log file (nil when the events go to Kafka).
        let writer: ChangeLogWriter?
    }

    // The transaction being received.
    var transactionFinalLSN: UInt64 = 0
    var transactionID: UInt32 = 0
    var transactionCommitMilliseconds: Int64 = 0
    var transactionEvents = 0

    // Progress.
    var receivedLSN: UInt64 = 0
    var acknowledgedLSN: UInt64 = 0
    var events = 0
    var commitToSinkMilliseconds: [Double] = []
    var transactionsCommitted = 0
    /// Complete transactions whose events are written but not yet fsynced and acknowledged.
    var pendingCommits: [PendingCommit] = []

    struct PendingCommit {
        let endLSN: UInt64
        /// PostgreSQL's commit time, µs since 2000-01-01.
        let commitTime: Int64
        let hasEvents: Bool
        let received: ContinuousClock.Instant
        /// The incremental snapshots' progress as of this commit, when the transaction changed it (a
        /// window closed, a snapshot was asked for): made durable with the commit's events.
        var incremental: IncrementalRecord?
    }

    struct IncrementalRecord {
        var queue: [SourceState.IncrementalProgress]
        let snapshotted: Set<String>?
    }

    /// Incremental snapshots asked for and not finished, as of what has been received (the state file
    /// has them as of what is durable).
    var incrementalQueue: [SourceState.IncrementalProgress] = []
    /// Whether the transaction being received changed `incrementalQueue` (or `state.snapshotted`).
    var transactionChangedIncremental = false
    /// The chunk of an incremental snapshot between its watermarks (`IncrementalWindow`).
    var incrementalWindow: IncrementalWindow?
    var nextIncrementalWindow = ContinuousClock.now
    var incrementalWindowsOpened = 0
    /// The signal table's relation OID, once its RELATION message came.
    var signalRelationID: UInt32?
    /// The tables with a snapshot recorded for this slot, as of what has been received (nil: unknown).
    var snapshottedTables: Set<String>?
    /// Per table, the ids of the transactions streamed lately that changed it (pruned by each chunk's
    /// xmin), and the last pair recorded.
    var streamedTransactions: [UInt32: [UInt32]] = [:]
    var lastTrackedRelation: UInt32 = 0
    var lastTrackedTransaction: UInt32 = 0
    /// Counts for the incremental snapshot's log, and the wait after a chunk read too early.
    var struckRows = 0
    var discardedChunks = 0
    var discardBackoff: Duration = .zero
    /// The WAL position the stream must pass before a table's chunk registers a schema the stream has
    /// not installed (read once per table).
    var incrementalCatalogTarget: (relationID: UInt32, lsn: UInt64)?
    var lastStatus = ContinuousClock.now
    var lastServerLagBytes: Int64?
    var eventsAtLastStatus = 0
    let started = ContinuousClock.now

    var lastHeartbeat = ContinuousClock.now
    /// Whether the catalog connection is inside the snapshot's transaction (`takeSnapshot`).
    var inSnapshotTransaction = false
    /// Catalog facts about non-built-in types, by OID (`resolvedType`).
    var typeCache: [UInt32: TypeFacts] = [:]

    struct TypeFacts {
        /// `typtype`: d(omain), e(num), b(ase), …
        let kind: String
        let base: UInt32
        let baseModifier: Int32
        let labels: [String]?
        /// An array type's element type; nil for other types.
        let element: UInt32?
    }
    /// The commit time (ms since the Unix epoch) of the last transaction whose events are durable.
    var lastDurableCommitMilliseconds: Int64?
    /// Events written by earlier runs of this process (the supervisor's), for the metrics' total.
    var eventsBeforeThisRun = 0

    /// Whether this run got as far as streaming (the supervisor then starts its waits from 1 s again).
    var reachedStreaming = false
    /// Called once streaming starts (the supervisor logs a recovery).
    var onStreaming: (() -> Void)?

    /// The snapshot's latest row, written when the next is read (or marked last at the end).
    var heldSnapshotRead: (relationID: UInt32, texts: [ColumnText])?

    /// The configured tables that exist (`findPresentTables`).
    var presentTables: [TableName] = []

    /// The source's own record of the last durable commit (`DurablePosition`).
    var position: DurablePosition!
    /// Transactions whose commit lies below this are durable already: sent again by a slot that stands
    /// behind, they are skipped (and acknowledged).
    var skipTransactionsBelow: UInt64 = 0
    var skippingTransaction = false

    /// The source's own durable record of its slot (`SourceState`), and where it is kept.
    var state = SourceState()
    var statePath: String { SourceState.path(directory: configuration.outputDirectory, slot: configuration.slot) }

    public init(configuration: WALSourceConfiguration) {
        self.configuration = configuration
        registry = CachingRegistryClient(RegistryClient(baseURL: configuration.registryURL, transport: configuration.registryTransport), latestTimeToLive: .seconds(1))
    }

    /// Our sessions read timestamps in UTC, dates in ISO form and intervals in ISO 8601, whatever the
    /// server's (or the database's, or the role's) defaults: one column, one form. Literals the source
    /// quotes (snapshot chunk bounds hold row values) rely on standard_conforming_strings being on.
    /// The source's own writes (watermarks, heartbeats) do not wait for a synchronous standby: the
    /// standby may be waiting for this very source (a deadlock), and they are bookkeeping.
    /// The settings `wal-source snapshot` writes its request with (durable as any commit of the server).
    static let requestSessionOptions = "-c standard_conforming_strings=on"
    static let sessionOptions = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=iso_8601 -c lc_monetary=C -c standard_conforming_strings=on -c extra_float_digits=3 -c bytea_output=hex -c synchronous_commit=local"

    /// Runs until a signal (then returns normally) or a failure (thrown).
    public func run() async throws(WALSourceError) {
        do {
            query = try PostgresConnection(conninfo: configuration.conninfo, replication: false, options: Self.sessionOptions)
            replication = try PostgresConnection(conninfo: configuration.conninfo, replication: true, options: Self.sessionOptions)
            databaseName = try query.query("SELECT current_database()").first?.first??.description ?? ""
            state = try SourceState.read(path: statePath) ?? SourceState()
            position = try DurablePosition(path: statePath + ".position")
            try checkPositionHistory()
            let kafkaCommitted = try openKafka()
            let kafkaPosition = kafkaCommitted.position
            try findPresentTables()
            try ensurePublication()
            if let table = configuration.heartbeatTable {
                try query.execute("CREATE TABLE IF NOT EXISTS \(table.quoted) (id int PRIMARY KEY, ts timestamptz NOT NULL)")
            }
            var snapshotWanted = configuration.snapshot
            if state.snapshot == .running, state.snapshotCommitLSN != 0, let kafkaPosition, kafkaPosition >= state.snapshotCommitLSN {
                // Killed after the snapshot's Kafka transaction committed, before the state said so: it is done.
                log("the snapshot of the previous run committed to Kafka (\(kafkaSink?.offsetsTopic ?? "") holds \(LSN(kafkaPosition))): recorded done, not taken again")
                try recordSnapshotDone(snapshotted: kafkaCommitted.progress?.record.snapshotted ?? Set(presentTables.map(\.quoted)))
                try checkSlotNotLost()
            } else if state.snapshot == .running {
                // A snapshot was interrupted (killed, or stopped): its slot never streamed, so it is
                // dropped, the snapshot's events are cut, and a new slot's snapshot is taken whole.
                try undoInterruptedSnapshot()
                snapshotWanted = true
            } else {
                try checkSlotNotLost()
            }
            let slotExisted = try slotExists()
            var markedSnapshotRunning = false
            if !slotExisted {
                // A new slot's history starts at its consistent point. The logs keep what the previous
                // slot made durable, and only that: a transaction cut off mid-way under it is never sent
                // again by the new one (without a record, from an older release, everything is kept).
                if writers.isEmpty { try openWriters(confirmedLSN: position.read() ?? .max) }
                if snapshotWanted {
                    // Marked running before the slot exists: a crash in between must not leave a new
                    // slot that looks as if it had been created without a snapshot.
                    state.snapshot = .running
                    state.snapshotCommitLSN = 0
                    state.lengthsBeforeSnapshot = Dictionary(uniqueKeysWithValues: writers.map { ($0.key.quoted, $0.value.length) })
                    state.hasUsedSlot = true
                    try state.write(path: statePath)
                    markedSnapshotRunning = true
                }
            }
            let (slotLSN, created, exportedSnapshot) = try ensureSlot(exportingSnapshot: snapshotWanted)
            if markedSnapshotRunning, !created {
                // Another process created the slot meanwhile: it is not ours to snapshot.
                state.snapshot = .none
                try state.write(path: statePath)
            }
            if !created, let (asOf, record) = kafkaCommitted.progress, asOf > state.incrementalAsOf, asOf > position.read() ?? 0 {
                // Killed after a Kafka commit that changed the snapshots' progress, before the state file had it
                // (or the state file is gone): the offsets topic's record is the progress as of that commit. A new
                // slot's progress starts from the state file.
                log("kafka: the snapshots' progress committed through \(LSN(asOf)) is newer than the state file's: going on from it")
                try persistIncremental(record, asOf: asOf)
            }
            restoreIncrementalProgress(durable: max(position?.read() ?? 0, kafkaPosition ?? 0))
            if created, state.incrementalAsOf != 0 {
                // The new slot's commits are not the ones the progress was tied to.
                state.incrementalAsOf = 0
                try state.write(path: statePath)
            }
            if !created, configuration.snapshot { try requestSnapshotsOnExistingSlot() }
            // A new slot's transactions all commit after its consistent point: recording that point keeps
            // an older record (of a dropped slot, or of another server after a failover) from making the
            // source skip them, and keeps what the logs hold from earlier slots on a later recovery.
            if created { try position.record(slotLSN) }
            if created, snapshotWanted, let exportedSnapshot {
                // The snapshot must be read before the replication connection runs its next command
                // (which ends the exported snapshot).
                guard try await takeSnapshotOrDropSlot(exportedSnapshot, atLSN: slotLSN) else { return }
            } else if !state.hasUsedSlot || created {
                state.hasUsedSlot = true
                // A slot created without a snapshot: no table's rows have been read with it.
                if created {
                    state.snapshotted = []
                    snapshottedTables = []
                }
                try state.write(path: statePath)
            }
            // Streaming first, then the files are cut: once the slot is ours, its confirmed position cannot
            // move any more (a previous source's last acknowledgement may still have been in flight when
            // the slot was looked up, and PostgreSQL starts from the newer position).
            try replication.startReplication(
                slot: configuration.slot, publication: configuration.publication, startLSN: created ? LSN(slotLSN) : .zero, messages: serverSendsMessages)
            if !incrementalQueue.isEmpty {
                log("incremental snapshots to go on with: \(incrementalQueue.map { "\($0.table) (\($0.rowsRead) rows read)" }.joined(separator: ", "))")
            }
            // The slot may stand before what is durable already (PostgreSQL 15 does not save a slot's
            // confirmed position on its own): keep what is durable, skip it when sent again, and
            // acknowledge it at once so the slot catches up.
            // With Kafka exactly once, its offsets topic says what is durable there (a crash between a Kafka commit
            // and the slot's acknowledgement leaves the slot behind it).
            let durable = max(position.read() ?? 0, kafkaPosition ?? 0)
            let slotConfirmed = try confirmedPosition() ?? slotLSN
            let confirmed = max(slotConfirmed, durable)
            skipTransactionsBelow = durable
            if min(slotLSN, slotConfirmed) < durable {
                log("slot \(configuration.slot) stood at \(LSN(min(slotLSN, slotConfirmed))), behind the durable position \(LSN(durable)) (PostgreSQL had not saved it): what it sends again up to there is skipped")
            }
            if writers.isEmpty { try openWriters(confirmedLSN: confirmed) }
            acknowledgedLSN = confirmed
            receivedLSN = confirmed
            log("streaming from slot \(configuration.slot) at \(LSN(confirmed)) (publication \(configuration.publication))")
            reachedStreaming = true
            onStreaming?()
        } catch let error as PostgresError {
            throw .postgres(error)
        } catch let error as WALSourceError {
            throw error
        } catch {
            throw .event("\(error)")
        }
        // While the brokers make it wait, the replication connection still answers (its standby status, with
        // the old position): the server does not time it out, and keeps the WAL.
        kafkaSink?.whileWaiting = { [weak self] in
            try? self?.sendStatus()
            // The status line (and the metrics) say that the source waits for the brokers; no query to the server
            // here (a hung one would hold up the wait, which a stop signal must end).
            self?.reportProgressIfDue(queryingServer: false)
        }
        try await stream()
    }

    /// `--snapshot` with a slot that exists: the tables with no snapshot recorded for this slot (added to
    /// --tables since, or the slot was created without one) get an incremental snapshot while streaming.
    func requestSnapshotsOnExistingSlot() throws {
        guard let snapshotted = snapshottedTables else {
            log(
                "--snapshot: slot \(configuration.slot) exists, and this source has no record of which tables were snapshotted with it (an older state file), so no snapshot is taken; "
                    + "streaming goes on from its position. Take one with `wal-source snapshot --table …`")
            return
        }
        let missing = presentTables.filter { !snapshotted.contains($0.quoted) && !incrementalQueue.map(\.table).contains($0.quoted) }
        if missing.isEmpty {
            log("--snapshot: slot \(configuration.slot) exists and every table has its snapshot already; streaming goes on from its position (`wal-source snapshot --table …` reads a table again)")
            return
        }
        log("--snapshot: slot \(configuration.slot) exists; \(missing.map(\.description).joined(separator: ", ")) \(missing.count == 1 ? "has" : "have") no snapshot yet, so an incremental snapshot is taken while streaming")
        incrementalQueue += missing.map { SourceState.IncrementalProgress(table: $0.quoted) }
        state.incremental = incrementalQueue
        try state.write(path: statePath)
    }

    func log(_ message: String) {
        Self.writeStandardError("wal-source: \(message)\n")
    }

    /// One write(2) per line, so lines from a signal-time exit are not interleaved.
    public static func writeStandardError(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in _ = write(2, utf8.baseAddress, utf8.count) }
    }

    // MARK: Setup

    /// The change-log file of a table: its topic's name (only characters Kafka topics allow, so no
    /// `/`) with `.log`.
    func logPath(_ table: TableName) -> String {
        "\(configuration.outputDirectory)/\(ChangeEventSchemas.topicName(prefix: configuration.topicPrefix, schema: table.schema, table: table.name)).log"
    }

    static func quoteIdentifier(_ name: String) -> String { PostgresConnection.quoteIdentifier(name) }
    static func quoteLiteral(_ text: String) -> String { PostgresConnection.quoteLiteral(text) }

    /// The configured tables that exist now. A missing one (dropped while the source was stopped, or
    /// not created yet) is a warning: the others stream; it is picked up at a start after it exists.
    func findPresentTables() throws {
        var tablesByTopic: [String: TableName] = [:]
        for table in configuration.tables {
            let topic = ChangeEventSchemas.topicName(prefix: configuration.topicPrefix, schema: table.schema, table: table.name)
            if let other = tablesByTopic.updateValue(table, forKey: topic), other != table {
                throw WALSourceError.configuration("tables \(other) and \(table) would share the topic \(topic) (characters Kafka does not allow become _); capture one of them with another --topic-prefix")
            }
        }
        presentTables = []
        for table in configuration.tables {
            let found = try query.query("SELECT to_regclass(\(Self.quoteLiteral(table.quoted)))").first?.first ?? nil
            if found == nil {
                log("warning: table \(table) does not exist; the other tables stream, and it is captured from a start after it exists")
            } else {
                presentTables.append(table)
            }
        }
        guard !presentTables.isEmpty else {
            throw WALSourceError.configuration("none of the tables given exists: \(configuration.tables.map(\.description).joined(separator: ", "))")
        }
        try checkKeys()
    }

    /// A table without a key under REPLICA IDENTITY DEFAULT (or with NOTHING) cannot identify its old
    /// rows: once it is in a publication, PostgreSQL refuses the application's UPDATEs and DELETEs on
    /// it. Refused before anything is changed, unless --allow-tables-without-key.
    func checkKeys() throws {
        var keyless: [TableName] = []
        for table in presentTables {
            let rows = try query.query(
                """
                SELECT c.relreplident, EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND (i.indisprimary OR i.indisreplident))
                FROM pg_class c WHERE c.oid = \(Self.quoteLiteral(table.quoted))::regclass
                """)
            guard let row = rows.first, row.count == 2 else { continue }
            if row[0] == "n" || (row[0] == "d" && row[1] != "t") { keyless.append(table) }
        }
        guard !keyless.isEmpty else { return }
        let names = keyless.map(\.description).joined(separator: ", ")
        if configuration.allowTablesWithoutKey {
            log("warning: \(names) \(keyless.count == 1 ? "has" : "have") no key and REPLICA IDENTITY DEFAULT: captured as asked (--allow-tables-without-key); while in the publication, UPDATE and DELETE on \(keyless.count == 1 ? "it" : "them") fail in the application")
            return
        }
        throw WALSourceError.configuration(
            "\(names) \(keyless.count == 1 ? "has" : "have") no primary key and REPLICA IDENTITY DEFAULT: in a publication, PostgreSQL would refuse "
                + "the application's UPDATE and DELETE on \(keyless.count == 1 ? "it" : "them"). Give \(keyless.count == 1 ? "it" : "each") a primary key, or run "
                + "ALTER TABLE … REPLICA IDENTITY FULL (old rows then carry every column), or pass --allow-tables-without-key to capture inserts only.")
    }

    func ensurePublication() throws {
        let tables = presentTables.map { ($0.schema, $0.name) }
        guard !tables.isEmpty else { throw WALSourceError.configuration("no tables given") }
        // The signal table is published too (its inserted rows are the signals), and created if missing.
        var published = presentTables
        if let signal = configuration.signalTable {
            try query.execute(
                "CREATE TABLE IF NOT EXISTS \(signal.quoted) (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048))")
            if !published.contains(signal) { published.append(signal) }
        }
        let names = published.map(\.quoted)
        // publish_via_partition_root: changes of a partitioned table come under the table's own name
        // and schema. Without it pgoutput reports each partition, which is not a table we were given.
        let existing = try query.query("SELECT pubviaroot FROM pg_publication WHERE pubname = \(Self.quoteLiteral(configuration.publication))")
        if existing.isEmpty {
            try query.execute(
                "CREATE PUBLICATION \(Self.quoteIdentifier(configuration.publication)) FOR TABLE \(names.joined(separator: ", ")) WITH (publish_via_partition_root = true)")
            log("created publication \(configuration.publication) for \(published.map(\.description).joined(separator: ", "))")
            return
        }
        if existing.first?.first != "t" {
            let partitioned = try query.query(
                """
                SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind = 'p' AND (n.nspname, c.relname) IN (\(tables.map { "(\(Self.quoteLiteral($0.0)), \(Self.quoteLiteral($0.1)))" }.joined(separator: ", ")))
                """
            ).compactMap { $0.first ?? nil }
            if !partitioned.isEmpty {
                throw WALSourceError.configuration(
                    "publication \(configuration.publication) publishes the partitions of \(partitioned.joined(separator: ", ")) one by one, "
                        + "so their changes would not come under the partitioned table's name; run "
                        + "ALTER PUBLICATION \(Self.quoteIdentifier(configuration.publication)) SET (publish_via_partition_root = true) "
                        + "(or give another --publication), then start again")
            }
        }
        // Reused: add any configured table it lacks.
        let current = Set(
            try query.query("SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = \(Self.quoteLiteral(configuration.publication))")
                .compactMap { row in row.count == 2 ? row[0].flatMap { schema in row[1].map { TableName(schema: schema, name: $0) } } : nil })
        for (index, table) in published.enumerated() where !current.contains(table) {
            try query.execute("ALTER PUBLICATION \(Self.quoteIdentifier(configuration.publication)) ADD TABLE \(names[index])")
        }
    }

    /// Which server history the durable position belongs to. A record of another cluster (another
    /// system identifier) is refused: its LSNs mean nothing here. A record of an earlier timeline (the
    /// server was promoted, or recovered to a point in time) holds while it lies before the point where
    /// this server's history left that timeline; past that point the logs hold changes that are not in
    /// this server's history (lost in the failover), and they are cut, loudly, so that the logs follow
    /// the history the database has.
    func checkPositionHistory() throws {
        let rows = try replication.query("IDENTIFY_SYSTEM")
        guard let row = rows.first, row.count >= 2, let system = row[0].flatMap({ UInt64($0) }), let timeline = row[1].flatMap({ UInt32($0) }) else {
            throw WALSourceError.configuration("IDENTIFY_SYSTEM answered unexpectedly")
        }
        position.systemID = system
        position.timeline = timeline
        guard let record = position.readRecord(), let recordedSystem = record.systemID, let recordedTimeline = record.timeline else { return }
        guard recordedSystem == system else {
            throw WALSourceError.configuration(
                "the change logs in \(configuration.outputDirectory) were written from another PostgreSQL cluster (system identifier \(recordedSystem)), "
                    + "and this server is system \(system): their positions mean nothing here. Give another --out (and --slot) to capture this cluster, "
                    + "or point --pg at the cluster the logs came from")
        }
        guard recordedTimeline != timeline else { return }
        guard recordedTimeline < timeline else {
            throw WALSourceError.configuration(
                "the durable position was recorded on timeline \(recordedTimeline), and this server is on timeline \(timeline), an earlier one: "
                    + "it is not the server (or a descendant of the server) the logs came from")
        }
        let history = try replication.query("TIMELINE_HISTORY \(timeline)")
        // The content is bytea: hex text in our sessions (bytea_output=hex).
        guard let content = history.first.flatMap({ $0.count >= 2 ? $0[1] : nil }).map(Self.byteaText),
            let point = DurablePosition.switchPoint(leaving: recordedTimeline, history: content)
        else {
            throw WALSourceError.configuration(
                "the durable position was recorded on timeline \(recordedTimeline), which is not in the history of this server's timeline \(timeline)")
        }
        if record.lsn > point {
            log(
                "warning: this server left timeline \(recordedTimeline) at \(LSN(point)) (a failover or a recovery), but the logs hold changes "
                    + "committed on it up to \(LSN(record.lsn)): they are not in this server's history (lost with the old primary), so they are cut from the logs")
            writers.removeAll()
            try openWriters(confirmedLSN: point)
            try position.record(point)
        } else {
            log("timeline \(timeline) since \(LSN(point)); the durable position \(LSN(record.lsn)) lies before it and holds")
            try position.record(record.lsn)
        }
    }

    /// The text of a bytea's hex form (`\\x6869` → "hi"); other text as it is.
    static func byteaText(_ text: String) -> String {
        ColumnAvroType.bytea(text).map { String(decoding: $0, as: UTF8.self) } ?? text
    }

    /// A slot this source used before and that is gone now (dropped by hand, or by a failover that did
    /// not carry it) means the changes made in between were never captured: stop and say so, unless
    /// told how to go on (`--snapshot` reads every row again; `--allow-new-slot` accepts the gap).
    func checkSlotNotLost() throws {
        guard try !slotExists() else { return }
        let logs = configuration.tables.map(logPath)
        let logsHaveEvents = logs.contains { path in
            var status = stat()
            return stat(path, &status) == 0 && status.st_size > 0
        }
        guard state.hasUsedSlot || logsHaveEvents else { return }
        let lost = "slot \(configuration.slot) is gone, but this source streamed from it before: changes made since it last ran were not captured"
        if configuration.snapshot {
            log("\(lost); --snapshot: a new slot is created and every row read again")
        } else if configuration.allowNewSlot {
            log("\(lost); --allow-new-slot: a new slot is created and streaming goes on from now, without them")
        } else {
            throw WALSourceError.configuration(
                "\(lost). Start again with --snapshot to read every row again from a new slot, "
                    + "or with --allow-new-slot to stream from now on and accept the gap.")
        }
    }

    /// Whether the slot exists now.
    func slotExists() throws -> Bool {
        try !query.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = \(Self.quoteLiteral(configuration.slot))").isEmpty
    }

    /// The slot's `confirmed_flush_lsn` now.
    func confirmedPosition() throws -> UInt64? {
        let rows = try query.query("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = \(Self.quoteLiteral(configuration.slot))")
        guard let row = rows.first, let text = row.first ?? nil else { return nil }
        return LSN(text)?.value
    }

    /// The slot's confirmed position (creating the slot if needed), whether it was created, and the
    /// snapshot it exported when created.
    func ensureSlot(exportingSnapshot: Bool) throws -> (UInt64, Bool, String?) {
        let rows = try query.query(
            "SELECT confirmed_flush_lsn, plugin FROM pg_replication_slots WHERE slot_name = \(Self.quoteLiteral(configuration.slot))")
        if let row = rows.first {
            guard row.count > 1, row[1] == "pgoutput" else { throw WALSourceError.configuration("slot \(configuration.slot) exists but does not use pgoutput") }
            let lsn = row[0].flatMap { LSN($0) }?.value ?? 0
            log("reusing slot \(configuration.slot), confirmed up to \(LSN(lsn))")
            return (lsn, false, nil)
        }
        let snapshotClause = exportingSnapshot ? " EXPORT_SNAPSHOT" : " NOEXPORT_SNAPSHOT"
        let created = try replication.query("CREATE_REPLICATION_SLOT \(Self.quoteIdentifier(configuration.slot)) LOGICAL pgoutput\(snapshotClause)")
        // slot_name, consistent_point, snapshot_name, output_plugin
        guard let row = created.first, row.count >= 3, let point = row[1].flatMap({ LSN($0) }) else {
            throw WALSourceError.configuration("CREATE_REPLICATION_SLOT answered unexpectedly")
        }
        log("created slot \(configuration.slot) at \(point)")
        return (point.value, true, row[2])
    }

    func openWriters(confirmedLSN: UInt64) throws {
        guard configuration.kafka == nil else { return }
        for table in configuration.tables where writers[table] == nil {
            let path = logPath(table)
            do {
                let (writer, cut) = try ChangeLogWriter.open(path: path, confirmedLSN: confirmedLSN)
                if cut > 0 { log("\(path): cut \(cut) unacknowledged events; PostgreSQL sends them again") }
                writers[table] = writer
            } catch {
                throw WALSourceError.sink(error)
            }
        }
    }

    /// With `--kafka-brokers`: the producer (exactly once: its transactions initialised, fencing an earlier
    /// instance), and the position and snapshot progress the offsets topic holds for the slot.
    func openKafka() throws(WALSourceError) -> KafkaEventSink.Committed {
        guard let kafka = configuration.kafka else { return KafkaEventSink.Committed() }
        let committed: KafkaEventSink.Committed
        do {
            // The producer first: its initialisation fences an earlier instance and aborts its open transaction,
            // so the position read next is the last one committed.
            var sink: KafkaEventSink
            do {
                sink = try KafkaEventSink(
                    configuration: kafka, slot: configuration.slot, topicPrefix: configuration.topicPrefix, systemID: position.systemID,
                    timeline: position.timeline)
            } catch where kafka.exactlyOnce && error.isTransactionsUnsupported {
                // Exactly once is the default where the brokers support transactions.
                log("kafka: the brokers do not support transactions (\(error)): delivery is at least once")
                var fallback = kafka
                fallback.exactlyOnce = false
                sink = try KafkaEventSink(
                    configuration: fallback, slot: configuration.slot, topicPrefix: configuration.topicPrefix, systemID: position.systemID,
                    timeline: position.timeline)
            }
            sink.log = { (message: String) in Self.writeStandardError("wal-source: \(message)\n") }
            var missing = false
            committed = try sink.committed(missing: &missing)
            if missing { try sink.createOffsetsTopic() }
            kafkaSink = sink
        } catch {
            if error.isConfiguration { throw .configuration(error.description) }
            throw .kafka(error)
        }
        if let position = committed.position, let kafkaSink { log("kafka: \(kafkaSink.offsetsTopic) holds \(LSN(position)) for slot \(configuration.slot)") }
        return committed
    }

    // MARK: Schemas

    /// The table as the catalog describes it now, per column name: nullability, default, and
    /// primary-key membership.
    func catalogColumns(relationID: UInt32) throws -> [String: CatalogColumn] {
        var columns: [String: CatalogColumn] = [:]
        for (column, _) in try catalogColumnDescriptions(relationID: relationID) {
            columns[column.name] = CatalogColumn(isNullable: column.isNullable, defaultExpression: column.defaultExpression, isPrimaryKey: column.isKey)
        }
        return columns
    }

    /// A catalog query while streaming. The catalog connection idles between DDL changes, so a server
    /// (`idle_session_timeout`) or a proxy may have closed it: then it is opened again and the query
    /// retried once.
    func catalogQuery(_ sql: String) throws -> [[String?]] {
        do {
            return try query.query(sql)
        } catch {
            // Inside the snapshot's transaction a new connection would read outside the exported
            // snapshot: the snapshot fails instead (and is taken again).
            guard query.isBroken, !inSnapshotTransaction else { throw error }
            log("the catalog connection was closed (\(error)); reconnecting")
            query = try PostgresConnection(conninfo: configuration.conninfo, replication: false, options: Self.sessionOptions)
            return try query.query(sql)
        }
    }

    struct CatalogColumn {
        let isNullable: Bool
        let defaultExpression: String?
        let isPrimaryKey: Bool
    }

    /// Whether column `a` is in the event key: the replica identity index's columns under REPLICA
    /// IDENTITY USING INDEX (what a delete's old row carries; the primary key's columns are not in it
    /// when the index is another), else the primary key's. The same rule for streamed and snapshot
    /// events, whatever pgoutput flags (under REPLICA IDENTITY FULL it flags every column).
    static let keyColumnExpression = """
        a.attnum = ANY(COALESCE((SELECT i.indkey::int2[] FROM pg_index i
                                 WHERE i.indrelid = a.attrelid AND (i.indisprimary OR i.indisreplident)
                                 ORDER BY i.indisreplident DESC, i.indisprimary DESC LIMIT 1), '{}'::int2[]))
        """

    /// Set once writing or syncing a sink file failed: from then on nothing more is acknowledged (a
    /// failed fsync may have lost data that a second fsync would report as fine).
    var sinkFailed = false

    /// Builds, registers and installs the schemas of a table from its RELATION message.
    func install(relationID: UInt32, description: TableDescription) async throws(WALSourceError) {
        guard let (state, isNew) = try await tableState(relationID: relationID, description: description), isNew else { return }
        let previous = relations[relationID]
        relations[relationID] = state
        if previous == nil {
            log("\(state.schemas.topic): value schema id \(state.valueSchemaID)\(state.keySchemaID.map { ", key schema id \($0)" } ?? "")")
        } else {
            log("\(state.schemas.topic): table changed; new value schema id \(state.valueSchemaID)")
        }
    }

    /// The schemas (registered) of a table as `description` gives it, continuing what is installed and
    /// registered; whether they differ from what is installed for `relationID`. Nil for a table outside
    /// the configuration.
    func tableState(relationID: UInt32, description: TableDescription) async throws(WALSourceError) -> (TableState, Bool)? {
        var schemas: ChangeEventSchemas
        // A new version continues the last (`ChangeEventSchemas.continuing`): what the subject's latest
        // version, or this table's current schema, has nullable stays so, and field names stay put.
        var description = description
        do {
            description.columns = try description.columns.map(resolvedType)
        } catch let error as PostgresError {
            throw .postgres(error)
        } catch {
            throw .event("\(error)")
        }
        if let current = relations[relationID] {
            description = ChangeEventSchemas.continuing(description, from: current.schemas.value, isLatestVersion: false)
        }
        do {
            let topic = ChangeEventSchemas.topicName(prefix: configuration.topicPrefix, schema: description.namespace, table: description.name)
            let latest = try await registry.latest(subject: topic + "-value")
            description = ChangeEventSchemas.continuing(description, from: latest.schema.schema)
        } catch {
            if case .rejected(_, 40401, _) = error {} else { throw .registry(error) }
        }
        do {
            schemas = try ChangeEventSchemas(table: description, topicPrefix: configuration.topicPrefix)
            schemas.onUnconvertibleValue = { message in Self.writeStandardError("wal-source: warning: \(message)\n") }
        } catch {
            throw .event("the schema generated for \(description.namespace).\(description.name) does not parse: \(error)")
        }
        if let current = relations[relationID], current.schemas.valueText == schemas.valueText, current.schemas.keyText == schemas.keyText {
            return (current, false)
        }
        // A table outside the configuration has no file (nor, with Kafka, a place in the configuration).
        let table = TableName(schema: description.namespace, name: description.name)
        let writer = writers[table]
        guard writer != nil || (kafkaSink != nil && configuration.tables.contains(table)) else { return nil }
        var keySchemaID: UInt32?
        var keySerializer: AvroSerializer?
        let valueSerializer: AvroSerializer
        do {
            valueSerializer = try AvroSerializer(registry: registry, subject: schemas.valueSubject, schemaText: schemas.valueText)
            if !schemas.keyColumnIndexes.isEmpty {
                keySerializer = try AvroSerializer(registry: registry, subject: schemas.keySubject, schemaText: schemas.keyText)
            }
        } catch {
            throw .event("\(error)")
        }
        let valueSchemaID = try await register(valueSerializer)
        if let keySerializer { keySchemaID = try await register(keySerializer) }
        let state = TableState(
            schemas: schemas, keySchemaID: keySchemaID, valueSchemaID: valueSchemaID, keySerializer: keySerializer, valueSerializer: valueSerializer,
            writer: writer)
        return (state, true)
    }

    /// A column as Debezium types it: a domain as its base type (and the base's modifier when the column
    /// has none), an enum with its labels, an array with its element's type so resolved (an array whose
    /// element type has another delimiter than `,`, such as box's `;`, stays text). Looked up once
    /// per type OID; built-in scalar types need no lookup.
    func resolvedType(_ column: ColumnDescription) throws -> ColumnDescription {
        var column = column
        for _ in 0..<16 where column.typeOID >= 16384 || PostgresType(rawValue: column.typeOID) == nil {
            let info: TypeFacts
            if let cached = typeCache[column.typeOID] {
                info = cached
            } else {
                let rows = try catalogQuery(
                    """
                    SELECT t.typtype, t.typbasetype, t.typtypmod,
                           (SELECT string_agg(e.enumlabel, chr(31) ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
                           CASE WHEN t.typelem <> 0 AND t.typinput = 'array_in'::regproc AND (SELECT e.typdelim FROM pg_type e WHERE e.oid = t.typelem) = ',' THEN t.typelem END
                    FROM pg_type t WHERE t.oid = \(column.typeOID)
                    """)
                guard let row = rows.first, row.count == 5 else { return column }
                info = TypeFacts(
                    kind: row[0] ?? "", base: UInt32(row[1] ?? "") ?? 0, baseModifier: Int32(row[2] ?? "") ?? -1,
                    labels: row[3].map { $0.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init) },
                    element: row[4].flatMap { UInt32($0) })
                typeCache[column.typeOID] = info
            }
            switch info.kind {
            case "d":
                column.typeOID = info.base
                if column.typeModifier < 0 { column.typeModifier = info.baseModifier }
            case "e":
                column.enumLabels = info.labels ?? []
                return column
            default:
                guard let element = info.element, column.elementTypeOID == nil else { return column }
                var elementColumn = column
                elementColumn.typeOID = element
                elementColumn = try resolvedType(elementColumn)
                guard elementColumn.elementTypeOID == nil else { return column }  // an array of arrays (of a domain): text
                column.elementTypeOID = elementColumn.typeOID
                column.elementEnumLabels = elementColumn.enumLabels
                column.typeModifier = elementColumn.typeModifier
                return column
            }
        }
        return column
    }

    /// Encodes an event with `encode`; when a row holds NULL in a column the current schema says is
    /// NOT NULL (rows written before `SET NOT NULL`, read with today's catalog), registers a version
    /// with that column nullable and encodes again, instead of stopping for good.
    func emitWidening(_ encode: () throws(WALSourceError) -> Void) async throws(WALSourceError) {
        var attempts = 0
        while true {
            do {
                try encode()
                return
            } catch {
                guard attempts < 64 else { throw error }
                attempts += 1
                try await widen(error)
            }
        }
    }

    /// For a NULL in a column the installed schema says is NOT NULL: installs a version with the column
    /// nullable. Any other error is thrown again.
    func widen(_ error: WALSourceError) async throws(WALSourceError) {
        guard case .nullInNotNullColumn(let relationID, let column, let message) = error,
            var description = relations[relationID]?.schemas.table, column < description.columns.count,
            !description.columns[column].isNullable
        else { throw error }
        description.columns[column].isNullable = true
        log("warning: \(message) (written before the catalog said NOT NULL): the column is nullable from the next version on")
        try await install(relationID: relationID, description: description)
    }

    func register(_ serializer: AvroSerializer) async throws(WALSourceError) -> UInt32 {
        do {
            return try await serializer.schemaID()
        } catch {
            if case .registry(.rejected(409, _, let message)) = error {
                // Ask for the verbose reasons; fall back to the 409's own message.
                let reasons = (try? await registry.checkCompatibility(subject: serializer.subject, schema: serializer.schemaText).messages) ?? []
                throw .incompatibleSchema(subject: serializer.subject, reasons: reasons.isEmpty ? [message] : reasons)
            }
            if case .registry(let registryError) = error { throw .registry(registryError) }
            throw .event(error.description)
        }
    }
}

/// The signal handler wal-source installs for SIGINT and SIGTERM: it only sets `stopRequested`.
/// (A `static let` of a type, not a closure in main.swift, so it is not main-actor isolated.)
public enum WALSourceSignals {
    public static let handler: @convention(c) (Int32) -> Void = { _ in
        stopRequested.store(true, ordering: .relaxed)
    }
}
