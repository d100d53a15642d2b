import Foundation
import Testing
import HTTPServer

@Suite struct KeepAliveAndConcurrencyTests {
    @Test func severalRequestsShareOneConnection() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        for index in 0..<5 {
            connection.sendRequest("POST", "/echo", body: Array("request \(index)".utf8))
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText == "request \(index)")
            #expect(response.headers["connection"]?.lowercased() != "close")
        }
        connection.sendRequest("GET", "/after-posts")
        #expect(EchoDescription(try connection.readResponse()).path == "/after-posts")
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let server = try EchoServer.start()
        let connection = try RawHTTPConnection(port: server.port)
        connection.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(EchoDescription(try connection.readResponse()).path == "/first")
        #expect(EchoDescription(try connection.readResponse()).path == "/second")
    }

    @Test func curlReusesTheConnection() throws {
        let server = try EchoServer.start()
        let base = "http://127.0.0.1:\(server.port)"
        let output = try runCurl(["-sv", "\(base)/one", "\(base)/two"], includeStandardError: true)
        #expect(output.contains("path\t/one"))
        #expect(output.contains("path\t/two"))
        #expect(output.contains("Re-using existing connection") || output.contains("Reusing existing connection"))
    }

    @Test func concurrentClientsAllGetTheirOwnAnswers() throws {
        let server = try EchoServer.start()
        let failures = Locked<[String]>([])
        let port = server.port
        onThreads(8) { worker in
            do {
                var keptAlive = try RawHTTPConnection(port: port)
                for request in 0..<50 {
                    let payload = Array("worker \(worker) request \(request) ".utf8) + [UInt8](repeating: UInt8(request), count: request * 97)
                    // Alternate between the kept-alive connection and fresh ones.
                    let connection = request.isMultiple(of: 2) ? keptAlive : try RawHTTPConnection(port: port)
                    connection.sendRequest("POST", "/echo", body: payload)
                    let response = try connection.readResponse()
                    if response.status != 200 || response.body != payload {
                        failures.withLock { $0.append("worker \(worker) request \(request): status \(response.status), \(response.body.count) bytes") }
                    }
                    if request == 25 { keptAlive = try RawHTTPConnection(port: port) }
                }
            } catch {
                failures.withLock { $0.append("worker \(worker): \(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
    }
}
