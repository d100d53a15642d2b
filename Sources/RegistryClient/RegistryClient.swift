import AvroCodec

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
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

/// How a request is retried when the registry is unavailable (no answer, or a 5xx). A 4xx is the
/// caller's problem and is never retried; neither is a malformed 2xx.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first included (1: no retry).
    public var attempts: Int
    /// The wait before the first retry; each later wait doubles, up to `maximumDelay`.
    public var initialDelay: Duration
    public var maximumDelay: Duration

    public init(attempts: Int = 4, initialDelay: Duration = .milliseconds(100), maximumDelay: Duration = .seconds(2)) {
        self.attempts = max(1, attempts)
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
    }

    /// A single attempt.
    public static let none = RetryPolicy(attempts: 1)

    /// The wait before retry number `retry` (1-based): exponential, with up to 25% random jitter so
    /// that many clients do not retry in step.
    func delay(beforeRetry retry: Int) -> Duration {
        var delay = initialDelay
        for _ in 1..<retry where delay < maximumDelay { delay *= 2 }
        delay = min(delay, maximumDelay)
        return delay + delay * Double.random(in: 0..<0.25)
    }
}

/// A client of the Confluent Schema Registry REST API (ours or Confluent's). Stateless: for caching
/// of schemas by id and of latest versions, wrap it in a `CachingRegistryClient`.
public struct RegistryClient: Sendable {
    public let baseURL: String
    public let retry: RetryPolicy
    /// Timeouts and https trust and identity.
    public let transport: RegistryTransportOptions
    /// `baseURL` parsed once; nil when it is not a URL we can reach (every request then says so).
    private let endpoint: RegistryEndpoint?

    /// The registry URL a command line means: `explicit` (a `--registry` flag), else
    /// `$SCHEMA_REGISTRY_URL`, else `http://127.0.0.1:8081`.
    public static func url(explicit: String?) -> String {
        explicit ?? getenv("SCHEMA_REGISTRY_URL").map { String(cString: $0) } ?? "http://127.0.0.1:8081"
    }

    /// Credentials in `baseURL` (`https://user:password@host`) are taken out of it (`baseURL` never shows them)
    /// and used unless `transport.credentials` names others.
    public init(baseURL: String, retry: RetryPolicy = RetryPolicy(), transport: RegistryTransportOptions = RegistryTransportOptions()) {
        let (url, credentials) = RegistryEndpoint.splitCredentials(baseURL)
        self.baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.retry = retry
        var transport = transport
        if transport.credentials == nil { transport.credentials = credentials }
        self.transport = transport
        self.endpoint = RegistryEndpoint(parsing: self.baseURL)
    }

