/// A request the server answers itself, without calling the handler.
///
/// The answer is Confluent's error body, `{"error_code":400,"message":"…"}` as
/// `application/vnd.schemaregistry.v1+json`: the only server this package builds is the schema registry, and its
/// clients read every error in that shape.
enum RefusedRequest: Equatable {
    /// The raw path holds bytes that are not UTF-8. Repairing them to U+FFFD would make distinct paths
    /// (`a\xFFb`, `a\xFEb`) name the same subject.
    case pathNotUTF8
    /// A query name or value is not UTF-8 once percent-decoded.
    case queryNotUTF8
    /// Two `Content-Length` headers, one beside `Transfer-Encoding`, or a `Transfer-Encoding` other than one
    /// `chunked`: the framing is ambiguous, and a proxy in front may have read it the other way (smuggling).
    case ambiguousFraming
    /// The request line is longer than `maximumTargetBytes`, or its query has more than `maximumQueryParameters`
    /// parameters: refused before libmicrohttpd stores them (its per-connection memory would run out and it would
    /// close the connection without an answer).
    case targetTooLarge

    /// Confluent's Jetty refuses request headers past 8 KiB; the registry's own requests use a few parameters.
    static let maximumTargetBytes = 8 * 1024
    static let maximumQueryParameters = 256

    var response: HTTPResponse {
        switch self {
        case .targetTooLarge:
            RefusedRequest.errorResponse(
                status: 414,
                message: "HTTP 414 URI Too Long: the request target is longer than \(RefusedRequest.maximumTargetBytes) bytes or has more than \(RefusedRequest.maximumQueryParameters) query parameters")
        case .pathNotUTF8: RefusedRequest.errorResponse(status: 400, message: "The request path is not valid UTF-8")
        case .queryNotUTF8: RefusedRequest.errorResponse(status: 400, message: "The request query is not valid UTF-8")
        case .ambiguousFraming:
            RefusedRequest.errorResponse(
                status: 400, message: "The request's framing is ambiguous: more than one Content-Length, Content-Length with Transfer-Encoding, or a Transfer-Encoding other than chunked")
        }
    }

    /// Confluent's error body; `error_code` is the HTTP status, as Confluent sends for errors of the HTTP layer.
    static func errorResponse(status: Int, message: String) -> HTTPResponse {
        var body = Array(#"{"error_code":\#(status),"message":""#.utf8)
        for scalar in message.unicodeScalars {
            switch scalar {
            case "\"": body += Array(#"\""#.utf8)
            case "\\": body += Array(#"\\"#.utf8)
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                body += Array(("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
            default: body += Array(String(scalar).utf8)
            }
        }
        body += Array(#""}"#.utf8)
        return HTTPResponse(status: status, contentType: errorContentType, body: body)
    }

    /// Confluent's media type, which error bodies carry too.
    static let errorContentType = HTTPResponse.confluentMediaType
}
