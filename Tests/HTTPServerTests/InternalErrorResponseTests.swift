import Testing
import HTTPServer

/// Requests libmicrohttpd refuses by itself, before or while reading the body, without calling the handler.
///
/// What the server sends for them is Confluent's JSON error body with the status kept, or nothing (a closed
/// connection): libmicrohttpd's own HTML pages are replaced as it queues them (`ErrorPageReplacement.swift`). The
/// answer to an unreadable Content-Length is written once by the server itself, because libmicrohttpd 0.9.75
/// writes the head of its own twice. The status is the right one, the connection is closed after it, the
/// handler never runs, and the server keeps serving.
@Suite struct InternalErrorResponseTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let request: [UInt8]
        /// The status libmicrohttpd answers with; nil when it closes the connection without a byte.
        let status: Int?
        var testDescription: String { name }
    }

    static let chunked = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

    static let cases: [Case] = [
        Case(name: "Content-Length of 2^64", request: Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n".utf8), status: 413),
        Case(name: "Content-Length of 10^22", request: Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999999999999999999\r\n\r\n".utf8), status: 413),
        Case(name: "Content-Length not a number", request: Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n".utf8), status: 400),
        Case(name: "negative Content-Length", request: Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nhello".utf8), status: 400),
        Case(name: "hexadecimal Content-Length", request: Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\nhello".utf8), status: 400),
        Case(name: "chunk size of 2^64", request: Array((chunked + "10000000000000000\r\nabc\r\n0\r\n\r\n").utf8), status: 413),
        Case(name: "100 KB chunk extension", request: Array((chunked + "5;" + String(repeating: "e", count: 100_000) + "\r\nhello\r\n0\r\n\r\n").utf8), status: 500),
        Case(name: "malformed chunk size", request: Array((chunked + "zz\r\nabc\r\n0\r\n\r\n").utf8), status: 400),
        Case(name: "unsupported HTTP version", request: Array("GET / HTTP/9.9\r\nHost: x\r\n\r\n".utf8), status: 505),
        Case(name: "HTTP/2 preface", request: Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8), status: 505),
        Case(name: "100 KB header", request: Array("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "h", count: 100_000))\r\n\r\n".utf8), status: 431),
        Case(name: "100 KB path", request: Array("GET /\(String(repeating: "p", count: 100_000)) HTTP/1.1\r\nHost: x\r\n\r\n".utf8), status: 414),
        Case(name: "header line without colon", request: Array("GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".utf8), status: 400),
        Case(name: "malformed request line", request: Array("GARBAGE\r\n\r\n".utf8), status: nil),
        // Each query parameter takes a record in the connection's memory pool; libmicrohttpd closed the connection
        // without an answer when they did not fit. Targets with more than 256 parameters, or longer than 8 KiB,
        // are refused before it stores them.
        Case(name: "600 query parameters", request: Array("GET /describe?\(String(repeating: "q=1&", count: 600)) HTTP/1.1\r\nHost: x\r\n\r\n".utf8), status: 414),
        Case(name: "200 query parameters of 100 bytes", request: Array("GET /describe?\(String(repeating: "q=\(String(repeating: "v", count: 100))&", count: 200)) HTTP/1.1\r\nHost: x\r\n\r\n".utf8), status: 414),
    ]

    @Test(arguments: cases)
    func answerIsTheStatusThenClose(_ testCase: Case) throws {
        let server = try EchoServer.start(maximumBodyBytes: 1 << 20, timeoutSeconds: 5)
        let connection = try RawHTTPConnection(port: server.port, receiveTimeoutSeconds: 10)
        connection.send(testCase.request)
        let response = try connection.readResponseUnlessClosed()
        #expect(response?.status == testCase.status)
        if let response {
            #expect(response.headers["connection"]?.lowercased() == "close")
            #expect(!response.bodyText.contains("method\t"), "the handler must not have run")
            #expect(response.headers["content-type"] == "application/vnd.schemaregistry.v1+json")
            #expect(response.bodyText.hasPrefix(#"{"error_code":\#(response.status),"message":"HTTP \#(response.status)"#), "\(response.bodyText)")
            #expect(!response.bodyText.contains("<html"))
        }

        let next = try RawHTTPConnection(port: server.port)
        next.sendRequest("GET", "/still-alive")
        #expect(EchoDescription(try next.readResponse()).path == "/still-alive")
    }

    /// libmicrohttpd 0.9.75 writes the head of its answer to an unreadable `Content-Length` twice (the second copy
    /// would be read as the body): the server writes that answer itself, exactly once, then the connection closes.
    @Test func unreadableContentLengthIsAnsweredOnce() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n")
        let bytes = try connection.readUntilClosed()
        #expect(String(decoding: bytes, as: UTF8.self).components(separatedBy: "HTTP/1.1 ").count == 2, "\(String(decoding: bytes, as: UTF8.self))")
    }

    /// Two `Content-Length` headers, one beside `Transfer-Encoding`, or a `Transfer-Encoding` other than one exact
    /// `chunked` can be read two ways (a proxy in front may take the other): one 400, the handler never runs, and a
    /// request pipelined behind is not answered.
    @Test(arguments: [
        "Content-Length: 5\r\nContent-Length: 4\r\n", "Content-Length: 5\r\nContent-Length: 5\r\n", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        // libmicrohttpd reads any Transfer-Encoding but one exact "chunked" as "to the end of the connection".
        "Transfer-Encoding: gzip, chunked\r\n", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "Transfer-Encoding: identity\r\n",
    ])
    func ambiguousFramingIsOneBadRequestThenClose(_ framing: String) throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.send("POST /echo HTTP/1.1\r\nHost: x\r\n\(framing)\r\nhelloGET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        let text = String(decoding: try connection.readUntilClosed(), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 400 "), "\(text)")
        #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer only: \(text)")
        #expect(!text.contains("method\t"), "the handler must not have run")
    }
}
