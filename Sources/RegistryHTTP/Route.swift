import Registry

/// One request of the REST API, parsed from its method and path before anything runs: what it asks for and on
/// which subject or id. Authorization reads it, the executor switches over it, metrics label it.
enum Route: Sendable, Equatable {
    case root, health, ready, metrics, clusterID, serverVersion
    case schemaTypes, listSchemas
    case schemaByGUID(String), idsByGUID(String)
    case schemaByID(Int), schemaTextByID(Int), subjectsByID(Int), versionsByID(Int)
    case listSubjects
    case lookup(String), deleteSubject(String)
    case listVersions(String), registerVersion(String), subjectMetadata(String)
    case version(String, VersionSelector), deleteVersion(String, VersionSelector)
    case versionSchema(String, VersionSelector), referencedBy(String, VersionSelector)
    case checkCompatibility(String, VersionSelector?)
    /// A nil subject is the registry-wide setting.
    case config(String?), updateConfig(String?), deleteConfig(String?)
    case mode(String?), updateMode(String?), deleteMode(String?)

    /// Parses decoded path segments; HEAD arrives as GET. Unknown paths are 404, known paths with another
    /// method 405, malformed ids and versions their Confluent errors.
    init(method: String, segments: [String]) throws {
        let first = segments.first ?? ""
        switch (method, segments.count, first) {
        case ("GET", 0, _), ("POST", 0, _): self = .root
        case ("GET", 1, "health"): self = .health
        case ("GET", 2, "health") where segments[1] == "ready": self = .ready
        case ("GET", 1, "metrics"): self = .metrics
        case ("GET", 3, "v1") where segments[1] == "metadata" && segments[2] == "id": self = .clusterID
        case ("GET", 3, "v1") where segments[1] == "metadata" && segments[2] == "version": self = .serverVersion
        case (_, _, "schemas"): self = try Route.schemas(method, segments)
        case (_, _, "subjects"): self = try Route.subjects(method, segments)
        case ("POST", 4...5, "compatibility") where segments[1] == "subjects" && segments[3] == "versions":
            self = .checkCompatibility(segments[2], segments.count == 5 ? try VersionSelector(parsing: segments[4]) : nil)
        case (_, 1...2, "config"):
            let subject = segments.count == 2 ? segments[1] : nil
            switch method {
            case "GET": self = .config(subject)
            case "PUT": self = .updateConfig(subject)
            case "DELETE": self = .deleteConfig(subject)
            default: throw APIError.methodNotAllowed
            }
        case (_, 1...2, "mode"):
            let subject = segments.count == 2 ? segments[1] : nil
            switch method {
            case "GET": self = .mode(subject)
            case "PUT": self = .updateMode(subject)
            case "DELETE": self = .deleteMode(subject)
            default: throw APIError.methodNotAllowed
            }
        default:
            throw APIError.notFound
        }
    }

    private static func schemas(_ method: String, _ segments: [String]) throws -> Route {
        guard method == "GET" else { throw APIError.methodNotAllowed }
        if segments.count == 2, segments[1] == "types" { return .schemaTypes }
        if segments.count == 1 { return .listSchemas }
        guard segments.count >= 3 else { throw APIError.notFound }
        if segments[1] == "guids" {
            switch segments.count {
            case 3: return .schemaByGUID(segments[2])
            case 4 where segments[3] == "ids": return .idsByGUID(segments[2])
            default: throw APIError.notFound
            }
        }
        guard segments[1] == "ids" else { throw APIError.notFound }
        let id = try schemaID(segments[2])
        switch segments.count {
        case 3: return .schemaByID(id)
        case 4 where segments[3] == "schema": return .schemaTextByID(id)
        case 4 where segments[3] == "subjects": return .subjectsByID(id)
        case 4 where segments[3] == "versions": return .versionsByID(id)
        default: throw APIError.notFound
        }
    }

