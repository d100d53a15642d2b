import Foundation
import Testing

@testable import AvroCodec

/// Inputs the fuzz targets (Fuzz/, scripts/fuzz.sh) found failing, kept in Fuzz/regressions/<target>/ and
/// checked here with the property the target checks, so they stay fixed in every test run.
struct FuzzRegressionTests {
    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/regressions")

    static func inputs(_ target: String) -> [URL] {
        let directory = regressions.appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test func schemaInputsParseBackToTheSameSchemaFromEveryWriter() throws {
        let inputs = Self.inputs("FuzzSchema")
        #expect(inputs.count >= 2)
        for input in inputs {
            let schema = try AvroSchema(parsing: Array(try Data(contentsOf: input)))
            for (name, text) in [("canonical", schema.canonicalText), ("normalized", schema.normalizedText), ("resolved", schema.resolvedText)] {
                let again = try AvroSchema(parsing: text)
                let expected = name == "normalized" ? schema.canonicalForm.replacing(#""type":"error""#, with: #""type":"record""#) : schema.canonicalForm
                #expect(again.canonicalForm == expected, "\(input.lastPathComponent), \(name) text: \(text)")
            }
        }
    }

    /// The first input: a type in the null namespace inside a namespaced record. Its normalized text must reset
    /// the namespace, or the bare name is read as the record's namespace.
    @Test func aNullNamespaceTypeInsideANamespacedOneKeepsItsNamespace() throws {
        let schema = try AvroSchema(parsing: #"{"type":"record","name":"R","namespace":"a","fields":[{"name":"x","type":{"type":"enum","name":"E","namespace":"","symbols":["A"]}},{"name":"y","type":"E"}]}"#)
        #expect(schema.normalizedText.contains(#"{"name":"E","namespace":"","type":"enum""#), "\(schema.normalizedText)")
    }
}
