import AvroCodec
import FuzzSupport

/// The schema parser on any bytes, and the writers on what it accepts: the canonical text (what the registry
/// stores), the normalized text and the resolved text each parse again to the same schema (the same Parsing
/// Canonical Form), and the canonical text is stable.
func fuzzSchema(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let schema = try? AvroSchema(parsing: bytes(data, size)) else { return 0 }
    let form = schema.canonicalForm
    for (name, text) in [("canonical text", schema.canonicalText), ("normalized text", schema.normalizedText), ("resolved text", schema.resolvedText)] {
        let again: AvroSchema
        do {
            again = try AvroSchema(parsing: text)
        } catch {
            require(false, "the \(name) does not parse again (\(error)): \(text.prefix(300))")
            return 0
        }
        // Confluent's normalized text writes an `error` as a `record` (Java's type name for both); nothing else
        // may change.
        let expected = name == "normalized text" ? form.replacing(#""type":"error""#, with: #""type":"record""#) : form
        require(again.canonicalForm == expected, "the \(name) parses to another schema: \(form.prefix(300)) became \(again.canonicalForm.prefix(300))")
    }
    let reparsed = try? AvroSchema(parsing: schema.canonicalText)
    require(reparsed?.canonicalText == schema.canonicalText, "the canonical text is not stable: \(schema.canonicalText.prefix(300))")
    // The Parsing Canonical Form is a fingerprint input, not a text to parse again (it drops namespaces, so a
    // null-namespace type inside a namespaced one cannot be told apart): it is only required to be computed.
    return 0
}

@main
struct Main {
    static func main() {
        runFuzzer { data, size in data.map { fuzzSchema($0, size) } ?? 0 }
    }
}
