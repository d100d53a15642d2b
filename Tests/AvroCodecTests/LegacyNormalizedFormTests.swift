import Testing

@testable import AvroCodec

/// Databases written before the registry stored Confluent's canonical text hold `normalizedForm`
/// and are matched by it: its output must not change by a byte. The expected texts in
/// `fixtures/legacy-normalized-form/` were produced by the code as it was before `canonicalText`
/// was added (commit 9e5b7f7).
struct LegacyNormalizedFormTests {
    static let files = Fixtures.files(in: "legacy-normalized-form", ending: ".avsc").filter { !$0.hasSuffix("/address-reference.avsc") }

    private static func expected(_ file: String) -> String {
        let text = Fixtures.text(file.replacingOccurrences(of: ".avsc", with: ".expected"))
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    private static func parse(_ file: String) throws -> AvroSchema {
        guard file.hasSuffix("-with-reference.avsc") else { return try AvroSchema(parsing: Fixtures.bytes(file)) }
        let address = try AvroSchema(parsing: Fixtures.bytes("legacy-normalized-form/address-reference.avsc"))
        return try AvroSchema(parsing: Fixtures.bytes(file), references: [address])
    }

    @Test func fixtureFolderHasAReferenceCase() {
        #expect(Self.files.count >= 5)
        #expect(Self.files.contains { $0.hasSuffix("-with-reference.avsc") })
    }

    @Test(arguments: files)
    func normalizedFormIsByteForByteUnchanged(_ file: String) throws {
        let schema = try Self.parse(file)
        #expect(schema.normalizedForm == Self.expected(file))
        #expect(schema.legacyNormalizedForm == schema.normalizedForm)
    }

    @Test func referencedSchemaAloneIsUnchanged() throws {
        let address = try AvroSchema(parsing: Fixtures.bytes("legacy-normalized-form/address-reference.avsc"))
        #expect(address.normalizedForm == Self.expected("legacy-normalized-form/address-reference.avsc"))
    }
}
