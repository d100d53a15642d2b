import AvroCodec
import ChangeEvents

#if canImport(Glibc)
    import Glibc
#endif

/// One chunk of an incremental snapshot, between its watermarks (the method of Netflix's DBLog, which
/// Debezium's incremental snapshots use):
///
/// 1. a low watermark is written to the WAL (a transactional logical decoding message),
/// 2. the chunk is read (the next rows in key order after the last durable chunk),
/// 3. a high watermark is written.
///
/// The stream goes on meanwhile. Changes committed between the watermarks reach the stream between
/// them; each one's key is struck from the chunk, since the streamed change is as new as the chunk's
/// row or newer. At the high watermark the rows left are written as `op: "r"` reads: none of them can
/// overwrite a newer change, because a change committed after the high watermark was not visible to
/// the chunk's read and comes after it in the log.
final class IncrementalWindow {
    let id: String
    let table: TableName
    let relationID: UInt32
    let keyIndexes: [Int]
    /// The chunk's rows in key order; a struck row is nil.
    var rows: [[ColumnText]?]
    /// Row index by key (the key columns' text).
    var index: [[String?]: Int]
    /// The chunk's last key as read (its rows may be struck since), where the next chunk starts.
    let lastKey: [String?]?
    /// Whether the chunk was the table's last (fewer rows than asked for).
    let isLast: Bool
    /// Whether the low watermark has come through the stream.
    var isOpen = false
    /// Set when the table's columns changed inside the window: the chunk is read again.
    var isDiscarded = false

    init(id: String, table: TableName, query: WALSourceEngine.SnapshotQuery, rows: [[String?]], isLast: Bool) {
        self.id = id
        self.table = table
        relationID = query.relationID
        keyIndexes = query.keyIndexes
        self.rows = rows.map { row in row.map { $0.map(ColumnText.text) ?? .null } }
        var index: [[String?]: Int] = [:]
        index.reserveCapacity(rows.count)
        for (position, row) in rows.enumerated() { index[query.key(of: row)] = position }
        self.index = index
        lastKey = rows.last.map(query.key(of:))
        self.isLast = isLast
    }

    /// Strikes the row with the key that `columns` (a whole row, or an old row's key columns) carry.
    func strike(_ columns: [ColumnText]?) {
        guard let columns, keyIndexes.allSatisfy({ $0 < columns.count }) else { return }
        var key: [String?] = []
        key.reserveCapacity(keyIndexes.count)
        for position in keyIndexes {
            switch columns[position] {
            case .text(let text): key.append(text)
            case .null: key.append(nil)
            case .unchangedToast: return
            }
        }
        if let position = index.removeValue(forKey: key) { rows[position] = nil }
    }

    func strikeAll() {
        rows = rows.map { _ in nil }
        index = [:]
    }
}

extension WALSourceEngine {
    /// The prefix of the logical decoding messages wal-source reads: watermarks and snapshot requests.
    public static let messagePrefix = "wal-source"

    /// The content of a request for incremental snapshots of `tables`, for the source streaming from `slot`
    /// (what `wal-source snapshot` writes with `pg_logical_emit_message`).
    public static func snapshotRequest(slot: String, tables: [TableName]) -> String {
        JSONValue.object([
            ("slot", .string(slot)), ("type", .string("execute-snapshot")),
            ("tables", .array(tables.map { .string($0.quoted) })),
        ]).compactText
    }

