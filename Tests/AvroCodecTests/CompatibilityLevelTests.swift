import Testing

@testable import AvroCodec

/// Levels with Confluent's meaning, over the schema chains in `fixtures/evolution/`.
struct CompatibilityLevelTests {
    static func schema(_ name: String) throws -> AvroSchema {
        try AvroSchema(parsing: Fixtures.bytes("evolution/\(name).avsc"))
    }

    static func versions(_ names: String...) throws -> [ExistingSchemaVersion] {
        try names.enumerated().map { ExistingSchemaVersion(version: $0.offset + 1, schema: try schema($0.element)) }
    }

    @Test func noneChecksNothing() throws {
        let report = CompatibilityChecker.check(try Self.schema("user-v2-drop-name"), against: try Self.versions("user-add-required-email"), level: .none)
        #expect(report.isCompatible)
        #expect(report.comparedVersions.isEmpty)
    }

    @Test(arguments: CompatibilityLevel.allCases)
    func firstVersionIsAlwaysCompatible(_ level: CompatibilityLevel) throws {
        let report = CompatibilityChecker.check(try Self.schema("user-v1"), against: [], level: level)
        #expect(report.isCompatible)
    }

    /// v1 {id, name: string} → v2 drops name → v3 brings name back as int with a default.
    /// v3 reads v2 data (name defaults), but not v1 data (string is not promotable to int).
    @Test func nonTransitiveLevelsCompareWithTheLatestVersionOnly() throws {
        let existing = try Self.versions("user-v1", "user-v2-drop-name")
        let new = try Self.schema("user-v3-name-as-int")
        let backward = CompatibilityChecker.check(new, against: existing, level: .backward)
        #expect(backward.isCompatible)
        #expect(backward.comparedVersions == [2])

        let transitive = CompatibilityChecker.check(new, against: existing, level: .backwardTransitive)
        #expect(!transitive.isCompatible)
        #expect(transitive.comparedVersions == [2, 1])
        let problem = try #require(transitive.incompatibilities.first)
        #expect(transitive.incompatibilities.count == 1)
        #expect(problem.type == .typeMismatch)
        #expect(problem.version == 1)
        #expect(problem.direction == .backward)
        #expect(problem.path == "/fields/1/type")
        #expect(problem.additionalInfo == "reader type: INT not compatible with writer type: STRING")
        #expect(problem.message == "The type (path '/fields/1/type') of a field in the new schema does not match with the old schema")
    }

    /// FORWARD: the old schema reads the new schema's data. Dropping a field the old schema
    /// requires (no default) breaks old readers.
    @Test func forwardDetectsARemovedRequiredField() throws {
        let report = CompatibilityChecker.check(try Self.schema("user-v2-drop-name"), against: try Self.versions("user-v1"), level: .forward)
        let problem = try #require(report.incompatibilities.first)
        #expect(report.incompatibilities.count == 1)
        #expect(problem.type == .readerFieldMissingDefaultValue)
        #expect(problem.direction == .forward)
        #expect(problem.location == "/fields/1")
        #expect(problem.path == "")  // the record itself, in the new schema
        #expect(problem.message == "The field 'name' at path '/fields/1' in the old schema has no default value and is missing in the new schema")
        #expect(problem.fix.contains("keep field `name`"))
        // The same change is BACKWARD compatible: the new schema ignores the old field.
        #expect(CompatibilityChecker.check(try Self.schema("user-v2-drop-name"), against: try Self.versions("user-v1"), level: .backward).isCompatible)
    }

    @Test func addingARequiredFieldIsForwardButNotBackwardCompatible() throws {
        let new = try Self.schema("user-add-required-email")
        let existing = try Self.versions("user-v1")
        #expect(CompatibilityChecker.check(new, against: existing, level: .forward).isCompatible)
        let full = CompatibilityChecker.check(new, against: existing, level: .full)
        #expect(full.incompatibilities.map(\.type) == [.readerFieldMissingDefaultValue])
        #expect(full.incompatibilities.map(\.direction) == [.backward])
        #expect(full.incompatibilities.first?.path == "/fields/2")
    }

    @Test(arguments: CompatibilityLevel.allCases)
    func addingAnOptionalFieldIsCompatibleAtEveryLevel(_ level: CompatibilityLevel) throws {
        let report = CompatibilityChecker.check(try Self.schema("user-add-optional-email"), against: try Self.versions("user-v1"), level: level)
        #expect(report.isCompatible)
    }

    /// FULL lists, for each version, the forward problems before the backward ones (Confluent's order).
    @Test func fullReportsForwardProblemsBeforeBackwardOnes() throws {
        let report = CompatibilityChecker.check(try Self.schema("user-name-int-and-required-age"), against: try Self.versions("user-v1"), level: .full)
        #expect(report.incompatibilities.map(\.direction) == [.forward, .backward, .backward])
        #expect(report.incompatibilities.map(\.type) == [.typeMismatch, .typeMismatch, .readerFieldMissingDefaultValue])
        #expect(report.incompatibilities[0].additionalInfo == "reader type: STRING not compatible with writer type: INT")
    }

