import AvroCodec
import Testing

@testable import ChangeEvents

struct FieldNamingTests {
    static func columns(_ names: [String]) -> [ColumnDescription] {
        names.map { ColumnDescription(name: $0, typeOID: 25, typeModifier: -1, isKey: false, isNullable: true, defaultExpression: nil) }
    }

    static func table(_ names: [String]) -> TableDescription {
        let id = ColumnDescription(name: "id", typeOID: 23, typeModifier: -1, isKey: true, isNullable: false, defaultExpression: nil)
        return TableDescription(namespace: "public", name: "t", columns: [id] + columns(names), replicaIdentity: UInt8(ascii: "d"))
    }

    @Test func columnsThatCleanUpToOneNameGetNumberedSuffixes() {
        #expect(ChangeEventSchemas.fieldNames(of: Self.columns(["a-b", "a b", "id", "a_b"])) == ["a_b_2", "a_b_3", "id", "a_b"])
        #expect(ChangeEventSchemas.fieldNames(of: Self.columns(["x y", "x-y", "x.y"])) == ["x_y", "x_y_2", "x_y_3"])
    }

    @Test func aNewVersionKeepsEveryColumnsFieldName() throws {
        let first = try ChangeEventSchemas(table: Self.table(["a-b", "a b"]), topicPrefix: "cdc")
        #expect(ChangeEventSchemas.fieldNames(of: first.table.columns) == ["id", "a_b", "a_b_2"])
        // "a-b" dropped, "a_b" added: "a b" keeps a_b_2 (it would have become a_b), the new a_b is free.
        let second = ChangeEventSchemas.continuing(Self.table(["a b", "a_b"]), from: first.value)
        #expect(ChangeEventSchemas.fieldNames(of: second.columns) == ["id", "a_b_2", "a_b"])
        // A name an older release gave (gr__e) stays, though this one would transliterate (grosse).
        let older = try AvroSchema(
            parsing: #"{"type":"record","name":"Envelope","fields":[{"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"gr__e","type":["null","string"],"pg.column":"größe"}]}]},{"name":"after","type":["null","Value"]}]}"#)
        let renamed = ChangeEventSchemas.continuing(Self.table(["größe"]), from: older)
        #expect(ChangeEventSchemas.fieldNames(of: renamed.columns) == ["id", "gr__e"])
    }

    @Test func accentedLettersAreTransliterated() {
        #expect(ChangeEventSchemas.fieldNames(of: Self.columns(["größe", "grüße", "Straße", "café", "Łódź", "Æble", "naïve"])) == [
            "grosse", "grusse", "Strasse", "cafe", "Lodz", "AEble", "naive",
        ])
    }

    @Test func topicsUseOnlyCharactersKafkaAllows() {
        #expect(ChangeEventSchemas.topicName(prefix: "cdc", schema: "public", table: "odd/name,x y") == "cdc.public.odd_name_x_y")
        #expect(ChangeEventSchemas.topicName(prefix: "cdc", schema: "sales-eu", table: "Orders_2") == "cdc.sales-eu.Orders_2")
    }

    @Test func schemasWithCollidingColumnsParseAndKeepTheOriginalNames() throws {
        let columns = ["a-b", "a b", "größe", "grüße"].enumerated().map { index, name in
            ColumnDescription(name: name, typeOID: 25, typeModifier: -1, isKey: false, isNullable: true, defaultExpression: nil)
        }
        let id = ColumnDescription(name: "id", typeOID: 23, typeModifier: -1, isKey: true, isNullable: false, defaultExpression: nil)
        let schemas = try ChangeEventSchemas(
            table: TableDescription(namespace: "public", name: "t", columns: [id] + columns, replicaIdentity: UInt8(ascii: "d")), topicPrefix: "cdc")
        #expect(schemas.valueText.contains(#""name":"a_b","type":["null","string"],"default":null,"pg.column":"a-b""#))
        #expect(schemas.valueText.contains(#""name":"a_b_2""#))
        #expect(schemas.valueText.contains(#""pg.column":"grüße""#))
    }
}
