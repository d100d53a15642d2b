import AvroCodec
import HTTPServer
import Registry

/// Confluent's JSON entities for schemas (the 8.x shapes: clients ignore members they do not know).
extension RegistryAPI {
    /// A `Schema` entity: a subject's version. `format=resolved` inlines referenced types.
    func schemaObject(_ registered: RegisteredSchema, format: String? = nil) throws -> JSONValue {
        let text = format == "resolved" ? try registry.resolvedText(id: registered.id) : registered.schema
        var members: [(String, JSONValue)] = [
            ("subject", .string(registered.subject)), ("version", .integer(Int64(registered.version))), ("id", .integer(Int64(registered.id))),
            ("guid", .string(registered.guid)), ("schemaType", .string("AVRO")),
        ]
        appendContents(to: &members, references: registered.references, contract: registered.contract)
        members.append(("schema", .string(text)))
        members.append(("ts", .integer(registered.timestamp)))
        members.append(("deleted", .bool(registered.isDeleted)))
        return .object(members)
    }

    /// The register response: the version as stored, without `subject` (Confluent 8).
    func registrationObject(_ registered: RegisteredSchema) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("id", .integer(Int64(registered.id))), ("version", .integer(Int64(registered.version))), ("guid", .string(registered.guid)),
            ("schemaType", .string("AVRO")),
        ]
        appendContents(to: &members, references: registered.references, contract: registered.contract)
        members.append(("schema", .string(registered.schema)))
        members.append(("ts", .integer(registered.timestamp)))
        members.append(("deleted", .bool(registered.isDeleted)))
        return .object(members)
    }

    /// A `SchemaString` entity (`GET /schemas/ids/{id}`): `subject`/`version` with `?subject=` (a subject the
    /// caller may read),
    /// `maxId` with `fetchMaxId`, the resolved text with `format=resolved`.
    func schemaString(_ stored: StoredSchema, _ query: Query, _ access: Access = Access(principal: nil)) throws -> JSONValue {
        let text = query.value("format") == "resolved" ? try registry.resolvedText(id: stored.id) : stored.schema
        var members: [(String, JSONValue)] = [("schema", .string(text)), ("schemaType", .string("AVRO"))]
        appendContents(to: &members, references: stored.references, contract: stored.contract)
        members.append(("guid", .string(stored.guid)))
        if let subject = query.value("subject"), access.may(.read, subject), let pair = try registry.versions(usingID: stored.id, includeDeleted: true).first(where: { $0.subject == subject }) {
            members.append(("subject", .string(pair.subject)))
            members.append(("version", .integer(Int64(pair.version))))
        }
        if query.flag("fetchMaxId") { members.append(("maxId", .integer(Int64(registry.maximumID)))) }
        return .object(members)
    }

    private func appendContents(to members: inout [(String, JSONValue)], references: [SchemaReference], contract: DataContract) {
        if !references.isEmpty {
            members.append(("references", .array(references.map {
                .object([("name", .string($0.name)), ("subject", .string($0.subject)), ("version", .integer(Int64($0.version)))])
            })))
        }
        if let metadata = contract.metadata { members.append(("metadata", metadata.json)) }
        if let ruleSet = contract.ruleSet { members.append(("ruleSet", ruleSet.json)) }
    }

    func json(_ value: JSONValue, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, contentType: RegistryAPI.mediaType, body: Array(value.compactText.utf8))
    }

    /// `…/schema` endpoints return the schema text itself, labelled as JSON, as Confluent does.
    func raw(_ text: String) -> HTTPResponse {
        HTTPResponse(status: 200, contentType: RegistryAPI.mediaType, body: Array(text.utf8))
    }
}
