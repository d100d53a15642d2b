import Foundation
import Testing
@testable import PostgresClient

/// Against a real PostgreSQL: each test starts its own throwaway cluster (see `PostgresCluster`).
@Suite("PostgreSQL connection and logical replication", .enabled(if: PostgresCluster.isAvailable, "needs the PostgreSQL server binaries"))
struct PostgresConnectionTests {
    @Test func streamsInsertUpdateDeleteTruncateAndConfirmsTheCommit() throws {
        let cluster = try PostgresCluster.start()
        defer { cluster.stop() }

        let admin = try PostgresConnection(conninfo: cluster.conninfo, replication: false)
        // EXTERNAL storage keeps the long note out of line without compression, so an update that does not
        // touch it sends it as "unchanged TOAST". The mixed-case publication name checks the quoting.
        try admin.execute("""
            CREATE TABLE items (id integer PRIMARY KEY, name varchar(64), note text);
            ALTER TABLE items ALTER COLUMN note SET STORAGE EXTERNAL;
            CREATE PUBLICATION "Items Pub" FOR TABLE items;
            """)

        let replication = try PostgresConnection(conninfo: cluster.conninfo, replication: true)
        let system = try replication.query("IDENTIFY_SYSTEM")
        #expect(system.first?.count == 4)
        #expect(system.first?[3] == "postgres")
        let slot = try replication.query(#"CREATE_REPLICATION_SLOT "s" LOGICAL pgoutput"#)
        let consistentPoint = try #require(slot.first?[1].flatMap { LSN($0) }, "\(slot)")
        try replication.startReplication(slot: "s", publication: "Items Pub", startLSN: consistentPoint)

        let note = String(repeating: "x", count: 10_000)
        try admin.execute("INSERT INTO items VALUES (1, 'one', '\(note)')")
        try admin.execute("UPDATE items SET name = 'uno' WHERE id = 1")
        try admin.execute("DELETE FROM items WHERE id = 1")
        try admin.execute("TRUNCATE items RESTART IDENTITY CASCADE")

        var messages: [PgOutputMessage] = []
        var commitCount = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while commitCount < 4 && ContinuousClock.now < deadline {
            switch try replication.readReplicationMessage(timeout: .seconds(1)) {
            case .xlogData(_, _, let message)?:
                messages.append(message)
                if case .commit = message { commitCount += 1 }
            case .keepalive(_, true)?:
                try replication.sendStandbyStatus(written: consistentPoint, flushed: consistentPoint, applied: consistentPoint)
            case .keepalive(_, false)?, nil:
                continue
            case .endOfStream?:
                Issue.record("stream ended early")
                return
            }
        }

        // pgoutput describes the relation before its first change, and again after every relcache
        // invalidation: TRUNCATE's new relfilenode always, an autovacuum ANALYZE sometimes (under load
        // an extra description came before the Update). So descriptions are checked apart from changes.
        let changes = messages.filter { if case .relation = $0 { false } else { true } }
        #expect(changes.map(kind) == ["B", "I", "C", "B", "U", "C", "B", "D", "C", "B", "T", "C"])
        try #require(changes.count == 12)

        guard case .relation(let relation) = messages[1] else { Issue.record("no relation"); return }
        #expect(relation.namespace == "public")
        #expect(relation.name == "items")
        #expect(relation.replicaIdentity == UInt8(ascii: "d"))
        #expect(relation.columns == [
            .init(isKey: true, name: "id", typeOID: 23, typeModifier: -1),
            .init(isKey: false, name: "name", typeOID: 1043, typeModifier: 68),
            .init(isKey: false, name: "note", typeOID: 25, typeModifier: -1),
        ])
        for message in messages { if case .relation = message { #expect(message == .relation(relation)) } }
        let truncateIndex = try #require(messages.firstIndex { if case .truncate = $0 { true } else { false } })
        #expect(messages[truncateIndex - 1] == .relation(relation))

        #expect(changes[1] == .insert(.init(relationID: relation.id, new: [text("1"), text("one"), text(note)])))
        #expect(changes[4] == .update(.init(relationID: relation.id, old: nil, new: [text("1"), text("uno"), .unchangedToast])))
        #expect(changes[7] == .delete(.init(relationID: relation.id, old: .init(kind: .key, columns: [text("1"), .null, .null]))))
        #expect(changes[10] == .truncate(.init(options: 3, relationIDs: [relation.id])))

        // Each Begin announces its Commit's LSN; commit times are "now" once moved to the Unix epoch.
        var lastEnd = LSN.zero
        for (beginIndex, commitIndex) in [(0, 2), (3, 5), (6, 8), (9, 11)] {
            guard case .begin(let begin) = changes[beginIndex], case .commit(let commit) = changes[commitIndex] else { continue }
            #expect(begin.finalLSN == commit.commitLSN)
            #expect(commit.endLSN > commit.commitLSN)
            #expect(commit.commitLSN > lastEnd)
            #expect(begin.commitTime == commit.commitTime)
            let commitSeconds = Double(PgOutputMessage.postgresEpochToUnixMicros(commit.commitTime)) / 1_000_000
            #expect(abs(commitSeconds - Date().timeIntervalSince1970) < 600)
            lastEnd = commit.endLSN
        }

        // Confirming the last commit's end moves the slot's confirmed_flush_lsn there.
        let before = try confirmedFlushLSN(admin, slot: "s")
        #expect(before < lastEnd)
        try replication.sendStandbyStatus(written: lastEnd, flushed: lastEnd, applied: lastEnd)
        var confirmed = before
        let confirmDeadline = ContinuousClock.now + .seconds(10)
        while confirmed < lastEnd && ContinuousClock.now < confirmDeadline {
            if case .keepalive(_, true)? = try replication.readReplicationMessage(timeout: .milliseconds(100)) {
                try replication.sendStandbyStatus(written: lastEnd, flushed: lastEnd, applied: lastEnd)
            }
            confirmed = try confirmedFlushLSN(admin, slot: "s")
        }
        #expect(confirmed == lastEnd)

        // Ending the stream takes the replication connection back to accepting commands.
        replication.endReplication()
        var ending: ReplicationMessage?
        let endDeadline = ContinuousClock.now + .seconds(10)
        while ending != .endOfStream && ContinuousClock.now < endDeadline {
            ending = try replication.readReplicationMessage(timeout: .seconds(1))
        }
        #expect(ending == .endOfStream)
        #expect(try replication.query("IDENTIFY_SYSTEM").count == 1)
    }

    @Test func queriesReturnTextAndNullAndFailuresCarrySQLState() throws {
        let cluster = try PostgresCluster.start()
        defer { cluster.stop() }
        let connection = try PostgresConnection(conninfo: cluster.conninfo, replication: false)

        #expect(try connection.query("SELECT 1, NULL::text, 'é' UNION ALL SELECT 2, 'b', ''") == [["1", nil, "é"], ["2", "b", ""]])
        #expect(try connection.query("CREATE TABLE t (id int)") == [])
        #expect(try connection.query("") == [])

        let missing = try #require(throws: PostgresError.self) { try connection.query("SELECT * FROM missing") }
        #expect(missing.sqlState == "42P01")
        #expect(missing.message == #"relation "missing" does not exist"#)
        #expect(missing.statement == "SELECT * FROM missing")

        let duplicate = try #require(throws: PostgresError.self) {
            try connection.execute("CREATE TABLE u (id int PRIMARY KEY); INSERT INTO u VALUES (1), (1)")
        }
        #expect(duplicate.sqlState == "23505")
        #expect(duplicate.message.contains("Key (id)=(1) already exists"))

        // The connection is still usable after errors.
        #expect(try connection.query("SELECT count(*) FROM t") == [["0"]])
    }

