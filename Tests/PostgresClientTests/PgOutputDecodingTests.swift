import Testing
@testable import PostgresClient

/// Builds wire messages the way PostgreSQL writes them: big-endian integers, NUL-terminated strings.
private struct WireBytes {
    var bytes: [UInt8] = []

    init(_ tag: Character) { bytes = [UInt8(ascii: tag.unicodeScalars.first ?? "?")] }

    func byte(_ value: UInt8) -> WireBytes { var copy = self; copy.bytes.append(value); return copy }
    func tag(_ value: Character) -> WireBytes { byte(UInt8(ascii: value.unicodeScalars.first ?? "?")) }
    func int16(_ value: Int16) -> WireBytes { integer(UInt16(bitPattern: value)) }
    func int32(_ value: Int32) -> WireBytes { integer(UInt32(bitPattern: value)) }
    func uint32(_ value: UInt32) -> WireBytes { integer(value) }
    func uint64(_ value: UInt64) -> WireBytes { integer(value) }
    func int64(_ value: Int64) -> WireBytes { integer(UInt64(bitPattern: value)) }
    func string(_ value: String) -> WireBytes { raw(Array(value.utf8) + [0]) }
    func raw(_ value: [UInt8]) -> WireBytes { var copy = self; copy.bytes += value; return copy }
    func text(_ value: String) -> WireBytes { tag("t").int32(Int32(value.utf8.count)).raw(Array(value.utf8)) }

    private func integer<Value: FixedWidthInteger & UnsignedInteger>(_ value: Value) -> WireBytes {
        var copy = self
        for shift in stride(from: Value.bitWidth - 8, through: 0, by: -8) {
            copy.bytes.append(UInt8(truncatingIfNeeded: value >> shift))
        }
        return copy
    }

    var slice: ArraySlice<UInt8> { bytes[...] }
}

private func decode(_ message: WireBytes) throws -> PgOutputMessage {
    try PgOutputMessage.decode(message.slice)
}

private let begin = WireBytes("B").uint64(0x16_B374_D848).int64(776_000_000_000_000).uint32(735)
private let commit = WireBytes("C").byte(0).uint64(0x16_B374_D848).uint64(0x16_B374_D878).int64(776_000_000_000_001)
private let origin = WireBytes("O").uint64(0x1_0000_0000).string("upstream")
private let relation = WireBytes("R").uint32(16_385).string("public").string("items").tag("d").int16(3)
    .byte(1).string("id").uint32(23).int32(-1)
    .byte(0).string("name").uint32(1043).int32(68)
    .byte(0).string("note").uint32(25).int32(-1)
private let type = WireBytes("Y").uint32(16_400).string("public").string("mood")
private let insert = WireBytes("I").uint32(16_385).tag("N").int16(3).text("1").text("één").tag("n")
private let updateWithoutOld = WireBytes("U").uint32(16_385).tag("N").int16(3).text("1").text("uno").tag("u")
private let updateWithKey = WireBytes("U").uint32(16_385).tag("K").int16(3).text("1").tag("n").tag("n")
    .tag("N").int16(3).text("2").text("uno").tag("u")
private let updateWithFullRow = WireBytes("U").uint32(16_385).tag("O").int16(1).text("1")
    .tag("N").int16(1).tag("b").int32(2).raw([0xCA, 0xFE])
private let deleteKey = WireBytes("D").uint32(16_385).tag("K").int16(3).text("1").tag("n").tag("n")
private let deleteFull = WireBytes("D").uint32(16_385).tag("O").int16(2).text("1").text("one")
private let truncate = WireBytes("T").int32(2).byte(3).uint32(16_385).uint32(16_390)
private let logicalMessage = WireBytes("M").byte(1).uint64(0x20).string("wal").int32(3).raw([1, 2, 3])

private let validMessages: [WireBytes] = [
    begin, commit, origin, relation, type, insert, updateWithoutOld, updateWithKey, updateWithFullRow,
    deleteKey, deleteFull, truncate, logicalMessage,
]

@Suite("pgoutput v1 decoding")
struct PgOutputDecodingTests {
    @Test func decodesBegin() throws {
        #expect(try decode(begin) == .begin(.init(finalLSN: LSN(0x16_B374_D848), commitTime: 776_000_000_000_000, xid: 735)))
    }