    /// Writes a request for incremental snapshots of `tables` into the WAL, for the source streaming
    /// from `slot`; returns the request's LSN. Refused when the slot or a table does not exist (a request
    /// written before the slot exists is never decoded).
    public static func requestSnapshot(conninfo: String, slot: String, tables: [TableName]) throws(WALSourceError) -> String {
        do {
            let connection = try PostgresConnection(conninfo: conninfo, replication: false)
            guard connection.serverVersion >= 140_000 else {
                throw WALSourceError.configuration("incremental snapshots need PostgreSQL 14 or later (logical decoding messages reach pgoutput from 14 on)")
            }
            guard try !connection.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = \(quoteLiteral(slot))").isEmpty else {
                throw WALSourceError.configuration("slot \(slot) does not exist: a source without a slot yet takes its snapshot with --snapshot when it starts")
            }
            for table in tables where (try connection.query("SELECT to_regclass(\(quoteLiteral(table.quoted)))").first?.first ?? nil) == nil {
                throw WALSourceError.configuration("table \(table) does not exist")
            }
            let rows = try connection.query(
                "SELECT pg_logical_emit_message(true, \(quoteLiteral(messagePrefix)), \(quoteLiteral(snapshotRequest(slot: slot, tables: tables))))")
            return rows.first?.first.flatMap { $0 } ?? "?"
        } catch let error as WALSourceError {
            throw error
        } catch let error as PostgresError {
            throw .postgres(error)
        } catch {
            throw .event("\(error)")
        }
    }

    /// Whether this server sends logical decoding messages to pgoutput (PostgreSQL 14 and later).
    var serverSendsMessages: Bool { replication.serverVersion >= 140_000 }

    /// A logical decoding message of ours: a snapshot request, or a window's watermark.
    func handleLogicalMessage(_ message: PgOutputMessage.LogicalMessage, at lsn: UInt64) async throws(WALSourceError) {
        guard message.prefix == Self.messagePrefix, !skippingTransaction,
            let json = try? JSONParser.parse(bytes: message.content), json["slot"]?.stringValue == configuration.slot
        else { return }
        switch json["type"]?.stringValue {
        case "execute-snapshot":
            var names: [String] = []
            if case .array(let values)? = json["tables"] { names = values.compactMap(\.stringValue) }
            requestIncrementalSnapshots(names, transactional: message.isTransactional, from: "a snapshot request")
        case "snapshot-window-open":
            if let window = incrementalWindow, window.id == json["window"]?.stringValue { window.isOpen = true }
        case "snapshot-window-close":
            if let window = incrementalWindow, window.id == json["window"]?.stringValue {
                try await closeIncrementalWindow(window, lsn: lsn)
            }
        default:
            log("warning: a \(Self.messagePrefix) message of unknown type at \(LSN(lsn)) ignored")
        }
    }

    /// A row inserted into the signal table (Debezium's: `id`, `type`, `data`).
    func handleSignal(_ row: [ColumnText], at lsn: UInt64) {
        guard !skippingTransaction, row.count >= 3, case .text(let type) = row[1] else { return }
        guard type == "execute-snapshot" else {
            log("signal \(type) at \(LSN(lsn)) ignored: only execute-snapshot is understood")
            return
        }
        guard case .text(let data) = row[2], let json = try? JSONParser.parse(bytes: Array(data.utf8)) else {
            log("warning: execute-snapshot signal at \(LSN(lsn)) ignored: its data is not JSON")
            return
        }
        if let kind = json["type"]?.stringValue, kind.lowercased() != "incremental" {
            log("warning: execute-snapshot signal at \(LSN(lsn)) ignored: only \"incremental\" snapshots are taken while streaming, not \"\(kind)\"")
            return
        }
        guard case .array(let values)? = json["data-collections"] else {
            log("warning: execute-snapshot signal at \(LSN(lsn)) ignored: no data-collections")
            return
        }
        requestIncrementalSnapshots(values.compactMap(\.stringValue), transactional: true, from: "a signal")
    }

    /// Queues incremental snapshots of the named tables ("schema.table", quoted as SQL where needed).
    func requestIncrementalSnapshots(_ names: [String], transactional: Bool, from origin: String) {
        for name in names {
            guard let table = (try? TableName.parseList(name))?.first else {
                log("warning: \(origin) names \"\(name)\", which is not a table name; ignored")
                continue
            }
            guard presentTables.contains(table) else {
                log("warning: \(origin) asks for a snapshot of \(table), which this source does not capture (add it to --tables); ignored")
                continue
            }
            if incrementalQueue.contains(where: { $0.table == table.quoted }) {
                log("incremental snapshot of \(table) asked for again: it is under way already")
                continue
            }
            incrementalQueue.append(SourceState.IncrementalProgress(table: table.quoted))
            log("incremental snapshot of \(table) requested (\(origin))")
        }
        if transactional, transactionFinalLSN != 0 {
            transactionChangedIncremental = true
        } else {
            persistIncremental()
        }
    }

    /// Writes the incremental snapshots' progress now (outside any transaction).
    func persistIncremental() {
        state.incremental = incrementalQueue
        state.incrementalAsOf = 0
        state.earlierIncremental = incrementalQueue
        state.earlierSnapshotted = state.snapshotted
        do {
            try state.write(path: statePath)
        } catch {
            log("warning: \(error)")
        }
    }

    /// Between stream messages: when an incremental snapshot is under way and no window is, and the
    /// rate limit allows, reads the next chunk between two watermarks.
    func openIncrementalWindowIfDue() async throws(WALSourceError) {
        guard incrementalWindow == nil, let progress = incrementalQueue.first, ContinuousClock.now >= nextIncrementalWindow else { return }
        guard serverSendsMessages else {
            log("warning: incremental snapshots need PostgreSQL 14 or later (logical decoding messages); \(progress.table) is not snapshotted")
            incrementalQueue.removeFirst()
            persistIncremental()
            return
        }
        guard let table = presentTables.first(where: { $0.quoted == progress.table }) else {
            log("warning: the incremental snapshot of \(progress.table) is dropped: the table is not captured any more")
            incrementalQueue.removeFirst()
            persistIncremental()
            return
        }
        do {
            guard let prepared = try await prepareSnapshotQuery(table) else { return }
            guard !prepared.keyIndexes.isEmpty else {
                log("warning: \(table) has no key, so it cannot be snapshotted incrementally (chunks are read in key order); snapshot it with a new slot and --snapshot")
                incrementalQueue.removeFirst()
                persistIncremental()
                return
            }
            if progress.lastKey == nil, progress.rowsRead == 0 { log("incremental snapshot of \(table): started") }
            incrementalWindowsOpened += 1
            let id = "\(getpid())-\(Self.nowMicroseconds())-\(incrementalWindowsOpened)"
            let opened = ContinuousClock.now
            try emitWatermark("snapshot-window-open", window: id)
            let rows = try catalogQuery(prepared.chunk(after: progress.lastKey, limit: configuration.snapshotChunkRows))
            try emitWatermark("snapshot-window-close", window: id)
            incrementalWindow = IncrementalWindow(
                id: id, table: table, query: prepared, rows: rows, isLast: rows.count < configuration.snapshotChunkRows)
            if let rate = configuration.snapshotRowsPerSecond, rate > 0 {
                nextIncrementalWindow = opened + .milliseconds(Int64(Double(rows.count) / rate * 1000))
            }
        } catch let error as WALSourceError {
            throw error
        } catch let error as PostgresError {
            throw .postgres(error)
        } catch {
            throw .event("\(error)")
        }
    }

    func emitWatermark(_ type: String, window: String) throws {
        let content = JSONValue.object([("slot", .string(configuration.slot)), ("type", .string(type)), ("window", .string(window))]).compactText
        _ = try catalogQuery("SELECT pg_logical_emit_message(true, \(Self.quoteLiteral(Self.messagePrefix)), \(Self.quoteLiteral(content)))")
    }

    /// The high watermark: the chunk's rows not struck are written as reads, in the watermark's
    /// transaction (durable with it), and the snapshot's progress moves to the chunk's last key.
    func closeIncrementalWindow(_ window: IncrementalWindow, lsn: UInt64) async throws(WALSourceError) {
        incrementalWindow = nil
        guard !window.isDiscarded, window.isOpen, incrementalQueue.first?.table == window.table.quoted else {
            if window.isDiscarded { log("\(window.table) changed during an incremental snapshot chunk; the chunk is read again") }
            return
        }
        var written = 0
        for row in window.rows {
            guard let row else { continue }
            try await emitWidening { () throws(WALSourceError) in
                try emit(.read, relationID: window.relationID, beforeColumns: nil, beforeIsFullRow: false, afterColumns: row, lsn: lsn, snapshot: .incremental)
            }
            written += 1
        }
        incrementalQueue[0].rowsRead += written
        if let lastKey = window.lastKey { incrementalQueue[0].lastKey = lastKey }
        if window.isLast {
            let done = incrementalQueue.removeFirst()
            if state.snapshotted != nil { state.snapshotted!.insert(done.table) }
            log("incremental snapshot of \(window.table): done, \(done.rowsRead) rows")
        }
        transactionChangedIncremental = true
    }

    /// Called for every change of a captured table: strikes its keys from an open window's chunk.
    func strikeFromIncrementalWindow(_ operation: ChangeOperation, relationID: UInt32, before: [ColumnText]?, after: [ColumnText]?) {
        guard let window = incrementalWindow, window.isOpen, window.relationID == relationID else { return }
        if operation == .truncate {
            window.strikeAll()
        } else {
            window.strike(before)
            window.strike(after)
        }
    }

    /// Makes the incremental snapshots' progress as of the commit ending at `endLSN` durable: after its
    /// events are, before its position is recorded. What was written before stays beside it until then.
    func persistIncremental(_ record: IncrementalRecord, asOf endLSN: UInt64) throws(WALSourceError) {
        state.earlierIncremental = state.incremental
        state.earlierSnapshotted = state.snapshotted
        state.incremental = record.queue
        state.snapshotted = record.snapshotted
        state.incrementalAsOf = endLSN
        try state.write(path: statePath)
    }

    /// At a start: when the progress was written for a commit whose position was not recorded (a crash
    /// between the two), that commit's events are cut and it is sent again, so the progress before it holds.
    func restoreIncrementalProgress(durable: UInt64) {
        if state.incrementalAsOf > durable {
            log("the incremental snapshots' last progress is newer than the durable position; going on from the one before it")
            state.incremental = state.earlierIncremental
            state.snapshotted = state.earlierSnapshotted
            state.incrementalAsOf = 0
        }
        incrementalQueue = state.incremental
    }
}
