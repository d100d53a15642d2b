import AvroCodec
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// What went wrong talking to a registry.
public enum RegistryClientError: Error, CustomStringConvertible {
    /// No answer, or a 5xx: the registry is unreachable or failing (not the caller's input).
    case unavailable(String)
    /// A 4xx with Confluent's error body.
    case rejected(status: Int, errorCode: Int, message: String)
    /// A 2xx whose body is not what the API promises.
    case malformedResponse(String)

    public var description: String {
        switch self {
        case .unavailable(let reason): return "registry unavailable: \(reason)"
        case .rejected(let status, let code, let message): return "registry refused (HTTP \(status), error \(code)): \(message)"
        case .malformedResponse(let reason): return "unexpected registry response: \(reason)"
        }
    }
}

/// A client of the Confluent Schema Registry REST API (ours or Confluent's).
public struct RegistryClient: Sendable {
    public let baseURL: String

    public init(baseURL: String) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    }

    /// Percent-encodes a subject for use as one path segment (`/` becomes `%2F`).
    public static func pathSegment(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// Sends a request; returns the parsed JSON body of a 2xx answer.
    public func send(_ method: String, _ path: String, body: JSONValue? = nil) async throws(RegistryClientError) -> JSONValue {
        guard let url = URL(string: baseURL + path) else { throw .unavailable("invalid registry URL \(baseURL + path)") }
        var request = URLRequest(url: url, timeoutInterval: 30)
        request.httpMethod = method
        request.setValue("application/vnd.schemaregistry.v1+json", forHTTPHeaderField: "Accept")
        if let body {
            request.setValue("application/vnd.schemaregistry.v1+json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body.compactText.utf8)
        }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw .unavailable("\(baseURL): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let json = try? JSONParser.parse(bytes: [UInt8](data))
        if status >= 500 || status == 0 {
            throw .unavailable("HTTP \(status) from \(baseURL): \(String(decoding: data, as: UTF8.self))")
        }
        if status >= 400 {
            if case .integer(let code)? = json?["error_code"], case .string(let message)? = json?["message"] {
                throw .rejected(status: status, errorCode: Int(code), message: message)
            }
            throw .rejected(status: status, errorCode: status, message: String(decoding: data, as: UTF8.self))
        }
        guard let json else { throw .malformedResponse("body is not JSON: \(String(decoding: data.prefix(200), as: UTF8.self))") }
        return json
    }

    /// Registers a schema under a subject; returns its id.
    public func register(subject: String, schema: String) async throws(RegistryClientError) -> Int {
        let answer = try await send("POST", "/subjects/\(Self.pathSegment(subject))/versions", body: .object([("schema", .string(schema)), ("schemaType", .string("AVRO"))]))
        guard case .integer(let id)? = answer["id"] else { throw .malformedResponse("no id in \(answer.compactText)") }
        return Int(id)
    }

    /// The schema text with this id.
    public func schema(id: Int) async throws(RegistryClientError) -> String {
        let answer = try await send("GET", "/schemas/ids/\(id)")
        guard case .string(let schema)? = answer["schema"] else { throw .malformedResponse("no schema in \(answer.compactText)") }
        return schema
    }

    /// A subject's version (`latest` when nil) as the API returns it.
    public func version(subject: String, version: String?) async throws(RegistryClientError) -> JSONValue {
        try await send("GET", "/subjects/\(Self.pathSegment(subject))/versions/\(version ?? "latest")")
    }

    /// Every subject with a live version.
    public func subjects() async throws(RegistryClientError) -> [String] {
        try await send("GET", "/subjects").arrayOfStrings
    }

    /// The subject's versions, or nil when the subject does not exist.
    public func versions(subject: String) async throws(RegistryClientError) -> [Int]? {
        do throws(RegistryClientError) {
            let answer = try await send("GET", "/subjects/\(Self.pathSegment(subject))/versions")
            guard case .array(let items) = answer else { throw RegistryClientError.malformedResponse(answer.compactText) }
            return items.compactMap { if case .integer(let number) = $0 { return Int(number) } else { return nil } }
        } catch {
            if case .rejected(_, 40401, _) = error { return nil }
            throw error
        }
    }

    /// The effective level of a subject (nil: the global level).
    public func level(subject: String?) async throws(RegistryClientError) -> String {
        let path = subject.map { "/config/\(Self.pathSegment($0))?defaultToGlobal=true" } ?? "/config"
        let answer = try await send("GET", path)
        guard case .string(let level)? = answer["compatibilityLevel"] else { throw .malformedResponse(answer.compactText) }
        return level
    }

    /// Sets the level of a subject (nil: the global level).
    public func setLevel(_ level: String, subject: String?) async throws(RegistryClientError) {
        let path = subject.map { "/config/\(Self.pathSegment($0))" } ?? "/config"
        _ = try await send("PUT", path, body: .object([("compatibility", .string(level))]))
    }

    /// Asks the registry whether `schema` may follow the subject's versions (or one version), with
    /// the verbose messages.
    public func checkCompatibility(subject: String, schema: String, version: String?) async throws(RegistryClientError) -> (isCompatible: Bool, messages: [String]) {
        let versionPath = version.map { "/\(Self.pathSegment($0))" } ?? ""
        let answer = try await send(
            "POST", "/compatibility/subjects/\(Self.pathSegment(subject))/versions\(versionPath)?verbose=true",
            body: .object([("schema", .string(schema)), ("schemaType", .string("AVRO"))]))
        guard case .bool(let compatible)? = answer["is_compatible"] else { throw .malformedResponse(answer.compactText) }
        return (compatible, answer["messages"]?.arrayOfStrings ?? [])
    }
}

extension JSONValue {
    var arrayOfStrings: [String] {
        guard case .array(let items) = self else { return [] }
        return items.compactMap(\.stringValue)
    }
}