    @Test func decodesCommit() throws {
        #expect(try decode(commit) == .commit(.init(
            flags: 0, commitLSN: LSN(0x16_B374_D848), endLSN: LSN(0x16_B374_D878), commitTime: 776_000_000_000_001
        )))
    }

    @Test func decodesOrigin() throws {
        #expect(try decode(origin) == .origin(.init(commitLSN: LSN(0x1_0000_0000), name: "upstream")))
    }

    @Test func decodesRelationWithKeyFlagAndTypeModifier() throws {
        let expected = PgOutputMessage.Relation(
            id: 16_385, namespace: "public", name: "items", replicaIdentity: UInt8(ascii: "d"),
            columns: [
                .init(isKey: true, name: "id", typeOID: 23, typeModifier: -1),
                .init(isKey: false, name: "name", typeOID: 1043, typeModifier: 68),
                .init(isKey: false, name: "note", typeOID: 25, typeModifier: -1),
            ]
        )
        #expect(try decode(relation) == .relation(expected))
    }

    @Test func decodesRelationInPgCatalogWithEmptyNamespace() throws {
        let message = WireBytes("R").uint32(1).string("").string("t").tag("f").int16(0)
        #expect(try decode(message) == .relation(.init(id: 1, namespace: "", name: "t", replicaIdentity: UInt8(ascii: "f"), columns: [])))
    }

    @Test func decodesType() throws {
        #expect(try decode(type) == .type(.init(id: 16_400, namespace: "public", name: "mood")))
    }

    @Test func decodesInsertWithTextAndNull() throws {
        let decoded = try decode(insert)
        #expect(decoded == .insert(.init(relationID: 16_385, new: [.text(Array("1".utf8)), .text(Array("één".utf8)), .null])))
        guard case .insert(let row) = decoded else { return }
        #expect(row.new.map(\.string) == ["1", "één", nil])
    }

    @Test func decodesUpdateWithoutOldRow() throws {
        #expect(try decode(updateWithoutOld) == .update(.init(
            relationID: 16_385, old: nil, new: [.text(Array("1".utf8)), .text(Array("uno".utf8)), .unchangedToast]
        )))
    }

    @Test func decodesUpdateWithOldKey() throws {
        #expect(try decode(updateWithKey) == .update(.init(
            relationID: 16_385,
            old: .init(kind: .key, columns: [.text(Array("1".utf8)), .null, .null]),
            new: [.text(Array("2".utf8)), .text(Array("uno".utf8)), .unchangedToast]
        )))
    }

    @Test func decodesUpdateWithFullOldRowAndBinaryValue() throws {
        #expect(try decode(updateWithFullRow) == .update(.init(
            relationID: 16_385, old: .init(kind: .full, columns: [.text(Array("1".utf8))]), new: [.binary([0xCA, 0xFE])]
        )))
    }

    @Test func decodesDeleteWithKeyOrFullRow() throws {
        #expect(try decode(deleteKey) == .delete(.init(relationID: 16_385, old: .init(kind: .key, columns: [.text(Array("1".utf8)), .null, .null]))))
        #expect(try decode(deleteFull) == .delete(.init(relationID: 16_385, old: .init(kind: .full, columns: [.text(Array("1".utf8)), .text(Array("one".utf8))]))))
    }

    @Test func decodesTruncateOptionsAndRelations() throws {
        let decoded = try decode(truncate)
        #expect(decoded == .truncate(.init(options: 3, relationIDs: [16_385, 16_390])))
        guard case .truncate(let truncate) = decoded else { return }
        #expect(truncate.isCascade && truncate.isRestartIdentity)
    }

    @Test func decodesLogicalDecodingMessage() throws {
        #expect(try decode(logicalMessage) == .message(.init(isTransactional: true, lsn: LSN(0x20), prefix: "wal", content: [1, 2, 3])))
    }

    @Test func decodesFromASliceThatDoesNotStartAtZero() throws {
        let padded = [0xEE, 0xEE] + begin.bytes
        #expect(try PgOutputMessage.decode(padded[2...]) == decode(begin))
    }

    @Test(arguments: validMessages.indices)
    func everyTruncationThrows(index: Int) {
        let bytes = validMessages[index].bytes
        for length in 0..<bytes.count {
            #expect(throws: PostgresError.self, "prefix of \(length) bytes") { try PgOutputMessage.decode(bytes[..<length]) }
        }
    }

    @Test(arguments: validMessages.indices)
    func trailingBytesThrow(index: Int) {
        #expect(throws: PostgresError.self) { try PgOutputMessage.decode(validMessages[index].bytes[...] + [0]) }
    }

    @Test func inconsistentCountsAndLengthsThrow() {
        let malformed: [WireBytes] = [
            WireBytes("I").uint32(1).tag("N").int16(-1),                                 // negative column count
            WireBytes("I").uint32(1).tag("N").int16(Int16.max),                          // count beyond the input
            WireBytes("I").uint32(1).tag("N").int16(1).tag("t").int32(-1),               // negative length
            WireBytes("I").uint32(1).tag("N").int16(1).tag("t").int32(Int32.max).raw([1]),  // length beyond the input
            WireBytes("I").uint32(1).tag("N").int16(1).tag("x"),                         // unknown column kind
            WireBytes("I").uint32(1).tag("K").int16(0),                                  // insert without 'N'
            WireBytes("U").uint32(1).tag("X").int16(0),                                  // update with a bad marker
            WireBytes("U").uint32(1).tag("K").int16(0).tag("K").int16(0),                // two old rows
            WireBytes("D").uint32(1).tag("N").int16(0),                                  // delete without old row
            WireBytes("T").int32(-1).byte(0),                                            // negative relation count
            WireBytes("T").int32(Int32.max).byte(0).uint32(1),                           // relation count beyond input
            WireBytes("R").uint32(1).string("s").string("t").tag("d").int16(-2),         // negative column count
            WireBytes("R").uint32(1).string("s").string("t").tag("d").int16(100),        // column count beyond input
            WireBytes("R").uint32(1).raw([0xFF, 0xFE, 0]).string("t").tag("d").int16(0),  // invalid UTF-8 name
            WireBytes("Y").uint32(1).raw(Array("unterminated".utf8)),                     // no NUL
            WireBytes("M").byte(0).uint64(1).string("p").int32(-5),                      // negative content length
            WireBytes("S").uint32(1).byte(1),                                            // v2 stream start
            WireBytes("Z"),                                                              // unknown tag
        ]
        for message in malformed {
            #expect(throws: PostgresError.self, "\(message.bytes)") { try decode(message) }
        }
        #expect(throws: PostgresError.self) { try PgOutputMessage.decode([]) }
    }

    @Test func errorsSayWhatAndWhere() {
        do {
            _ = try decode(WireBytes("I").uint32(1).tag("N").int16(1).tag("t").int32(9).raw([1]))
            Issue.record("expected an error")
        } catch let error as PostgresError {
            #expect(error.sqlState == nil)
            #expect(error.message == "malformed pgoutput Insert message: length 9 with 1 bytes left at byte 13")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func randomBytesNeverCrash() {
        var generator = SplitMix64(seed: 0x5EED)
        let tags = Array("BCORYIUDTMw".utf8)
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 48)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if !bytes.isEmpty { bytes[0] = tags[Int(generator.next() % UInt64(tags.count))] }
            _ = try? PgOutputMessage.decode(bytes[...])
            _ = try? ReplicationMessage.decode(bytes[...])
        }
        // Mutations of valid messages reach deeper into the decoder than random bytes do.
        for message in validMessages {
            for _ in 0..<2_000 {
                var bytes = message.bytes
                let position = Int(generator.next() % UInt64(bytes.count))
                bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                _ = try? PgOutputMessage.decode(bytes[...])
            }
        }
    }

    @Test func postgresEpochConvertsToUnixMicrosAndSaturates() {
        #expect(PgOutputMessage.postgresEpochToUnixMicros(0) == 946_684_800_000_000)
        #expect(PgOutputMessage.postgresEpochToUnixMicros(-946_684_800_000_000) == 0)
        #expect(PgOutputMessage.postgresEpochToUnixMicros(Int64.max) == Int64.max)
        #expect(PgOutputMessage.postgresEpochToUnixMicros(Int64.min) == Int64.min + 946_684_800_000_000)
    }
}

