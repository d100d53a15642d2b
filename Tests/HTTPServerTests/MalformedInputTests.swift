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
        Array(("GET / HTTP/1.1\r\nHost: x\r\n" + String(repeating: "X-Many: v\r\n", count: 20_000) + "\r\n").utf8),
        Array("GET / HTTP/1.1\r\nHost: x\r\nX-Nul: a\u{0}b\r\n\r\n".utf8),
        Array("GET / HTTP/1.1\r\nHost: x\r\nX-\u{0}Name: v\r\n\r\n".utf8),
        Array("GET / HTTP/1.1\r\nHost: x\r\nX-Bytes: ".utf8) + [0xFF, 0xFE, 0xC3, 0x80, 0xED, 0xA0, 0x80] + Array("\r\n\r\n".utf8),
        Array("GET / HTTP/1.1\r\nHost: x\r\n".utf8) + [0xFF, 0xC3] + Array(": v\r\n\r\n".utf8),
        Array("GET / HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n  folded\r\n\tagain\r\n\r\n".utf8),
        Array("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;\(String(repeating: "e", count: 100_000))\r\n".utf8),
        Array("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n".utf8),
        Array("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n".utf8),
        Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".utf8),
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

    /// Header values are handed over as they came; bytes that are not UTF-8 are repaired, never a crash.
    @Test func headerValueThatIsNotUTF8ReachesTheHandlerRepaired() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.send(Array("GET /h HTTP/1.1\r\nHost: x\r\nX-Bytes: a".utf8) + [0xFF] + Array("b\r\n\r\n".utf8))
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(EchoDescription(response).headers["x-bytes"] == "a\u{FFFD}b")
    }

    @Test func clientClosingBeforeTheResponseIsHarmless() throws {
        let server = try EchoServer.start()
        for index in 0..<20 {
            let connection = try RawHTTPConnection(port: server.port)
            // Hang up mid-head, mid-chunk, or right after a complete request (before reading the answer).
            switch index % 3 {
            case 0: connection.send("GET /describe HTTP/1.1\r\nHost: x\r\nX-Part")
            case 1: connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nabc")
            default: connection.sendRequest("GET", "/slow")
            }
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
