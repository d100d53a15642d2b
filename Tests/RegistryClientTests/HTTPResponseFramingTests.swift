import Testing

@testable import RegistryClient

/// How the client's HTTP/1.1 transport finds where a response body ends, against scripted servers:
/// chunked (as Confluent's Jetty and Karapace's aiohttp send it), to the close, none for HEAD and
/// 204, and what a request looks like on the wire.
@Suite struct HTTPResponseFramingTests {
    @Test func chunkedBodiesWithExtensionsAndTrailersAreJoined() async throws {
        let chunked = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "4;name=value\r\n[\"ab\r\n" + "A\r\nc\", \"defgh\r\n" + "3 ; another=\"x\"\r\ni\"]\r\n" + "0\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n"
        let server = try ScriptedHTTPServer { _ in .send(Array(chunked.utf8), close: false) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        #expect(try await client.subjects() == ["abc", "defghi"])
        // The trailers were consumed: the next answer on the same connection parses.
        #expect(try await client.subjects() == ["abc", "defghi"])
        #expect(server.acceptedConnections == 1)
    }

    @Test func aChunkedBodyCutShortIsAnError() async throws {
        let server = try ScriptedHTTPServer { _ in .send(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n[\"abc".utf8), close: true) }
        defer { server.stop() }
        do {
            _ = try await RegistryClient(baseURL: server.url, retry: .none).subjects()
            Issue.record("a truncated chunked body was accepted")
        } catch {
            guard case .unavailable(let reason) = error else { Issue.record("expected unavailable, got \(error)"); return }
            #expect(reason.contains("closed"), "\(reason)")
        }
    }

    @Test func aBodyWithoutLengthEndsAtTheClose() async throws {
        let server = try ScriptedHTTPServer { _ in .send(Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[\"until-close\"]".utf8), close: true) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        #expect(try await client.subjects() == ["until-close"])
        #expect(try await client.subjects() == ["until-close"])
        #expect(server.acceptedConnections == 2)
    }

    @Test func headAndNoContentAnswersHaveNoBody() async throws {
        let server = try ScriptedHTTPServer { request in
            if request.requestLine.hasPrefix("HEAD") { return .send(Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".utf8), close: false) }
            if request.requestLine.hasPrefix("DELETE") { return .send(Array("HTTP/1.1 204 No Content\r\n\r\n".utf8), close: false) }
            return .answer(200, "[\"after\"]")
        }
        defer { server.stop() }
        let endpoint = try #require(RegistryEndpoint(parsing: server.url))
        let head = try await HTTPTransport.send(HTTPRequest(method: "HEAD", target: Array("/subjects".utf8), body: nil), to: endpoint, options: .init())
        #expect(head.status == 200 && head.body.isEmpty && head.header("CONTENT-LENGTH") == "5")
        let deleted = try await HTTPTransport.send(HTTPRequest(method: "DELETE", target: Array("/subjects/x".utf8), body: nil), to: endpoint, options: .init())
        #expect(deleted.status == 204 && deleted.body.isEmpty)
        #expect(try await RegistryClient(baseURL: server.url, retry: .none).subjects() == ["after"])
        #expect(server.acceptedConnections == 1)
    }

    /// 32 MiB is more than loopback's socket buffers take at once: the body goes out in many writes.
    @Test func requestBodiesLargerThanTheSocketBuffersGoOutWhole() async throws {
        let server = try ScriptedHTTPServer { request in .answer(200, "[\"\(request.body.count)\"]") }
        defer { server.stop() }
        let endpoint = try #require(RegistryEndpoint(parsing: server.url))
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 32 * 1024 * 1024)
        let request = HTTPRequest(method: "POST", target: Array("/subjects/x/versions".utf8), body: body)
        let response = try await HTTPTransport.send(request, to: endpoint, options: RegistryTransportOptions(timeout: .seconds(10)))
        #expect(String(decoding: response.body, as: UTF8.self) == "[\"\(body.count)\"]")
    }

    @Test func requestsCarryTheHeadersAndTheBaseURLsPath() async throws {
        let server = try ScriptedHTTPServer { _ in .answer(200, #"{"id":7}"#) }
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url + "/registry/", retry: .none)
        #expect(try await client.register(subject: "orders/value é", schema: #""string""#) == 7)
        let request = try #require(server.requests.first)
        #expect(request.requestLine == "POST /registry/subjects/orders%2Fvalue%20%C3%A9/versions HTTP/1.1")
        #expect(request.header("host") == "127.0.0.1:\(server.port)")
        #expect(request.header("accept") == "application/vnd.schemaregistry.v1+json")
        #expect(request.header("content-type") == "application/vnd.schemaregistry.v1+json")
        #expect(request.header("user-agent") == "schemactl")
        #expect(request.header("content-length") == String(request.body.count))
        #expect(String(decoding: request.body, as: UTF8.self) == #"{"schema":"\"string\"","schemaType":"AVRO"}"#)
    }
}
