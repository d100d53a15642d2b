import AvroCodec
import FuzzSupport

/// The JSON parser on any bytes: never crashes; what it accepts, written compactly and parsed again, is the same
/// value and the same text.
func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let value = try? JSONParser.parse(bytes: bytes(data, size)) else { return 0 }
    let text = value.compactText
    guard let again = try? JSONParser.parse(bytes: Array(text.utf8)) else {
        require(false, "the parser refuses its own output: \(text.prefix(200))")
        return 0
    }
    require(again.compactText == text, "compact text is not stable: \(text.prefix(200))")
    return 0
}

@main
struct Main {
    static func main() {
        runFuzzer { data, size in data.map { fuzzJSON($0, size) } ?? 0 }
    }
}
