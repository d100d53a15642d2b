import AvroCodec
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@testable import WALSource

struct TableListTests {
    @Test func listsTakeSchemaTableAndBareTables() throws {
        #expect(try TableName.parseList("public.items, sales.orders,plain") == [
            TableName(schema: "public", name: "items"), TableName(schema: "sales", name: "orders"), TableName(schema: "public", name: "plain"),
        ])
    }

    @Test func quotedNamesKeepCommasDotsSlashesAndQuotes() throws {
        #expect(try TableName.parseList(#""odd,name", "my.schema"."a/b", public."say ""hi""""#) == [
            TableName(schema: "public", name: "odd,name"), TableName(schema: "my.schema", name: "a/b"), TableName(schema: "public", name: #"say "hi""#),
        ])
    }

    @Test(arguments: ["a.b.c", "\"open", "items,,orders", "\"x\"y", "", "sch\"ema\".t"])
    func malformedListsAreRefused(_ text: String) {
        #expect(throws: TableName.ListError.self) { try TableName.parseList(text) }
    }

    @Test func filesHaveOneTableALineWithCommasAsWritten() throws {
        let text = "# tables\npublic.odd,name\n\n  sales.orders  \nweird/one\r\n\"my.schema\".\"t\"\n"
        #expect(try TableName.parseFile(text) == [
            TableName(schema: "public", name: "odd,name"), TableName(schema: "sales", name: "orders"), TableName(schema: "public", name: "weird/one"),
            TableName(schema: "my.schema", name: "t"),
        ])
    }
}