@Suite("Replication CopyData framing")
struct ReplicationMessageFramingTests {
    @Test func decodesXLogDataAroundAPgOutputMessage() throws {
        let bytes = WireBytes("w").uint64(0x30).uint64(0x40).int64(123).raw(begin.bytes)
        #expect(try ReplicationMessage.decode(bytes.slice) == .xlogData(
            walStart: LSN(0x30), walEnd: LSN(0x40),
            message: .begin(.init(finalLSN: LSN(0x16_B374_D848), commitTime: 776_000_000_000_000, xid: 735))
        ))
    }

    @Test func decodesPrimaryKeepalive() throws {
        #expect(try ReplicationMessage.decode(WireBytes("k").uint64(0x1_0000_0010).int64(5).byte(1).slice)
            == .keepalive(walEnd: LSN(0x1_0000_0010), replyRequested: true))
        #expect(try ReplicationMessage.decode(WireBytes("k").uint64(7).int64(5).byte(0).slice)
            == .keepalive(walEnd: LSN(7), replyRequested: false))
    }

    @Test func malformedFramesThrow() {
        let keepalive = WireBytes("k").uint64(7).int64(5).byte(0).bytes
        for length in 0..<keepalive.count {
            #expect(throws: PostgresError.self) { try ReplicationMessage.decode(keepalive[..<length]) }
        }
        #expect(throws: PostgresError.self) { try ReplicationMessage.decode(keepalive[...] + [0]) }
        #expect(throws: PostgresError.self) { try ReplicationMessage.decode(WireBytes("w").uint64(1).uint64(2).int64(3).slice) }
        #expect(throws: PostgresError.self) { try ReplicationMessage.decode(WireBytes("w").uint64(1).uint64(2).int64(3).raw(truncate.bytes.dropLast()).slice) }
        #expect(throws: PostgresError.self) { try ReplicationMessage.decode(WireBytes("x").slice) }
    }

    @Test func encodesStandbyStatusUpdate() {
        let bytes = ReplicationMessage.standbyStatusUpdate(
            written: LSN(0x0102_0304_0506_0708), flushed: LSN(0x10), applied: LSN(0x20), clock: -2, replyRequested: true
        )
        let expected = WireBytes("r").uint64(0x0102_0304_0506_0708).uint64(0x10).uint64(0x20).int64(-2).byte(1).bytes
        #expect(bytes == expected)
        #expect(bytes.count == 34)
    }
}

