import AvroCodec
import FuzzSupport

/// The Confluent frame reader (magic byte, 4-byte id, payload) and the decode behind it, on fuzzed bytes: never
/// crash; an accepted frame is framed back to the same bytes.
func fuzzFrame(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = bytes(data, size)
    guard let (schemaID, payload) = try? ConfluentWireFormat.unframe(input) else { return 0 }
    require(ConfluentWireFormat.frame(schemaID: schemaID, payload: payload) == input, "framing does not round-trip")
    let schema = FuzzSchemas.schemas[Int(schemaID % UInt32(FuzzSchemas.schemas.count))]
    _ = try? AvroBinary.decode(payload, schema: schema)
    return 0
}

@main
struct Main {
    static func main() {
        runFuzzer { data, size in data.map { fuzzFrame($0, size) } ?? 0 }
    }
}
