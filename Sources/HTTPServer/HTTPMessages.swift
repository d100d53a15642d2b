/// One HTTP request as the handler sees it: fully read, body included.
///
/// ```swift
/// let request = HTTPRequest(method: "GET", path: "/subjects/a%2Fb/versions",
///                           query: [(name: "deleted", value: "true")], headers: [:], body: [])
/// ```
public struct HTTPRequest: Sendable {
    /// The request method as sent, e.g. `"GET"` or `"POST"`.
    public var method: String
    /// The raw path as received, still percent-encoded (`%2F` stays `%2F`), without the query string.
    public var path: String
    /// Query parameters in order, names and values percent-decoded with `+` read as a space;
    /// a parameter without `=` has the value `""`.
    public var query: [(name: String, value: String)]
    /// Request headers keyed by lower-cased name; repeated headers are joined with `", "`.
    public var headers: [String: String]
    /// The request body (empty when there is none).
    public var body: [UInt8]

    /// Creates a request; the server builds these, tests of handlers can too.
    public init(method: String, path: String, query: [(name: String, value: String)], headers: [String: String], body: [UInt8]) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
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
