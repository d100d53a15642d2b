import AvroCodec
import ChangeEvents
import PostgresClient

#if canImport(Glibc)
    import Glibc
#endif

/// One chunk of an incremental snapshot, between its watermarks (the method of Netflix's DBLog, which
/// Debezium's incremental snapshots use):
///
/// 1. a low watermark is written to the WAL (a transactional logical decoding message),
/// 2. the chunk is read (the next rows in key order after the last durable chunk), together with the
///    snapshot it was read in (`pg_current_snapshot()`),
/// 3. a high watermark is written.
///
/// The stream goes on meanwhile. A change streamed between the watermarks strikes its key from the
/// chunk, since it is as new as the chunk's row or newer; so does a change of a transaction the chunk's
/// snapshot could not see, wherever it comes (PostgreSQL writes a commit record before it makes the
/// transaction visible, so one may commit before the low watermark and still be invisible to the read).
/// At the high watermark the rows left are written as `op: "r"` reads: a change committed after it was
/// not visible to the read either, and comes after it in the log.
final class IncrementalWindow {
    let id: String
    let table: TableName
    let relationID: UInt32
    /// The schemas the chunk's rows are encoded with (the catalog's, as the rows were read).
    let state: WALSourceEngine.TableState
    /// The key columns' names, in the chunk's key order.
    let keyNames: [String]
    /// The chunk's rows in key order; a struck row is nil.
    var rows: [[ColumnText]?]
    /// Row index by key (the key columns' text).
    var index: [[String?]: Int]
    /// The chunk's last key as read (its rows may be struck since), where the next chunk starts.
    let lastKey: [String?]?
    /// Whether the chunk was the table's last (fewer rows than asked for).
    let isLast: Bool
    /// The read's snapshot: transactions at or after `xmax`, or in `inProgress`, were invisible to it
    /// (transaction ids' low 32 bits, as pgoutput sends them).
    let xmax: UInt32
    let inProgress: Set<UInt32>
    /// The oldest transaction still running when the chunk was read (low 32 bits): every older one was
    /// visible to it.
    let xmin: UInt32
    /// Whether the low watermark has come through the stream.
    var isOpen = false
    var struck = 0

    init(
        id: String, table: TableName, query: WALSourceEngine.SnapshotQuery, state: WALSourceEngine.TableState, rows: [[String?]], isLast: Bool,
        xmin: UInt32, xmax: UInt32, inProgress: Set<UInt32>
    ) {
        self.id = id
        self.table = table
        relationID = query.relationID
        self.state = state
        keyNames = state.schemas.keyColumnIndexes.map { state.schemas.table.columns[$0].name }
        self.rows = rows.map { row in row.map { $0.map(ColumnText.text) ?? .null } }
        var index: [[String?]: Int] = [:]
        index.reserveCapacity(rows.count)
        for (position, row) in rows.enumerated() { index[query.key(of: row)] = position }
        self.index = index
        lastKey = rows.last.map(query.key(of:))
        self.isLast = isLast
        self.xmin = xmin
        self.xmax = xmax
        self.inProgress = inProgress
    }

    /// Whether transaction `xid` was invisible to the chunk's read (running, or begun after it).
    func isInvisible(_ xid: UInt32) -> Bool {
        xid != 0 && (Int32(bitPattern: xid &- xmax) >= 0 || inProgress.contains(xid))
    }

    /// Strikes the row with the key that `columns` (a row of the stream's `layout`) carry.
    func strike(_ columns: [ColumnText]?, layout: [ColumnDescription]) {
        guard let columns, columns.count == layout.count else { return }
        var key: [String?] = []
        key.reserveCapacity(keyNames.count)
        for name in keyNames {
            guard let position = layout.firstIndex(where: { $0.name == name }) else { return }
            switch columns[position] {
            case .text(let text): key.append(text)
            case .null: key.append(nil)
            case .unchangedToast: return
            }
        }
        if let position = index.removeValue(forKey: key) {
            rows[position] = nil
            struck += 1
        }
    }

    func strikeAll() {
        struck += index.count
        rows = rows.map { _ in nil }
        index = [:]
    }

