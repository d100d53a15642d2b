import Foundation
import Testing

@testable import AvroCodec

/// Exact decimals, ISO 8601 dates and times, and their readable plain-JSON forms.
struct LogicalTypeTests {
    static func schema() throws -> AvroSchema {
        try AvroSchema(parsing: Fixtures.bytes("logical/logical-types.avsc"))
    }

    /// The fixture with every `logicalType` renamed to a custom property: the same record, unannotated.
    static func unannotatedSchema() throws -> AvroSchema {
        let text = Fixtures.text("logical/logical-types.avsc").replacingOccurrences(of: "\"logicalType\"", with: "\"formerLogicalType\"")
        return try AvroSchema(parsing: text)
    }

    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }

    static let fortyDigits = "123456789012345678901234567890.1234567890"
    static let fortyNines = "-999999999999999999999999999999.9999999999"
    static let keyBytes: [UInt8] = [18, 62, 69, 103, 232, 155, 18, 211, 164, 86, 66, 102, 20, 23, 64, 0]
    static let spanBytes: [UInt8] = [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]

    /// A value for every field of the fixture, in field order.
    static let sample = AvroValue.record([
        .bytes(hex("03a0c92075c0dbf3b8acbc5f96ce3f0ad2")),  // amount: fortyDigits
        .fixed([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFB]),  // price: -0.05
        .fixed(hex("e29cd60e3ca35b4054460a9f0000000001")),  // wide: fortyNines, all 17 bytes used
        .string("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
        .fixed(keyBytes),
        .int(19753),
        .int(45_296_789),
        .long(45_296_789_012),
        .long(1_700_000_000_000),
        .long(1_700_000_000_123_456),
        .long(1_700_000_000_123_456_789),
        .long(-1),
        .long(0),
        .long(Int64.max),
        .fixed(spanBytes),
        .union(branch: 1, value: .int(0)),
        .bytes([0x64]),
        .long(86_400_000),
    ])

    static let samplePlainJSON = """
        {"amount":"\(fortyDigits)","price":"-0.05","wide":"\(fortyNines)",\
        "id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","key":"123e4567-e89b-12d3-a456-426614174000",\
        "day":"2024-01-31","timeMillis":"12:34:56.789","timeMicros":"12:34:56.789012",\
        "timestampMillis":"2023-11-14T22:13:20.000Z","timestampMicros":"2023-11-14T22:13:20.123456Z",\
        "timestampNanos":"2023-11-14T22:13:20.123456789Z","localTimestampMillis":"1969-12-31T23:59:59.999",\
        "localTimestampMicros":"1970-01-01T00:00:00.000000","localTimestampNanos":"2262-04-11T23:47:16.854775807",\
        "span":"\\u0001\\u0000\\u0000\\u0000\\u0002\\u0000\\u0000\\u0000\\u0003\\u0000\\u0000\\u0000",\
        "maybeDay":"1970-01-01","fee":"1.00","created":"1970-01-02T00:00:00.000Z"}
        """

    // MARK: Decimals

    @Test(arguments: [
        ("0", 0), ("0.00", 2), ("-0.05", 2), ("12.30", 2), ("-123.45", 2), ("127", 0), ("128", 0), ("-128", 0), ("-129", 0),
        ("255", 0), ("256", 0), ("0.0000000001", 10), (fortyDigits, 10), (fortyNines, 10), ("9999999999999999999999999999999999999999", 0),
    ])
    func decimalTextRoundTripsThroughBytes(_ text: String, _ scale: Int) throws {
        let decimal = try #require(AvroDecimal(string: text, scale: scale))
        let fromBytes = AvroDecimal(unscaledBytes: decimal.unscaledBytes, scale: scale)
        #expect(fromBytes.description == text)
        #expect(fromBytes == decimal)
    }

    @Test(arguments: [
        ("0", "00"), ("127", "7f"), ("128", "0080"), ("-128", "80"), ("-129", "ff7f"), ("255", "00ff"), ("256", "0100"), ("-1", "ff"),
        ("-5", "fb"), ("12.30", "04ce"), (fortyDigits, "03a0c92075c0dbf3b8acbc5f96ce3f0ad2"), (fortyNines, "e29cd60e3ca35b4054460a9f0000000001"),
    ])
    func decimalsUseMinimalTwosComplement(_ text: String, _ bytes: String) throws {
        let scale = text.split(separator: ".").dropFirst().first?.count ?? 0
        #expect(AvroDecimal(string: text, scale: scale)?.unscaledBytes == Self.hex(bytes))
        #expect(AvroDecimal(unscaledBytes: Self.hex(bytes), scale: scale).description == text)
    }

    @Test func unscaledBytesAreReadAsSignedBigEndian() {
        #expect(AvroDecimal(unscaledBytes: [0x00, 0x80], scale: 0).description == "128")
        #expect(AvroDecimal(unscaledBytes: [0xFF], scale: 0).description == "-1")
        #expect(AvroDecimal(unscaledBytes: [0x80], scale: 0).description == "-128")
        #expect(AvroDecimal(unscaledBytes: [0xFF, 0xFF, 0x80], scale: 2).description == "-1.28")
        #expect(AvroDecimal(unscaledBytes: [0xFF, 0xFF, 0x80], scale: 2).unscaledBytes == [0x80])
        #expect(AvroDecimal(unscaledBytes: [0x00, 0x00, 0x01], scale: 3).unscaledBytes == [0x01])
        #expect(AvroDecimal(unscaledBytes: [0x00, 0x00, 0x01], scale: 3).description == "0.001")
        #expect(AvroDecimal(unscaledBytes: [], scale: 1).description == "0.0")
        #expect(AvroDecimal(unscaledBytes: [0xFB], scale: 2).isNegative)
        #expect(!AvroDecimal(unscaledBytes: [0x7F], scale: 2).isNegative)
    }

    @Test func parsingPadsToTheScaleAndDropsOnlyZeros() {
        #expect(AvroDecimal(string: "0.5", scale: 3)?.description == "0.500")
        #expect(AvroDecimal(string: "12", scale: 2)?.description == "12.00")
        #expect(AvroDecimal(string: "1.2300", scale: 2)?.description == "1.23")
        #expect(AvroDecimal(string: "+7", scale: 0)?.description == "7")
        #expect(AvroDecimal(string: "007.10", scale: 1)?.description == "7.1")
        #expect(AvroDecimal(string: "-0.00", scale: 2)?.description == "0.00")
        #expect(AvroDecimal(string: "-0.00", scale: 2)?.unscaledBytes == [0x00])
        #expect(AvroDecimal(string: "1.234", scale: 2) == nil)
        #expect(AvroDecimal(string: "0.5", scale: 0) == nil)
        #expect(AvroDecimal(string: "1", scale: -1) == nil)
    }

    @Test(arguments: ["", "-", "+", "1.", ".5", "1e5", "1,5", " 1", "1 ", "abc", "--1", "1.2.3", "0x10", "١٢"])
    func garbageIsNotADecimal(_ text: String) {
        #expect(AvroDecimal(string: text, scale: 2) == nil)
    }

    @Test func fixedBytesSignExtendAndRefuseWhatDoesNotFit() {
        #expect(AvroDecimal(string: "-0.05", scale: 2)?.fixedBytes(size: 4) == [0xFF, 0xFF, 0xFF, 0xFB])
        #expect(AvroDecimal(string: "1.28", scale: 2)?.fixedBytes(size: 3) == [0x00, 0x00, 0x80])
        #expect(AvroDecimal(string: "32767", scale: 0)?.fixedBytes(size: 2) == [0x7F, 0xFF])
        #expect(AvroDecimal(string: "-32768", scale: 0)?.fixedBytes(size: 2) == [0x80, 0x00])
        #expect(AvroDecimal(string: "32768", scale: 0)?.fixedBytes(size: 3) == [0x00, 0x80, 0x00])
        #expect(AvroDecimal(string: "32768", scale: 0)?.fixedBytes(size: 2) == nil)
        #expect(AvroDecimal(string: "-32769", scale: 0)?.fixedBytes(size: 2) == nil)
        #expect(AvroDecimal(string: Self.fortyNines, scale: 10)?.fixedBytes(size: 17) == Self.hex("e29cd60e3ca35b4054460a9f0000000001"))
        #expect(AvroDecimal(string: Self.fortyNines, scale: 10)?.fixedBytes(size: 16) == nil)
    }

    @Test(arguments: [("0.00", 1), ("-0.05", 1), ("12.30", 4), ("128", 3), ("-99999", 5), ("1000000000", 10), (fortyDigits, 40), (fortyNines, 40)])
    func digitCountCountsTheUnscaledDigits(_ text: String, _ digits: Int) {
        let scale = text.split(separator: ".").dropFirst().first?.count ?? 0
        #expect(AvroDecimal(string: text, scale: scale)?.digitCount() == digits)
    }

    // MARK: Dates and times

    @Test(arguments: [
        (Int32(0), "1970-01-01"), (-1, "1969-12-31"), (11016, "2000-02-29"), (19753, "2024-01-31"), (-719_162, "0001-01-01"),
        (2_932_896, "9999-12-31"), (-719_163, "0000-12-31"), (-719_529, "-0001-12-31"), (2_932_897, "+10000-01-01"),
    ])
    func datesRoundTrip(_ days: Int32, _ text: String) {
        #expect(AvroTemporal.dateString(days: days) == text)
        #expect(AvroTemporal.days(fromDate: text) == days)
    }

    @Test func extremeDatesRoundTrip() {
        for days in [Int32.min, Int32.max, Int32.min + 1, Int32.max - 1] {
            #expect(AvroTemporal.days(fromDate: AvroTemporal.dateString(days: days)) == days)
        }
    }

    @Test(arguments: ["2023-02-29", "1900-02-29", "2000-13-01", "2000-00-10", "2000-01-00", "2000-04-31", "2000-1-01", "20000-01-01", "1970-01-01T", "1970/01/01", ""])
    func invalidDatesAreRefused(_ text: String) {
        #expect(AvroTemporal.days(fromDate: text) == nil)
    }

    @Test func timesOfDayRoundTrip() {
        #expect(AvroTemporal.timeString(45_296_789, unit: .millis) == "12:34:56.789")
        #expect(AvroTemporal.timeString(45_296_789_012, unit: .micros) == "12:34:56.789012")
        #expect(AvroTemporal.timeString(0, unit: .millis) == "00:00:00.000")
        #expect(AvroTemporal.timeString(86_399_999, unit: .millis) == "23:59:59.999")
        #expect(AvroTemporal.timeString(86_400_000, unit: .millis) == nil)
        #expect(AvroTemporal.timeString(-1, unit: .micros) == nil)
        #expect(AvroTemporal.time(fromString: "12:34:56.789", unit: .millis) == 45_296_789)
        #expect(AvroTemporal.time(fromString: "12:34:56.789012", unit: .micros) == 45_296_789_012)
        #expect(AvroTemporal.time(fromString: "23:59:59.999", unit: .millis) == 86_399_999)
    }

    @Test func timeFractionsMayBeShortOrZeroPaddedButNeverLoseDigits() {
        #expect(AvroTemporal.time(fromString: "12:34:56", unit: .millis) == 45_296_000)
        #expect(AvroTemporal.time(fromString: "12:34:56.7", unit: .millis) == 45_296_700)
        #expect(AvroTemporal.time(fromString: "12:34:56.789000", unit: .millis) == 45_296_789)
        #expect(AvroTemporal.time(fromString: "12:34:56.7891", unit: .millis) == nil)
        for text in ["24:00:00", "12:60:00", "12:00:60", "1:00:00", "12:00:00.", "12:00:00Z", "12:00"] {
            #expect(AvroTemporal.time(fromString: text, unit: .micros) == nil, "\(text)")
        }
    }

    @Test func timestampsHaveKnownTexts() {
        #expect(AvroTemporal.timestampString(1_700_000_000_000, unit: .millis, utc: true) == "2023-11-14T22:13:20.000Z")
        #expect(AvroTemporal.timestampString(1_700_000_000_000, unit: .millis, utc: false) == "2023-11-14T22:13:20.000")
        #expect(AvroTemporal.timestampString(1_700_000_000_123_456, unit: .micros, utc: true) == "2023-11-14T22:13:20.123456Z")
        #expect(AvroTemporal.timestampString(1_700_000_000_123_456_789, unit: .nanos, utc: true) == "2023-11-14T22:13:20.123456789Z")
        #expect(AvroTemporal.timestampString(-1, unit: .millis, utc: true) == "1969-12-31T23:59:59.999Z")
        #expect(AvroTemporal.timestampString(Int64.max, unit: .nanos, utc: false) == "2262-04-11T23:47:16.854775807")
        #expect(AvroTemporal.timestampString(Int64.min, unit: .nanos, utc: true) == "1677-09-21T00:12:43.145224192Z")
    }

    @Test(arguments: [AvroTemporal.Unit.millis, .micros, .nanos])
    func timestampsRoundTripOverTheWholeRange(_ unit: AvroTemporal.Unit) {
        for value in [Int64.min, Int64.min + 1, -86_400 * unit.perSecond - 1, -1, 0, 1, 1_700_000_000_123, Int64.max] {
            for utc in [true, false] {
                let text = AvroTemporal.timestampString(value, unit: unit, utc: utc)
                #expect(AvroTemporal.timestamp(fromString: text, unit: unit, utc: utc) == value, "\(text)")
            }
        }
    }

    @Test func timestampParsingAcceptsTheUTCFormsAndRefusesTheRest() {
        #expect(AvroTemporal.timestamp(fromString: "2023-11-14T22:13:20Z", unit: .millis, utc: true) == 1_700_000_000_000)
        #expect(AvroTemporal.timestamp(fromString: "2023-11-14T22:13:20.5+00:00", unit: .millis, utc: true) == 1_700_000_000_500)
        #expect(AvroTemporal.timestamp(fromString: "2023-11-14T22:13:20", unit: .micros, utc: false) == 1_700_000_000_000_000)
        #expect(AvroTemporal.timestamp(fromString: "2023-11-14T22:13:20", unit: .millis, utc: true) == nil)
        #expect(AvroTemporal.timestamp(fromString: "2023-11-14T22:13:20Z", unit: .millis, utc: false) == nil)
        #expect(AvroTemporal.timestamp(fromString: "2023-11-14T22:13:20+01:00", unit: .millis, utc: true) == nil)
        #expect(AvroTemporal.timestamp(fromString: "2023-11-14 22:13:20Z", unit: .millis, utc: true) == nil)
        #expect(AvroTemporal.timestamp(fromString: "2262-04-11T23:47:16.854775808Z", unit: .nanos, utc: true) == nil)  // Int64.max + 1
    }

    // MARK: Value views

    @Test func valueViews() {
        #expect(AvroValue.bytes([0x04, 0xCE]).decimal(scale: 2)?.description == "12.30")
        #expect(AvroValue.fixed([0xFF, 0xFB]).decimal(scale: 2)?.description == "-0.05")
        #expect(AvroValue.string("12.30").decimal(scale: 2) == nil)
        #expect(AvroValue.fixed(Self.keyBytes).uuid?.uuidString.lowercased() == "123e4567-e89b-12d3-a456-426614174000")
        #expect(AvroValue.string("123E4567-E89B-12D3-A456-426614174000").uuid == AvroValue.fixed(Self.keyBytes).uuid)
        #expect(AvroValue.fixed([1, 2, 3]).uuid == nil)
        #expect(AvroValue.string("not a uuid").uuid == nil)
        #expect(AvroValue.int(11016).logicalText(for: .date) == "2000-02-29")
        #expect(AvroValue.long(11016).logicalText(for: .date) == nil)
        #expect(AvroValue.fixed(Self.spanBytes).logicalText(for: .duration) == nil)
    }

    // MARK: JSON and binary

    @Test func plainJSONIsReadableAndRoundTrips() throws {
        let schema = try Self.schema()
        let json = AvroJSON.json(Self.sample, schema: schema, style: .plain)
        #expect(json.compactText == Self.samplePlainJSON)
        #expect(try AvroJSON.value(JSONParser.parse(json.compactText), schema: schema, style: .plain) == Self.sample)
    }

    @Test func avroStyleKeepsTheUnderlyingEncoding() throws {
        let schema = try Self.schema()
        let json = AvroJSON.json(Self.sample, schema: schema, style: .avro)
        let unannotated = try Self.unannotatedSchema()
        #expect(json.compactText == AvroJSON.json(Self.sample, schema: unannotated, style: .avro).compactText)
        #expect(json["day"] == .integer(19753))
        #expect(json["timestampNanos"] == .integer(1_700_000_000_123_456_789))
        #expect(json["price"] == .string("\u{FF}\u{FF}\u{FF}\u{FF}\u{FF}\u{FF}\u{FF}\u{FB}"))
        #expect(json["maybeDay"] == .object([("int", .integer(0))]))
        #expect(try AvroJSON.value(JSONParser.parse(json.compactText), schema: schema, style: .avro) == Self.sample)
        // A readable form is not the Avro encoding: the date text is refused there.
        #expect(throws: AvroCodingError.self) { try AvroJSON.value(Self.replacing(json, "day", with: .string("2024-01-31")), schema: schema, style: .avro) }
    }

    @Test func plainJSONWithoutLogicalTypesIsUnchanged() throws {
        let unannotated = try Self.unannotatedSchema()
        let json = AvroJSON.json(Self.sample, schema: unannotated, style: .plain)
        #expect(json["day"] == .integer(19753))
        #expect(json["fee"] == .string("d"))
    }

    @Test func plainJSONAlsoAcceptsTheUnderlyingValues() throws {
        let schema = try Self.schema()
        var json = try JSONParser.parse(Self.samplePlainJSON)
        let raw: [(String, JSONValue)] = [
            ("day", .integer(19753)), ("timeMillis", .integer(45_296_789)), ("timeMicros", .integer(45_296_789_012)),
            ("timestampMillis", .integer(1_700_000_000_000)), ("localTimestampNanos", .integer(Int64.max)),
            ("key", .string(String(String.UnicodeScalarView(Self.keyBytes.map { Unicode.Scalar($0) })))), ("maybeDay", .integer(0)),
        ]
        for (key, value) in raw { json = Self.replacing(json, key, with: value) }
        #expect(try AvroJSON.value(json, schema: schema, style: .plain) == Self.sample)
    }

    @Test func plainJSONNumbersAreExactDecimals() throws {
        let schema = try Self.schema()
        let base = try JSONParser.parse(Self.samplePlainJSON)
        func read(_ key: String, _ number: String) throws -> AvroValue? {
            let value = try AvroJSON.value(Self.replacing(base, key, with: JSONParser.parse(number)), schema: schema, style: .plain)
            guard case .record(let fields) = value, let index = schema.rootNode.recordFields?.firstIndex(where: { $0.name == key }) else { return nil }
            return fields[index]
        }
        #expect(try read("price", "19.99") == .fixed(Self.hex("00000000000007cf")))
        #expect(try read("price", "-7") == .fixed(Self.hex("fffffffffffffd44")))  // -700
        #expect(try read("amount", "0.0000001")?.decimal(scale: 10)?.description == "0.0000001000")
        #expect(try read("amount", "1e20")?.decimal(scale: 10)?.description == "100000000000000000000.0000000000")
        #expect(try read("amount", "1234567890123456789")?.decimal(scale: 10)?.description == "1234567890123456789.0000000000")
    }

    @Test(arguments: [
        ("price", #""12.345""#, "/1", #""12.345" has more fractional digits than the scale 2 of decimal(18,2)"#),
        ("price", #""12345678901234567.00""#, "/1", #""12345678901234567.00" has 19 digits, more than the precision 18 of decimal(18,2)"#),
        ("price", "0.125", "/1", #""0.125" has more fractional digits than the scale 2 of decimal(18,2)"#),
        ("price", #""\u0000\u0000\u0000\u0000\u0000\u0000\u0007\u00cf""#, "/1", "is not a decimal number for decimal(18,2)"),
        ("amount", #""1,5""#, "/0", #""1,5" is not a decimal number for decimal(40,10)"#),
        ("amount", "0.12345678901234567", "/0", "has too many digits to be read exactly as a JSON number"),
        ("amount", "true", "/0", "expected a decimal(40,10) as a string or a number, got true"),
        ("wide", #""12345678901234567890123456789012345678901""#, "/2", "has 51 digits, more than the precision 40"),
        ("key", #""123e4567-e89b-12d3-a456-42661417400g""#, "/4", "is not a UUID"),
        ("day", #""2023-02-29""#, "/5", #""2023-02-29" is not a date (YYYY-MM-DD)"#),
        ("timeMillis", #""12:34:56.7891""#, "/6", "is not a time of day (HH:MM:SS.fff)"),
        ("timestampMillis", #""2023-11-14T22:13:20.000""#, "/8", "is not a UTC timestamp"),
        ("localTimestampMillis", #""2023-11-14T22:13:20.000Z""#, "/11", "is not a local timestamp"),
        ("timestampNanos", #""2262-04-11T23:47:16.854775808Z""#, "/10", "within range of timestamp-nanos"),
    ])
    func plainJSONErrorsSayWhatAndWhere(_ key: String, _ replacement: String, _ path: String, _ message: String) throws {
        let schema = try Self.schema()
        let json = Self.replacing(try JSONParser.parse(Self.samplePlainJSON), key, with: try JSONParser.parse(replacement))
        do {
            _ = try AvroJSON.value(json, schema: schema, style: .plain)
            Issue.record("accepted \(replacement) for \(key)")
        } catch {
            #expect(error.path == path)
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test func fieldDefaultsKeepTheUnderlyingEncoding() throws {
        let schema = try Self.schema()
        guard case .object(var object) = try JSONParser.parse(Self.samplePlainJSON) else {
            Issue.record("sample is not an object")
            return
        }
        object.members.removeAll { ["maybeDay", "fee", "created"].contains($0.key) }
        guard case .record(let fields) = try AvroJSON.value(.object(object), schema: schema, style: .plain) else {
            Issue.record("not a record")
            return
        }
        #expect(fields.suffix(3) == [.union(branch: 0, value: .null), .bytes([0x64]), .long(86_400_000)])
    }

    @Test func logicalRecordRoundTripsThroughBinary() throws {
        let schema = try Self.schema()
        let bytes = try AvroBinary.encode(Self.sample, schema: schema)
        #expect(try AvroBinary.decode(bytes[...], schema: schema) == Self.sample)
        // amount first: zig-zag length 17 (0x22), then the unscaled two's complement itself.
        #expect(Array(bytes.prefix(18)) == [0x22] + Self.hex("03a0c92075c0dbf3b8acbc5f96ce3f0ad2"))
        // price next: the fixed's eight bytes, no length.
        #expect(Array(bytes[18..<26]) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFB])
    }

    static func replacing(_ json: JSONValue, _ key: String, with value: JSONValue) -> JSONValue {
        guard case .object(var object) = json else { return json }
        for index in object.members.indices where object.members[index].key == key { object.members[index].value = value }
        return .object(object)
    }
}

extension SchemaNode {
    fileprivate var recordFields: [Field]? {
        if case .record(let record) = content { return record.fields }
        return nil
    }
}
