import AvroCodec
import HTTPServer
import Logging
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
    /// Nil: authentication is off and every request may do everything.
    let authenticator: Authenticator?
    /// With authentication on: whether `/metrics` is served without credentials.
    let metricsArePublic: Bool
    /// One line per request, and the `X-Request-Id` of every response.
    let requestLog: RequestLog

    /// `logger`: where the request lines go (nil: none; responses still carry their `X-Request-Id`).
    public init(
        registry: SchemaRegistry, metrics: RegistryMetrics = RegistryMetrics(), authenticator: Authenticator? = nil, metricsArePublic: Bool = false,
        logger: Logger? = nil
    ) {
        self.registry = registry
        self.metrics = metrics
        self.authenticator = authenticator
        self.metricsArePublic = metricsArePublic
        self.requestLog = RequestLog(logger: logger)
    }

    /// Answers one request; never throws, never crashes on input. HEAD is answered as GET (the
    /// server sends the headers only). Parse the route, authenticate and authorize, then execute.
    /// Every response carries the request's id (`X-Request-Id`) and is logged.
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let started = MonotonicClock.nanoseconds
        var label = "unknown"
        var user: String?
        // The subject of a registration, whose level labels its metrics.
        var registering: String?
        var response: HTTPResponse
        do {
            let segments = try pathSegments(request.path)
            // /metrics answers Prometheus' text format whatever JSON types the scraper accepts.
            if segments != ["metrics"] { try negotiate(request) }
            let route = try Route(method: request.method == "HEAD" ? "GET" : request.method, segments: segments)
            label = route.label
            if case .registerVersion(let subject) = route { registering = subject }
            let access = try authorize(route, request, user: &user)
            response = try execute(route, request, Query(request.query), access)
            if let registering { metrics.countRegistration(level: levelName(of: registering)) }
        } catch let error as APIError {
            response = error.response
        } catch let error as RegistryError {
            switch error {
            case .incompatibleSchema(let subject, _): metrics.countRejection(level: levelName(of: registering ?? subject))
            case .storage: metrics.countStorageError()
            default: break
            }
            response = APIError(status: error.httpStatus, code: error.errorCode, message: error.message).response
        } catch {
            response = APIError(status: 500, code: 500, message: "Internal error: \(error)").response
        }
        return finish(request, response, route: label, user: user, nanoseconds: MonotonicClock.nanoseconds - started)
    }

    /// For the HTTP server's own answers (413, 414, a refused path or framing, 503 when the body budget is spent):
    /// the request id header, and the log line (route `refused`, no user: the request was never authenticated).
    public func refused(_ request: HTTPRequest, _ response: HTTPResponse) -> HTTPResponse {
        finish(request, response, route: "refused", user: nil, nanoseconds: 0)
    }

    /// What every answer gets last: counted, its request id in `X-Request-Id`, its log line.
    private func finish(_ request: HTTPRequest, _ response: HTTPResponse, route: String, user: String?, nanoseconds: Int64) -> HTTPResponse {
        var response = response
        metrics.record(route: route, status: response.status, seconds: Double(nanoseconds) / 1e9)
        let requestID = RequestLog.requestID(request)
        response.extraHeaders.append((name: RequestLog.header, value: requestID))
        requestLog.record(request, response, route: route, user: user, requestID: requestID, nanoseconds: nanoseconds)
        return response
    }

    /// The subject's effective compatibility level, as metrics label it.
    private func levelName(of subject: String) -> String {
        (try? registry.level(subject: subject, defaultToGlobal: true))?.rawValue ?? "unknown"
    }

    /// The response sent when a body exceeds the configured limit.
    public static func oversizedBody(limit: Int) -> HTTPResponse {
        APIError(status: 413, code: 413, message: "Request body is larger than the limit of \(limit) bytes").response
    }

    // MARK: Authorization

    /// Who asks, and whether they may: 401 without valid credentials; a read they may not make answers as a
    /// subject (or id) that does not exist; a write is 403 when they may read the subject, else the same
    /// not-found answer — so permissions never tell anyone which subjects exist.
    /// `user` is set as soon as the caller is authenticated, so a refusal is logged with who was refused.
    private func authorize(_ route: Route, _ request: HTTPRequest, user: inout String?) throws -> Access {
        let requirement = route.requirement
        guard let authenticator, requirement != .open, !(route == .metrics && metricsArePublic) else { return Access(principal: nil) }
        guard let principal = authenticator.authenticate(authorization: request.headers["authorization"]) else { throw APIError.unauthorized }
        user = principal.name
        let access = Access(principal: principal)
        switch requirement {
        case .open, .authenticated:
            break
        case .subject(let operation, let subject):
            guard !access.may(operation, subject) else { break }
            guard let subject else { throw APIError.denied(operation, on: AccessRules.configResource) }
            if operation == .write, access.may(.read, subject) { throw APIError.denied(.write, on: "Subject: " + subject) }
            switch route {
            case .config: throw RegistryError.subjectCompatibilityNotConfigured(subject)
            case .mode: throw RegistryError.subjectModeNotConfigured(subject)
            default: throw RegistryError.subjectNotFound(subject)
            }
        case .schema(let id):
            guard mayRead(schema: id, access) else { throw RegistryError.schemaNotFound(id: id) }
        case .guid(let guid):
            guard mayRead(schema: try registry.schema(guid: guid).id, access) else { throw RegistryError.schemaNotFound(id: nil) }
        }
        return access
    }

    /// Whether `access` may read at least one subject holding schema `id` (soft-deleted versions count: the id
    /// still answers). An id memory does not hold yet is fetched from the store first.
    private func mayRead(schema id: Int, _ access: Access) -> Bool {
        if access.isUnrestricted || registry.anySubject(holding: id, where: { access.may(.read, $0) }) { return true }
        guard (try? registry.schema(id: id)) != nil else { return false }
        return registry.anySubject(holding: id, where: { access.may(.read, $0) })
    }

    // MARK: Execution

    private func execute(_ route: Route, _ request: HTTPRequest, _ query: Query, _ access: Access) throws -> HTTPResponse {
        switch route {
        case .root:
            return json(.object([]))
        case .health:
            return json(.object([("status", .string("UP"))]))
        case .ready:
            // Ready: the store answers (with PostgreSQL, reads keep being served from memory while it
            // does not, but writes fail, so a load balancer should prefer another node).
            let reachable = registry.isStoreReachable
            return json(
                .object([("status", .string(reachable ? "UP" : "DOWN")), ("store", .string(registry.storeKind)), ("storeReachable", .bool(reachable))]),
                status: reachable ? 200 : 503)
        case .metrics:
            return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: Array(metrics.render(registry: registry).utf8))
        case .clusterID:
            let clusters: JSONValue = .object([("kafka-cluster", .string(registry.clusterID)), ("schema-registry-cluster", .string("schema-registry"))])
            return json(.object([("scope", .object([("path", .array([])), ("clusters", clusters)]))]))
        case .serverVersion:
            return json(.object([("version", .string(RegistryAPI.serverVersion)), ("commitId", .string("unknown"))]))
        case .schemaTypes:
            return json(.array([.string("AVRO")]))
        case .listSchemas:
            let (prefix, includeDeleted, latestOnly) = (query.value("subjectPrefix") ?? "", query.flag("deleted"), query.flag("latestOnly"))
            let limit = query.limit(maximum: 1000)
            let schemas: [RegisteredSchema]
            if access.isUnrestricted {
                schemas = registry.listSchemas(prefix: prefix, includeDeleted: includeDeleted, latestOnly: latestOnly, offset: query.offset, limit: limit)
            } else {
                let all = registry.listSchemas(prefix: prefix, includeDeleted: includeDeleted, latestOnly: latestOnly, offset: 0, limit: .max)
                schemas = Array(all.filter { access.may(.read, $0.subject) }.dropFirst(query.offset).prefix(limit))
            }
            return json(.array(try schemas.map { try schemaObject($0) }))
        case .schemaByGUID(let guid):
            return json(try schemaString(try registry.schema(guid: guid), query, access))
        case .idsByGUID(let guid):
            return json(.array([.object([("context", .string(".")), ("id", .integer(Int64(try registry.schema(guid: guid).id)))])]))
        case .schemaByID(let id):
            if query.items.isEmpty {
                // The plain form is rendered once per id; the domain drops it when the id may go.
                let body = try registry.renderedSchema(id: id) { stored in Array(((try? schemaString(stored, query)) ?? .null).compactText.utf8) }
                return HTTPResponse(status: 200, contentType: RegistryAPI.mediaType, body: body)
            }
            return json(try schemaString(try registry.schema(id: id), query, access))
        case .schemaTextByID(let id):
            return raw(query.value("format") == "resolved" ? try registry.resolvedText(id: id) : try registry.schema(id: id).schema)
        case .subjectsByID(let id):
            guard mayRead(schema: id, access) else { throw RegistryError.schemaNotFound(id: id) }
            let subjects = try registry.subjects(usingID: id, includeDeleted: query.flag("deleted")).filter { access.may(.read, $0) }
            return json(.array(subjects.dropFirst(query.offset).prefix(query.limit(maximum: .max)).map(JSONValue.string)))
        case .versionsByID(let id):
            guard mayRead(schema: id, access) else { throw RegistryError.schemaNotFound(id: id) }
            let pairs = try registry.versions(usingID: id, includeDeleted: query.flag("deleted")).filter { access.may(.read, $0.subject) }
            return json(.array(pairs.dropFirst(query.offset).prefix(query.limit(maximum: .max)).map {
                .object([("subject", .string($0.subject)), ("version", .integer(Int64($0.version)))])
            }))
        case .listSubjects:
            let prefix = query.value("subjectPrefix").map { $0 == ":*:" ? "" : $0 } ?? ""
            let limit = query.limit(maximum: .max)
            let subjects: [String]
            if access.isUnrestricted {
                subjects = registry.subjects(prefix: prefix, filter: query.subjectFilter, offset: query.offset, limit: limit)
            } else {
                let all = registry.subjects(prefix: prefix, filter: query.subjectFilter)
                subjects = Array(all.filter { access.may(.read, $0) }.dropFirst(query.offset).prefix(limit))
            }
            return json(.array(subjects.map(JSONValue.string)))
        case .lookup(let subject):
            let found = try registry.lookup(subject: subject, try readableSchemaRequest(request.body, query, access), includeDeleted: query.flag("deleted"))
            return json(try schemaObject(found, format: query.value("format")))
        case .deleteSubject(let subject):
            let versions = try registry.deleteSubject(subject, permanent: query.flag("permanent"))
            return json(.array(versions.map { .integer(Int64($0)) }))
        case .listVersions(let subject):
            let versions = try registry.versions(
                subject: subject, filter: query.subjectFilter, deletedAsNegative: query.flag("deletedAsNegative"), offset: query.offset,
                limit: query.limit(maximum: .max))
            return json(.array(versions.map { .integer(Int64($0)) }))
        case .registerVersion(let subject):
            let registered = try registry.register(subject: subject, try readableSchemaRequest(request.body, query, access))
            return json(registrationObject(registered))
        case .subjectMetadata(let subject):
            let keys = query.values("key")
            let values = query.values("value")
            guard keys.count == values.count else {
                throw APIError(status: 400, code: 400, message: "Each key parameter needs a value parameter (\(keys.count) keys, \(values.count) values)")
            }
            let found = try registry.latestVersion(subject: subject, withMetadata: zip(keys, values).map { (key: $0, value: $1) }, includeDeleted: query.flag("deleted"))
            return json(try schemaObject(found, format: query.value("format")))
        case .version(let subject, let selector):
            return json(try schemaObject(try registry.version(subject: subject, selector, includeDeleted: query.flag("deleted")), format: query.value("format")))
        case .deleteVersion(let subject, let selector):
            return json(.integer(Int64(try registry.deleteVersion(subject: subject, selector, permanent: query.flag("permanent")))))
        case .versionSchema(let subject, let selector):
            let found = try registry.version(subject: subject, selector, includeDeleted: query.flag("deleted"))
            return raw(query.value("format") == "resolved" ? try registry.resolvedText(id: found.id) : found.schema)
        case .referencedBy(let subject, let selector):
            let ids = try registry.referencedBy(subject: subject, selector).filter { access.isUnrestricted || mayRead(schema: $0, access) }
            return json(.array(ids.dropFirst(query.offset).prefix(query.limit(maximum: 1000)).map { .integer(Int64($0)) }))
        case .checkCompatibility(let subject, let selector):
            return try compatibility(subject: subject, body: request.body, selector: selector, query: query, access: access)
        case .config(let subject):
            let config = try registry.config(subject: subject, defaultToGlobal: query.flag("defaultToGlobal"))
            return json(.object(config.jsonMembers(levelKey: "compatibilityLevel")))
        case .updateConfig(let subject):
            let update = try SubjectConfig(json: .object(try jsonObject(request.body)))
            try registry.updateConfig(update, subject: subject)
            return json(.object(update.jsonMembers(levelKey: "compatibility")))
        case .deleteConfig(let subject):
            let previous = try registry.deleteConfig(subject: subject)
            return json(.object(previous.jsonMembers(levelKey: "compatibilityLevel")))
        case .mode(let subject):
            let mode = try registry.mode(subject: subject, defaultToGlobal: query.flag("defaultToGlobal"))
            return json(.object([("mode", .string(mode.rawValue))]))
        case .updateMode(let subject):
            let body = try jsonObject(request.body)
            guard case .string(let text)? = body["mode"], let mode = RegistryMode(rawValue: text.uppercased()) else {
                throw RegistryError.invalidMode
            }
            try registry.setMode(mode, subject: subject, force: query.flag("force"))
            return json(.object([("mode", .string(mode.rawValue))]))
        case .deleteMode(let subject):
            return json(.object([("mode", .string(try registry.deleteMode(subject: subject).rawValue))]))
        }
    }

    // MARK: Handlers

    private func compatibility(subject: String, body: [UInt8], selector: VersionSelector?, query: Query, access: Access) throws -> HTTPResponse {
        let verbose = query.flag("verbose")
        let outcome: Result<CompatibilityResult, Error>
        do {
            let request = try readableSchemaRequest(body, query, access)
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

    /// The schema in a request body, whose references must all name subjects the caller may read: one naming
    /// another subject is refused exactly as a reference to a subject that does not exist, so references can
    /// neither probe nor pull in what the caller may not read.
    private func readableSchemaRequest(_ body: [UInt8], _ query: Query, _ access: Access) throws -> SchemaRequest {
        let parsed = try schemaRequest(body, normalize: query.flag("normalize"))
        if !access.isUnrestricted, let hidden = parsed.references.first(where: { !access.may(.read, $0.subject) }) {
            throw RegistryError.invalidSchema("reference \(hidden.name) to subject '\(hidden.subject)' version \(hidden.version) does not exist")
        }
        return parsed
    }

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
    static let unauthorized = APIError(status: 401, code: 401, message: "Unauthorized")

    static func denied(_ operation: Operation, on resource: String) -> APIError {
        APIError(status: 403, code: 40301, message: "User is denied operation \(operation.rawValue) on \(resource)")
    }

    var response: HTTPResponse {
        let body = JSONValue.object([("error_code", .integer(Int64(code))), ("message", .string(message))])
        let challenge: [(name: String, value: String)] = status == 401 ? [("WWW-Authenticate", #"Basic realm="schema-registry""#)] : []
        return HTTPResponse(status: status, contentType: RegistryAPI.mediaType, body: Array(body.compactText.utf8), extraHeaders: challenge)
    }
}

/// What the caller of one request may do: everything when authentication is off.
struct Access {
    let principal: Principal?

    var isUnrestricted: Bool { principal == nil }

    /// `operation` on `Subject:<subject>`, or on `Config:` for a nil subject.
    func may(_ operation: Operation, _ subject: String?) -> Bool {
        guard let principal else { return true }
        return principal.may(operation, subject.map(AccessRules.subjectResource) ?? AccessRules.configResource)
    }
}
