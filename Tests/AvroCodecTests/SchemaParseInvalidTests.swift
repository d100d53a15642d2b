import Testing

@testable import AvroCodec

/// One invalid-schema fixture: the schema, and the kind and JSON path of the error it must produce.
struct InvalidSchemaCase: Sendable, CustomTestStringConvertible {
    let name: String
    let schema: JSONValue?
    let text: String?
    let kind: String
    let path: String
    let rule: String

    var testDescription: String { name }

    static func all() -> [InvalidSchemaCase] {
        Fixtures.array("invalid-schemas/cases.json").map { entry in
            InvalidSchemaCase(
                name: entry["name"]?.stringValue ?? "?", schema: entry["schema"], text: entry["text"]?.stringValue,
                kind: entry["kind"]?.stringValue ?? "?", path: entry["path"]?.stringValue ?? "?", rule: entry["rule"]?.stringValue ?? "")
        }
    }
}

struct SchemaParseInvalidTests {
    @Test func fixtureHasAtLeastFortyCases() {
        #expect(InvalidSchemaCase.all().count >= 40)
    }

    /// Each case is invalid for exactly one reason (its `rule`, quoting the specification); the
    /// parser must reject it with that kind of error at that JSON path.
    @Test(arguments: InvalidSchemaCase.all())
    func rejectsWithKindAndPath(_ testCase: InvalidSchemaCase) {
        do {
            if let text = testCase.text {
                _ = try AvroSchema(parsing: text)
            } else {
                _ = try AvroSchema(json: testCase.schema ?? .null)
            }
            Issue.record("accepted an invalid schema; rule: \(testCase.rule)")
        } catch {
            #expect(error.kind.rawValue == testCase.kind, "message: \(error.message)")
            #expect(error.path == testCase.path, "message: \(error.message)")
            #expect(!error.message.isEmpty)
        }
    }

    @Test func messageNamesTheOffendingThing() {
        let text = #"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"long"}]}"#
        #expect(throws: AvroSchemaError(.duplicateField, at: "/fields/1/name", #"field "a" is defined twice in record "R""#)) {
            try AvroSchema(parsing: text)
        }
    }

    @Test func defaultValidationCanBeTurnedOffForImports() throws {
        let text = #"{"type":"record","name":"R","fields":[{"name":"a","type":"boolean","default":"true"}]}"#
        #expect(throws: AvroSchemaError.self) { try AvroSchema(parsing: text) }
        let schema = try AvroSchema(parsing: text, options: .init(validatesDefaults: false))
        #expect(schema.canonicalForm == #"{"name":"R","type":"record","fields":[{"name":"a","type":"boolean"}]}"#)
    }
}