    @Test func replicationFailuresCarrySQLState() throws {
        let cluster = try PostgresCluster.start()
        defer { cluster.stop() }
        let admin = try PostgresConnection(conninfo: cluster.conninfo, replication: false)
        try admin.execute("CREATE TABLE t (id int PRIMARY KEY)")
        let replication = try PostgresConnection(conninfo: cluster.conninfo, replication: true)

        let noSlot = try #require(throws: PostgresError.self) {
            try replication.startReplication(slot: "absent", publication: "p", startLSN: .zero)
        }
        #expect(noSlot.sqlState == "42704")

        // A missing publication is only noticed when the first change is decoded: the stream then ends
        // with the server's error.
        _ = try admin.query("SELECT pg_create_logical_replication_slot('s', 'pgoutput')")
        try replication.startReplication(slot: "s", publication: "absent", startLSN: .zero)
        try admin.execute("INSERT INTO t VALUES (1)")
        let streamError = try #require(throws: PostgresError.self) {
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                if case .xlogData? = try replication.readReplicationMessage(timeout: .seconds(1)) { return }
            }
        }
        #expect(streamError.sqlState == "42704")
        #expect(streamError.message.contains(#"publication "absent" does not exist"#))
    }

    @Test func connectionFailureCarriesLibpqMessage() throws {
        // Port 1 on loopback: nothing listens there and the refusal is immediate.
        let error = try #require(throws: PostgresError.self) {
            try PostgresConnection(conninfo: "host=127.0.0.1 port=1 user=postgres connect_timeout=5", replication: true)
        }
        #expect(error.sqlState == nil)
        #expect(error.message.contains("Connection refused"))
        #expect(!error.message.hasSuffix("\n"))
    }
}

/// The slot's `confirmed_flush_lsn` from `pg_replication_slots`.
private func confirmedFlushLSN(_ connection: PostgresConnection, slot: String) throws -> LSN {
    let rows = try connection.query("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '\(slot)'")
    return try #require(rows.first?.first.flatMap { $0 }.flatMap { LSN($0) }, "\(rows)")
}

private func text(_ value: String) -> PgOutputMessage.TupleColumn { .text(Array(value.utf8)) }

/// The message's tag letter, for comparing message sequences.
private func kind(_ message: PgOutputMessage) -> String {
    switch message {
    case .begin: "B"
    case .commit: "C"
    case .origin: "O"
    case .relation: "R"
    case .type: "Y"
    case .insert: "I"
    case .update: "U"
    case .delete: "D"
    case .truncate: "T"
    case .message: "M"
    }
}
