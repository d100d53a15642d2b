import PostgresClient
/// A table to capture: schema and name as PostgreSQL spells them (any characters, `.`, `,` and `/`
/// included).
public struct TableName: Hashable, Sendable, CustomStringConvertible {
    public let schema: String
    public let name: String

    public init(schema: String, name: String) {
        self.schema = schema
        self.name = name
    }

    /// "schema.table", for people.
    public var description: String { "\(schema).\(name)" }

    /// The quoted SQL name, `"schema"."table"`: unique even when the parts contain dots.
    var quoted: String { PostgresConnection.quoteIdentifier(schema) + "." + PostgresConnection.quoteIdentifier(name) }

    /// Why a table list could not be read.
    public struct ListError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Tables of a `--tables` list: comma-separated `schema.table` or `table` (schema `public`), each
    /// part as written or double-quoted as in SQL (`"odd,name"`, `"my.schema"."t"`, `""` for a quote
    /// inside quotes). Unquoted parts are taken as written, not folded to lower case.
    public static func parseList(_ text: String) throws(ListError) -> [TableName] {
        var tables: [TableName] = []
        var parts: [String] = []
        var current = ""
        var quoted = false
        var wasQuoted = false
        var scalars = Array(text.unicodeScalars)[...]
        func endPart() throws(ListError) {
            let part = wasQuoted ? current : current.trimming(" \t")
            guard !part.isEmpty || wasQuoted else { throw ListError(description: "empty name in table list \"\(text)\"") }
            parts.append(part)
            current = ""
            wasQuoted = false
        }
        func endTable() throws(ListError) {
            try endPart()
            switch parts.count {
            case 1: tables.append(TableName(schema: "public", name: parts[0]))
            case 2: tables.append(TableName(schema: parts[0], name: parts[1]))
            default: throw ListError(description: "\"\(parts.joined(separator: "."))\" has more than schema and table; quote a name that contains a dot")
            }
            parts = []
        }
        while let scalar = scalars.popFirst() {
            if quoted {
                if scalar == "\"" {
                    if scalars.first == "\"" {
                        scalars.removeFirst()
                        current.unicodeScalars.append("\"")
                    } else {
                        quoted = false
                    }
                } else {
                    current.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case "\"":
                guard current.trimming(" \t").isEmpty else { throw ListError(description: "a quote inside the name \"\(current)\" in \"\(text)\"") }
                current = ""
                quoted = true
                wasQuoted = true
            case ".": try endPart()
            case ",": try endTable()
            default:
                if wasQuoted, scalar != " " && scalar != "\t" {
                    throw ListError(description: "text after a quoted name in \"\(text)\"")
                }
                if !wasQuoted { current.unicodeScalars.append(scalar) }
            }
        }
        guard !quoted else { throw ListError(description: "unterminated quote in \"\(text)\"") }
        try endTable()
        return tables
    }

    /// Tables of a `--tables-file`: one a line, in the syntax of one `--tables` entry (so a name with
    /// a comma needs no quotes here unless it also has a dot); blank lines and `#` comments are skipped.
    public static func parseFile(_ text: String) throws(ListError) -> [TableName] {
        var tables: [TableName] = []
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let entry = String(line).trimming(" \t")
            if entry.isEmpty || entry.hasPrefix("#") { continue }
            // A comma is part of the name here: quote each part so that the list parser keeps it.
            let escaped = entry.contains("\"") ? entry : entry.split(separator: ".", maxSplits: 1).map { "\"\($0)\"" }.joined(separator: ".")
            tables += try parseList(escaped)
        }
        return tables
    }
}
