/// One request to the registry, as `HTTPTransport` sends it.
struct HTTPRequest: Sendable {
    let method: String
    /// The request target: path and query, already percent-encoded (`RegistryEndpoint.requestTarget`).
    let target: [UInt8]
    /// The JSON body, sent with Confluent's media type; nil: none.
    let body: [UInt8]?

    /// Confluent's media type, asked for in `Accept` and declared for bodies.
    static let mediaType = "application/vnd.schemaregistry.v1+json"

    /// Head and body as one buffer, sent with one write: `Host`, `Authorization` when given, `Accept`, `User-Agent`, and for a
    /// body (or a method that normally has one) `Content-Type` and `Content-Length`.
    func serialized(hostHeader: String, authorization: String? = nil) -> [UInt8] {
        var head = method + " " + String(decoding: target, as: UTF8.self) + " HTTP/1.1\r\n"
        head += "Host: \(hostHeader)\r\n"
        if let authorization { head += "Authorization: \(authorization)\r\n" }
        head += "User-Agent: schemactl\r\n"
        head += "Accept: \(Self.mediaType)\r\n"
        if let body {
            head += "Content-Type: \(Self.mediaType)\r\n"
            head += "Content-Length: \(body.count)\r\n"
        } else if method != "GET" && method != "HEAD" && method != "DELETE" {
            head += "Content-Length: 0\r\n"
        }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if let body { bytes += body }
        return bytes
    }
}
