import ChangeEvents
import RegistryClient
import PostgresClient

#if canImport(Glibc)
    import Glibc
#endif

extension WALSourceEngine {
    /// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
    static let postgresEpochMicroseconds: Int64 = 946_684_800_000_000
    /// How many recent transactions the latency percentiles cover.
    static let latencyWindow = 100_000
    /// Group commit bounds: at most this many transactions, or this long, wait for one fsync.
    static let maximumPendingCommits = 1_000
    static let maximumCommitDelay: Duration = .milliseconds(20)

    static func nowMicroseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
    }

    /// The replication loop: until a signal, or a failure.
    func stream() async throws(WALSourceError) {
        defer { finish() }
        while !stopRequested.load(ordering: .relaxed) {
            // With committed transactions waiting for their fsync, only look at what has already arrived:
            // when the stream pauses (or enough has piled up), one fsync covers them all (group commit).
            // (With Kafka, not in the middle of a transaction: the group waits for its COMMIT, and a zero timeout
            // would spin while the socket is idle.)
            let waiting = !pendingCommits.isEmpty && (kafkaSink == nil || transactionFinalLSN == 0)
            let message: ReplicationMessage?
            do {
                message = try replication.readReplicationMessage(timeout: waiting ? .zero : .milliseconds(200))
            } catch {
                throw .postgres(error)
            }
            switch message {
            case .xlogData(let walStart, let walEnd, let payload)?:
                receivedLSN = max(receivedLSN, walEnd.value)
                try await handle(payload, at: walStart.value)
            case .keepalive(let walEnd, let replyRequested)?:
                // A logical walsender's keepalive carries the position it has sent up to: with no
                // transaction open or waiting for its fsync, everything before it has been delivered, so
                // it is acknowledged (as pg_recvlogical does). Otherwise traffic on tables outside the
                // publication would pin the slot and WAL would pile up on the server.
                receivedLSN = max(receivedLSN, walEnd.value)
                if transactionFinalLSN == 0, pendingCommits.isEmpty, !sinkFailed, walEnd.value > acknowledgedLSN {
                    acknowledgedLSN = walEnd.value
                }
                if replyRequested { try sendStatus() }
            case .endOfStream?:
                throw .postgres(PostgresError(message: "the server ended the replication stream"))
            case nil:
                if waiting { try syncAndAcknowledge() } else { try sendStatus() }
            }
            if pendingCommits.count >= Self.maximumPendingCommits
                || (pendingCommits.first.map { ContinuousClock.now - $0.received >= Self.maximumCommitDelay } ?? false)
            {
                try syncAndAcknowledge()
            }
            try heartbeatIfDue()
            try await openIncrementalWindowIfDue()
            reportProgressIfDue()
        }
    }

    /// At each heartbeat interval: upsert the heartbeat row (if configured) and, when no transaction is
    /// open or waiting for its fsync, ask the server for a keepalive, whose position the keepalive
    /// handler then acknowledges.
    func heartbeatIfDue() throws(WALSourceError) {
        guard let interval = configuration.heartbeatInterval, ContinuousClock.now - lastHeartbeat >= interval else { return }
        lastHeartbeat = ContinuousClock.now
        if let table = configuration.heartbeatTable {
            do {
                _ = try catalogQuery(
                    "INSERT INTO \(table.quoted) (id, ts) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET ts = excluded.ts")
            } catch let error as PostgresError {
                throw .postgres(error)
            } catch {
                throw .event("heartbeat: \(error)")
            }
        }
        guard transactionFinalLSN == 0, pendingCommits.isEmpty else { return }
        do {
            try replication.sendStandbyStatus(written: LSN(receivedLSN), flushed: LSN(acknowledgedLSN), applied: LSN(acknowledgedLSN), replyRequested: true)
        } catch {
            throw .postgres(error)
        }
    }

    func sendStatus() throws(WALSourceError) {
        do {
            try replication.sendStandbyStatus(written: LSN(receivedLSN), flushed: LSN(acknowledgedLSN), applied: LSN(acknowledgedLSN))
        } catch {
            throw .postgres(error)
        }
    }

    func handle(_ message: PgOutputMessage, at lsn: UInt64) async throws(WALSourceError) {
        switch message {
        case .begin(let begin):
            transactionFinalLSN = begin.finalLSN.value
            skippingTransaction = begin.finalLSN.value < skipTransactionsBelow
            transactionID = begin.xid
            transactionCommitMilliseconds = (begin.commitTime + Self.postgresEpochMicroseconds) / 1000
            transactionEvents = 0
        case .commit(let commit):
            try commitTransaction(endLSN: commit.endLSN.value, commitTime: commit.commitTime)
        case .relation(let relation):
            try await installRelation(relation)
        case .insert(let insert) where insert.relationID == signalRelationID:
            handleSignal(Self.columnTexts(insert.new), at: lsn)
        case .insert(let insert):
            try await emitWidening { () throws(WALSourceError) in try emit(.create, relationID: insert.relationID, before: nil, after: insert.new, lsn: lsn) }
        case .update(let update):
            if let old = update.old, keyChanged(relationID: update.relationID, old: old, new: update.new) {
                // As Debezium: the old key's row goes (a delete), the new key's comes (a create), so
                // per-key consumers and compacted topics see the old row go.
                try await emitWidening { () throws(WALSourceError) in try emit(.delete, relationID: update.relationID, before: old, after: nil, lsn: lsn) }
                try await emitWidening { () throws(WALSourceError) in try emit(.create, relationID: update.relationID, before: nil, after: update.new, lsn: lsn) }
            } else {
                try await emitWidening { () throws(WALSourceError) in try emit(.update, relationID: update.relationID, before: update.old, after: update.new, lsn: lsn) }
            }
        case .delete(let delete):
            try await emitWidening { () throws(WALSourceError) in try emit(.delete, relationID: delete.relationID, before: delete.old, after: nil, lsn: lsn) }
        case .truncate(let truncate):
            for relationID in truncate.relationIDs {
                try emit(.truncate, relationID: relationID, before: nil, after: nil, lsn: lsn)
            }
        case .message(let message):
            try await handleLogicalMessage(message, at: lsn)
        case .origin, .type:
            break
        }
    }

    func installRelation(_ relation: PgOutputMessage.Relation) async throws(WALSourceError) {
        if let signal = configuration.signalTable, relation.namespace == signal.schema, relation.name == signal.name {
            signalRelationID = relation.id
            return
        }
        // A RELATION message follows DDL: types may have changed too (an enum's labels, a domain's base).
        typeCache.removeAll()
        let catalog: [String: CatalogColumn]
        do {
            catalog = try catalogColumns(relationID: relation.id)
        } catch let error as PostgresError {
            throw .postgres(error)
        } catch {
            throw .event("\(error)")
        }
        // pgoutput flags the replica identity's columns (under REPLICA IDENTITY FULL, every column); the
        // event key is the catalog's key columns instead, as for snapshot events.
        let isGone = catalog.isEmpty && !relation.columns.isEmpty
        let goneKey = isGone ? try await keyColumnsOfDroppedTable(relation) : []
        let columns = relation.columns.map { column in
            ColumnDescription(
                name: column.name, typeOID: column.typeOID, typeModifier: column.typeModifier,
                isKey: isGone ? goneKey.contains(column.name) : catalog[column.name]?.isPrimaryKey ?? false,
                // A dropped table's columns are as nullable as the version they continue says (a NULL
                // where none was allowed widens them).
                isNullable: isGone ? false : catalog[column.name]?.isNullable ?? true, defaultExpression: catalog[column.name]?.defaultExpression)
        }
        var description = TableDescription(namespace: relation.namespace, name: relation.name, columns: columns, replicaIdentity: relation.replicaIdentity)
        description.isGoneFromCatalog = isGone
        try await install(relationID: relation.id, description: description)
    }

    /// The key columns of a table the catalog no longer has (dropped after the changes being read were
    /// written): as installed in this run, else as the key subject's latest version has them, else as
    /// pgoutput flags them (the replica identity's columns, unless REPLICA IDENTITY FULL flags them all).
    func keyColumnsOfDroppedTable(_ relation: PgOutputMessage.Relation) async throws(WALSourceError) -> Set<String> {
        if let current = relations[relation.id]?.schemas.table {
            return Set(current.columns.filter(\.isKey).map(\.name))
        }
        let topic = ChangeEventSchemas.topicName(prefix: configuration.topicPrefix, schema: relation.namespace, table: relation.name)
        do {
            let latest = try await registry.latest(subject: topic + "-key")
            if case .record(let key) = latest.schema.schema.rootNode.content {
                log("\(relation.namespace).\(relation.name) is no longer in the catalog: its changes keep the key of \(topic)-key version \(latest.version)")
                return Set(key.fields.map { field in field.properties.first { $0.key == "pg.column" }?.value.stringValue ?? field.name })
            }
        } catch {
            if case .rejected(_, 40401, _) = error {} else { throw .registry(error) }
        }
        guard relation.replicaIdentity != UInt8(ascii: "f") else { return [] }
        return Set(relation.columns.filter(\.isKey).map(\.name))
    }

    /// Whether an UPDATE's old row (key-only or full) has other key values than its new row.
    func keyChanged(relationID: UInt32, old: PgOutputMessage.OldTuple, new: PgOutputMessage.TupleData) -> Bool {
        guard let table = relations[relationID], !table.schemas.keyColumnIndexes.isEmpty else { return false }
        let before = Self.columnTexts(old.columns)
        let after = Self.columnTexts(new)
        guard before.count == after.count else { return false }
        return table.schemas.keyColumnIndexes.contains { index in
            if case .text = before[index], case .text = after[index] { return before[index] != after[index] }
            return false
        }
    }

    static func columnTexts(_ tuple: PgOutputMessage.TupleData) -> [ColumnText] {
        tuple.map { column in
            switch column {
            case .null: return .null
            case .unchangedToast: return .unchangedToast
            case .text(let bytes), .binary(let bytes): return .text(String(decoding: bytes, as: UTF8.self))
            }
        }
    }

    func emit(_ operation: ChangeOperation, relationID: UInt32, before: PgOutputMessage.OldTuple?, after: PgOutputMessage.TupleData?, lsn: UInt64) throws(WALSourceError) {
        try emit(
            operation, relationID: relationID, beforeColumns: before.map { Self.columnTexts($0.columns) }, beforeIsFullRow: before?.kind == .full,
            afterColumns: after.map(Self.columnTexts), lsn: lsn)
    }

    func emit(
        _ operation: ChangeOperation, table override: TableState? = nil, relationID: UInt32, beforeColumns: [ColumnText]?, beforeIsFullRow: Bool,
        afterColumns: [ColumnText]?, lsn: UInt64, snapshot: ChangeSource.SnapshotMarker = .false
    ) throws(WALSourceError) {
        guard let table = override ?? relations[relationID] else { return }  // a table outside the configuration
        if skippingTransaction { return }  // durable in the logs already
        if snapshot == .false {
            if incrementalWindow != nil {
                strikeFromIncrementalWindow(operation, relationID: relationID, before: beforeColumns, after: afterColumns)
            }
            // Which transactions changed which table, for the check of an incremental snapshot's chunk
            // (one entry per transaction and table: two comparisons per event otherwise).
            if relationID != lastTrackedRelation || transactionID != lastTrackedTransaction {
                lastTrackedRelation = relationID
                lastTrackedTransaction = transactionID
                trackStreamedTransaction(relationID)
            }
        }
        let schemas = table.schemas
        var beforeColumns = beforeColumns
        // An UPDATE that kept its key sends no old tuple: Debezium's `before` is then the key, taken
        // from the new row (unless REPLICA IDENTITY FULL would have sent the whole old row).
        if operation == .update, beforeColumns == nil, let afterColumns, !schemas.keyColumnIndexes.isEmpty {
            beforeColumns = afterColumns
        }
        // A TOASTed value the UPDATE left unchanged is not in the new row; under REPLICA IDENTITY FULL
        // the old row has it, so `after` takes it from there (Debezium's placeholder is left only where
        // there is nothing to take it from).
        var afterColumns = afterColumns
        if operation == .update, beforeIsFullRow, let before = beforeColumns, var after = afterColumns, before.count == after.count {
            for index in after.indices where after[index] == .unchangedToast {
                if case .text = before[index] { after[index] = before[index] }
            }
            afterColumns = after
        }
        let source = ChangeSource(
            database: databaseName, lsn: lsn, transactionID: transactionID, commitMilliseconds: transactionCommitMilliseconds, snapshot: snapshot)
        do {
            let envelope = try schemas.envelope(
                operation: operation, before: beforeColumns, beforeIsFullRow: beforeIsFullRow, after: afterColumns, source: source,
                nowMilliseconds: Self.nowMicroseconds() / 1000)
            let value = try table.valueSerializer.frame(envelope, schemaID: table.valueSchemaID)
            var key: [UInt8]?
            if operation != .truncate, let keySerializer = table.keySerializer, let keySchemaID = table.keySchemaID,
                let keyColumns = afterColumns ?? beforeColumns
            {
                key = try keySerializer.frame(try schemas.keyRecord(keyColumns), schemaID: keySchemaID)
            }
            if let kafkaSink {
                try kafkaSink.append(topic: schemas.topic, operation: operation, key: key, value: value)
            } else {
                try table.writer?.append(ChangeLogEntry(commitLSN: transactionFinalLSN, eventLSN: lsn, operation: operation, key: key, value: value))
            }
        } catch let error as ChangeEventError {
            if let column = error.nullInNotNullColumn {
                throw .nullInNotNullColumn(relationID: relationID, column: column, message: error.description)
            }
            throw .event(error.description)
        } catch let error as SerdeError {
            throw .event("\(schemas.topic): \(error.description)")
        } catch let error as ChangeLogError {
            sinkFailed = true
            throw .sink(error)
        } catch let error as WALSourceError {
            sinkFailed = true
            throw error
        } catch {
            throw .event("\(error)")
        }
        events += 1
        transactionEvents += 1
    }

    /// A transaction is complete: its events are acknowledged once they are durable (`syncAndAcknowledge`).
    func commitTransaction(endLSN: UInt64, commitTime: Int64) throws(WALSourceError) {
        var commit = PendingCommit(endLSN: endLSN, commitTime: commitTime, hasEvents: transactionEvents > 0, received: ContinuousClock.now)
        if transactionChangedIncremental {
            commit.incremental = IncrementalRecord(queue: incrementalQueue, snapshotted: snapshottedTables)
            transactionChangedIncremental = false
        }
        pendingCommits.append(commit)
        transactionFinalLSN = 0
        transactionEvents = 0
        skippingTransaction = false
    }

    /// Makes every written event durable (one fsync per file for all waiting transactions), then
    /// acknowledges the last waiting commit's end LSN.
    func syncAndAcknowledge() throws(WALSourceError) {
        guard let last = pendingCommits.last, !sinkFailed else { return }
        // A Kafka transaction ends where a PostgreSQL transaction does: events of one still being received would
        // be committed with the group while the position written beside them lies before that transaction, and
        // a restart would send them again. The group waits for that transaction's COMMIT.
        if kafkaSink != nil, transactionFinalLSN != 0 { return }
        if let kafkaSink {
            do {
                // The snapshots' progress goes into the Kafka transaction too (exactly once): a crash before the
                // state file has it takes it from the offsets topic.
                try kafkaSink.commit(through: last.endLSN, progress: pendingCommits.last(where: { $0.incremental != nil })?.incremental)
            } catch {
                sinkFailed = true
                throw error
            }
        }
        do {
            for writer in writers.values { try writer.sync() }
        } catch {
            sinkFailed = true
            throw .sink(error)
        }
        // Incremental snapshots' progress moves once the chunk's rows are durable (a crash before reads
        // the chunk again), before the position is recorded (a skipped commit's request is never lost)
        // and the commit acknowledged (`restoreIncrementalProgress` covers a crash in between).
        if let index = pendingCommits.lastIndex(where: { $0.incremental != nil }), let record = pendingCommits[index].incremental {
            do {
                try persistIncremental(record, asOf: last.endLSN)
            } catch {
                sinkFailed = true
                throw error
            }
        }
        let recordsPosition = pendingCommits.contains(where: \.hasEvents) || pendingCommits.contains(where: { $0.incremental != nil })
        // With Kafka too: the events are in the brokers now (committed, or flushed with at least once), and a
        // progress written without a Kafka transaction (a group with no events) is tied to this position.
        if recordsPosition {
            do {
                try position.record(last.endLSN)
            } catch {
                sinkFailed = true
                throw error
            }
        }
        let now = Self.nowMicroseconds()
        for commit in pendingCommits where commit.hasEvents {
            let latency = Double(now - (commit.commitTime + Self.postgresEpochMicroseconds)) / 1000
            // A bounded window of the most recent transactions (the summary's percentiles).
            if commitToSinkMilliseconds.count < Self.latencyWindow {
                commitToSinkMilliseconds.append(latency)
            } else {
                commitToSinkMilliseconds[transactionsCommitted % Self.latencyWindow] = latency
            }
            transactionsCommitted += 1
        }
        acknowledgedLSN = max(acknowledgedLSN, last.endLSN)
        if let lastWithEvents = pendingCommits.last(where: \.hasEvents) {
            lastDurableCommitMilliseconds = (lastWithEvents.commitTime + Self.postgresEpochMicroseconds) / 1000
        }
        pendingCommits.removeAll(keepingCapacity: true)
        try sendStatus()
    }

    /// `queryingServer` false: the server-side lag is the one read last.
    func reportProgressIfDue(queryingServer: Bool = true) {
        let now = ContinuousClock.now
        guard now - lastStatus >= configuration.statusInterval else { return }
        let seconds = Double((now - lastStatus).components.seconds) + Double((now - lastStatus).components.attoseconds) / 1e18
        let rate = Double(events - eventsAtLastStatus) / max(seconds, 0.001)
        // Server-side lag: what the slot holds back on the server (not what was received but not yet
        // acknowledged here). A failed read leaves it unknown rather than stopping the stream.
        var serverLag = queryingServer ? nil : lastServerLagBytes
        if queryingServer, let rows = try? catalogQuery(
            "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = \(Self.quoteLiteral(configuration.slot))"),
            let row = rows.first, let text = row.first ?? nil
        {
            serverLag = Int64(text)
        }
        lastServerLagBytes = serverLag
        let lagMilliseconds = lastDurableCommitMilliseconds.map { Self.nowMicroseconds() / 1000 - $0 }
        WALSourceMetrics.shared.update { values in
            values.events = eventsBeforeThisRun + events
            values.receivedLSN = receivedLSN
            values.acknowledgedLSN = acknowledgedLSN
            values.serverLagBytes = serverLag
            values.lagMilliseconds = lagMilliseconds
            values.streaming = true
            values.kafkaQueued = kafkaSink?.outstanding
            values.kafkaWaiting = kafkaSink?.waitingSince != nil
        }
        var kafkaStatus = ""
        if let kafkaSink {
            kafkaStatus = " kafka_queued=\(kafkaSink.outstanding)"
            if let since = kafkaSink.waitingSince {
                kafkaStatus += " kafka=waiting_for_brokers_\((ContinuousClock.now - since).components.seconds)s"
            }
        }
        log(
            "received_lsn=\(LSN(receivedLSN)) acked_lsn=\(LSN(acknowledgedLSN)) events=\(events) events_per_s=\(Int(rate)) "
                + "lag_bytes=\(serverLag.map(String.init) ?? "?") lag_ms=\(lagMilliseconds.map(String.init) ?? "?")\(kafkaStatus)"
        )
        lastStatus = now
        eventsAtLastStatus = events
    }

    /// On the way out: durable files, a last acknowledgement of what is durable, a summary line.
    func finish() {
        // Complete transactions are made durable and acknowledged; a transaction cut off mid-way is not
        // acknowledged, and its events are cut from the files on restart.
        try? syncAndAcknowledge()
        if !sinkFailed {
            for writer in writers.values { try? writer.sync() }
            try? sendStatus()
        }
        kafkaSink?.close()
        replication?.endReplication()
        let sorted = commitToSinkMilliseconds.sorted()
        func percentile(_ fraction: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction + 0.5))]
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        log(
            "summary events=\(events) acked_lsn=\(LSN(acknowledgedLSN)) transactions=\(transactionsCommitted) "
                + "commit_to_sink_ms_p50=\(String(percentile(0.5))) commit_to_sink_ms_p99=\(String(percentile(0.99))) seconds=\(Int(seconds))")
    }
}
