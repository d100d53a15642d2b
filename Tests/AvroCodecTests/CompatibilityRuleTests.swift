import Testing

@testable import AvroCodec

/// One reader/writer case from `fixtures/compatibility/*.json`, with the specification rule that
/// justifies its expectation.
struct ResolutionCase: Sendable, CustomTestStringConvertible {
    let file: String
    let name: String
    let rule: String
    let reader: JSONValue
    let writer: JSONValue
    let compatible: Bool
    let errors: Set<String>
    let path: String?

    var testDescription: String { "\(file): \(name)" }

    static func all() -> [ResolutionCase] {
        Fixtures.files(in: "compatibility", ending: ".json").flatMap { file in
            Fixtures.array(file).map { entry in
                ResolutionCase(
                    file: file, name: entry["name"]?.stringValue ?? "?", rule: entry["rule"]?.stringValue ?? "",
                    reader: entry["reader"] ?? .null, writer: entry["writer"] ?? .null,
                    compatible: entry["compatible"]?.boolValue ?? false,
                    errors: Set((entry["errors"]?.arrayValue ?? []).compactMap(\.stringValue)),
                    path: entry["path"]?.stringValue)
            }
        }
    }
}

struct CompatibilityRuleTests {
    @Test func fixturesHaveAtLeast150Cases() {
        let cases = ResolutionCase.all()
        #expect(cases.count >= 150)
        #expect(Set(cases.map(\.name)).count == cases.count, "case names must be unique")
        #expect(cases.allSatisfy { !$0.rule.isEmpty }, "every case cites its rule")
    }

    @Test(arguments: ResolutionCase.all())
    func readerWriterCase(_ testCase: ResolutionCase) throws {
        let reader = try AvroSchema(json: testCase.reader)
        let writer = try AvroSchema(json: testCase.writer)
        let problems = SchemaResolution.problems(reader: reader, writer: writer)
        #expect(problems.isEmpty == testCase.compatible, "rule: \(testCase.rule); problems: \(problems.map { "\($0.type.rawValue) \($0.readerPath)" })")
        #expect(SchemaResolution.canRead(reader: reader, writer: writer) == testCase.compatible)
        if !testCase.compatible {
            #expect(Set(problems.map(\.type.rawValue)) == testCase.errors, "rule: \(testCase.rule)")
            if let path = testCase.path {
                #expect(problems.first?.readerPath == path, "rule: \(testCase.rule)")
            }
        }
    }
}