    /// Percent-encodes a subject for use as one path segment (`/` becomes `%2F`): every UTF-8 byte
    /// but ASCII letters, digits and `-._~`, in uppercase hex (what Foundation's
    /// `addingPercentEncoding(withAllowedCharacters: .alphanumerics + "-._~")` gave).
    public static func pathSegment(_ text: String) -> String {
        var encoded: [UInt8] = []
        encoded.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if RegistryEndpoint.isASCIIAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "~")
            {
                encoded.append(byte)
            } else {
                encoded.append(UInt8(ascii: "%"))
                encoded.append(RegistryEndpoint.hexDigits[Int(byte >> 4)])
                encoded.append(RegistryEndpoint.hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// Sends a request, retrying per `retry` while the registry is unavailable; returns the parsed
    /// JSON body of a 2xx answer. Every request of this API is safe to repeat: registering the same
    /// schema twice gives the same id.
    public func send(_ method: String, _ path: String, body: JSONValue? = nil) async throws(RegistryClientError) -> JSONValue {
        var attempt = 1
        while true {
            do throws(RegistryClientError) {
                return try await sendOnce(method, path, body: body)
            } catch {
                guard case .unavailable = error, attempt < retry.attempts, !Task.isCancelled else { throw error }
                do {
                    try await Task.sleep(for: retry.delay(beforeRetry: attempt))
                } catch {
                    throw .unavailable("\(baseURL): cancelled while waiting to retry")
                }
                attempt += 1
            }
        }
    }

    func sendOnce(_ method: String, _ path: String, body: JSONValue?) async throws(RegistryClientError) -> JSONValue {
        guard let endpoint else { throw .unavailable("invalid registry URL \(baseURL + path)") }
        let request = HTTPRequest(method: method, target: endpoint.requestTarget(path), body: body.map { Array($0.compactText.utf8) })
        let data: [UInt8]
        let status: Int
        do {
            let response = try await HTTPTransport.send(request, to: endpoint, options: transport)
            (data, status) = (response.body, response.status)
        } catch {
            throw .unavailable("\(baseURL): \(error.reason)")
        }
        let json = try? JSONParser.parse(bytes: data)
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

    /// The request body of a registration, lookup or check: the schema and its references (omitted when none).
    static func schemaBody(_ schema: String, _ references: [SchemaReferenceToVersion]) -> JSONValue {
        var members: [(String, JSONValue)] = [("schema", .string(schema)), ("schemaType", .string("AVRO"))]
        if !references.isEmpty {
            members.append((
                "references",
                .array(references.map { .object([("name", .string($0.name)), ("subject", .string($0.subject)), ("version", .integer(Int64($0.version)))]) })
            ))
        }
        return .object(members)
    }

    /// Registers a schema under a subject; returns its id.
    public func register(subject: String, schema: String, references: [SchemaReferenceToVersion] = []) async throws(RegistryClientError) -> Int {
        let answer = try await send("POST", "/subjects/\(Self.pathSegment(subject))/versions", body: Self.schemaBody(schema, references))
        guard case .integer(let id)? = answer["id"] else { throw .malformedResponse("no id in \(answer.compactText)") }
        return Int(id)
    }

    /// The id of `schema` under `subject` if it is registered there (nil when it is not), without
    /// registering it.
    public func lookup(subject: String, schema: String) async throws(RegistryClientError) -> Int? {
        try await lookupVersion(subject: subject, schema: schema)?.id
    }

    /// The id and version of `schema` (with `references`) under `subject` if it is registered there, without
    /// registering it.
    public func lookupVersion(
        subject: String, schema: String, references: [SchemaReferenceToVersion] = []
    ) async throws(RegistryClientError) -> (id: Int, version: Int)? {
        do throws(RegistryClientError) {
            let answer = try await send("POST", "/subjects/\(Self.pathSegment(subject))", body: Self.schemaBody(schema, references))
            guard case .integer(let id)? = answer["id"], case .integer(let version)? = answer["version"] else {
                throw RegistryClientError.malformedResponse("no id and version in \(answer.compactText)")
            }
            return (Int(id), Int(version))
        } catch {
            if case .rejected(_, let code, _) = error, code == 40401 || code == 40403 { return nil }
            throw error
        }
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
    public func checkCompatibility(
        subject: String, schema: String, references: [SchemaReferenceToVersion] = [], version: String?
    ) async throws(RegistryClientError) -> (isCompatible: Bool, messages: [String]) {
        let versionPath = version.map { "/\(Self.pathSegment($0))" } ?? ""
        let answer = try await send(
            "POST", "/compatibility/subjects/\(Self.pathSegment(subject))/versions\(versionPath)?verbose=true",
            body: Self.schemaBody(schema, references))
        guard case .bool(let compatible)? = answer["is_compatible"] else { throw .malformedResponse(answer.compactText) }
        return (compatible, answer["messages"]?.arrayOfStrings ?? [])
    }
}

/// A Confluent schema reference: the schema uses type `name` (its full name), registered under `subject` as
/// `version`.
public struct SchemaReferenceToVersion: Sendable, Hashable {
    public let name: String
    public let subject: String
    public let version: Int

    public init(name: String, subject: String, version: Int) {
        self.name = name
        self.subject = subject
        self.version = version
    }
}

extension JSONValue {
    /// The strings of an array (other elements and non-arrays give none).
    public var arrayOfStrings: [String] {
        guard case .array(let items) = self else { return [] }
        return items.compactMap(\.stringValue)
    }
}
