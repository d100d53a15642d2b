import Testing

@testable import RegistryClient

/// Keep-alive: requests share idle connections, `Connection: close` is honoured, and a connection
/// the server closed while it was idle costs neither an error nor a retry of the policy.
@Suite struct ConnectionReuseTests {
    @Test func sequentialRequestsShareOneConnection() async throws {
        let server = try ScriptedHTTPServer { _ in .answer(200, #"["a"]"#) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        for _ in 0..<200 {
            #expect(try await client.subjects() == ["a"])
        }
        #expect(server.acceptedConnections == 1)
        #expect(server.requests.last?.indexOnConnection == 200)
    }

    @Test func connectionCloseIsHonoured() async throws {
        // The server says close but leaves the socket open: only the header tells the client.
        let server = try ScriptedHTTPServer { _ in .answer(200, #"["a"]"#, headers: ["Connection: close"]) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        for _ in 0..<3 { _ = try await client.subjects() }
        #expect(server.acceptedConnections == 3)
    }

    @Test func anHTTP10AnswerIsNotKeptUnlessItSaysKeepAlive() async throws {
        let server = try ScriptedHTTPServer { request in
            let keep = request.connection == 1 ? "Connection: keep-alive" : "X-Nothing: 1"
            return .send(Array("HTTP/1.0 200 OK\r\n\(keep)\r\nContent-Length: 5\r\n\r\n[\"a\"]".utf8), close: false)
        }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        for _ in 0..<2 { _ = try await client.subjects() }
        #expect(server.acceptedConnections == 1)  // keep-alive said
        let other = try ScriptedHTTPServer { _ in .send(Array("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n[\"a\"]".utf8), close: false) }
        defer { other.stop() }
        for _ in 0..<2 { _ = try await RegistryClient(baseURL: other.url, retry: .none).subjects() }
        #expect(other.acceptedConnections == 2)
    }

    /// The server closes each connection right after answering, without saying so: the client sees
    /// the close before reusing the connection and opens another, with no retry policy to fall back on.
    @Test func connectionsClosedWhileIdleAreReplaced() async throws {
        let server = try ScriptedHTTPServer { _ in .answer(200, #"["a"]"#, close: true) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        for _ in 0..<20 {
            #expect(try await client.subjects() == ["a"])
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(server.acceptedConnections == 20)
    }

    /// The idle check alone (the retry below would hide its failure): a connection the server closed
    /// after answering is not handed out again.
    @Test func anIdleConnectionTheServerClosedIsNotHandedOut() async throws {
        let server = try ScriptedHTTPServer { request in
            request.indexOnConnection == 1 && request.connection == 2 ? .answer(200, #"["a"]"#, close: true) : .answer(200, #"["a"]"#)
        }
        defer { server.stop() }
        let endpoint = try #require(RegistryEndpoint(parsing: server.url))
        let pool = HTTPConnectionPool()
        let key = HTTPConnectionPool.Key(endpoint, RegistryTransportOptions())
        let request = HTTPRequest(method: "GET", target: Array("/subjects".utf8), body: nil)
        _ = try HTTPTransport.exchange(request, with: endpoint, options: RegistryTransportOptions(), pool: pool)
        let kept = try #require(pool.take(key))  // open and quiet: handed out
        pool.put(kept, key)
        // A second connection, closed by the server once it has answered.
        let other = try HTTPConnection.open(endpoint, options: RegistryTransportOptions())
        try other.write(request.serialized(hostHeader: endpoint.hostHeader))
        _ = try HTTPResponseReader.read(from: other, method: "GET")
        try await Task.sleep(for: .milliseconds(50))
        pool.put(other, key)
        // The closed one (most recent) is skipped; the open one comes out; then none.
        #expect(pool.take(key) === kept)
        #expect(pool.take(key) == nil)
    }

    /// The race the idle check cannot see: the server closes the kept connection only once the next
    /// request is on its way. That request goes once more on a fresh connection.
    @Test func aReusedConnectionClosedUnderARequestIsRetriedOnceOnAFreshOne() async throws {
        let server = try ScriptedHTTPServer { request in
            request.indexOnConnection == 1 ? .answer(200, #"["fresh"]"#) : .hangUp
        }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        for _ in 0..<5 {
            #expect(try await client.subjects() == ["fresh"])
        }
        // Each request after the first: one on the kept connection (hung up), one on a fresh one.
        #expect(server.acceptedConnections == 5)
        #expect(server.requests.count == 9)
    }

    @Test func aReusedConnectionThatTimesOutIsNotRetried() async throws {
        let server = try ScriptedHTTPServer { request in
            request.indexOnConnection == 1 ? .answer(200, #"["a"]"#) : .silence
        }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none, transport: RegistryTransportOptions(timeout: .seconds(1)))
        _ = try await client.subjects()
        do {
            _ = try await client.subjects()
            Issue.record("a silent server answered")
        } catch {
            guard case .unavailable(let reason) = error else { Issue.record("expected unavailable, got \(error)"); return }
            #expect(reason.contains("timed out"))
        }
        #expect(server.acceptedConnections == 1)
    }

    @Test func concurrentRequestsEachGetAConnectionAndLeaveSomeIdle() async throws {
        let server = try ScriptedHTTPServer { _ in .answer(200, #"["a"]"#) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<16 { group.addTask { try await client.subjects() } }
            for try await answer in group { #expect(answer == ["a"]) }
        }
        let afterBurst = server.acceptedConnections
        #expect(afterBurst >= 1 && afterBurst <= 16)
        for _ in 0..<10 { _ = try await client.subjects() }
        #expect(server.acceptedConnections == afterBurst)  // the pool kept some of them
    }
}
