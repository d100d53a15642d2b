import ChangeEvents

extension WALSourceEngine {
    /// The initial snapshot (`--snapshot`, only when the slot is created): every configured table's
    /// rows as `op: "r"` events, read in primary-key order in chunks of `snapshotChunkRows` inside the
    /// slot's exported snapshot, so the stream that follows starts exactly after them. Chunks keep
    /// each query short, so a large table does not hold one long scan open.
    /// The snapshot, or on any failure: its events cut from the files again and the new slot dropped,
    /// so that the next start creates a slot and snapshots again (a reused slot never snapshots, and a
    /// partial snapshot would otherwise stay partial).
    func takeSnapshotOrDropSlot(_ snapshotName: String, atLSN lsn: UInt64) async throws(WALSourceError) {
        let lengths = writers.mapValues(\.length)
        do {
            try await takeSnapshot(snapshotName, atLSN: lsn)
        } catch {
            for (table, writer) in writers { try? writer.truncate(to: lengths[table] ?? writer.length) }
            do {
                try replication.execute("DROP_REPLICATION_SLOT \(Self.quoteIdentifier(configuration.slot))")
                log("snapshot failed: its events were removed and slot \(configuration.slot) dropped; the next start snapshots again")
            } catch {
                log("snapshot failed, and dropping slot \(configuration.slot) failed too (\(error)): drop it by hand before the next start")
            }
            throw error
        }
    }

    func takeSnapshot(_ snapshotName: String, atLSN lsn: UInt64) async throws(WALSourceError) {
        do {
            try query.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try query.execute("SET TRANSACTION SNAPSHOT \(Self.quoteLiteral(snapshotName))")
            for table in configuration.tables {
                let (schema, name) = Self.split(table)
                try await snapshotTable(schema: schema, name: name, lsn: lsn)
            }
            try query.execute("COMMIT")
            for writer in writers.values { try writer.sync() }
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

    func snapshotTable(schema: String, name: String, lsn: UInt64) async throws {
        let qualified = Self.quoteIdentifier(schema) + "." + Self.quoteIdentifier(name)
        let relation = try query.query("SELECT \(Self.quoteLiteral(qualified))::regclass::oid, relreplident FROM pg_class WHERE oid = \(Self.quoteLiteral(qualified))::regclass")
        guard let row = relation.first, let oidText = row[0], let relationID = UInt32(oidText) else {
            throw WALSourceError.configuration("table \(schema).\(name) not found")
        }
        let identity = row[1]?.utf8.first ?? UInt8(ascii: "d")
        // Columns with their types and primary-key membership, in attribute order.
        let columnRows = try query.query(
            """
            SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
                   \(Self.keyColumnExpression)
            FROM pg_attribute a
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = \(relationID) AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """)
        let columns = columnRows.map { row in
            ColumnDescription(
                name: row[0] ?? "", typeOID: UInt32(row[1] ?? "") ?? 25, typeModifier: Int32(row[2] ?? "") ?? -1, isKey: row[5] == "t",
                isNullable: row[3] != "t", defaultExpression: row[4])
        }
        let description = TableDescription(namespace: schema, name: name, columns: columns, replicaIdentity: identity)
        try await install(relationID: relationID, description: description)
        guard let state = relations[relationID] else { return }
        let keyNames = state.schemas.keyColumnIndexes.map { Self.quoteIdentifier(columns[$0].name) }
        let columnList = columns.map { Self.quoteIdentifier($0.name) }.joined(separator: ", ")
        var lastKey: [String?]? = nil
        var rowsRead = 0
        while true {
            var sql = "SELECT \(columnList) FROM \(qualified)"
            if !keyNames.isEmpty {
                if let lastKey {
                    let literals = lastKey.map { $0.map(Self.quoteLiteral) ?? "NULL" }
                    sql += " WHERE (\(keyNames.joined(separator: ", "))) > (\(zip(literals, state.schemas.keyColumnIndexes).map { "\($0)::\(Self.typeName(columns[$1].typeOID))" }.joined(separator: ", ")))"
                }
                sql += " ORDER BY \(keyNames.joined(separator: ", ")) LIMIT \(configuration.snapshotChunkRows)"
            }
            let rows = try query.query(sql)
            for row in rows {
                let texts = row.map { $0.map(ColumnText.text) ?? .null }
                transactionCommitMilliseconds = Self.nowMicroseconds() / 1000
                transactionFinalLSN = 0  // snapshot events are kept across restarts (commit LSN 0)
                try emit(.read, relationID: relationID, beforeColumns: nil, beforeIsFullRow: false, afterColumns: texts, lsn: lsn)
            }
            rowsRead += rows.count
            if keyNames.isEmpty || rows.count < configuration.snapshotChunkRows { break }
            lastKey = state.schemas.keyColumnIndexes.map { rows[rows.count - 1][$0] }
        }
        log("snapshot of \(schema).\(name): \(rowsRead) rows")
    }

    /// A type name to cast a key literal to (so row comparison uses the column's ordering).
    static func typeName(_ oid: UInt32) -> String { PostgresType(rawValue: oid)?.sqlName ?? "text" }
}
