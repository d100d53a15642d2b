import Testing

@testable import RegistryClient

/// What the client reports when the registry fails, refuses, is not there, is too slow, or answers
/// something that is not a bounded HTTP/1.1 response.
@Suite struct TransportFailureTests {
    /// The reason of an `.unavailable`, or a recorded issue.
    private func unavailableReason(_ call: () async throws(RegistryClientError) -> some Any) async -> String? {
        do {
            _ = try await call()
            Issue.record("the call succeeded")
        } catch {
            guard case .unavailable(let reason) = error else {
                Issue.record("expected unavailable, got \(error)")
                return nil
            }
            return reason
        }
        return nil
    }

    @Test func serverErrorsAreUnavailable() async throws {
        let server = try ScriptedHTTPServer { _ in .answer(503, #"{"error_code":50301,"message":"backend down"}"#) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        let reason = await unavailableReason { () async throws(RegistryClientError) in try await client.subjects() }
        #expect(reason == #"HTTP 503 from \#(server.url): {"error_code":50301,"message":"backend down"}"#)
    }

    @Test func confluentErrorBodiesAreRejections() async throws {
        let server = try ScriptedHTTPServer { _ in .answer(404, #"{"error_code":40401,"message":"Subject 'x' not found."}"#) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: RetryPolicy(attempts: 3))
        do {
            _ = try await client.version(subject: "x", version: nil)
            Issue.record("a 404 was taken for an answer")
        } catch {
            guard case .rejected(404, 40401, "Subject 'x' not found.") = error else { Issue.record("expected the 40401 refusal, got \(error)"); return }
        }
        #expect(server.requests.count == 1)  // a refusal is not retried
    }

    @Test func aRefusedConnectionIsUnavailable() async throws {
        let port = try RegistryServerProcess.freePort()
        let client = RegistryClient(baseURL: "http://127.0.0.1:\(port)", retry: .none)
        let reason = await unavailableReason { () async throws(RegistryClientError) in try await client.subjects() }
        #expect(reason == "http://127.0.0.1:\(port): cannot connect to 127.0.0.1 port \(port): Connection refused")
    }

    @Test func anUnknownHostIsUnavailable() async throws {
        let client = RegistryClient(baseURL: "http://registry.invalid:8081", retry: .none)
        let reason = await unavailableReason { () async throws(RegistryClientError) in try await client.subjects() }
        #expect(reason?.hasPrefix("http://registry.invalid:8081: cannot resolve host registry.invalid: ") == true, "\(reason ?? "")")
    }

    @Test func anUnparsableURLIsUnavailable() async throws {
        for url in ["ftp://127.0.0.1", "127.0.0.1:8081", "http://:8081", "http://[::1", "http://host:99999", "http://user@host", "http://a b"] {
            let client = RegistryClient(baseURL: url, retry: .none)
            let reason = await unavailableReason { () async throws(RegistryClientError) in try await client.subjects() }
            #expect(reason == "invalid registry URL \(url)/subjects")
        }
    }

    @Test func anOversizedHeaderIsAnErrorNotACrash() async throws {
        let huge = "X-Padding: " + String(repeating: "a", count: 70 * 1024)
        let server = try ScriptedHTTPServer { _ in .answer(200, "[]", headers: [huge]) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        let reason = await unavailableReason { () async throws(RegistryClientError) in try await client.subjects() }
        #expect(reason == "\(server.url): response head is longer than 65536 bytes")
    }

    @Test func manyHeadersPastTheLimitAreAnErrorToo() async throws {
        let headers = (0..<2000).map { "X-Header-\($0): \(String(repeating: "v", count: 30))" }
        let server = try ScriptedHTTPServer { _ in .answer(200, "[]", headers: headers) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        let reason = await unavailableReason { () async throws(RegistryClientError) in try await client.subjects() }
        #expect(reason == "\(server.url): response head is longer than 65536 bytes")
    }

    @Test func aServerThatNeverAnswersTimesOut() async throws {
        let server = try ScriptedHTTPServer { _ in .silence }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none, transport: RegistryTransportOptions(timeout: .milliseconds(300)))
        let started = ContinuousClock.now
        let reason = await unavailableReason { () async throws(RegistryClientError) in try await client.subjects() }
        let elapsed = ContinuousClock.now - started
        #expect(reason == "\(server.url): timed out after 0.3 seconds waiting for the response")
        // Well under the 30 s default; not tighter, since the whole test run shares two cores with
        // tests that block cooperative threads, which delays this task's resumption by seconds.
        #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(20))
    }

    @Test func somethingThatIsNotHTTPIsUnavailable() async throws {
        let server = try ScriptedHTTPServer { _ in .send(Array("SSH-2.0-OpenSSH_9.2\r\n".utf8), close: true) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        let reason = await unavailableReason { () async throws(RegistryClientError) in try await client.subjects() }
        #expect(reason == #"\#(server.url): the answer is not HTTP/1.x: "SSH-2.0-OpenSSH_9.2""#)
    }

    @Test func aBodyShorterThanItsLengthIsAnError() async throws {
        let server = try ScriptedHTTPServer { _ in .send(Array("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[]".utf8), close: true) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        let reason = await unavailableReason { () async throws(RegistryClientError) in try await client.subjects() }
        #expect(reason == "\(server.url): the connection closed 98 bytes before the end of the response body")
    }

    @Test func aBodyPastTheLimitIsRefusedBeforeItIsRead() async throws {
        let server = try ScriptedHTTPServer { _ in .send(Array("HTTP/1.1 200 OK\r\nContent-Length: 300000000\r\n\r\n[".utf8), close: false) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        let reason = await unavailableReason { () async throws(RegistryClientError) in try await client.subjects() }
        #expect(reason == "\(server.url): the response body is larger than 268435456 bytes (Content-Length 300000000)")
    }

    @Test func aFreshConnectionClosedWithoutAnAnswerIsNotRepeated() async throws {
        let server = try ScriptedHTTPServer { _ in .hangUp }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        let reason = await unavailableReason { () async throws(RegistryClientError) in try await client.subjects() }
        #expect(reason == "\(server.url): the server closed the connection without answering")
        #expect(server.acceptedConnections == 1)
    }
}
