import Testing

@testable import AvroCodec

/// Data written under one version, read with another through a compiled `ResolutionPlan`: the
/// evolution cases of step 3, both directions.
struct ResolutionPlanTests {
    static func schema(_ name: String) throws -> AvroSchema {
        try AvroSchema(parsing: Fixtures.bytes("evolution/\(name).avsc"))
    }

    /// id, name, status, visits (int), weight (float), score (["null","int"]), legacy_code.
    static func v1Row(_ id: Int64, status: String, score: AvroValue) -> AvroValue {
        .record([.long(id), .string("Ada \(id)"), .enumeration(status), .int(Int32(truncatingIfNeeded: id * 1_000)), .float(0.5), score, .string("L\(id)")])
    }

    @Test func v1DataReadsWithTheV2Reader() throws {
        let plan = ResolutionPlan(writer: try Self.schema("serde-v1"), reader: try Self.schema("serde-v2"))
        let bytes = try AvroBinary.encode(Self.v1Row(7, status: "B", score: .union(branch: 1, value: .int(-3))), schema: plan.writer)
        let row = try plan.decode(bytes[...])
        // legacy_code is dropped; visits and weight are promoted; score lands in the widened union's
        // int branch; region and labels take their defaults.
        #expect(
            row
                == .record([
                    .long(7), .string("Ada 7"), .enumeration("B"), .long(7_000), .double(0.5), .union(branch: 1, value: .int(-3)),
                    .string("eu-west"), .array([]),
                ]))
    }

    @Test func v2DataReadsWithTheV1ReaderWhereForwardAllowsIt() throws {
        let v2Full = try Self.schema("serde-v2-full")
        let plan = ResolutionPlan(writer: v2Full, reader: try Self.schema("serde-v1"))
        // The symbol C is new in v2: the v1 reader's enum default "A" stands in for it.
        let written = AvroValue.record([
            .long(1), .string("n"), .enumeration("C"), .int(5), .float(1.25), .union(branch: 0, value: .null), .string("us-east"),
        ])
        let row = try plan.decode(try AvroBinary.encode(written, schema: v2Full)[...])
        #expect(row == .record([.long(1), .string("n"), .enumeration("A"), .int(5), .float(1.25), .union(branch: 0, value: .null), .string("none")]))
    }

    @Test func aPlanIsReusedAcrossRecordsAndAgreesWithTheWriterShapeWhenIdentical() throws {
        let v1 = try Self.schema("serde-v1")
        let identity = ResolutionPlan(identity: v1)
        let selfPlan = ResolutionPlan(writer: v1, reader: v1)
        for id in Int64(0)..<200 {
            let value = Self.v1Row(id, status: id % 2 == 0 ? "A" : "B", score: id % 3 == 0 ? .union(branch: 0, value: .null) : .union(branch: 1, value: .int(Int32(id))))
            let bytes = try AvroBinary.encode(value, schema: v1)
            #expect(try identity.decode(bytes[...]) == value)
            #expect(try selfPlan.decode(bytes[...]) == value)
        }
    }

    @Test func skippedWriterFieldsOfEveryKindAreReadPast() throws {
        let writer = try AvroSchema(parsing: Fixtures.bytes("codec/everything.avsc"))
        let reader = try AvroSchema(parsing: #"{"type":"record","name":"All","fields":[{"name":"s","type":"string"},{"name":"x","type":{"type":"fixed","name":"F","size":3}}]}"#)
        let value = CodecSamples.everything("skip", nested: true)
        let row = try ResolutionPlan(writer: writer, reader: reader).decode(try AvroBinary.encode(value, schema: writer)[...])
        #expect(row == .record([.string("skip"), .fixed([1, 2, 3])]))
    }

    @Test func recursiveSchemasCompileOnceAndResolve() throws {
        let writer = try AvroSchema(parsing: #"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}"#)
        let reader = try AvroSchema(parsing: #"{"type":"record","name":"Node","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","Node"]},{"name":"tag","type":"string","default":"t"}]}"#)
        var chain = AvroValue.union(branch: 0, value: .null)
        var expected = AvroValue.union(branch: 0, value: .null)
        for number in 0..<50 {
            chain = .union(branch: 1, value: .record([.int(Int32(number)), chain]))
            expected = .union(branch: 1, value: .record([.long(Int64(number)), expected, .string("t")]))
        }
        guard case .union(_, let head) = chain, case .union(_, let expectedHead) = expected else { return }
        let plan = ResolutionPlan(writer: writer, reader: reader)
        #expect(try plan.decode(try AvroBinary.encode(head, schema: writer)[...]) == expectedHead)
        #expect(plan.steps.count < 10)  // one step per (writer node, reader node) pair, not per level
    }

    @Test func unreadableBranchesFailOnlyWhenDataUsesThem() throws {
        let writer = try AvroSchema(parsing: #"["null","int","boolean"]"#)
        let reader = try AvroSchema(parsing: #"["null","long"]"#)
        let plan = ResolutionPlan(writer: writer, reader: reader)
        #expect(try plan.decode(AvroBinary.encode(.union(branch: 1, value: .int(4)), schema: writer)[...]) == .union(branch: 1, value: .long(4)))
        do {
            _ = try plan.decode(AvroBinary.encode(.union(branch: 2, value: .boolean(true)), schema: writer)[...])
            Issue.record("read a boolean into a union without a boolean branch")
        } catch {
            #expect(error.message.contains("no branch for the writer's boolean"))
        }
    }

    @Test func errorsNameTheFieldPath() throws {
        let writer = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"address","type":{"type":"record","name":"A","fields":[{"name":"street","type":"string"}]}}]}"#)
        let reader = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"address","type":{"type":"record","name":"A","fields":[{"name":"street","type":"bytes"}]}}]}"#)
        do {
            _ = try ResolutionPlan(writer: writer, reader: reader).decode([0x08, 0x41][...])  // a 4-byte string with 1 byte
            Issue.record("decoded a truncated string")
        } catch {
            #expect(error.path == "/address/street")
        }
    }

    /// A skipped array of nulls that declares more items than any record could hold: an error, not an
    /// arithmetic trap or a long spin.
    @Test func skippedHostileBlockCountsAreRefused() throws {
        let writer = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"array","items":"null"}},{"name":"b","type":"int"}]}"#)
        let reader = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"b","type":"int"}]}"#)
        let plan = ResolutionPlan(writer: writer, reader: reader)
        // One block of Int64.max items, then the int.
        let hostile: [UInt8] = [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x0A]
        #expect(throws: AvroCodingError.self) { try plan.decode(hostile[...]) }
        // Many small blocks of nulls add up against one budget per record.
        var blocks: [UInt8] = []
        for _ in 0..<3 { blocks += [0x80, 0x89, 0x7A] }  // 1,000,000 nulls each (zig-zag varint)
        #expect(throws: AvroCodingError.self) { try plan.decode((blocks + [0x00, 0x0A])[...]) }
    }

    @Test func nestedArraysOfNullsShareOneBudget() throws {
        let schema = try AvroSchema(parsing: #"{"type":"array","items":{"type":"array","items":"null"}}"#)
        // 40 inner arrays of 1,000,000 nulls each: 162 bytes that would otherwise become 40 M values.
        var bytes: [UInt8] = [80]  // 40 items (zig-zag)
        for _ in 0..<40 { bytes += [0x80, 0x89, 0x7A, 0x00] }
        bytes.append(0x00)
        do {
            _ = try AvroBinary.decode(bytes[...], schema: schema)
            Issue.record("decoded 40 million nulls")
        } catch {
            #expect(error.message.contains("zero-byte items"))
        }
    }

    @Test func aWriterFieldIsReadByOneReaderFieldOnly() throws {
        let writer = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#)
        // "b" names "a" as an alias, but the reader's own "a" reads it: "b" takes its default.
        let reader = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"string","aliases":["a"],"default":"d"}]}"#)
        let row = try ResolutionPlan(writer: writer, reader: reader).decode(AvroBinary.encode(.record([.string("x")]), schema: writer)[...])
        #expect(row == .record([.string("x"), .string("d")]))
        // Without a default, the checker and the decoder agree that the reader cannot read it.
        let strict = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"string","aliases":["a"]}]}"#)
        #expect(!CompatibilityChecker.check(strict, against: [ExistingSchemaVersion(version: 1, schema: writer)], level: .backward).isCompatible)
        #expect(throws: AvroCodingError.self) { try ResolutionPlan(writer: writer, reader: strict).decode(AvroBinary.encode(.record([.string("x")]), schema: writer)[...]) }
    }

    /// Random and truncated bytes through a resolving plan: every failure is a thrown error.
    @Test func hostileBytesThroughAPlanAreThrownErrors() throws {
        let writer = try AvroSchema(parsing: Fixtures.bytes("codec/everything.avsc"))
        let plan = ResolutionPlan(writer: writer, reader: writer)
        let valid = try AvroBinary.encode(CodecSamples.everything("fuzz", nested: true), schema: writer)
        for length in 0..<valid.count {
            #expect(throws: AvroCodingError.self) { try plan.decode(valid[0..<length]) }
        }
        var generator = SplitMix64(seed: 42)
        var failures = 0
        for round in 0..<5_000 {
            var bytes = valid
            // Flip a few bytes of a valid record, or use pure noise.
            if round % 2 == 0 {
                for _ in 0..<3 { bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next()) }
            } else {
                bytes = (0..<Int(generator.next() % 64)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            }
            do { _ = try plan.decode(bytes[...]) } catch { failures += 1 }
        }
        #expect(failures > 2_000)
    }
}

/// A small deterministic generator for fuzz inputs (reproducible failures).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
