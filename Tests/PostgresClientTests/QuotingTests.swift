import Testing

@testable import PostgresClient

/// Literals and identifiers built for SQL text: every quote doubled, whatever grapheme cluster it sits in.
struct QuotingTests {
    /// Texts whose quote shares a `Character` with its neighbour: U+0600 (a Prepend mark) joins the next
    /// scalar into one grapheme cluster, a combining accent joins the previous one.
    static let hostile = ["x\u{600}'); DROP TABLE t; --", "\u{600}'", "'\u{301}", "\u{600}\"", "a''b", "\u{600}\u{600}''", "\\'"]

    @Test(arguments: hostile) func everyQuoteIsDoubledInALiteral(_ text: String) {
        let quoted = PostgresConnection.quoteLiteral(text)
        let quotes = text.unicodeScalars.filter { $0 == "'" }.count
        #expect(quoted.unicodeScalars.filter { $0 == "'" }.count == quotes * 2 + 2)
        // Inside the outer quotes, quotes come in pairs only.
        let inner = Array(quoted.unicodeScalars.dropFirst().dropLast())
        var index = 0
        while index < inner.count {
            if inner[index] == "'" {
                #expect(index + 1 < inner.count && inner[index + 1] == "'")
                index += 2
            } else {
                index += 1
            }
        }
    }

    @Test(arguments: hostile) func everyQuoteIsDoubledInAnIdentifier(_ text: String) {
        let quoted = PostgresConnection.quoteIdentifier(text)
        let quotes = text.unicodeScalars.filter { $0 == "\"" }.count
        #expect(quoted.unicodeScalars.filter { $0 == "\"" }.count == quotes * 2 + 2)
    }

    @Test(.enabled(if: PostgresCluster.isAvailable, "needs the PostgreSQL server binaries"))
    func aHostileLiteralComesBackAsItselfAndRunsNothing() throws {
        let cluster = try PostgresCluster.start()
        defer { cluster.stop() }
        let connection = try PostgresConnection(conninfo: cluster.conninfo, replication: false)
        try connection.execute("CREATE TABLE t (a int)")
        for text in QuotingTests.hostile {
            let results = try connection.batch("SELECT \(PostgresConnection.quoteLiteral(text)); SELECT count(*) FROM t")
            #expect(results.first?.first?.first == text)
            #expect(results.count == 2)
            let identifier = PostgresConnection.quoteIdentifier(text)
            try connection.execute("CREATE TABLE \(identifier) (a int); DROP TABLE \(identifier)")
        }
        #expect(try connection.query("SELECT count(*) FROM t").first?.first == "0")
    }
}
