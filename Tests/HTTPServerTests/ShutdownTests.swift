import Foundation
import Testing
import HTTPServer

@Suite struct ShutdownTests {
    @Test func stopLetsAnInFlightRequestFinish() throws {
        let started = DispatchSemaphore(value: 0)
        let server = try EchoServer.start(slowRequestStarted: started)
        let port = server.port
        let result = Locked<Result<RawHTTPResponse, any Error>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        let client = UncheckedSemaphore(semaphore: finished)
        Thread {
            let outcome = Result { () throws -> RawHTTPResponse in
                let connection = try RawHTTPConnection(port: port)
                connection.sendRequest("GET", "/slow")
                return try connection.readResponse()
            }
            result.withLock { $0 = outcome }
            client.semaphore.signal()
        }.start()

        #expect(started.wait(timeout: .now() + 10) == .success)
        let stopBegan = Date()
        server.stop()
        let stopTook = Date().timeIntervalSince(stopBegan)
        #expect(finished.wait(timeout: .now() + 10) == .success)

        let response = try #require(try result.withLock { $0 }?.get())
        #expect(response.status == 200)
        #expect(response.bodyText == "slow done")
        #expect(response.headers["connection"]?.lowercased() == "close")
        #expect(stopTook > 0.2 && stopTook < 5, "stop() waited \(stopTook) s")

        // Stopped means stopped: no new connections, and a second stop is a no-op.
        #expect(throws: ClientError.self) { _ = try RawHTTPConnection(port: port) }
        server.stop()
    }

    @Test func stopWithIdleKeepAliveConnectionReturnsPromptly() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.sendRequest("GET", "/idle")
        #expect(try connection.readResponse().status == 200)
        let began = Date()
        server.stop()
        #expect(Date().timeIntervalSince(began) < 1)
        #expect(connection.isClosedByServer())
    }

    @Test func releasingTheServerStopsIt() throws {
        var server: HTTPServer? = try EchoServer.start()
        let port = try #require(server?.port)
        _ = try RawHTTPConnection(port: port)
        server = nil
        #expect(throws: ClientError.self) { _ = try RawHTTPConnection(port: port) }
    }

    @Test func portInUseIsReportedAsAnError() throws {
        let first = try EchoServer.start()
        var configuration = HTTPServerConfiguration()
        configuration.port = first.port
        #expect(throws: HTTPServerError.self) {
            _ = try HTTPServer(configuration: configuration, oversizedBody: { _ in HTTPResponse(status: 413, contentType: "", body: []) }) { _ in
                HTTPResponse(status: 200, contentType: "", body: [])
            }
        }
    }

    @Test func badHostIsReportedAsAnError() {
        var configuration = HTTPServerConfiguration()
        configuration.host = "not a host name"
        configuration.port = 0
        #expect(throws: HTTPServerError.self) {
            _ = try HTTPServer(configuration: configuration, oversizedBody: { _ in HTTPResponse(status: 413, contentType: "", body: []) }) { _ in
                HTTPResponse(status: 200, contentType: "", body: [])
            }
        }
    }
}
