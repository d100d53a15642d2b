import Testing

@testable import WALSource

struct TableListTests {
    @Test func listsTakeSchemaTableAndBareTables() throws {
        #expect(try TableName.parseList("public.items, sales.orders,plain") == [
            TableName(schema: "public", name: "items"), TableName(schema: "sales", name: "orders"), TableName(schema: "public", name: "plain"),
        ])
    }

    @Test func quotedNamesKeepCommasDotsSlashesAndQuotes() throws {
        #expect(try TableName.parseList(#""odd,name", "my.schema"."a/b", public."say ""hi""""#) == [
            TableName(schema: "public", name: "odd,name"), TableName(schema: "my.schema", name: "a/b"), TableName(schema: "public", name: #"say "hi""#),
        ])
    }

    @Test(arguments: ["a.b.c", "\"open", "items,,orders", "\"x\"y", "", "sch\"ema\".t"])
    func malformedListsAreRefused(_ text: String) {
        #expect(throws: TableName.ListError.self) { try TableName.parseList(text) }
    }

    @Test func filesHaveOneTableALineWithCommasAsWritten() throws {
        let text = "# tables\npublic.odd,name\n\n  sales.orders  \nweird/one\r\n\"my.schema\".\"t\"\n"
        #expect(try TableName.parseFile(text) == [
            TableName(schema: "public", name: "odd,name"), TableName(schema: "sales", name: "orders"), TableName(schema: "public", name: "weird/one"),
            TableName(schema: "my.schema", name: "t"),
        ])
    }
}
