import Testing

@testable import AvroCodec

/// One old/new pair from `fixtures/diff/*.json`, with every change expected (kind, path, old and new text, promotion)
/// in order, and the problem types each way.
struct DiffCase: Sendable, CustomTestStringConvertible {
    let file: String
    let name: String
    let old: JSONValue
    let new: JSONValue
    let changes: [JSONValue]
    let backward: [String]
    let forward: [String]

    var testDescription: String { "\(file): \(name)" }

    static func all() -> [DiffCase] {
        Fixtures.files(in: "diff", ending: ".json").flatMap { file in
            Fixtures.array(file).map { entry in
                DiffCase(
                    file: file, name: entry["name"]?.stringValue ?? "?", old: entry["old"] ?? .null, new: entry["new"] ?? .null,
                    changes: entry["changes"]?.arrayValue ?? [], backward: (entry["backward"]?.arrayValue ?? []).compactMap(\.stringValue),
                    forward: (entry["forward"]?.arrayValue ?? []).compactMap(\.stringValue))
            }
        }
    }
}

struct SchemaDiffTests {
    @Test(arguments: DiffCase.all())
    func fixtureCase(_ testCase: DiffCase) throws {
        let diff = SchemaDiff.between(old: try AvroSchema(json: testCase.old), new: try AvroSchema(json: testCase.new))
        let found = diff.changes.map { change -> JSONValue in
            var members: [(String, JSONValue)] = [
                ("kind", .string(change.kind.rawValue)), ("path", .string(change.path)),
                ("old", change.old.map(JSONValue.string) ?? .null), ("new", change.new.map(JSONValue.string) ?? .null),
            ]
            if let promotion = change.promotion { members.append(("promotion", .string(promotion))) }
            return .object(members)
        }
        #expect(found.map(\.compactText) == testCase.changes.map(\.compactText))
        #expect(diff.backwardProblems.map(\.type.rawValue).sorted() == testCase.backward.sorted())
        #expect(diff.forwardProblems.map(\.type.rawValue).sorted() == testCase.forward.sorted())
        #expect(diff.isBackwardCompatible == testCase.backward.isEmpty)
        #expect(diff.isForwardCompatible == testCase.forward.isEmpty)
    }

    @Test func everyKindOfChangeHasAFixtureCase() {
        let covered = Set(DiffCase.all().flatMap(\.changes).compactMap { $0["kind"]?.stringValue })
        #expect(Set(SchemaChange.Kind.allCases.map(\.rawValue)).subtracting(covered).isEmpty)
        #expect(DiffCase.all().count >= 40)
    }

    /// The messages people read name the promotion, the field's default, and which way a union changed.
    @Test func messagesNameWhatChanged() throws {
        let diff = SchemaDiff.between(
            old: try AvroSchema(json: Fixtures.json("diff/messages-old.avsc")), new: try AvroSchema(json: Fixtures.json("diff/messages-new.avsc")))
        #expect(
            diff.changes.map(\.message) == [
                "type changed: int → long (promotion int → long)",
                "type changed: long → int (narrowed: old readers promote int → long, the new schema cannot read old long)",
                "default added: null",
                "type changed: string → [null, string] (made optional)",
                "field renamed: name → fullName (through the alias name)",
                "field added: string, default \"\"",
                "field removed: string, no default",
            ])
    }

    /// The verdicts are the checker's: paths in the reader's schema, fixes phrased as changes to the new schema.
    @Test func verdictsCarryTheCheckersProblems() throws {
        let diff = SchemaDiff.between(
            old: try AvroSchema(json: Fixtures.json("diff/messages-old.avsc")), new: try AvroSchema(json: Fixtures.json("diff/messages-new.avsc")))
        #expect(diff.backwardProblems.map(\.path) == ["/fields/1/type"])
        #expect(diff.backwardProblems.allSatisfy { $0.direction == .backward })
        #expect(Set(diff.forwardProblems.map(\.type)) == [.typeMismatch, .readerFieldMissingDefaultValue])
        #expect(diff.forwardProblems.allSatisfy { $0.direction == .forward && !$0.fix.isEmpty })
    }
}
