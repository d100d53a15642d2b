import HTTPServer
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The request log: one info line per request (method, path, route, status, duration, response bytes, client
/// address, user when authenticated, request id), and the request id every response carries in `X-Request-Id`.
///
/// What it never writes: the query string (its values may hold secrets), headers (`Authorization` above all),
/// bodies (schemas), passwords.
public struct RequestLog: Sendable {
    /// The response header (and the request header a caller may send) holding the request id.
    public static let header = "X-Request-Id"
    /// The longest request id taken from a caller.
    static let maximumIDLength = 128
    /// Paths longer than this are cut in the log line (the server accepts targets up to 8 KiB).
    static let maximumPathBytes = 1024

    private let logger: Logger?

    /// Logs through `logger` (nil: ids only, no lines).
    public init(logger: Logger?) {
        self.logger = logger
    }

    /// The caller's `X-Request-Id` when it is 1 to 128 characters of `A-Z a-z 0-9 . _ : -`; otherwise (absent, too
    /// long, any other character — a newline or a quote could forge log lines or headers) a new one.
    static func requestID(_ request: HTTPRequest) -> String {
        if let sent = request.headers["x-request-id"], isAcceptable(sent) { return sent }
        return RequestIDs.next()
    }

    static func isAcceptable(_ id: String) -> Bool {
        let bytes = id.utf8
        guard !bytes.isEmpty, bytes.count <= maximumIDLength else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }

    /// The path of an absolute-form target (`http://user:password@host/p` → `/p`): its authority may hold
    /// credentials, which never reach the log.
    static func originForm(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        guard let scheme = path.firstRange(of: "://") else { return path.contains("@") ? "(target not logged)" : path }
        let rest = path[scheme.upperBound...]
        return rest.firstIndex(of: "/").map { String(rest[$0...]) } ?? "/"
    }

    /// Writes the line of one answered request.
    func record(_ request: HTTPRequest, _ response: HTTPResponse, route: String, user: String?, requestID: String, nanoseconds: Int64) {
        guard let logger, logger.logLevel <= .info else { return }
        var path = RequestLog.originForm(request.path)
        if path.utf8.count > RequestLog.maximumPathBytes { path = String(decoding: path.utf8.prefix(RequestLog.maximumPathBytes), as: UTF8.self) + "…" }
        // One metadata value holding every field, not eight: building and reading an eight-entry dictionary per
        // request cost a measurable share of fetch-by-id throughput (bench/http_fetch.sh). `LineLogHandler` writes
        // the fields as top-level keys; any other handler gets them as one `key=value …` text.
        let fields = RequestLogFields(
            requestID: requestID, method: request.method, path: path, route: route, status: response.status,
            duration: LogDuration(nanoseconds: nanoseconds), bytes: response.body.count, client: request.clientAddress, user: user)
        logger.info("request", metadata: [RequestLogFields.metadataKey: .stringConvertible(fields)])
    }
}

/// The fields of one request line, in the order they are written.
public struct RequestLogFields: CustomStringConvertible, Sendable {
    /// The metadata key a request line's fields travel under.
    public static let metadataKey = "request"

    public let requestID: String
    public let method: String
    public let path: String
    public let route: String
    public let status: Int
    public let duration: LogDuration
    public let bytes: Int
    public let client: String
    /// Nil when the request was not authenticated.
    public let user: String?

    /// The fields as (key, value, whether a number) in order.
    func forEach(_ body: (StaticString, String, Bool) -> Void) {
        body("request_id", requestID, false)
        body("method", method, false)
        body("path", path, false)
        body("route", route, false)
        body("status", String(status), true)
        body("duration_ms", duration.description, true)
        body("bytes", String(bytes), true)
        body("client", client, false)
        if let user { body("user", user, false) }
    }

    public var description: String {
        var parts: [String] = []
        forEach { key, value, _ in parts.append("\(key)=\(value)") }
        return parts.joined(separator: " ")
    }
}

/// New request ids: a random prefix chosen once per process and a counter, `3f9c2a71-0000002a` — unique within the
/// process, and across processes and restarts with overwhelming likelihood, for the price of one atomic add.
enum RequestIDs {
    private static let prefix: String = {
        var generator = SystemRandomNumberGenerator()
        let value = UInt32.random(in: 0...UInt32.max, using: &generator)
        return hex(UInt64(value), digits: 8)
    }()
    private static let counter = Atomic<UInt64>(0)

    static func next() -> String {
        let (number, _) = counter.add(1, ordering: .relaxed)
        return prefix + "-" + hex(number, digits: 8)
    }

    private static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return text.count >= digits ? text : String(repeating: "0", count: digits - text.count) + text
    }
}
