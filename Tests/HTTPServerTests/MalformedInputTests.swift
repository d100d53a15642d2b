import Foundation
import Testing
import HTTPServer

/// Nothing a client sends may crash the server; after each abuse it still answers a normal request.
@Suite struct MalformedInputTests {
    static let abuses: [[UInt8]] = [
        Array("GARBAGE\r\n\r\n".utf8),
        Array("GET\r\n\r\n".utf8),
        Array("GET / HTTP/9.9\r\n\r\n".utf8),
        Array("GET /%%%/%zz?%=%&&==&%E2%82 HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
        Array("GET /\u{FF}\u{0}x HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
        [0x47, 0x45, 0x54, 0x20, 0x2F, 0xFF, 0xFE, 0x20] + Array("HTTP/1.1\r\nX: \u{1}\r\n\r\n".utf8),
        Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n".utf8),
        Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n".utf8),
        Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".utf8),
        Array("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".utf8),
        Array("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "h", count: 100_000))\r\n\r\n".utf8),
        Array("GET /\(String(repeating: "p", count: 100_000)) HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
        Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc".utf8),  // then hang up early
    ]

    @Test(arguments: 0..<abuses.count)
    func abuseDoesNotBreakTheServer(index: Int) throws {
        let server = try EchoServer.start(maximumBodyBytes: 1 << 20, timeoutSeconds: 2)
        do {
            let abuser = try RawHTTPConnection(port: server.port, receiveTimeoutSeconds: 5)
            abuser.send(Self.abuses[index])
            _ = try? abuser.readResponse()
        }
        let connection = try RawHTTPConnection(port: server.port)
        connection.sendRequest("GET", "/still-alive")
        #expect(EchoDescription(try connection.readResponse()).path == "/still-alive")
    }

    @Test func abruptDisconnectMidUploadIsHarmless() throws {
        let server = try EchoServer.start(timeoutSeconds: 30)
        for _ in 0..<20 {
            let connection = try RawHTTPConnection(port: server.port)
            connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + String(repeating: "q", count: 50_000))
        }
        let connection = try RawHTTPConnection(port: server.port)
        connection.sendRequest("POST", "/echo", body: Array("fine".utf8))
        #expect(try connection.readResponse().bodyText == "fine")

        // The abandoned uploads are noticed and dropped at once, so stop() has nothing to wait for
        // (with MHD's epoll loop they lingered until the 30 s connection timeout).
        usleep(200_000)
        let began = Date()
        server.stop()
        #expect(Date().timeIntervalSince(began) < 2)
    }
}
