import Foundation
import HTTPServer
import Testing

/// The request deadline on a kept-alive connection without an idle timeout: a client that trickles its next
/// request line a byte at a time is still closed (the deadline applies while idle when there is no idle timeout).
@Suite struct RequestDeadlineTests {
    @Test func aTrickledRequestLineAfterAKeptAliveRequestIsClosedWithoutAnIdleTimeout() throws {
        let server = try EchoServer.start(timeoutSeconds: 0, requestTimeoutSeconds: 1)
        defer { server.stop() }
        let connection = try RawHTTPConnection(port: server.port, receiveTimeoutSeconds: 10)
        connection.sendRequest("GET", "/first")
        #expect(try connection.readResponse().status == 200)
        let started = Date()
        var closed = false
        for byte in Array("GET /second-request-line-sent-slowly HTTP/1.1".utf8) {
            if !connection.send([byte]) { closed = true; break }
            Thread.sleep(forTimeInterval: 0.25)
            if Date().timeIntervalSince(started) > 6 { break }
        }
        #expect(closed || connection.isClosedByServer(), "the trickled request line kept the connection for \(Date().timeIntervalSince(started)) s")
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(server.deadlineClosedCount >= 1)
    }
}
