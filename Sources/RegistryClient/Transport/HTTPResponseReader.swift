import AvroCodec

/// Reads one HTTP/1.1 response from a connection: status line, headers, and the body framed by
/// `Transfer-Encoding: chunked` (Confluent's Jetty and Karapace's aiohttp send it), `Content-Length`,
/// or the end of the stream, per RFC 9112 section 6.3.
///
/// Bounded: the head (and a chunked body's trailers) at 64 KiB, the body at 256 MiB. An answer past
/// either is an error rather than memory spent on whatever the peer cares to send.
enum HTTPResponseReader {
    static let headLimit = 64 * 1024
    static let bodyLimit = 256 * 1024 * 1024

    /// Reads the response to a `method` request. `TransportError` for a stream that is not HTTP/1.x,
    /// ends early, or passes the limits.
    static func read(from connection: HTTPConnection, method: String) throws(TransportError) -> HTTPResponse {
        var head: Head
        repeat {
            head = try readHead(from: connection)
        } while (100...199).contains(head.status) && head.status != 101  // interim answers (100 Continue): the real one follows

        var keepsConnection = head.keepsConnection
        var body: [UInt8] = []
        if method == "HEAD" || head.status == 204 || head.status == 304 || (100...199).contains(head.status) {
            // No body, whatever the headers say.
        } else if let codings = head.value(of: "transfer-encoding") {
            // With a Content-Length too (or on HTTP/1.0), the framing is suspect (RFC 9112 section 6.3):
            // read as chunked, but the connection is not used again.
            if head.value(of: "content-length") != nil || head.isHTTP10 { keepsConnection = false }
            let last = codings.split(separator: ",").last.map { $0.trimming().lowercased() }
            if last == "chunked" {
                try readChunked(from: connection, into: &body)
            } else {
                // A response not chunked last runs to the close (RFC 9112 section 6.3, item 4).
                try connection.readToEnd(into: &body, limit: bodyLimit)
                keepsConnection = false
            }
        } else if let lengths = head.value(of: "content-length") {
            let length = try contentLength(lengths)
            guard length <= bodyLimit else { throw TransportError("the response body is larger than \(bodyLimit) bytes (Content-Length \(length))") }
            body.reserveCapacity(min(length, 1 << 20))  // a declared length is not yet a body
            try connection.read(exactly: length, into: &body)
        } else {
            try connection.readToEnd(into: &body, limit: bodyLimit)
            keepsConnection = false
        }
        return HTTPResponse(status: head.status, headers: head.headers, body: body, keepsConnection: keepsConnection)
    }

    struct Head {
        var status: Int
        var headers: [(name: String, value: String)]
        var keepsConnection: Bool
        var isHTTP10 = false

        /// The values of every header with this (lowercase) name, joined by commas as RFC 9110 allows.
        func value(of name: String) -> String? {
            let values = headers.filter { $0.name == name }.map(\.value)
            return values.isEmpty ? nil : values.joined(separator: ",")
        }
    }

    private static func readHead(from connection: HTTPConnection) throws(TransportError) -> Head {
        guard let statusLine = try connection.readLine(limit: headLimit, what: "response head", shownLimit: headLimit) else {
            throw TransportError("the server closed the connection without answering")
        }
        var remaining = headLimit - statusLine.count
        // "HTTP/1.1 200 OK": the version, a space, three digits, then a space and a reason or nothing.
        let parts = statusLine.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].starts(with: Array("HTTP/1.".utf8)), parts[0].count == 8,
            parts[1].count == 3, parts[1].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let status = Int(String(decoding: parts[1], as: UTF8.self))
        else {
            throw TransportError("the answer is not HTTP/1.x: \(printable(statusLine.prefix(80)).debugDescription)")
        }
        let isHTTP10 = parts[0].last == UInt8(ascii: "0")
        // 1xx–5xx only; and we never ask for an upgrade, so 101 is not an answer either.
        guard (100...599).contains(status), status != 101 else {
            throw TransportError("the server answered with status \(status), which is not an HTTP answer to this request")
        }

        let headers = try readFields(from: connection, remaining: &remaining, what: "response head")
        var head = Head(status: status, headers: headers, keepsConnection: false, isHTTP10: isHTTP10)
        let connectionOptions = head.value(of: "connection").map { $0.split(separator: ",").map { $0.trimming().lowercased() } } ?? []
        head.keepsConnection = isHTTP10 ? connectionOptions.contains("keep-alive") : !connectionOptions.contains("close")
        return head
    }

    /// Header (or trailer) lines up to the empty line that ends them, within `remaining` bytes.
    private static func readFields(from connection: HTTPConnection, remaining: inout Int, what: String) throws(TransportError) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        while true {
            guard let line = try connection.readLine(limit: remaining, what: what, shownLimit: headLimit) else {
                throw TransportError("the connection closed in the middle of the \(what)")
            }
            remaining -= line.count + 2
            guard remaining >= 0 else { throw TransportError("\(what) is longer than \(headLimit) bytes") }
            if line.isEmpty { return fields }
            if line.first == UInt8(ascii: " ") || line.first == UInt8(ascii: "\t"), !fields.isEmpty {
                // Obsolete line folding (RFC 9112 section 5.2): the line continues the previous value.
                fields[fields.count - 1].value += " " + String(decoding: line, as: UTF8.self).trimming()
                continue
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                !line[..<colon].contains(where: { $0 <= 0x20 })
            else {
                throw TransportError("malformed \(what) line: \(printable(line.prefix(80)).debugDescription)")
            }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimming()
            fields.append((name, value))
        }
    }

    /// Chunks (`size[;extension]` CRLF, data, CRLF) up to the zero-size one, then trailers, which are
    /// read and dropped: the registry API gives them no meaning.
    private static func readChunked(from connection: HTTPConnection, into body: inout [UInt8]) throws(TransportError) {
        while true {
            guard let line = try connection.readLine(limit: 4096, what: "chunk size line", shownLimit: 4096) else {
                throw TransportError("the connection closed before the end of the chunked body")
            }
            let digits = line.prefix { $0 != UInt8(ascii: ";") && $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
            let isHexDigit = { (byte: UInt8) in RegistryEndpoint.hexDigits.contains(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f")) }
            guard !digits.isEmpty, digits.count <= 15, digits.allSatisfy(isHexDigit), let size = Int(String(decoding: digits, as: UTF8.self), radix: 16) else {
                throw TransportError("malformed chunk size line: \(printable(line.prefix(80)).debugDescription)")
            }
            if size == 0 { break }
            guard size <= bodyLimit - body.count else { throw TransportError("the response body is larger than \(bodyLimit) bytes") }
            try connection.read(exactly: size, into: &body)
            guard let end = try connection.readLine(limit: 2, what: "chunk end", shownLimit: 2), end.isEmpty else {
                throw TransportError("a chunk does not end where its size says")
            }
        }
        var remaining = headLimit
        _ = try readFields(from: connection, remaining: &remaining, what: "chunked body's trailers")
    }

    /// A `Content-Length` value; several equal values (a list or repeated headers) are one length.
    private static func contentLength(_ text: String) throws(TransportError) -> Int {
        let values = Set(text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimming() })
        guard values.count == 1, let value = values.first, !value.isEmpty, value.count <= 18,
            value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let length = Int(value)
        else { throw TransportError("invalid Content-Length \(text.debugDescription)") }
        return length
    }

    /// Bytes from the wire for an error message: UTF-8 where it is, and no control characters.
    private static func printable(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.map { $0 < 0x20 || $0 == 0x7F ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
    }
}
