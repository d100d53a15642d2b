import ChangeEvents
import PostgresClient

extension WALSourceEngine {
    /// The initial snapshot (`--snapshot`, only when the slot is created): every configured table's
    /// rows as `op: "r"` events, read in key order (a table without a key through a cursor) in chunks of `snapshotChunkRows` inside the
    /// slot's exported snapshot, so the stream that follows starts exactly after them. Chunks keep
    /// each query short, so a large table does not hold one long scan open.
    ///
    /// Its progress is durable (`SourceState`): marked running, with each log's length, before the
    /// first event, and done after the last is fsynced. On a failure or a stop signal its events are
    /// cut and the new slot dropped; after a crash the next start does that (`undoInterruptedSnapshot`).
    /// Either way the next start takes the snapshot again, whole: a partial snapshot never streams on
    /// as if it had finished. With Kafka exactly once, a failure or stop once the snapshot's Kafka commit has
    /// begun leaves the slot and the state as they are: whether it committed is only known to the brokers, and
    /// the next start reads it from the offsets topic (done, or undone and taken again). Returns false when a
    /// signal stopped it.
    func takeSnapshotOrDropSlot(_ snapshotName: String, atLSN lsn: UInt64) async throws(WALSourceError) -> Bool {
        // The state says running already, with these lengths (written before the slot was created).
        let lengths = writers.mapValues(\.length)
        do {
            try await takeSnapshot(snapshotName, atLSN: lsn)
        } catch {
            let stopped: Bool
            if case .stopped = error { stopped = true } else { stopped = false }
            for (table, writer) in writers { try? writer.truncate(to: lengths[table] ?? writer.length) }
            kafkaSink?.close()
            if state.snapshotCommitLSN != 0 {
                log("snapshot \(stopped ? "stopped" : "failed") while its Kafka transaction was committing; the next start reads from \(kafkaSink?.offsetsTopic ?? "the offsets topic") whether it committed, and takes it again if not")
                if stopped { return false }
                throw error
            }
            do {
                try replication.execute("DROP_REPLICATION_SLOT \(Self.quoteIdentifier(configuration.slot))")
                log("snapshot \(stopped ? "stopped by a signal" : "failed"): its events were removed and slot \(configuration.slot) dropped; the next start snapshots again")
            } catch {
                log("snapshot \(stopped ? "stopped" : "failed"), and dropping slot \(configuration.slot) failed too (\(error)); the next start drops it and snapshots again")
            }
            if stopped { return false }
            throw error
        }
        try recordSnapshotDone(snapshotted: Set(presentTables.map(\.quoted)))
        return true
    }

    /// The initial snapshot is durable (fsynced, or committed to Kafka): the state says so.
    func recordSnapshotDone(snapshotted: Set<String>?) throws(WALSourceError) {
        state.snapshot = .done
        state.lengthsBeforeSnapshot = [:]
        state.snapshotCommitLSN = 0
        // Every present table's rows are read now: incremental snapshots asked for before are moot.
        state.snapshotted = snapshotted
        state.incremental = []
        state.earlierSnapshotted = state.snapshotted
        state.earlierIncremental = []
        state.incrementalAsOf = 0
        state.earlierIncrementalAsOf = 0
        incrementalQueue = []
        snapshottedTables = state.snapshotted
        try state.write(path: statePath)
    }

    /// Writes the snapshot read held back (if any) with `marker` as its source.snapshot.
    func writeHeldSnapshotRead(as marker: ChangeSource.SnapshotMarker, lsn: UInt64) async throws(WALSourceError) {
        guard let (relationID, texts) = heldSnapshotRead else { return }
        heldSnapshotRead = nil
        transactionCommitMilliseconds = Self.nowMicroseconds() / 1000
        transactionFinalLSN = 0  // snapshot events are kept across restarts (commit LSN 0)
        try await emitWidening { () throws(WALSourceError) in
            try emit(.read, relationID: relationID, beforeColumns: nil, beforeIsFullRow: false, afterColumns: texts, lsn: lsn, snapshot: marker)
        }
    }

