import Testing
import HTTPServer

@Suite struct QueryAndPathTests {
    @Test func portZeroBindsARealPort() throws {
        let server = try EchoServer.start()
        #expect(server.port != 0)
        let connection = try RawHTTPConnection(port: server.port)
        connection.sendRequest("GET", "/ping")
        #expect(try connection.readResponse().status == 200)
    }

    @Test func queryValuesArePercentAndPlusDecodedInOrder() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.sendRequest("GET", "/subjects?b=hello+world&a=%20sp%2Bplus%26amp&flag&empty=&b=second&na%6De=%E2%82%AC&bad=%zz%4")
        let response = try connection.readResponse()
        #expect(response.status == 200)
        let description = EchoDescription(response)
        #expect(description.method == "GET")
        #expect(description.path == "/subjects")
        let pairs = description.query.map { "\($0.name)=\($0.value)" }
        #expect(pairs == ["b=hello world", "a= sp+plus&amp", "flag=", "empty=", "b=second", "name=€", "bad=%zz%4"])
    }

    @Test func pathStaysRawWithEncodedSlash() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.sendRequest("GET", "/subjects/a%2Fb/versions?deleted=true")
        let description = EchoDescription(try connection.readResponse())
        #expect(description.path == "/subjects/a%2Fb/versions")
        #expect(description.query.map(\.name) == ["deleted"])
        #expect(description.query.map(\.value) == ["true"])

        connection.sendRequest("GET", "/subjects/caf%C3%A9%20x+y/versions/latest")
        #expect(EchoDescription(try connection.readResponse()).path == "/subjects/caf%C3%A9%20x+y/versions/latest")
    }

    @Test func headerNamesAreLowerCasedAndRepeatsJoined() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.sendRequest("GET", "/h", headers: [
            ("X-Custom-Header", "Some Value"),
            ("ACCEPT", "application/vnd.schemaregistry.v1+json"),
            ("X-Repeated", "one"),
            ("x-repeated", "two"),
        ])
        let headers = EchoDescription(try connection.readResponse()).headers
        #expect(headers["x-custom-header"] == "Some Value")
        #expect(headers["accept"] == "application/vnd.schemaregistry.v1+json")
        #expect(headers["host"] == "127.0.0.1")
        #expect(headers["x-repeated"] == "one, two")
        #expect(headers.keys.allSatisfy { $0 == $0.lowercased() })
    }

    @Test func responseCarriesStatusContentTypeAndExtraHeaders() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.sendRequest("GET", "/status/404")
        let notFound = try connection.readResponse()
        #expect(notFound.status == 404)
        #expect(notFound.headers["x-extra"] == "yes")
        #expect(notFound.headers["content-type"] == nil)
        #expect(notFound.body.isEmpty)

        connection.sendRequest("GET", "/status/0")
        #expect(try connection.readResponse().status == 500)

        connection.sendRequest("GET", "/describe")
        #expect(try connection.readResponse().headers["content-type"] == "text/plain; charset=utf-8")
    }

    @Test func curlSeesTheSameRequest() throws {
        let server = try EchoServer.start()
        let output = try runCurl(["-s", "-H", "X-From: Curl", "http://127.0.0.1:\(server.port)/subjects/a%2Fb?q=x%2By+z"])
        let description = EchoDescription(RawHTTPResponse(status: 200, headers: [:], body: Array(output.utf8)))
        #expect(description.path == "/subjects/a%2Fb")
        #expect(description.query.map(\.value) == ["x+y z"])
        #expect(description.headers["x-from"] == "Curl")
    }

    /// Raw bytes that are not UTF-8 would otherwise be repaired to U+FFFD, so that `a\xFFb` and `a\xFEb` named
    /// one subject; the server refuses them before the handler sees them.
    @Test(arguments: [[0xFF], [0xFE], [0xC3], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]] as [[UInt8]])
    func pathThatIsNotUTF8IsRefused(_ bytes: [UInt8]) throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.send(Array("GET /subjects/a".utf8) + bytes + Array("b/versions HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let response = try connection.readResponse()
        #expect(response.status == 400)
        #expect(response.headers["content-type"] == "application/vnd.schemaregistry.v1+json")
        #expect(response.bodyText == #"{"error_code":400,"message":"The request path is not valid UTF-8"}"#)

        // A refusal of the request, not of the connection.
        connection.sendRequest("GET", "/subjects/caf%C3%A9/versions")
        #expect(EchoDescription(try connection.readResponse()).path == "/subjects/caf%C3%A9/versions")
    }

    @Test(arguments: ["name=a%FFb", "a%FE=1", "x=%C3", "x=%ED%A0%80", "x=\u{FF}"])
    func queryThatIsNotUTF8AfterDecodingIsRefused(_ query: String) throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        // "\u{FF}" is sent as the single raw byte 0xFF.
        let target = Array("/subjects?".utf8) + query.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }
        connection.send(Array("GET ".utf8) + target + Array(" HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let response = try connection.readResponse()
        #expect(response.status == 400)
        #expect(response.headers["content-type"] == "application/vnd.schemaregistry.v1+json")
        #expect(response.bodyText == #"{"error_code":400,"message":"The request query is not valid UTF-8"}"#)
    }

    @Test func validMultiByteUTF8PassesInPathAndQuery() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.send(Array("GET /subjects/caf\u{E9}-\u{1F600} HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(EchoDescription(try connection.readResponse()).path == "/subjects/caf\u{E9}-\u{1F600}")
        connection.sendRequest("GET", "/q?s=%F0%9F%98%80&t=\u{E9}")
        #expect(EchoDescription(try connection.readResponse()).query.map(\.value) == ["\u{1F600}", "\u{E9}"])
    }
}
