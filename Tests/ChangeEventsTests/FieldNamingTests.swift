import Testing

@testable import ChangeEvents

struct FieldNamingTests {
    @Test func columnsThatCleanUpToOneNameGetNumberedSuffixes() {
        #expect(ChangeEventSchemas.fieldNames(of: ["a-b", "a b", "id", "a_b"]) == ["a_b_2", "a_b_3", "id", "a_b"])
        #expect(ChangeEventSchemas.fieldNames(of: ["x y", "x-y", "x.y"]) == ["x_y", "x_y_2", "x_y_3"])
    }

    @Test func accentedLettersAreTransliterated() {
        #expect(ChangeEventSchemas.fieldNames(of: ["größe", "grüße", "Straße", "café", "Łódź", "Æble", "naïve"]) == [
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