    @Test func transitiveLevelsReportEveryVersionNewestFirst() throws {
        let existing = try Self.versions("user-v1", "user-add-optional-email")
        let report = CompatibilityChecker.check(try Self.schema("user-name-int-and-required-age"), against: existing, level: .fullTransitive)
        #expect(report.comparedVersions == [2, 1])
        let versions = report.incompatibilities.map(\.version)
        #expect(versions.first == 2)
        #expect(versions.last == 1)
        #expect(versions == versions.sorted(by: >))
    }

    /// "Report all problems, not just the first": one change with six kinds of problem.
    @Test func reportsEveryProblemWithPathAndFix() throws {
        let report = CompatibilityChecker.check(try Self.schema("order-v2-many-problems"), against: try Self.versions("order-v1"), level: .backward)
        let found = report.incompatibilities.map { "\($0.type.rawValue) \($0.path)" }
        #expect(
            found == [
                "TYPE_MISMATCH /fields/0/type",
                "MISSING_ENUM_SYMBOLS /fields/1/type/symbols",
                "FIXED_SIZE_MISMATCH /fields/2/type/size",
                "LOGICAL_TYPE_MISMATCH /fields/3/type",
                "MISSING_UNION_BRANCH /fields/4/type",
                "READER_FIELD_MISSING_DEFAULT_VALUE /fields/5",
            ])
        for problem in report.incompatibilities {
            #expect(problem.version == 1)
            #expect(!problem.message.isEmpty)
            #expect(!problem.fix.isEmpty)
        }
        let byType = Dictionary(report.incompatibilities.map { ($0.type, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byType[.missingUnionBranch]?.location == "/fields/4/type/2")
        #expect(byType[.missingUnionBranch]?.additionalInfo == "reader union lacking writer type: LONG")
        #expect(byType[.missingEnumSymbols]?.additionalInfo == "[SHIPPED]")
        #expect(byType[.fixedSizeMismatch]?.additionalInfo == "expected: 16, found: 32")
        #expect(byType[.typeMismatch]?.fix.contains("change the type back to `long`") == true)
        #expect(byType[.missingEnumSymbols]?.fix.contains("\"SHIPPED\"") == true)
        #expect(byType[.fixedSizeMismatch]?.fix.contains("\"size\": 16") == true)
        #expect(byType[.logicalTypeMismatch]?.fix.contains("\"precision\": 10") == true)
        #expect(byType[.missingUnionBranch]?.fix.contains("`long`") == true)
        #expect(
            byType[.readerFieldMissingDefaultValue]?.fix
                == "give field `currency` a default, e.g. make it [\"null\",\"string\"] with \"default\": null, or keep the type and add \"default\": \"\"")
    }

    @Test func renamedRecordSuggestsAnAlias() throws {
        let report = CompatibilityChecker.check(try Self.schema("order-v2-breaking"), against: try Self.versions("order-v1"), level: .backward)
        let problem = try #require(report.incompatibilities.first)
        #expect(problem.type == .nameMismatch)
        #expect(problem.path == "/name")
        #expect(problem.additionalInfo == "expected: com.example.shop.Order")
        #expect(problem.fix.contains("\"aliases\": [\"com.example.shop.Order\"]"))
    }

    @Test func fixForANullableUnionIsANullDefault() throws {
        let old = try Self.versions("user-v1")
        let new = try AvroSchema(
            json: .object(
                JSONObject(members: [
                    .init(key: "type", value: .string("record")), .init(key: "name", value: .string("com.example.User")),
                    .init(
                        key: "fields",
                        value: .array([
                            .object(JSONObject(members: [.init(key: "name", value: .string("id")), .init(key: "type", value: .string("long"))])),
                            .object(JSONObject(members: [.init(key: "name", value: .string("name")), .init(key: "type", value: .string("string"))])),
                            .object(
                                JSONObject(members: [
                                    .init(key: "name", value: .string("email")), .init(key: "type", value: .array([.string("null"), .string("string")])),
                                ])),
                        ])),
                ])))
        let problem = try #require(CompatibilityChecker.check(new, against: old, level: .backward).incompatibilities.first)
        #expect(problem.fix == "give field `email` a default: add \"default\": null")
    }

    /// Old `["null","string"]`, new `"string"`: old null values have no reader. The fix restores the union.
    @Test func narrowingAUnionSuggestsRestoringTheBranch() throws {
        let report = CompatibilityChecker.check(
            try Self.schema("user-add-required-email"), against: try Self.versions("user-add-optional-email"), level: .backward)
        let problem = try #require(report.incompatibilities.first)
        #expect(report.incompatibilities.count == 1)
        #expect(problem.type == .typeMismatch)
        #expect(problem.path == "/fields/2/type")
        #expect(problem.location == "/fields/2/type/0")
        #expect(problem.fix.hasPrefix("add `null` back: make the type a union that includes it"))
    }

    @Test func levelNamesAreConfluents() {
        #expect(CompatibilityLevel.allCases.map(\.rawValue) == [
            "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE",
        ])
    }
}