@Suite("LSN text form")
struct LSNTests {
    @Test(arguments: [
        ("16/B374D848", UInt64(0x16_B374_D848)),
        ("0/0", 0),
        ("0/1", 1),
        ("1/0", 0x1_0000_0000),
        ("FFFFFFFF/FFFFFFFF", UInt64.max),
    ])
    func parsesAndPrints(text: String, value: UInt64) {
        #expect(LSN(text) == LSN(value))
        #expect(LSN(value).description == text)
    }

    @Test func acceptsLowercaseAndLeadingZeros() {
        #expect(LSN("16/b374d848") == LSN(0x16_B374_D848))
        #expect(LSN("00000016/0000000A") == LSN(0x16_0000_000A))
        #expect(LSN(Substring("1/2")) == LSN(0x1_0000_0002))
    }

    @Test(arguments: ["", "/", "1/", "/1", "1", "1/2/3", "G/0", "+1/0", "-1/0", " 1/0", "1/0 ", "123456789/0", "0/123456789", "0x1/0"])
    func rejects(text: String) {
        #expect(LSN(text) == nil)
    }

    @Test func roundTripsManyValues() {
        var generator = SplitMix64(seed: 7)
        for _ in 0..<10_000 {
            let lsn = LSN(generator.next())
            #expect(LSN(lsn.description) == lsn)
        }
    }

    @Test func ordersByPosition() {
        #expect(LSN("0/FFFFFFFF")! < LSN("1/0")!)
        #expect(LSN.zero < LSN(1))
        #expect(max(LSN(5), LSN(3)) == LSN(5))
    }
}

/// A small deterministic generator so fuzz-style tests repeat exactly.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
