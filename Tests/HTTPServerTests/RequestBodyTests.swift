import Testing
import HTTPServer

@Suite struct RequestBodyTests {
    @Test func smallBodyIsEchoed() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        let body = Array(#"{"schema":"\"string\""}"#.utf8)
        connection.sendRequest("POST", "/echo", headers: [("Content-Type", "application/json")], body: body)
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.body == body)
    }

    @Test func oneMegabyteBodyIsEchoedByteForByte() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        let body = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        connection.sendRequest("POST", "/echo", body: body)
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.body.count == body.count)
        #expect(response.body == body)
    }

    @Test func emptyPostHasEmptyBody() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.sendRequest("POST", "/describe")
        #expect(EchoDescription(try connection.readResponse()).bodyCount == 0)
    }

    @Test func bodyExactlyAtTheLimitIsAccepted() throws {
        let server = try EchoServer.start(maximumBodyBytes: 1000)
        let connection = try RawHTTPConnection(port: server.port)
        let body = [UInt8](repeating: 0x61, count: 1000)
        connection.sendRequest("POST", "/echo", body: body)
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.body == body)
    }

    @Test func announcedOversizedBodyGets413WithoutBeingRead() throws {
        let server = try EchoServer.start(maximumBodyBytes: 1000)
        let connection = try RawHTTPConnection(port: server.port)
        connection.sendRequest("POST", "/echo", body: [UInt8](repeating: 0x62, count: 5000))
        let response = try connection.readResponse()
        #expect(response.status == 413)
        #expect(response.headers["content-type"] == "application/json")
        #expect(response.bodyText == #"{"error":"\#(EchoServer.oversizedText) 1000"}"#)
        // The rest of the body was never read, so the connection cannot be reused.
        #expect(connection.isClosedByServer())
    }

    @Test func oversizedBodyWithExpectContinueIsRefusedBeforeUpload() throws {
        let server = try EchoServer.start(maximumBodyBytes: 1000)
        let connection = try RawHTTPConnection(port: server.port)
        connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\nExpect: 100-continue\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 413)
        #expect(response.bodyText.contains(EchoServer.oversizedText))
    }

    @Test func chunkedBodyOverTheLimitGets413AndKeepsTheConnection() throws {
        let server = try EchoServer.start(maximumBodyBytes: 1000)
        let connection = try RawHTTPConnection(port: server.port)
        var request = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        for _ in 0..<8 { request += "200\r\n" + String(repeating: "c", count: 0x200) + "\r\n" }
        request += "0\r\n\r\n"
        connection.send(request)
        let response = try connection.readResponse()
        #expect(response.status == 413)
        #expect(response.bodyText.contains("1000"))

        // The upload was drained, so the same connection serves the next request.
        connection.sendRequest("POST", "/echo", body: Array("after".utf8))
        let next = try connection.readResponse()
        #expect(next.status == 200)
        #expect(next.bodyText == "after")
    }

    @Test func chunkedBodyUnderTheLimitIsAssembled() throws {
        let server = try EchoServer.start(maximumBodyBytes: 1000)
        let connection = try RawHTTPConnection(port: server.port)
        connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        #expect(try connection.readResponse().bodyText == "hello world")
    }

    @Test func curlUploadOverTheLimitGets413() throws {
        let server = try EchoServer.start(maximumBodyBytes: 1000)
        let output = try runCurl([
            "-s", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", String(repeating: "z", count: 4000),
            "http://127.0.0.1:\(server.port)/echo",
        ])
        #expect(output == "413")
    }
}
