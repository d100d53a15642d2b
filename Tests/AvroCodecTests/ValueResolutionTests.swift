import Testing

@testable import AvroCodec

/// Data written under one version, read with another (the specification's schema resolution).
struct ValueResolutionTests {
    static func schema(_ name: String) throws -> AvroSchema {
        try AvroSchema(parsing: Fixtures.bytes("evolution/\(name).avsc"))
    }

    static func roundTrip(_ value: AvroValue, writer: AvroSchema, reader: AvroSchema) throws -> AvroValue {
        try AvroBinary.decode(AvroBinary.encode(value, schema: writer)[...], writer: writer, reader: reader)
    }

    @Test func addedFieldWithDefaultIsFilledIn() throws {
        let value = AvroValue.record([.long(7), .string("Ada")])
        let resolved = try Self.roundTrip(value, writer: Self.schema("user-v1"), reader: Self.schema("user-add-optional-email"))
        #expect(resolved == .record([.long(7), .string("Ada"), .union(branch: 0, value: .null)]))
    }

    @Test func fieldsTheReaderLacksAreDropped() throws {
        let value = AvroValue.record([.long(7), .string("Ada"), .union(branch: 1, value: .string("a@example.com"))])
        let resolved = try Self.roundTrip(value, writer: Self.schema("user-add-optional-email"), reader: Self.schema("user-v1"))
        #expect(resolved == .record([.long(7), .string("Ada")]))
    }

    @Test func promotionsApply() throws {
        let writer = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"float"},{"name":"c","type":"string"},{"name":"d","type":"bytes"},{"name":"e","type":"long"}]}"#)
        let reader = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"double"},{"name":"c","type":"bytes"},{"name":"d","type":"string"},{"name":"e","type":"double"}]}"#)
        let value = AvroValue.record([.int(-5), .float(1.5), .string("hé"), .bytes(Array("ok".utf8)), .long(1 << 40)])
        #expect(try Self.roundTrip(value, writer: writer, reader: reader) == .record([.long(-5), .double(1.5), .bytes(Array("hé".utf8)), .string("ok"), .double(Double(1 << 40))]))
    }

    @Test func enumsResolveByNameWithTheReadersDefault() throws {
        let writer = try AvroSchema(parsing: #"{"type":"enum","name":"S","symbols":["A","B","C"]}"#)
        let reordered = try AvroSchema(parsing: #"{"type":"enum","name":"S","symbols":["C","B","A"]}"#)
        let narrower = try AvroSchema(parsing: #"{"type":"enum","name":"S","symbols":["A","UNKNOWN"],"default":"UNKNOWN"}"#)
        #expect(try Self.roundTrip(.enumeration("A"), writer: writer, reader: reordered) == .enumeration("A"))
        #expect(try Self.roundTrip(.enumeration("C"), writer: writer, reader: narrower) == .enumeration("UNKNOWN"))
        let strict = try AvroSchema(parsing: #"{"type":"enum","name":"S","symbols":["A"]}"#)
        #expect(throws: AvroCodingError.self) { try Self.roundTrip(.enumeration("B"), writer: writer, reader: strict) }
    }

    @Test func unionsWidenAndNarrow() throws {
        let plain = try AvroSchema(parsing: #""string""#)
        let widened = try AvroSchema(parsing: #"["null","string"]"#)
        #expect(try Self.roundTrip(.string("x"), writer: plain, reader: widened) == .union(branch: 1, value: .string("x")))
        #expect(try Self.roundTrip(.union(branch: 1, value: .string("x")), writer: widened, reader: plain) == .string("x"))
        #expect(throws: AvroCodingError.self) { try Self.roundTrip(.union(branch: 0, value: .null), writer: widened, reader: plain) }
    }

    @Test func readerAliasesFindRenamedFieldsAndTypes() throws {
        let writer = try AvroSchema(parsing: #"{"type":"record","name":"Old","fields":[{"name":"mail","type":"string"}]}"#)
        let reader = try AvroSchema(parsing: #"{"type":"record","name":"New","aliases":["Old"],"fields":[{"name":"email","type":"string","aliases":["mail"]}]}"#)
        #expect(try Self.roundTrip(.record([.string("a@b")]), writer: writer, reader: reader) == .record([.string("a@b")]))
    }

    @Test func missingFieldWithoutDefaultSaysWhere() throws {
        let writer = try Self.schema("user-v1")
        let reader = try Self.schema("user-add-required-email")
        let bytes = try AvroBinary.encode(.record([.long(1), .string("n")]), schema: writer)
        do {
            _ = try AvroBinary.decode(bytes[...], writer: writer, reader: reader)
            Issue.record("resolved a reader field that has no default")
        } catch {
            #expect(error.message.contains("no field \"email\""))
        }
    }
}
