import AvroCodec
import HTTPServer
import Registry
import Synchronization

/// The Confluent Schema Registry REST API over the registry domain: request → domain call →
/// response. Every handler is a plain function of the request, testable without a socket.
public final class RegistryAPI: Sendable {
    /// The media type of every JSON response.
    public static let mediaType = "application/vnd.schemaregistry.v1+json"
    static let acceptedRequestTypes = [
        "application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json", "application/json", "application/octet-stream",
    ]

    let registry: SchemaRegistry
    let metrics: RegistryMetrics
    /// `GET /schemas/ids/{id}` bodies, rendered once: a schema id never changes meaning.
    private let schemaByIDCache = Mutex<[Int: [UInt8]]>([:])

    public init(registry: SchemaRegistry, metrics: RegistryMetrics = RegistryMetrics()) {
        self.registry = registry
        self.metrics = metrics
    }

    /// Answers one request; never throws, never crashes on input.
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let started = WallTime.nanoseconds
        var route = "unknown"
        let response: HTTPResponse
        do {
            response = try dispatch(request, route: &route)
        } catch let error as APIError {
            response = error.response
        } catch let error as RegistryError {
            if case .incompatibleSchema = error { metrics.countRejection() }
            response = APIError(status: error.httpStatus, code: error.errorCode, message: error.message).response
        } catch {
            response = APIError(status: 500, code: 500, message: "Internal error: \(error)").response
        }
        metrics.record(route: route, status: response.status, seconds: Double(WallTime.nanoseconds - started) / 1e9)
        return response
    }

    /// The response sent when a body exceeds the configured limit.
    public static func oversizedBody(limit: Int) -> HTTPResponse {
        APIError(status: 413, code: 413, message: "Request body is larger than the limit of \(limit) bytes").response
    }

    // MARK: Routing

    private func dispatch(_ request: HTTPRequest, route: inout String) throws -> HTTPResponse {
        let segments = try pathSegments(request.path)
        let query = Query(request.query)
        // /metrics answers Prometheus' text format whatever JSON types the scraper accepts.
        if segments != ["metrics"] { try negotiate(request) }
        let method = request.method
        switch (method, segments.count, segments.first ?? "") {
        case ("GET", 0, _):
            route = "/"
            return json(.object([]))
        case ("POST", 0, _):
            route = "/"
            return json(.object([]))
        case ("GET", 1, "health"):
            route = "/health"
            return json(.object([("status", .string("UP"))]))
        case ("GET", 1, "metrics"):
            route = "/metrics"
            return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: Array(metrics.render(registry: registry).utf8))
        case (_, _, "schemas"):
            return try schemasRoutes(method, segments, query, &route)
        case (_, _, "subjects"):
            return try subjectsRoutes(request, segments, query, &route)
        case ("POST", 4...5, "compatibility") where segments[1] == "subjects" && segments[3] == "versions":
            route = segments.count == 5 ? "/compatibility/subjects/{subject}/versions/{version}" : "/compatibility/subjects/{subject}/versions"
            let body = try RegisterBody(request.body)
            let selector = segments.count == 5 ? try VersionSelector(parsing: segments[4]) : nil
            return try compatibility(subject: segments[2], body: body, selector: selector, verbose: query.flag("verbose"))
        case (_, 1...2, "config"):
            return try configRoutes(request, segments.count == 2 ? segments[1] : nil, query, &route)
        case (_, 1...2, "mode"):
            return try modeRoutes(request, segments.count == 2 ? segments[1] : nil, query, &route)
        default:
            throw APIError.notFound
        }
    }

    private func schemasRoutes(_ method: String, _ segments: [String], _ query: Query, _ route: inout String) throws -> HTTPResponse {
        guard method == "GET" else { throw APIError.methodNotAllowed }
        if segments.count == 2, segments[1] == "types" {
            route = "/schemas/types"
            return json(.array([.string("AVRO")]))
        }
        if segments.count == 1 {
            route = "/schemas"
            return try listSchemas(query)
        }
        guard segments.count >= 3, segments[1] == "ids", let id = Int(segments[2]) else { throw APIError.notFound }
        switch segments.count {
        case 3:
            route = "/schemas/ids/{id}"
            return try schemaByID(id, query)
        case 4 where segments[3] == "schema":
            route = "/schemas/ids/{id}/schema"
            return raw(try registry.schema(id: id).schema)
        case 4 where segments[3] == "subjects":
            route = "/schemas/ids/{id}/subjects"
            return json(.array(try registry.subjects(usingID: id, includeDeleted: query.flag("deleted")).map(JSONValue.string)))
        case 4 where segments[3] == "versions":
            route = "/schemas/ids/{id}/versions"
            let pairs = try registry.versions(usingID: id, includeDeleted: query.flag("deleted"))
            return json(.array(pairs.map { .object([("subject", .string($0.subject)), ("version", .integer(Int64($0.version)))]) }))
        default:
            throw APIError.notFound
        }
    }

    private func subjectsRoutes(_ request: HTTPRequest, _ segments: [String], _ query: Query, _ route: inout String) throws -> HTTPResponse {
        let method = request.method
        if segments.count == 1 {
            guard method == "GET" else { throw APIError.methodNotAllowed }
            route = "/subjects"
            let subjects = registry.subjects(
                prefix: query.value("subjectPrefix").map { $0 == ":*:" ? "" : $0 } ?? "", includeDeleted: query.flag("deleted"),
                deletedOnly: query.flag("deletedOnly"))
            return json(.array(subjects.map(JSONValue.string)))
        }
        let subject = segments[1]
        switch (method, segments.count) {
        case ("POST", 2):
            route = "/subjects/{subject}"
            let body = try RegisterBody(request.body)
            let found = try registry.lookup(subject: subject, schema: body.schema, references: body.references, includeDeleted: query.flag("deleted"))
            return json(schemaObject(found))
        case ("DELETE", 2):
            route = "/subjects/{subject}"
            let versions = try registry.deleteSubject(subject, permanent: query.flag("permanent"))
            if query.flag("permanent") { forgetRenderedSchemas() }
            return json(.array(versions.map { .integer(Int64($0)) }))
        case ("GET", 3) where segments[2] == "versions":
            route = "/subjects/{subject}/versions"
            let versions = try registry.versions(subject: subject, includeDeleted: query.flag("deleted"), deletedOnly: query.flag("deletedOnly"))
            return json(.array(versions.map { .integer(Int64($0)) }))
        case ("POST", 3) where segments[2] == "versions":
            route = "/subjects/{subject}/versions"
            let body = try RegisterBody(request.body)
            let registered = try registry.register(
                subject: subject, schema: body.schema, references: body.references, explicitID: body.id, explicitVersion: body.version)
            var members: [(String, JSONValue)] = [("id", .integer(Int64(registered.id))), ("version", .integer(Int64(registered.version)))]
            members.append(("schemaType", .string("AVRO")))
            members.append(("schema", .string(registered.schema)))
            if !registered.references.isEmpty { members.append(("references", referencesJSON(registered.references))) }
            return json(.object(members))
        case ("GET", 4) where segments[2] == "versions":
            route = "/subjects/{subject}/versions/{version}"
            let selector = try VersionSelector(parsing: segments[3])
            return json(schemaObject(try registry.version(subject: subject, selector, includeDeleted: query.flag("deleted"))))
        case ("DELETE", 4) where segments[2] == "versions":
            route = "/subjects/{subject}/versions/{version}"
            let selector = try VersionSelector(parsing: segments[3])
            let deleted = try registry.deleteVersion(subject: subject, selector, permanent: query.flag("permanent"))
            if query.flag("permanent") { forgetRenderedSchemas() }
            return json(.integer(Int64(deleted)))
        case ("GET", 5) where segments[2] == "versions" && segments[4] == "schema":
            route = "/subjects/{subject}/versions/{version}/schema"
            let selector = try VersionSelector(parsing: segments[3])
            return raw(try registry.version(subject: subject, selector, includeDeleted: query.flag("deleted")).schema)
        case ("GET", 5) where segments[2] == "versions" && segments[4] == "referencedby":
            route = "/subjects/{subject}/versions/{version}/referencedby"
            let selector = try VersionSelector(parsing: segments[3])
            return json(.array(try registry.referencedBy(subject: subject, selector).map { .integer(Int64($0)) }))
        default:
            let isKnownPath =
                segments.count == 2 || (segments[2] == "versions" && (segments.count <= 4 || ["schema", "referencedby"].contains(segments[4])))
            throw isKnownPath && segments.count <= 5 ? APIError.methodNotAllowed : APIError.notFound
        }
    }

    private func configRoutes(_ request: HTTPRequest, _ subject: String?, _ query: Query, _ route: inout String) throws -> HTTPResponse {
        route = subject == nil ? "/config" : "/config/{subject}"
        switch request.method {
        case "GET":
            let level = try registry.level(subject: subject, defaultToGlobal: query.flag("defaultToGlobal"))
            return json(.object([("compatibilityLevel", .string(level.rawValue))]))
        case "PUT":
            let body = try parseObject(request.body)
            guard case .string(let text)? = body["compatibility"], let level = CompatibilityLevel(rawValue: text.uppercased()) else {
                throw RegistryError.invalidCompatibilityLevel
            }
            try registry.setLevel(level, subject: subject)
            return json(.object([("compatibility", .string(level.rawValue))]))
        case "DELETE":
            let previous = try registry.deleteLevel(subject: subject)
            return json(.object([("compatibilityLevel", .string(previous.rawValue))]))
        default:
            throw APIError.methodNotAllowed
        }
    }

    private func modeRoutes(_ request: HTTPRequest, _ subject: String?, _ query: Query, _ route: inout String) throws -> HTTPResponse {
        route = subject == nil ? "/mode" : "/mode/{subject}"
        switch request.method {
        case "GET":
            let mode = try registry.mode(subject: subject, defaultToGlobal: query.flag("defaultToGlobal"))
            return json(.object([("mode", .string(mode.rawValue))]))
        case "PUT":
            let body = try parseObject(request.body)
            guard case .string(let text)? = body["mode"], let mode = RegistryMode(rawValue: text.uppercased()) else {
                throw RegistryError.invalidMode
            }
            try registry.setMode(mode, subject: subject, force: query.flag("force"))
            return json(.object([("mode", .string(mode.rawValue))]))
        case "DELETE":
            guard let subject else { throw APIError.methodNotAllowed }
            return json(.object([("mode", .string(try registry.deleteMode(subject: subject).rawValue))]))
        default:
            throw APIError.methodNotAllowed
        }
    }

    // MARK: Handlers

    /// A permanent delete can make an id unknown (404), so rendered bodies are dropped; they are
    /// rendered again on the next read. Nothing else ever changes what an id means.
    private func forgetRenderedSchemas() {
        schemaByIDCache.withLock { $0.removeAll() }
    }

    private func schemaByID(_ id: Int, _ query: Query) throws -> HTTPResponse {
        let plain = query.items.isEmpty
        if plain, let cached = schemaByIDCache.withLock({ $0[id] }) {
            return HTTPResponse(status: 200, contentType: RegistryAPI.mediaType, body: cached)
        }
        let stored = try registry.schema(id: id)
        var members: [(String, JSONValue)] = [("schema", .string(stored.schema)), ("schemaType", .string("AVRO"))]
        if !stored.references.isEmpty { members.append(("references", referencesJSON(stored.references))) }
        if let subject = query.value("subject"), let pair = try registry.versions(usingID: id, includeDeleted: true).first(where: { $0.subject == subject }) {
            members.append(("subject", .string(pair.subject)))
            members.append(("version", .integer(Int64(pair.version))))
        }
        if query.flag("fetchMaxId") { members.append(("maxId", .integer(Int64(registry.maximumID)))) }
        let body = Array(JSONValue.object(members).compactText.utf8)
        if plain { schemaByIDCache.withLock { $0[id] = body } }
        return HTTPResponse(status: 200, contentType: RegistryAPI.mediaType, body: body)
    }

    private func listSchemas(_ query: Query) throws -> HTTPResponse {
        let prefix = query.value("subjectPrefix") ?? ""
        let includeDeleted = query.flag("deleted")
        var items: [JSONValue] = []
        for subject in registry.subjects(prefix: prefix, includeDeleted: includeDeleted) {
            let versions = (try? registry.versions(subject: subject, includeDeleted: includeDeleted)) ?? []
            let chosen = query.flag("latestOnly") ? Array(versions.suffix(1)) : versions
            for version in chosen {
                if let registered = try? registry.version(subject: subject, .number(version), includeDeleted: includeDeleted) {
                    items.append(schemaObject(registered))
                }
            }
        }
        let offset = max(0, Int(query.value("offset") ?? "") ?? 0)
        var limit = Int(query.value("limit") ?? "") ?? 1000
        if limit <= 0 || limit > 1000 { limit = 1000 }
        return json(.array(Array(items.dropFirst(offset).prefix(limit))))
    }

    private func compatibility(subject: String, body: RegisterBody, selector: VersionSelector?, verbose: Bool) throws -> HTTPResponse {
        let outcome: Result<CompatibilityResult, RegistryError>
        do throws(RegistryError) {
            outcome = .success(try registry.checkCompatibility(subject: subject, schema: body.schema, references: body.references, version: selector))
        } catch {
            outcome = .failure(error)
        }
        // Confluent: a candidate that does not parse is a verbose "no", or 42201 when not verbose.
        if verbose, case .failure(let error) = outcome, case .invalidSchema = error {
            return json(.object([("is_compatible", .bool(false)), ("messages", .array([.string(error.message)]))]))
        }
        let result = try outcome.get()
        var members: [(String, JSONValue)] = [("is_compatible", .bool(result.isCompatible))]
        if verbose { members.append(("messages", .array(result.messages.map(JSONValue.string)))) }
        return json(.object(members))
    }

    // MARK: Rendering

    private func schemaObject(_ registered: RegisteredSchema) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("subject", .string(registered.subject)), ("version", .integer(Int64(registered.version))), ("id", .integer(Int64(registered.id))),
            ("schemaType", .string("AVRO")),
        ]
        if !registered.references.isEmpty { members.append(("references", referencesJSON(registered.references))) }
        members.append(("schema", .string(registered.schema)))
        members.append(("ts", .integer(registered.timestamp)))
        members.append(("deleted", .bool(registered.isDeleted)))
        return .object(members)
    }

    private func referencesJSON(_ references: [SchemaReference]) -> JSONValue {
        .array(references.map { .object([("name", .string($0.name)), ("subject", .string($0.subject)), ("version", .integer(Int64($0.version)))]) })
    }

    private func json(_ value: JSONValue, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, contentType: RegistryAPI.mediaType, body: Array(value.compactText.utf8))
    }

    /// `…/schema` endpoints return the schema text itself, labelled as JSON, as Confluent does.
    private func raw(_ text: String) -> HTTPResponse {
        HTTPResponse(status: 200, contentType: RegistryAPI.mediaType, body: Array(text.utf8))
    }

    // MARK: Request parsing

    /// Splits the raw path into percent-decoded segments ('+' stays literal, `%2F` becomes '/' inside
    /// a segment); a trailing slash is ignored.
    private func pathSegments(_ path: String) throws -> [String] {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if parts.last == "" { parts.removeLast() }
        return try parts.map { part in
            guard let decoded = PercentDecoding.decode(part) else { throw APIError.notFound }
            return decoded
        }
    }

    private func negotiate(_ request: HTTPRequest) throws {
        if request.method == "POST" || request.method == "PUT", let type = request.headers["content-type"] {
            let base = type.split(separator: ";").first.map { $0.trimmingSpaces.lowercased() } ?? ""
            guard base.isEmpty || RegistryAPI.acceptedRequestTypes.contains(base) else { throw APIError.unsupportedMediaType }
        }
        if let accept = request.headers["accept"] {
            let types = accept.split(separator: ",").map { $0.split(separator: ";").first.map { $0.trimmingSpaces.lowercased() } ?? "" }
            let acceptable = types.contains { type in
                type == "*/*" || type == "*" || type == "application/*" || RegistryAPI.acceptedRequestTypes.dropLast().contains(type)
            }
            guard acceptable || types.isEmpty else { throw APIError.notAcceptable }
        }
    }

    private func parseObject(_ body: [UInt8]) throws -> JSONObject {
        try RegistryAPI.jsonObject(body)
    }

    /// A request body that must be a JSON object; anything else is Confluent's HTTP 400.
    static func jsonObject(_ body: [UInt8]) throws -> JSONObject {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes: body)
        } catch {
            throw APIError(status: 400, code: 400, message: "Unrecognized or malformed JSON body: \(error.description)")
        }
        guard case .object(let object) = value else {
            throw APIError(status: 400, code: 400, message: "The request body must be a JSON object, not \(value.kindDescription)")
        }
        return object
    }

    /// The body of register, lookup and compatibility requests.
    struct RegisterBody {
        let schema: String
        let references: [SchemaReference]
        let id: Int?
        let version: Int?

        init(_ bytes: [UInt8]) throws {
            let object = try RegistryAPI.jsonObject(bytes)
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
                    references.append(SchemaReference(name: name, subject: subject, version: Int(version)))
                }
            }
            self.schema = schema
            self.references = references
            if case .integer(let id)? = object["id"], id > 0 { self.id = Int(id) } else { self.id = nil }
            if case .integer(let version)? = object["version"], version > 0 { self.version = Int(version) } else { self.version = nil }
        }
    }

    /// Query parameters, Confluent-style: booleans are "true" in any case.
    struct Query {
        let items: [(name: String, value: String)]

        init(_ items: [(name: String, value: String)]) { self.items = items }

        func value(_ name: String) -> String? { items.first { $0.name == name }?.value }

        func flag(_ name: String) -> Bool { value(name)?.lowercased() == "true" }
    }
}

/// An HTTP-level error with Confluent's body.
struct APIError: Error {
    let status: Int
    let code: Int
    let message: String

    static let notFound = APIError(status: 404, code: 404, message: "HTTP 404 Not Found")
    static let methodNotAllowed = APIError(status: 405, code: 405, message: "HTTP 405 Method Not Allowed")
    static let unsupportedMediaType = APIError(status: 415, code: 415, message: "HTTP 415 Unsupported Media Type")
    static let notAcceptable = APIError(status: 406, code: 406, message: "HTTP 406 Not Acceptable")

    var response: HTTPResponse {
        let body = JSONValue.object([("error_code", .integer(Int64(code))), ("message", .string(message))])
        return HTTPResponse(status: status, contentType: RegistryAPI.mediaType, body: Array(body.compactText.utf8))
    }
}

/// Percent-decoding of one path segment.
enum PercentDecoding {
    static func decode(_ text: String) -> String? {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension Substring {
    var trimmingSpaces: String {
        var text = self
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return String(text)
    }
}
