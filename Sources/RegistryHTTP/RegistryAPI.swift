import AvroCodec
import HTTPServer
import Registry

/// The Confluent Schema Registry REST API over the registry domain: request → domain call →
/// response. Every handler is a plain function of the request, testable without a socket.
public final class RegistryAPI: Sendable {
    /// The media type of every JSON response.
    public static let mediaType = HTTPResponse.confluentMediaType
    static let acceptedRequestTypes = [
        "application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json", "application/json", "application/octet-stream",
    ]
    /// What `GET /v1/metadata/version` reports.
    static let serverVersion = "0.5.0"

    let registry: SchemaRegistry
    let metrics: RegistryMetrics

    public init(registry: SchemaRegistry, metrics: RegistryMetrics = RegistryMetrics()) {
        self.registry = registry
        self.metrics = metrics
    }

    /// Answers one request; never throws, never crashes on input. HEAD is answered as GET (the
    /// server sends the headers only).
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let started = MonotonicClock.nanoseconds
        var route = "unknown"
        let response: HTTPResponse
        do {
            response = try dispatch(request, method: request.method == "HEAD" ? "GET" : request.method, route: &route)
        } catch let error as APIError {
            response = error.response
        } catch let error as RegistryError {
            if case .incompatibleSchema = error { metrics.countRejection() }
            response = APIError(status: error.httpStatus, code: error.errorCode, message: error.message).response
        } catch {
            response = APIError(status: 500, code: 500, message: "Internal error: \(error)").response
        }
        metrics.record(route: route, status: response.status, seconds: Double(MonotonicClock.nanoseconds - started) / 1e9)
        return response
    }

    /// The response sent when a body exceeds the configured limit.
    public static func oversizedBody(limit: Int) -> HTTPResponse {
        APIError(status: 413, code: 413, message: "Request body is larger than the limit of \(limit) bytes").response
    }

    // MARK: Routing

    private func dispatch(_ request: HTTPRequest, method: String, route: inout String) throws -> HTTPResponse {
        let segments = try pathSegments(request.path)
        let query = Query(request.query)
        // /metrics answers Prometheus' text format whatever JSON types the scraper accepts.
        if segments != ["metrics"] { try negotiate(request) }
        switch (method, segments.count, segments.first ?? "") {
        case ("GET", 0, _), ("POST", 0, _):
            route = "/"
            return json(.object([]))
        case ("GET", 1, "health"):
            route = "/health"
            return json(.object([("status", .string("UP"))]))
        case ("GET", 2, "health") where segments[1] == "ready":
            // Ready: the store answers (with PostgreSQL, reads keep being served from memory while it
            // does not, but writes fail, so a load balancer should prefer another node).
            route = "/health/ready"
            let reachable = registry.isStoreReachable
            return json(
                .object([("status", .string(reachable ? "UP" : "DOWN")), ("store", .string(registry.storeKind)), ("storeReachable", .bool(reachable))]),
                status: reachable ? 200 : 503)
        case ("GET", 1, "metrics"):
            route = "/metrics"
            return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: Array(metrics.render(registry: registry).utf8))
        case ("GET", 3, "v1") where segments[1] == "metadata" && segments[2] == "id":
            route = "/v1/metadata/id"
            let clusters: JSONValue = .object([("kafka-cluster", .string(registry.clusterID)), ("schema-registry-cluster", .string("schema-registry"))])
            return json(.object([("scope", .object([("path", .array([])), ("clusters", clusters)]))]))
        case ("GET", 3, "v1") where segments[1] == "metadata" && segments[2] == "version":
            route = "/v1/metadata/version"
            return json(.object([("version", .string(RegistryAPI.serverVersion)), ("commitId", .string("unknown"))]))
        case (_, _, "schemas"):
            return try schemasRoutes(method, segments, query, &route)
        case (_, _, "subjects"):
            return try subjectsRoutes(request, method, segments, query, &route)
        case ("POST", 4...5, "compatibility") where segments[1] == "subjects" && segments[3] == "versions":
            route = segments.count == 5 ? "/compatibility/subjects/{subject}/versions/{version}" : "/compatibility/subjects/{subject}/versions"
            let selector = segments.count == 5 ? try VersionSelector(parsing: segments[4]) : nil
            return try compatibility(subject: segments[2], body: request.body, selector: selector, query: query)
        case (_, 1...2, "config"):
            return try configRoutes(request, method, segments.count == 2 ? segments[1] : nil, query, &route)
        case (_, 1...2, "mode"):
            return try modeRoutes(request, method, segments.count == 2 ? segments[1] : nil, query, &route)
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
            let schemas = registry.listSchemas(
                prefix: query.value("subjectPrefix") ?? "", includeDeleted: query.flag("deleted"), latestOnly: query.flag("latestOnly"),
                offset: query.offset, limit: query.limit(maximum: 1000))
            return json(.array(try schemas.map { try schemaObject($0) }))
        }
        guard segments.count >= 3 else { throw APIError.notFound }
        if segments[1] == "guids" {
            let stored = try registry.schema(guid: segments[2])
            switch segments.count {
            case 3:
                route = "/schemas/guids/{guid}"
                return json(try schemaString(stored, query))
            case 4 where segments[3] == "ids":
                route = "/schemas/guids/{guid}/ids"
                return json(.array([.object([("context", .string(".")), ("id", .integer(Int64(stored.id)))])]))
            default:
                throw APIError.notFound
            }
        }
        guard segments[1] == "ids" else { throw APIError.notFound }
        let id = try schemaID(segments[2])
        switch segments.count {
        case 3:
            route = "/schemas/ids/{id}"
            if query.items.isEmpty {
                // The plain form is rendered once per id; the domain drops it when the id may go.
                let body = try registry.renderedSchema(id: id) { stored in Array(((try? schemaString(stored, query)) ?? .null).compactText.utf8) }
                return HTTPResponse(status: 200, contentType: RegistryAPI.mediaType, body: body)
            }
            return json(try schemaString(try registry.schema(id: id), query))
        case 4 where segments[3] == "schema":
            route = "/schemas/ids/{id}/schema"
            return raw(query.value("format") == "resolved" ? try registry.resolvedText(id: id) : try registry.schema(id: id).schema)
        case 4 where segments[3] == "subjects":
            route = "/schemas/ids/{id}/subjects"
            let subjects = try registry.subjects(usingID: id, includeDeleted: query.flag("deleted"))
            return json(.array(subjects.dropFirst(query.offset).prefix(query.limit(maximum: .max)).map(JSONValue.string)))
        case 4 where segments[3] == "versions":
            route = "/schemas/ids/{id}/versions"
            let pairs = try registry.versions(usingID: id, includeDeleted: query.flag("deleted"))
            return json(.array(pairs.dropFirst(query.offset).prefix(query.limit(maximum: .max)).map {
                .object([("subject", .string($0.subject)), ("version", .integer(Int64($0.version)))])
            }))
        default:
            throw APIError.notFound
        }
    }

    private func subjectsRoutes(_ request: HTTPRequest, _ method: String, _ segments: [String], _ query: Query, _ route: inout String) throws -> HTTPResponse {
        if segments.count == 1 {
            guard method == "GET" else { throw APIError.methodNotAllowed }
            route = "/subjects"
            let prefix = query.value("subjectPrefix").map { $0 == ":*:" ? "" : $0 } ?? ""
            let subjects = registry.subjects(prefix: prefix, filter: query.subjectFilter, offset: query.offset, limit: query.limit(maximum: .max))
            return json(.array(subjects.map(JSONValue.string)))
        }
        let subject = segments[1]
        switch (method, segments.count) {
        case ("POST", 2):
            route = "/subjects/{subject}"
            let found = try registry.lookup(subject: subject, try schemaRequest(request.body, normalize: query.flag("normalize")), includeDeleted: query.flag("deleted"))
            return json(try schemaObject(found, format: query.value("format")))
        case ("DELETE", 2):
            route = "/subjects/{subject}"
            let versions = try registry.deleteSubject(subject, permanent: query.flag("permanent"))
            return json(.array(versions.map { .integer(Int64($0)) }))
        case ("GET", 3) where segments[2] == "versions":
            route = "/subjects/{subject}/versions"
            let versions = try registry.versions(
                subject: subject, filter: query.subjectFilter, deletedAsNegative: query.flag("deletedAsNegative"), offset: query.offset,
                limit: query.limit(maximum: .max))
            return json(.array(versions.map { .integer(Int64($0)) }))
        case ("POST", 3) where segments[2] == "versions":
            route = "/subjects/{subject}/versions"
            let registered = try registry.register(subject: subject, try schemaRequest(request.body, normalize: query.flag("normalize")))
            return json(registrationObject(registered))
        case ("GET", 3) where segments[2] == "metadata":
            route = "/subjects/{subject}/metadata"
            let keys = query.values("key")
            let values = query.values("value")
            guard keys.count == values.count else {
                throw APIError(status: 400, code: 400, message: "Each key parameter needs a value parameter (\(keys.count) keys, \(values.count) values)")
            }
            let found = try registry.latestVersion(subject: subject, withMetadata: zip(keys, values).map { (key: $0, value: $1) }, includeDeleted: query.flag("deleted"))
            return json(try schemaObject(found, format: query.value("format")))
        case ("GET", 4) where segments[2] == "versions":
            route = "/subjects/{subject}/versions/{version}"
            let selector = try VersionSelector(parsing: segments[3])
            return json(try schemaObject(try registry.version(subject: subject, selector, includeDeleted: query.flag("deleted")), format: query.value("format")))
        case ("DELETE", 4) where segments[2] == "versions":
            route = "/subjects/{subject}/versions/{version}"
            let selector = try VersionSelector(parsing: segments[3])
            return json(.integer(Int64(try registry.deleteVersion(subject: subject, selector, permanent: query.flag("permanent")))))
        case ("GET", 5) where segments[2] == "versions" && segments[4] == "schema":
            route = "/subjects/{subject}/versions/{version}/schema"
            let selector = try VersionSelector(parsing: segments[3])
            let found = try registry.version(subject: subject, selector, includeDeleted: query.flag("deleted"))
            return raw(query.value("format") == "resolved" ? try registry.resolvedText(id: found.id) : found.schema)
        case ("GET", 5) where segments[2] == "versions" && segments[4] == "referencedby":
            route = "/subjects/{subject}/versions/{version}/referencedby"
            let selector = try VersionSelector(parsing: segments[3])
            let ids = try registry.referencedBy(subject: subject, selector)
            return json(.array(ids.dropFirst(query.offset).prefix(query.limit(maximum: 1000)).map { .integer(Int64($0)) }))
        default:
            let isKnownPath =
                segments.count == 2 || (segments.count == 3 && segments[2] == "metadata")
                || (segments[2] == "versions" && (segments.count <= 4 || ["schema", "referencedby"].contains(segments[4])))
            throw isKnownPath && segments.count <= 5 ? APIError.methodNotAllowed : APIError.notFound
        }
    }

    private func configRoutes(_ request: HTTPRequest, _ method: String, _ subject: String?, _ query: Query, _ route: inout String) throws -> HTTPResponse {
        route = subject == nil ? "/config" : "/config/{subject}"
        switch method {
        case "GET":
            let config = try registry.config(subject: subject, defaultToGlobal: query.flag("defaultToGlobal"))
            return json(.object(config.jsonMembers(levelKey: "compatibilityLevel")))
        case "PUT":
            let update = try SubjectConfig(json: .object(try jsonObject(request.body)))
            try registry.updateConfig(update, subject: subject)
            return json(.object(update.jsonMembers(levelKey: "compatibility")))
        case "DELETE":
            let previous = try registry.deleteConfig(subject: subject)
            return json(.object(previous.jsonMembers(levelKey: "compatibilityLevel")))
        default:
            throw APIError.methodNotAllowed
        }
    }

    private func modeRoutes(_ request: HTTPRequest, _ method: String, _ subject: String?, _ query: Query, _ route: inout String) throws -> HTTPResponse {
        route = subject == nil ? "/mode" : "/mode/{subject}"
        switch method {
        case "GET":
            let mode = try registry.mode(subject: subject, defaultToGlobal: query.flag("defaultToGlobal"))
            return json(.object([("mode", .string(mode.rawValue))]))
        case "PUT":
            let body = try jsonObject(request.body)
            guard case .string(let text)? = body["mode"], let mode = RegistryMode(rawValue: text.uppercased()) else {
                throw RegistryError.invalidMode
            }
            try registry.setMode(mode, subject: subject, force: query.flag("force"))
            return json(.object([("mode", .string(mode.rawValue))]))
        case "DELETE":
            return json(.object([("mode", .string(try registry.deleteMode(subject: subject).rawValue))]))
        default:
            throw APIError.methodNotAllowed
        }
    }

    // MARK: Handlers

    private func compatibility(subject: String, body: [UInt8], selector: VersionSelector?, query: Query) throws -> HTTPResponse {
        let verbose = query.flag("verbose")
        let outcome: Result<CompatibilityResult, Error>
        do {
            let request = try schemaRequest(body, normalize: query.flag("normalize"))
            outcome = .success(try registry.checkCompatibility(subject: subject, request, version: selector))
        } catch {
            outcome = .failure(error)
        }
        // Confluent: a candidate that does not parse is a verbose "no", or 42201 when not verbose.
        if verbose, case .failure(let error) = outcome, let registryError = error as? RegistryError, case .invalidSchema = registryError {
            return json(.object([("is_compatible", .bool(false)), ("messages", .array([.string(registryError.message)]))]))
        }
        let result = try outcome.get()
        var members: [(String, JSONValue)] = [("is_compatible", .bool(result.isCompatible))]
        if verbose {
            let messages = result.failure.map(VerboseCompatibilityMessages.render) ?? []
            members.append(("messages", .array(messages.map(JSONValue.string))))
        }
        return json(.object(members))
    }

    // MARK: Request parsing

    /// Splits the raw path into percent-decoded segments ('+' stays literal, `%2F` becomes '/' inside
    /// a segment); a trailing slash is ignored. A malformed escape or non-UTF-8 bytes are a 400.
    private func pathSegments(_ path: String) throws -> [String] {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if parts.last == "" { parts.removeLast() }
        return try parts.map { part in
            guard let decoded = TextDecoding.pathSegment(part) else {
                throw APIError(status: 400, code: 400, message: "The request path is not valid UTF-8 (or has a malformed percent escape)")
            }
            return decoded
        }
    }

    private func negotiate(_ request: HTTPRequest) throws {
        if request.method == "POST" || request.method == "PUT", let type = request.headers["content-type"] {
            let base = type.split(separator: ";").first.map { $0.trimming().lowercased() } ?? ""
            guard base.isEmpty || RegistryAPI.acceptedRequestTypes.contains(base) else { throw APIError.unsupportedMediaType }
        }
        if let accept = request.headers["accept"] {
            let types = accept.split(separator: ",").map { $0.split(separator: ";").first.map { $0.trimming().lowercased() } ?? "" }
            let acceptable = types.contains { type in
                type == "*/*" || type == "*" || type == "application/*" || RegistryAPI.acceptedRequestTypes.dropLast().contains(type)
            }
            guard acceptable || types.isEmpty else { throw APIError.notAcceptable }
        }
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
