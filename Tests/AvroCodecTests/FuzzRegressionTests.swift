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

    /// Compatibility inputs: a schema is FULL_TRANSITIVE-compatible with itself (the first input is a union of
    /// two records named `B` in different namespaces, which used to read one as the other).
    @Test func compatibilityInputsAreCompatibleWithThemselves() throws {
        let inputs = Self.inputs("FuzzCompatibility")
        #expect(!inputs.isEmpty)
        for input in inputs {
            let bytes = Array(try Data(contentsOf: input))
            let schema = try AvroSchema(parsing: Array(bytes[..<(bytes.firstIndex(of: 0) ?? bytes.count)]))
            let report = CompatibilityChecker.check(schema, against: [ExistingSchemaVersion(version: 1, schema: schema)], level: .fullTransitive)
            #expect(report.isCompatible, "\(input.lastPathComponent): \(report.incompatibilities.map(\.message))")
        }
    }

    /// Decoding through that union picks the branch with the same full name.
    @Test func aUnionOfSameNamedRecordsDecodesEachAsItself() throws {
        let text = #"[{"type":"record","name":"B","namespace":"one","fields":[{"name":"x","type":"int"}]},{"type":"record","name":"B","namespace":"two","fields":[{"name":"y","type":"string"}]}]"#
        let schema = try AvroSchema(parsing: text)
        let bytes: [UInt8] = [0x02, 0x04, 0x68, 0x69]  // branch 1 (two.B), y = "hi"
        let plan = ResolutionPlan(writer: schema, reader: schema)
        #expect(try plan.decode(bytes[...]) == AvroBinary.decode(bytes[...], schema: schema))
    }

    /// A reader union branch that names the writer's full name as an alias is chosen before one that only shares
    /// the unqualified name.
    @Test func aUnionBranchAliasedToTheWritersFullNameIsChosenFirst() throws {
        let writer = try AvroSchema(parsing: #"{"type":"record","name":"B","namespace":"a","fields":[{"name":"x","type":"int"}]}"#)
        let reader = try AvroSchema(parsing: #"[{"type":"record","name":"B","namespace":"b","fields":[{"name":"y","type":"string"}]},{"type":"record","name":"C","namespace":"a","aliases":["a.B"],"fields":[{"name":"x","type":"int"}]}]"#)
        #expect(CompatibilityChecker.check(reader, against: [ExistingSchemaVersion(version: 1, schema: writer)], level: .backward).isCompatible)
        let decoded = try ResolutionPlan(writer: writer, reader: reader).decode([0x54][...])  // x = 42
        #expect(try AvroBinary.encode(decoded, schema: reader) == [0x02, 0x54])
    }

    /// The first input: a type in the null namespace inside a namespaced record. Its normalized text must reset
    /// the namespace, or the bare name is read as the record's namespace.
    @Test func aNullNamespaceTypeInsideANamespacedOneKeepsItsNamespace() throws {
        let schema = try AvroSchema(parsing: #"{"type":"record","name":"R","namespace":"a","fields":[{"name":"x","type":{"type":"enum","name":"E","namespace":"","symbols":["A"]}},{"name":"y","type":"E"}]}"#)
        #expect(schema.normalizedText.contains(#"{"name":"E","namespace":"","type":"enum""#), "\(schema.normalizedText)")
    }
}