    /// After a snapshot that did not finish (the process was killed): cut its events from the logs,
    /// drop its slot if it is still there (it never streamed, so nothing is lost), and leave the state
    /// as it was, so that a crash during this also ends here again.
    func undoInterruptedSnapshot() throws {
        log("the snapshot of the previous run did not finish; it is taken again from the start")
        // Keep every complete entry while opening (the slot never streamed, so all entries are the
        // snapshot's or older), then cut back to where each log stood before the snapshot.
        try openWriters(confirmedLSN: .max)
        for (table, writer) in writers {
            // A table listed since the snapshot began has no recorded length: its log is not the
            // snapshot's to cut.
            let length = state.lengthsBeforeSnapshot[table.quoted] ?? writer.length
            if writer.length > length {
                do {
                    try writer.truncate(to: length)
                } catch {
                    throw WALSourceError.sink(error)
                }
            }
        }
        let slot = try query.query("SELECT active FROM pg_replication_slots WHERE slot_name = \(Self.quoteLiteral(configuration.slot))")
        if let row = slot.first {
            if row.first == "t" {
                throw WALSourceError.configuration("slot \(configuration.slot) is in use by another process; stop it first")
            }
            try replication.execute("DROP_REPLICATION_SLOT \(Self.quoteIdentifier(configuration.slot))")
            log("dropped slot \(configuration.slot) of the unfinished snapshot")
        }
    }

    func takeSnapshot(_ snapshotName: String, atLSN lsn: UInt64) async throws(WALSourceError) {
        do {
            try query.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            inSnapshotTransaction = true
            defer { inSnapshotTransaction = false }
            try query.execute("SET TRANSACTION SNAPSHOT \(Self.quoteLiteral(snapshotName))")
            for table in presentTables {
                try await snapshotTable(schema: table.schema, name: table.name, lsn: lsn)
            }
            try await writeHeldSnapshotRead(as: .last, lsn: lsn)
            try query.execute("COMMIT")
            for writer in writers.values { try writer.sync() }
            // With Kafka (exactly once) the whole snapshot is one transaction: an interrupted one is never read,
            // and a committed one is not taken again (`snapshotCommitLSN`, read back in `run()`), whenever the
            // process dies.
            if let kafkaSink {
                if kafkaSink.configuration.exactlyOnce {
                    state.snapshotCommitLSN = lsn
                    try state.write(path: statePath)
                }
                try kafkaSink.commit(through: lsn, progress: IncrementalRecord(queue: [], snapshotted: Set(presentTables.map(\.quoted))))
            }
        } catch let error as PostgresError {
            throw .postgres(error)
        } catch let error as WALSourceError {
            throw error
        } catch let error as ChangeLogError {
            throw .sink(error)
        } catch {
            throw .event("\(error)")
        }
    }

    /// How a table's rows are read for a snapshot: its columns in attribute order, its key columns and
    /// their types (for typed chunk bounds).
    struct SnapshotQuery {
        let relationID: UInt32
        let qualified: String
        let columnList: String
        let keyIndexes: [Int]
        let keyNames: [String]
        let keyTypes: [String]

        /// The next chunk in key order: rows after `lastKey` (all when nil), at most `limit`. Bounds are
        /// the previous chunk's last key, cast back to each key column's own type (its text form reads
        /// back exactly), so they compare with the type's operators and the column's collation, as
        /// ORDER BY does: citext, inet, enums, domains, anything PostgreSQL can order.
        func chunk(after lastKey: [String?]?, limit: Int) -> String {
            var sql = "SELECT \(columnList) FROM \(qualified)"
            if let lastKey {
                let literals = lastKey.map { $0.map(WALSourceEngine.quoteLiteral) ?? "NULL" }
                sql += " WHERE (\(keyNames.joined(separator: ", "))) > (\(zip(literals, keyTypes).map { "\($0)::\($1)" }.joined(separator: ", ")))"
            }
            return sql + " ORDER BY \(keyNames.joined(separator: ", ")) LIMIT \(limit)"
        }

        /// The key of a row of this query (the key columns' text).
        func key(of row: [String?]) -> [String?] { keyIndexes.map { row[$0] } }
    }

    /// A table as the catalog describes it now: its OID, its columns in attribute order (without
    /// generated columns, which pgoutput does not send either) and each column's type as SQL writes
    /// it (for typed chunk bounds). Nil when the table does not exist.
    func catalogDescription(_ table: TableName) throws -> (relationID: UInt32, description: TableDescription, sqlTypes: [String])? {
        let relation = try catalogQuery(
            "SELECT c.oid, c.relreplident FROM pg_class c WHERE c.oid = to_regclass(\(Self.quoteLiteral(table.quoted)))")
        guard let row = relation.first, let oidText = row[0], let relationID = UInt32(oidText) else { return nil }
        let identity = row[1]?.utf8.first ?? UInt8(ascii: "d")
        let columns = try catalogColumnDescriptions(relationID: relationID)
        let description = TableDescription(namespace: table.schema, name: table.name, columns: columns.map(\.column), replicaIdentity: identity)
        return (relationID, description, columns.map(\.sqlType))
    }

