import AvroCodec
import Registry

/// A request body that must be a JSON object; anything else is Confluent's HTTP 400. A UTF-8 byte
/// order mark before the JSON is skipped (some Windows tools write one).
func jsonObject(_ body: [UInt8]) throws -> JSONObject {
    let bytes = body.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(body.dropFirst(3)) : body
    let value: JSONValue
    do {
        value = try JSONParser.parse(bytes: bytes)
    } catch {
        throw APIError(status: 400, code: 400, message: "Unrecognized or malformed JSON body: \(error.description)")
    }
    guard case .object(let object) = value else {
        throw APIError(status: 400, code: 400, message: "The request body must be a JSON object, not \(value.kindDescription)")
    }
    return object
}

/// The body of register, lookup and compatibility requests, as a domain request.
func schemaRequest(_ bytes: [UInt8], normalize: Bool) throws -> SchemaRequest {
    let object = try jsonObject(bytes)
    guard case .string(let schema)? = object["schema"], !schema.isEmpty else {
        throw RegistryError.invalidSchema("Empty schema")
    }
    if case .string(let type)? = object["schemaType"], type.uppercased() != "AVRO" {
        throw RegistryError.invalidSchema("schemaType \(type) is not supported; this registry stores AVRO schemas")
    }
    var references: [SchemaReference] = []
    if case .array(let items)? = object["references"] {
        for item in items {
            guard case .string(let name)? = item["name"], case .string(let subject)? = item["subject"], case .integer(let version)? = item["version"] else {
                throw RegistryError.invalidSchema("each reference needs a string \"name\", a string \"subject\" and an integer \"version\"")
            }
            guard !(name + subject).unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw RegistryError.invalidSchema("a reference name or subject contains a control character")
            }
            guard version == -1 || (version >= 1 && version <= Int64(maximumIdentifier)) else {
                throw RegistryError.invalidIdentifier("Invalid reference version \(version): allowed values are between 1 and 2^31-1, or -1 for the latest")
            }
            references.append(SchemaReference(name: name, subject: subject, version: Int(version)))
        }
    }
    var metadata: SchemaMetadata?
    var ruleSet: SchemaRuleSet?
    do throws(DataContractError) {
        if let value = object["metadata"], value != .null { metadata = try SchemaMetadata(json: value) }
    } catch {
        throw RegistryError.invalidSchema("metadata: \(error.description)")
    }
    do throws(DataContractError) {
        if let value = object["ruleSet"] ?? object["ruleset"], value != .null { ruleSet = try SchemaRuleSet(json: value) }
    } catch {
        throw RegistryError.invalidRuleSet(error.description)
    }
    return SchemaRequest(
        schema: schema, references: references, metadata: metadata, ruleSet: ruleSet, explicitID: try identifier(object["id"], what: "schema id"),
        explicitVersion: try identifier(object["version"], what: "version"), normalize: normalize)
}

/// An optional id or version member: absent, null and -1 mean none; anything else must be an
/// integer from 1 to 2^31−1 (a larger one would overflow the 4-byte wire format, or later arithmetic).
private func identifier(_ value: JSONValue?, what: String) throws -> Int? {
    switch value {
    case nil, .null?, .integer(-1)?: return nil
    case .integer(let number)? where number >= 1 && number <= Int64(maximumIdentifier): return Int(number)
    case .integer(let number)?: throw RegistryError.invalidIdentifier("Invalid \(what) \(number): allowed values are between 1 and 2^31-1")
    case let other?: throw RegistryError.invalidIdentifier("Invalid \(what): must be an integer between 1 and 2^31-1, not \(other.compactText)")
    }
}

/// A schema id path segment: not a number → Confluent's 404; a number outside 1…2^31−1 → 422.
func schemaID(_ segment: String) throws -> Int {
    let digits = segment.hasPrefix("-") ? segment.dropFirst() : Substring(segment)
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw APIError.notFound }
    guard let id = Int(segment), id >= 1, id <= maximumIdentifier else {
        throw RegistryError.invalidIdentifier("Invalid schema id \(segment): allowed values are between 1 and 2^31-1")
    }
    return id
}

/// Query parameters, Confluent-style: booleans are "true" in any case.
struct Query {
    let items: [(name: String, value: String)]

    init(_ items: [(name: String, value: String)]) { self.items = items }

    func value(_ name: String) -> String? { items.first { $0.name == name }?.value }

    func values(_ name: String) -> [String] { items.filter { $0.name == name }.map(\.value) }

    func flag(_ name: String) -> Bool { value(name)?.lowercased() == "true" }

    /// `offset`: a non-negative integer, else 0.
    var offset: Int { max(0, Int(value("offset") ?? "") ?? 0) }

    /// `limit`, honoured only when 0 < limit ≤ `maximum` (Confluent's rule); else `maximum`.
    func limit(maximum: Int) -> Int {
        guard let limit = Int(value("limit") ?? ""), limit > 0, limit <= maximum else { return maximum }
        return limit
    }

    /// Which subjects or versions a listing shows: `deletedOnly` wins over `deleted`.
    var subjectFilter: SchemaRegistry.SubjectFilter {
        flag("deletedOnly") ? .deletedOnly : flag("deleted") ? .all : .live
    }
}
