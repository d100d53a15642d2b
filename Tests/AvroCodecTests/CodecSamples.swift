@testable import AvroCodec

/// Values of `fixtures/codec/everything.avsc` (every Avro type, a recursive field) with edge values.
enum CodecSamples {
    static func everythingSchema() throws -> AvroSchema {
        try AvroSchema(parsing: Fixtures.bytes("codec/everything.avsc"))
    }

    /// One record; with `nested`, its `next` field holds a second record.
    static func everything(_ text: String, nested: Bool = false) -> AvroValue {
        .record([
            .null, .boolean(true), .int(Int32.min), .long(Int64.max), .float(.nan), .double(-.infinity), .bytes([0, 255]),
            .string(text), .enumeration("C"),
            .array([.union(branch: 1, value: .long(Int64.min)), .union(branch: 0, value: .null)]),
            .map([.init(key: "k", value: .string("")), .init(key: "ü", value: .string("v"))]),
            .union(branch: 2, value: .array([.int(0), .int(Int32.max)])), .fixed([1, 2, 3]),
            nested ? .union(branch: 1, value: everything("nested")) : .union(branch: 0, value: .null),
        ])
    }

    /// Edge values of each type, each with the schema it belongs to.
    static let edgeValues: [(schema: String, values: [AvroValue])] = [
        (#""int""#, [.int(0), .int(-1), .int(1), .int(Int32.min), .int(Int32.max)]),
        (#""long""#, [.long(0), .long(Int64.min), .long(Int64.max), .long(-64), .long(64)]),
        (#""float""#, [.float(0), .float(-0.0), .float(.nan), .float(.infinity), .float(-.infinity), .float(.leastNonzeroMagnitude), .float(.greatestFiniteMagnitude)]),
        (#""double""#, [.double(0), .double(.nan), .double(.infinity), .double(-.infinity), .double(.leastNonzeroMagnitude), .double(.greatestFiniteMagnitude)]),
        (#""string""#, [.string(""), .string("nul\u{0}inside"), .string("é✓😀"), .string(String(repeating: "z", count: 70_000))]),
        (#""bytes""#, [.bytes([]), .bytes(Array(0...255))]),
        (#""boolean""#, [.boolean(false), .boolean(true)]),
        (#"{"type":"array","items":"long"}"#, [.array([]), .array((0..<1_000).map { .long($0) })]),
        (#"{"type":"map","values":["null","double"]}"#, [.map([]), .map([.init(key: "", value: .union(branch: 0, value: .null)), .init(key: "π", value: .union(branch: 1, value: .double(3.14)))])]),
        (#"["null","int"]"#, [.union(branch: 0, value: .null), .union(branch: 1, value: .int(-7))]),
        (#"{"type":"array","items":{"type":"array","items":["null","string"]}}"#, [.array([.array([]), .array([.union(branch: 1, value: .string("deep")), .union(branch: 0, value: .null)])])]),
        (#"{"type":"fixed","name":"Z","size":0}"#, [.fixed([])]),
    ]
}
