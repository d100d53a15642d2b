/// One HTTP request as the handler sees it: fully read, body included.
///
/// ```swift
/// let request = HTTPRequest(method: "GET", path: "/subjects/a%2Fb/versions",
///                           query: [(name: "deleted", value: "true")], headers: [:], body: [])
/// ```
public struct HTTPRequest: Sendable {
    /// The request method as sent, e.g. `"GET"` or `"POST"`; `"HEAD"` too, whose response body the server drops
    /// (it still sends that body's `Content-Length`), so a handler answers HEAD as it answers GET.
    public var method: String
    /// The raw path as received, still percent-encoded (`%2F` stays `%2F`), without the query string.
    /// Always valid UTF-8: the server refuses other paths with a 400 before any handler runs.
    public var path: String
    /// Query parameters in order, names and values percent-decoded with `+` read as a space;
    /// a parameter without `=` has the value `""`. A query that is not UTF-8 once decoded is refused with a 400.
    public var query: [(name: String, value: String)]
    /// Request headers keyed by lower-cased name; repeated headers are joined with `", "`. Bytes that are not
    /// UTF-8 are repaired to U+FFFD.
    public var headers: [String: String]
    /// The request body (empty when there is none).
    public var body: [UInt8]
    /// The client's IP address as text (`127.0.0.1`, `::1`), taken from the socket once per connection; empty
    /// when unknown. The peer of the TCP connection: behind a proxy, the proxy's address.
    public var clientAddress: String

    /// Creates a request; the server builds these, tests of handlers can too.
    public init(
        method: String, path: String, query: [(name: String, value: String)], headers: [String: String], body: [UInt8], clientAddress: String = ""
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.clientAddress = clientAddress
    }
}

/// The response a handler returns.
///
/// ```swift
/// HTTPResponse(status: 200, contentType: "application/json", body: Array(#"{"id":1}"#.utf8))
/// ```
public struct HTTPResponse: Sendable {
    /// The status code; anything outside 100...999 is sent as 500.
    public var status: Int
    /// The `Content-Type` header value; empty means no `Content-Type` header.
    public var contentType: String
    /// The response body, sent with a `Content-Length`.
    public var body: [UInt8]
    /// Further headers, in order. `Content-Length` and `Transfer-Encoding` are managed by the server and ignored here.
    public var extraHeaders: [(name: String, value: String)]

    /// Creates a response.
    public init(status: Int, contentType: String, body: [UInt8], extraHeaders: [(name: String, value: String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.extraHeaders = extraHeaders
    }
}

extension HTTPResponse {
    /// Confluent's JSON media type: every error body this server makes, and every JSON answer of the REST layer.
    public static let confluentMediaType = "application/vnd.schemaregistry.v1+json"
}