    /// A table's columns as the catalog has them now, in attribute order, without generated columns
    /// (pgoutput does not send them either), each with its type as SQL writes it.
    func catalogColumnDescriptions(relationID: UInt32) throws -> [(column: ColumnDescription, sqlType: String)] {
        let rows = try catalogQuery(
            """
            SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
                   \(Self.keyColumnExpression), format_type(a.atttypid, a.atttypmod)
            FROM pg_attribute a
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = \(relationID) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """)
        return rows.filter { $0.count == 7 }.map { row in
            let column = ColumnDescription(
                name: row[0] ?? "", typeOID: UInt32(row[1] ?? "") ?? 25, typeModifier: Int32(row[2] ?? "") ?? -1, isKey: row[5] == "t",
                isNullable: row[3] != "t", defaultExpression: row[4])
            return (column, row[6] ?? "text")
        }
    }

    /// The snapshot query of a table whose schemas are `state` (built from `description`).
    func snapshotQuery(relationID: UInt32, table: TableName, description: TableDescription, sqlTypes: [String], state: TableState) -> SnapshotQuery {
        let keyIndexes = state.schemas.keyColumnIndexes
        return SnapshotQuery(
            relationID: relationID, qualified: table.quoted,
            columnList: description.columns.map { Self.quoteIdentifier($0.name) }.joined(separator: ", "),
            keyIndexes: keyIndexes, keyNames: keyIndexes.map { Self.quoteIdentifier(description.columns[$0].name) },
            keyTypes: keyIndexes.map { sqlTypes[$0] })
    }

    /// Describes a table from the catalog and installs (registers) its schemas, for the initial snapshot;
    /// nil when it is not one of the configured tables.
    func prepareSnapshotQuery(_ table: TableName) async throws -> SnapshotQuery? {
        guard let (relationID, description, sqlTypes) = try catalogDescription(table) else {
            throw WALSourceError.configuration("table \(table.schema).\(table.name) not found")
        }
        try await install(relationID: relationID, description: description)
        guard let state = relations[relationID] else { return nil }
        return snapshotQuery(relationID: relationID, table: table, description: description, sqlTypes: sqlTypes, state: state)
    }

    func snapshotTable(schema: String, name: String, lsn: UInt64) async throws {
        guard let prepared = try await prepareSnapshotQuery(TableName(schema: schema, name: name)) else { return }
        let relationID = prepared.relationID
        let keyNames = prepared.keyNames
        var lastKey: [String?]? = nil
        var rowsRead = 0
        // A table without a key has no order to chunk by: it is read through a cursor of the snapshot's
        // transaction, a chunk a FETCH, so memory stays flat whatever the table's size (one SELECT held
        // the whole table: 841 MB resident for a 146 MB table).
        let cursor = "wal_source_snapshot"
        if keyNames.isEmpty {
            try query.execute("DECLARE \(cursor) NO SCROLL CURSOR FOR SELECT \(prepared.columnList) FROM \(prepared.qualified)")
        }
        while true {
            let sql = keyNames.isEmpty ? "FETCH FORWARD \(configuration.snapshotChunkRows) FROM \(cursor)" : prepared.chunk(after: lastKey, limit: configuration.snapshotChunkRows)
            let rows = try query.query(sql)
            for row in rows {
                if stopRequested.load(ordering: .relaxed) { throw WALSourceError.stopped }
                let texts = row.map { $0.map(ColumnText.text) ?? .null }
                // Each row is written when the next is read, so the snapshot's very last row can be
                // marked source.snapshot = "last" (`writeHeldSnapshotRead(as: .last, …)` after the last table).
                try await writeHeldSnapshotRead(as: .true, lsn: lsn)
                heldSnapshotRead = (relationID, texts)
            }
            rowsRead += rows.count
            if rows.count < configuration.snapshotChunkRows { break }
            if !keyNames.isEmpty { lastKey = prepared.key(of: rows[rows.count - 1]) }
        }
        if keyNames.isEmpty { try query.execute("CLOSE \(cursor)") }
        log("snapshot of \(schema).\(name): \(rowsRead) rows")
    }

}
