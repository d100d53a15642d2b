import Testing
import HTTPServer

/// HEAD reaches the handler as method "HEAD"; whatever body the handler returns, libmicrohttpd sends its
/// `Content-Length` and not the body, so the handler may answer HEAD exactly as it answers GET.
@Suite struct HeadRequestTests {
    @Test func headGetsTheHeadersOfTheBodyButNoBody() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.sendRequest("HEAD", "/method")
        let response = try connection.readResponse(toHead: true)
        #expect(response.status == 200)
        #expect(response.headers["content-length"] == "4")  // the handler saw "HEAD" and answered it as the body
        #expect(response.headers["content-type"] == "text/plain")
        #expect(connection.strayBytes() == [])

        // Nothing of the dropped body is left on the connection: the next answer starts where it should.
        connection.sendRequest("GET", "/method")
        let next = try connection.readResponse()
        #expect(next.status == 200)
        #expect(next.bodyText == "GET")
    }

    @Test func headOfALargeBodyAndOfAnErrorSendNoBody() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.sendRequest("HEAD", "/status/404")
        let notFound = try connection.readResponse(toHead: true)
        #expect(notFound.status == 404)
        #expect(notFound.headers["x-extra"] == "yes")
        #expect(connection.strayBytes() == [])

        // /echo answers the request body: 200 KB the handler returns, none of which goes out.
        connection.sendRequest("HEAD", "/echo", body: [UInt8](repeating: 0x68, count: 200_000))
        let large = try connection.readResponse(toHead: true)
        #expect(large.status == 200)
        #expect(large.headers["content-length"] == "200000")
        #expect(connection.strayBytes() == [])
    }

    @Test func curlHeadSeesTheLength() throws {
        let server = try EchoServer.start()
        let output = try runCurl(["-sI", "http://127.0.0.1:\(server.port)/method"])
        #expect(output.lowercased().contains("content-length: 4"))
    }
}