    private static func subjects(_ method: String, _ segments: [String]) throws -> Route {
        if segments.count == 1 {
            guard method == "GET" else { throw APIError.methodNotAllowed }
            return .listSubjects
        }
        let subject = segments[1]
        switch (method, segments.count) {
        case ("POST", 2): return .lookup(subject)
        case ("DELETE", 2): return .deleteSubject(subject)
        case ("GET", 3) where segments[2] == "versions": return .listVersions(subject)
        case ("POST", 3) where segments[2] == "versions": return .registerVersion(subject)
        case ("GET", 3) where segments[2] == "metadata": return .subjectMetadata(subject)
        case ("GET", 4) where segments[2] == "versions": return .version(subject, try VersionSelector(parsing: segments[3]))
        case ("DELETE", 4) where segments[2] == "versions": return .deleteVersion(subject, try VersionSelector(parsing: segments[3]))
        case ("GET", 5) where segments[2] == "versions" && segments[4] == "schema":
            return .versionSchema(subject, try VersionSelector(parsing: segments[3]))
        case ("GET", 5) where segments[2] == "versions" && segments[4] == "referencedby":
            return .referencedBy(subject, try VersionSelector(parsing: segments[3]))
        default:
            let isKnownPath =
                segments.count == 2 || (segments.count == 3 && segments[2] == "metadata")
                || (segments[2] == "versions" && (segments.count <= 4 || ["schema", "referencedby"].contains(segments[4])))
            throw isKnownPath && segments.count <= 5 ? APIError.methodNotAllowed : APIError.notFound
        }
    }

    /// The metrics label: the path template.
    var label: String {
        switch self {
        case .root: return "/"
        case .health: return "/health"
        case .ready: return "/health/ready"
        case .metrics: return "/metrics"
        case .clusterID: return "/v1/metadata/id"
        case .serverVersion: return "/v1/metadata/version"
        case .schemaTypes: return "/schemas/types"
        case .listSchemas: return "/schemas"
        case .schemaByGUID: return "/schemas/guids/{guid}"
        case .idsByGUID: return "/schemas/guids/{guid}/ids"
        case .schemaByID: return "/schemas/ids/{id}"
        case .schemaTextByID: return "/schemas/ids/{id}/schema"
        case .subjectsByID: return "/schemas/ids/{id}/subjects"
        case .versionsByID: return "/schemas/ids/{id}/versions"
        case .listSubjects: return "/subjects"
        case .lookup, .deleteSubject: return "/subjects/{subject}"
        case .listVersions, .registerVersion: return "/subjects/{subject}/versions"
        case .subjectMetadata: return "/subjects/{subject}/metadata"
        case .version, .deleteVersion: return "/subjects/{subject}/versions/{version}"
        case .versionSchema: return "/subjects/{subject}/versions/{version}/schema"
        case .referencedBy: return "/subjects/{subject}/versions/{version}/referencedby"
        case .checkCompatibility(_, let selector):
            return selector == nil ? "/compatibility/subjects/{subject}/versions" : "/compatibility/subjects/{subject}/versions/{version}"
        case .config(let subject), .updateConfig(let subject), .deleteConfig(let subject):
            return subject == nil ? "/config" : "/config/{subject}"
        case .mode(let subject), .updateMode(let subject), .deleteMode(let subject):
            return subject == nil ? "/mode" : "/mode/{subject}"
        }
    }

    /// What a caller needs for this route when authentication is on.
    enum Requirement: Equatable {
        /// No credentials: liveness and readiness probes.
        case open
        /// Any authenticated user (what is listed is filtered to what they may read).
        case authenticated
        /// `operation` on `Subject:<subject>`, or on `Config:` when the subject is nil.
        case subject(Operation, String?)
        /// Read on at least one subject that holds the id.
        case schema(Int)
        /// Read on at least one subject that holds the schema with this guid.
        case guid(String)
    }

    var requirement: Requirement {
        switch self {
        case .root, .health, .ready: return .open
        case .metrics, .clusterID, .serverVersion, .schemaTypes, .listSchemas, .listSubjects: return .authenticated
        case .subjectsByID, .versionsByID: return .authenticated
        case .schemaByID(let id), .schemaTextByID(let id): return .schema(id)
        case .schemaByGUID(let guid), .idsByGUID(let guid): return .guid(guid)
        case .lookup(let subject), .listVersions(let subject), .subjectMetadata(let subject), .version(let subject, _),
            .versionSchema(let subject, _), .referencedBy(let subject, _):
            return .subject(.read, subject)
        case .config(let subject), .mode(let subject): return .subject(.read, subject)
        case .registerVersion(let subject), .checkCompatibility(let subject, _), .deleteSubject(let subject), .deleteVersion(let subject, _):
            return .subject(.write, subject)
        case .updateConfig(let subject), .deleteConfig(let subject), .updateMode(let subject), .deleteMode(let subject):
            return .subject(.write, subject)
        }
    }
}