    /// Parses `pg_current_snapshot()`'s text, `xmin:xmax:xip,xip,…`, into xmax and the running ids (low 32 bits).
    static func parseSnapshot(_ text: String) -> (xmin: UInt32, xmax: UInt32, inProgress: Set<UInt32>)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let xmin = UInt64(parts[0]), let xmax = UInt64(parts[1]) else { return nil }
        var running: Set<UInt32> = []
        for item in parts[2].split(separator: ",") {
            guard let xid = UInt64(item) else { return nil }
            running.insert(UInt32(truncatingIfNeeded: xid))
        }
        return (UInt32(truncatingIfNeeded: xmin), UInt32(truncatingIfNeeded: xmax), running)
    }

    /// Whether `xid` precedes `other` (32-bit transaction ids, modulo 2^32 as PostgreSQL compares them).
    static func precedes(_ xid: UInt32, _ other: UInt32) -> Bool { Int32(bitPattern: xid &- other) < 0 }
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
            let connection = try PostgresConnection(conninfo: conninfo, replication: false, options: requestSessionOptions)
            guard connection.serverVersion >= 140_000 else {
                throw WALSourceError.configuration("incremental snapshots need PostgreSQL 14 or later (logical decoding messages reach pgoutput from 14 on)")
            }
            guard let slotRow = try connection.query("SELECT database = current_database(), database FROM pg_replication_slots WHERE slot_name = \(quoteLiteral(slot))").first else {
                throw WALSourceError.configuration("slot \(slot) does not exist: a source without a slot yet takes its snapshot with --snapshot when it starts")
            }
            guard slotRow.first == "t" else {
                throw WALSourceError.configuration(
                    "slot \(slot) belongs to database \(slotRow.count > 1 ? slotRow[1] ?? "?" : "?"), not to the one --pg names: the request would never reach its source")
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
        guard message.prefix == Self.messagePrefix, !skippingTransaction else { return }
        guard let json = try? JSONParser.parse(bytes: message.content) else {
            log("warning: a \(Self.messagePrefix) message at \(LSN(lsn)) is not JSON; ignored")
            return
        }
        guard json["slot"]?.stringValue == configuration.slot else { return }
        switch json["type"]?.stringValue {
        case "execute-snapshot":
            var names: [String] = []
            if case .array(let values)? = json["tables"] { names = values.compactMap(\.stringValue) }
            // Outside a transaction a request could not be tied to a commit (nor skipped when sent again).
            guard message.isTransactional, transactionFinalLSN != 0 else {
                log("warning: a non-transactional snapshot request at \(LSN(lsn)) is ignored; write it with pg_logical_emit_message(true, …) or `wal-source snapshot`")
                return
            }
            requestIncrementalSnapshots(names, from: "a snapshot request")
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
        requestIncrementalSnapshots(values.compactMap(\.stringValue), from: "a signal")
    }

    /// Queues incremental snapshots of the named tables ("schema.table", quoted as SQL where needed), as
    /// part of the transaction being received (durable with its commit).
    func requestIncrementalSnapshots(_ names: [String], from origin: String) {
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
            transactionChangedIncremental = true
        }
    }

    /// Drops the incremental snapshot of `table` (it cannot be taken) from what was received and from what
    /// is durable alike, and writes the state now: progress that is not durable yet is not written with it.
    func dropIncrementalSnapshot(_ table: String) {
        struckRows = 0
        discardedChunks = 0
        discardBackoff = .zero
        incrementalQueue.removeAll { $0.table == table }
        state.incremental.removeAll { $0.table == table }
        state.earlierIncremental.removeAll { $0.table == table }
        for index in pendingCommits.indices {
            if let record = pendingCommits[index].incremental {
                pendingCommits[index].incremental = IncrementalRecord(queue: record.queue.filter { $0.table != table }, snapshotted: record.snapshotted)
            }
        }
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
            dropIncrementalSnapshot(progress.table)
            return
        }
        guard let table = presentTables.first(where: { $0.quoted == progress.table }) else {
            log("warning: the incremental snapshot of \(progress.table) is dropped: the table is not captured any more")
            dropIncrementalSnapshot(progress.table)
            return
        }
        // What was streamed is acknowledged first: if this source is a synchronous standby, the server
        // keeps those transactions invisible until it is.
        try syncAndAcknowledge()
        do {
            guard let (relationID, description, sqlTypes) = try catalogDescription(table) else {
                log("warning: the incremental snapshot of \(table) is dropped: the table does not exist any more")
                dropIncrementalSnapshot(progress.table)
                return
            }
            if let recorded = progress.relationID, recorded != relationID {
                log("\(table) was dropped and created again during its incremental snapshot; it is read again from the start")
                incrementalQueue[0] = SourceState.IncrementalProgress(table: progress.table, relationID: relationID)
                return
            }
            // A schema the stream has not installed is registered only once the stream has passed the
            // point where the catalog was read: a version the stream still has to register (rows written
            // between two DDL changes) comes first, as without the snapshot.
            let resolved = try description.columns.map(resolvedType)
            if !Self.sameLayout(relations[relationID]?.schemas.table.columns, resolved) {
                // The target is read once per table: read again at every try, it would keep ahead of
                // the stream on a busy cluster.
                if incrementalCatalogTarget?.relationID != relationID {
                    guard let text = try catalogQuery("SELECT pg_current_wal_lsn()").first?.first ?? nil, let lsn = LSN(text) else {
                        throw WALSourceError.event("pg_current_wal_lsn() answered unexpectedly")
                    }
                    incrementalCatalogTarget = (relationID, lsn.value)
                }
                if let target = incrementalCatalogTarget, receivedLSN < target.lsn {
                    try? replication.sendStandbyStatus(
                        written: LSN(receivedLSN), flushed: LSN(acknowledgedLSN), applied: LSN(acknowledgedLSN), replyRequested: true)
                    nextIncrementalWindow = ContinuousClock.now + .milliseconds(50)
                    return
                }
            }
            // The chunk's own schemas, as the catalog describes the table now: the stream's stay as they
            // are (it may still be sending rows written before a change of the table).
            guard let (state, _) = try await tableState(relationID: relationID, description: description) else { return }
            let chunkQuery = snapshotQuery(relationID: relationID, table: table, description: description, sqlTypes: sqlTypes, state: state)
            guard !chunkQuery.keyIndexes.isEmpty else {
                log("warning: \(table) has no key, so it cannot be snapshotted incrementally (chunks are read in key order); snapshot it with a new slot and --snapshot")
                dropIncrementalSnapshot(progress.table)
                return
            }
            // A rate below a chunk an hour reads smaller chunks (the wait between chunks is at most an hour).
            let chunkRows = min(configuration.snapshotChunkRows, max(1, Int(min((configuration.snapshotRowsPerSecond ?? .infinity) * 3600, 1e9))))
            incrementalWindowsOpened += 1
            let id = "\(getpid())-\(Self.nowMicroseconds())-\(incrementalWindowsOpened)"
            let opened = ContinuousClock.now
            try emitWatermark("snapshot-window-open", window: id)
            // One snapshot for the chunk and for the list of transactions it cannot see.
            _ = try catalogQuery("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")  // reconnects if the idle connection was closed
            let rows: [[String?]]
            let snapshotText: String?
            do {
                // Not `catalogQuery`: a new connection would be outside this transaction's snapshot.
                snapshotText = try query.query("SELECT pg_current_snapshot()::text").first?.first ?? nil
                rows = try query.query(chunkQuery.chunk(after: progress.lastKey, limit: chunkRows))
                try query.execute("COMMIT")
            } catch {
                endChunkTransaction()
                throw error
            }
            try emitWatermark("snapshot-window-close", window: id)
            guard let snapshotText, let (xmin, xmax, inProgress) = IncrementalWindow.parseSnapshot(snapshotText) else {
                throw WALSourceError.event("pg_current_snapshot() answered unexpectedly")
            }
            let window = IncrementalWindow(
                id: id, table: table, query: chunkQuery, state: state, rows: rows, isLast: rows.count < chunkRows,
                xmin: xmin, xmax: xmax, inProgress: inProgress)
            // A transaction of this table streamed already may have been invisible to the read (its commit
            // record written, its visibility not yet): the chunk may hold rows older than its change.
            // Transactions older than the read's xmin were visible to it: they are forgotten.
            streamedTransactions[relationID] = streamedTransactions[relationID]?.filter { !IncrementalWindow.precedes($0, xmin) }
            if let invisible = streamedTransactions[relationID]?.first(where: window.isInvisible) {
                discardedChunks += 1
                discardBackoff = discardBackoff == .zero ? .milliseconds(50) : min(discardBackoff * 2, .seconds(5))
                if discardBackoff == .seconds(5) {
                    log("warning: \(table): transaction \(invisible) is streamed but still not visible (a synchronous standby that does not answer?); its chunk waits")
                }
                nextIncrementalWindow = ContinuousClock.now + discardBackoff
                return
            }
            discardBackoff = .zero
            if progress.lastKey == nil, progress.rowsRead == 0, progress.relationID == nil { log("incremental snapshot of \(table): started") }
            incrementalQueue[0].relationID = relationID
            incrementalWindow = window
            if let rate = configuration.snapshotRowsPerSecond, rate > 0 {
                nextIncrementalWindow = opened + .milliseconds(Int64(min(Double(rows.count) / rate, 3600) * 1000))
            }
        } catch let error as WALSourceError {
            throw error
        } catch let error as PostgresError {
            // A table dropped, renamed or altered between the catalog read and the chunk, or a statement
            // cancelled: read it again.
            if let code = error.sqlState, ["42P01", "42703", "42883", "42804", "22P02", "57014"].contains(code) {
                log("the incremental snapshot of \(table) met a change of the table (\(error.message)); the chunk is read again")
                nextIncrementalWindow = ContinuousClock.now + .seconds(1)
                return
            }
            throw .postgres(error)
        } catch {
            throw .event("\(error)")
        }
    }

    /// After a failure inside the chunk's transaction: rolls it back, or, when that fails too, replaces
    /// the catalog connection (a transaction left open would hold every later query in it).
    func endChunkTransaction() {
        if !query.isBroken, (try? query.execute("ROLLBACK")) != nil { return }
        log("the catalog connection could not end the chunk's transaction; reconnecting")
        if let connection = try? PostgresConnection(conninfo: configuration.conninfo, replication: false, options: Self.sessionOptions) {
            query = connection
        }
    }

    /// Records that the transaction being received changed table `relationID`. Bounded: with no
    /// incremental snapshot under way the list starts again; with one, the older half goes.
    func trackStreamedTransaction(_ relationID: UInt32) {
        streamedTransactions[relationID, default: []].append(transactionID)
        guard let count = streamedTransactions[relationID]?.count, count > 65_536 else { return }
        if incrementalQueue.isEmpty {
            streamedTransactions[relationID] = []
        } else {
            streamedTransactions[relationID]?.removeFirst(count / 2)
        }
    }

    /// Whether a stream's columns and the catalog's have the same names and types, in order.
    static func sameLayout(_ installed: [ColumnDescription]?, _ catalog: [ColumnDescription]) -> Bool {
        guard let installed, installed.count == catalog.count else { return false }
        return zip(installed, catalog).allSatisfy { a, b in
            a.name == b.name && a.typeOID == b.typeOID && a.typeModifier == b.typeModifier && a.elementTypeOID == b.elementTypeOID
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
        guard window.isOpen, incrementalQueue.first?.table == window.table.quoted else { return }
        let rows = window.rows.compactMap { $0 }
        // NULLs in columns the schema says are NOT NULL (rows written before a SET NOT NULL): the chunk's
        // schema is widened first, so the chunk is written whole.
        var state = window.state
        var table = state.schemas.table
        for index in table.columns.indices where !table.columns[index].isNullable && !table.columns[index].isKey {
            if rows.contains(where: { index < $0.count && $0[index] == .null }) { table.columns[index].isNullable = true }
        }
        if table != state.schemas.table {
            log("warning: \(window.table): rows of the snapshot hold NULL where the catalog says NOT NULL (written before it did): those columns are nullable from the next version on")
            guard let (widened, _) = try await tableState(relationID: window.relationID, description: table) else { return }
            state = widened
        }
        for row in rows {
            try emit(.read, table: state, relationID: window.relationID, beforeColumns: nil, beforeIsFullRow: false, afterColumns: row, lsn: lsn, snapshot: .incremental)
        }
        incrementalQueue[0].rowsRead += rows.count
        struckRows += window.struck
        if let lastKey = window.lastKey { incrementalQueue[0].lastKey = lastKey }
        if window.isLast {
            let done = incrementalQueue.removeFirst()
            snapshottedTables?.insert(done.table)
            log("incremental snapshot of \(window.table): done, \(done.rowsRead) rows (\(struckRows) struck by concurrent changes, \(discardedChunks) chunks read again)")
            struckRows = 0
            discardedChunks = 0
        }
        transactionChangedIncremental = true
    }

    /// Called for every streamed change of a captured table (`transactionID` its transaction): strikes
    /// its keys from the window's chunk when the change lies between the watermarks or its transaction
    /// was invisible to the chunk's read.
    func strikeFromIncrementalWindow(_ operation: ChangeOperation, relationID: UInt32, before: [ColumnText]?, after: [ColumnText]?) {
        guard let window = incrementalWindow, window.relationID == relationID, window.isOpen || window.isInvisible(transactionID),
            let layout = relations[relationID]?.schemas.table.columns
        else { return }
        if operation == .truncate {
            window.strikeAll()
        } else {
            window.strike(before, layout: layout)
            window.strike(after, layout: layout)
        }
    }

    /// Makes the incremental snapshots' progress as of the commit ending at `endLSN` durable: after its
    /// events are, before its position is recorded. What was written before stays beside it until then.
    func persistIncremental(_ record: IncrementalRecord, asOf endLSN: UInt64) throws(WALSourceError) {
        state.earlierIncremental = state.incremental
        state.earlierSnapshotted = state.snapshotted
        state.earlierIncrementalAsOf = state.incrementalAsOf
        state.incremental = record.queue
        state.snapshotted = record.snapshotted
        state.incrementalAsOf = endLSN
        try state.write(path: statePath)
    }

    /// At a start: progress written for a commit whose position was not recorded (a crash between the
    /// two), or past the point where a failover left the timeline (`checkPositionHistory`), belongs to
    /// commits whose events were cut: the progress before it holds, if it is not past that point too;
    /// else the tables under way, and those marked done since, are snapshotted again from the start.
    func restoreIncrementalProgress(durable: UInt64) {
        if state.incrementalAsOf > durable {
            if state.earlierIncrementalAsOf <= durable {
                log("the incremental snapshots' last progress is newer than the durable position; going on from the one before it")
                state.incremental = state.earlierIncremental
                state.snapshotted = state.earlierSnapshotted
            } else {
                // Both are past it (a failover cut several chunks): which tables finished before the cut
                // is not known, so every table named anywhere is read again (reads twice are harmless).
                var tables = (state.incremental + state.earlierIncremental).map(\.table)
                tables += (state.snapshotted ?? []).sorted() + (state.earlierSnapshotted ?? []).sorted()
                var seen: Set<String> = []
                tables = tables.filter { seen.insert($0).inserted }
                if !tables.isEmpty {
                    log("the incremental snapshots' progress is past the durable position; \(tables.joined(separator: ", ")) \(tables.count == 1 ? "is" : "are") snapshotted again from the start")
                }
                state.incremental = tables.map { SourceState.IncrementalProgress(table: $0) }
                state.snapshotted = state.snapshotted == nil ? nil : []
            }
            state.incrementalAsOf = 0
            state.earlierIncrementalAsOf = 0
            state.earlierIncremental = state.incremental
            state.earlierSnapshotted = state.snapshotted
        }
        incrementalQueue = state.incremental
        snapshottedTables = state.snapshotted
    }
}
