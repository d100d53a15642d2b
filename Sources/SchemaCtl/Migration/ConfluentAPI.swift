import AvroCodec
import RegistryClient

/// Every request `export`, `import` and `mirror` make, and nothing else: the documented Confluent Schema
/// Registry API, so that they work against Confluent, Karapace, Redpanda, Apicurio's Confluent API and ours.
/// The interop test reads the templates below from this file and checks each method, path and query
/// parameter against `openapi.yaml`; no other file of the migration builds a path.
enum ConfluentCall {
    case listSubjects  // every subject, soft-deleted ones too
    case listVersions(subject: String, includeDeleted: Bool)
    case getVersion(subject: String, version: Int)
    case getSchema(id: Int)
    case getConfig(subject: String?)
    case putConfig(subject: String?)
    case deleteConfig(subject: String)
    case getMode(subject: String?)
    case putMode(subject: String?, force: Bool)
    case deleteMode(subject: String)
    case registerVersion(subject: String)
    case deleteVersion(subject: String, version: Int, permanent: Bool)

    /// Method, path template and the query parameters this call may send.
    var template: (method: String, path: String, query: [String]) {
        switch self {
        case .listSubjects: return ("GET", "/subjects", ["deleted"])
        case .listVersions: return ("GET", "/subjects/{subject}/versions", ["deleted"])
        case .getVersion: return ("GET", "/subjects/{subject}/versions/{version}", ["deleted"])
        case .getSchema: return ("GET", "/schemas/ids/{id}", [])
        case .getConfig(nil): return ("GET", "/config", [])
        case .getConfig: return ("GET", "/config/{subject}", [])
        case .putConfig(nil): return ("PUT", "/config", [])
        case .putConfig: return ("PUT", "/config/{subject}", [])
        case .deleteConfig: return ("DELETE", "/config/{subject}", [])
        case .getMode(nil): return ("GET", "/mode", [])
        case .getMode: return ("GET", "/mode/{subject}", [])
        case .putMode(nil, _): return ("PUT", "/mode", ["force"])
        case .putMode: return ("PUT", "/mode/{subject}", ["force"])
        case .deleteMode: return ("DELETE", "/mode/{subject}", [])
        case .registerVersion: return ("POST", "/subjects/{subject}/versions", [])
        case .deleteVersion: return ("DELETE", "/subjects/{subject}/versions/{version}", ["permanent"])
        }
    }

    /// The request target: the template with its values (subjects percent-encoded) and query.
    var target: String {
        var path = template.path
        var query: [String] = []
        func fill(_ name: String, _ value: String) {
            path = path.replacing("{\(name)}", with: value)
        }
        switch self {
        case .listSubjects: query = ["deleted=true"]
        case .listVersions(let subject, let includeDeleted):
            fill("subject", RegistryClient.pathSegment(subject))
            if includeDeleted { query = ["deleted=true"] }
        case .getVersion(let subject, let version):
            fill("subject", RegistryClient.pathSegment(subject))
            fill("version", String(version))
            query = ["deleted=true"]
        case .getSchema(let id): fill("id", String(id))
        case .getConfig(let subject?), .putConfig(let subject?), .deleteConfig(let subject), .getMode(let subject?), .deleteMode(let subject),
            .registerVersion(let subject):
            fill("subject", RegistryClient.pathSegment(subject))
        case .getConfig(nil), .putConfig(nil), .getMode(nil): break
        case .putMode(let subject, let force):
            if let subject { fill("subject", RegistryClient.pathSegment(subject)) }
            if force { query = ["force=true"] }
        case .deleteVersion(let subject, let version, let permanent):
            fill("subject", RegistryClient.pathSegment(subject))
            fill("version", String(version))
            if permanent { query = ["permanent=true"] }
        }
        return query.isEmpty ? path : path + "?" + query.joined(separator: "&")
    }
}

extension RegistryClient {
    /// Sends one of the migration's calls.
    func call(_ call: ConfluentCall, body: JSONValue? = nil) async throws(RegistryClientError) -> JSONValue {
        try await send(call.template.method, call.target, body: body)
    }
}