/// The state file keeps incremental snapshots' progress, and the progress before it, across a restart.
struct SourceStateTests {
    @Test func incrementalProgressRoundTrips() throws {
        var state = SourceState()
        state.snapshot = .done
        state.hasUsedSlot = true
        state.incremental = [
            .init(table: #""public"."items""#, lastKey: ["42", nil, "it's"], rowsRead: 1000),
            .init(table: #""odd,schema"."t""#, relationID: 16_385),
        ]
        state.earlierIncrementalAsOf = 77
        state.snapshotted = [#""public"."a""#]
        state.incrementalAsOf = 0xFFFF_FFFF_FFFF_FFF0  // beyond Int64: kept exactly
        state.earlierIncremental = [.init(table: #""public"."items""#, lastKey: ["7"], rowsRead: 7)]
        state.earlierSnapshotted = []
        let directory = "/tmp/wal-source-state-test-\(getpid())"
        mkdir(directory, 0o755)
        defer {
            unlink(directory + "/s")
            rmdir(directory)
        }
        try state.write(path: directory + "/s")
        let read = try #require(try SourceState.read(path: directory + "/s"))
        #expect(read == state)
        // A state file of the release before incremental snapshots reads as none under way, unknown snapshotted.
        let older = try #require(SourceState(json: try JSONParser.parse(bytes: Array(#"{"format":1,"snapshot":"done","lengthsBeforeSnapshot":{},"hasUsedSlot":true}"#.utf8))))
        #expect(older.incremental.isEmpty && older.snapshotted == nil && older.incrementalAsOf == 0)
        // A damaged progress entry is not silently dropped: the file is refused.
        for damaged in [
            #"{"format":1,"snapshot":"done","incremental":[{"lastKey":[1]}]}"#, #"{"format":1,"snapshot":"done","snapshotted":["a",2]}"#,
            #"{"format":1,"snapshot":"done","incrementalAsOf":"x"}"#, #"{"format":1,"snapshot":"done","incremental":{}}"#,
            #"{"format":1,"snapshot":"done","incremental":[{"table":"t","relation":-1}]}"#,
        ] {
            #expect(SourceState(json: try JSONParser.parse(bytes: Array(damaged.utf8))) == nil, "\(damaged)")
        }
    }
}

/// The durable position names its server history; an earlier release's record still reads.
struct DurablePositionTests {
    @Test func recordsCarryTheSystemAndTimelineAndOldRecordsStillRead() throws {
        let path = "/tmp/wal-source-position-test-\(getpid())"
        defer { unlink(path) }
        unlink(path)
        let position = try DurablePosition(path: path)
        #expect(position.readRecord() == nil)
        position.systemID = 7_300_000_000_000_000_001
        position.timeline = 3
        try position.record(0x1_2345_6789)
        #expect(position.readRecord() == DurablePosition.Record(lsn: 0x1_2345_6789, systemID: 7_300_000_000_000_000_001, timeline: 3))
        #expect(try DurablePosition(path: path).read() == 0x1_2345_6789)
        // A torn write (one byte of the system identifier changed) reads as no record, not as a wrong one.
        var byte: UInt8 = 0xAA
        let descriptor = open(path, O_RDWR)
        #expect(pwrite(descriptor, &byte, 1, 9) == 1)
        #expect(position.readRecord() == nil)
        // A sixteen-byte record of the release before: an LSN of an unknown history.
        #expect(ftruncate(descriptor, 0) == 0)
        let lsn: UInt64 = 0xABCDEF
        var words = (lsn.littleEndian, ((lsn ^ 0x5741_4C2D_534F_5552) &* 0x9E37_79B9_7F4A_7C15).littleEndian)
        #expect(withUnsafeBytes(of: &words) { pwrite(descriptor, $0.baseAddress, 16, 0) } == 16)
        close(descriptor)
        #expect(position.readRecord() == DurablePosition.Record(lsn: lsn, systemID: nil, timeline: nil))
    }

    @Test func switchPointsComeFromTheTimelineHistory() {
        let history = "1\t0/3000158\tno recovery target specified\n\n2\t0/5000000\tat restore point \"before\"\n"
        #expect(DurablePosition.switchPoint(leaving: 1, history: history) == 0x3000158)
        #expect(DurablePosition.switchPoint(leaving: 2, history: history) == 0x5000000)
        #expect(DurablePosition.switchPoint(leaving: 3, history: history) == nil)
        #expect(WALSourceEngine.byteaText("\\x310930") == "1\t0")
        #expect(WALSourceEngine.byteaText("plain") == "plain")
    }
}

/// An incremental snapshot chunk's read snapshot: which transactions it could not see.
struct IncrementalWindowTests {
    @Test func snapshotsSayWhichTransactionsWereInvisible() throws {
        let (xmin, xmax, running) = try #require(IncrementalWindow.parseSnapshot("100:110:102,107"))
        #expect(xmin == 100 && xmax == 110 && running == [102, 107])
        #expect(IncrementalWindow.parseSnapshot("5:5:") != nil)
        for bad in ["", "1:2", "a:2:", "1:2:x", "1:2:3:4"] { #expect(IncrementalWindow.parseSnapshot(bad) == nil, "\(bad)") }
        // Epoch-qualified ids (xid8) keep their low 32 bits, as pgoutput sends them.
        let (_, wideXmax, wideRunning) = try #require(IncrementalWindow.parseSnapshot("8589934592:8589934600:8589934595"))
        #expect(wideXmax == 8 && wideRunning == [3])
        // Ids compare modulo 2^32, as PostgreSQL compares them.
        #expect(IncrementalWindow.precedes(5, 6) && !IncrementalWindow.precedes(6, 5))
        #expect(IncrementalWindow.precedes(UInt32.max - 2, 3) && !IncrementalWindow.precedes(3, UInt32.max - 2))
    }
}

struct KafkaSettingsTests {
    @Test func settingsTheGuaranteesRestOnAreRefusedUnlessRepeated() {
        #expect(KafkaSinkConfiguration.reservedReason("acks", value: "1") != nil)
        #expect(KafkaSinkConfiguration.reservedReason("topic.partitioner", value: "random") != nil)
        #expect(KafkaSinkConfiguration.reservedReason("transactional.id", value: "mine") != nil)
        // The values the source sets itself may be given again; other settings pass through.
        #expect(KafkaSinkConfiguration.reservedReason("acks", value: "all") == nil)
        #expect(KafkaSinkConfiguration.reservedReason("topic.acks", value: "-1") == nil)
        #expect(KafkaSinkConfiguration.reservedReason("enable.idempotence", value: "true") == nil)
        #expect(KafkaSinkConfiguration.reservedReason("linger.ms", value: "50") == nil)
        #expect(KafkaSinkConfiguration.reservedReason("security.protocol", value: "SASL_SSL") == nil)
    }
}
