import AvroCodec
import FuzzSupport

let plans = FuzzSchemas.pairs.map { ResolutionPlan(writer: FuzzSchemas.schemas[$0.writer], reader: FuzzSchemas.schemas[$0.reader]) }

/// The binary decoder and the resolution plans on fuzzed bytes (the first byte picks the schema pair): never
/// crash; a value decoded is encoded and decoded back to itself.
func fuzzBinary(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = bytes(data, size)
    guard let choice = input.first else { return 0 }
    let index = Int(choice) % FuzzSchemas.pairs.count
    let payload = input.dropFirst()
    let writer = FuzzSchemas.schemas[FuzzSchemas.pairs[index].writer]
    if let value = try? AvroBinary.decode(payload, schema: writer) {
        guard let encoded = try? AvroBinary.encode(value, schema: writer) else {
            require(false, "a decoded value does not encode")
            return 0
        }
        require((try? AvroBinary.decode(encoded[...], schema: writer)) == value, "a value does not survive encode → decode")
        _ = AvroJSON.json(value, schema: writer, style: .avro)
    }
    _ = try? plans[index].decode(payload)
    return 0
}

@main
struct Main {
    static func main() {
        runFuzzer { data, size in data.map { fuzzBinary($0, size) } ?? 0 }
    }
}
