import Foundation
import Testing

/// Subject names that are not UTF-8, sent raw or percent-encoded, through a real `schema-registry` process: the
/// server layer refuses raw bytes, the REST layer's percent-decoding refuses `%FF`, and neither registers a subject
/// (repairing to U+FFFD would make `a\xFFb` and `a\xFEb` one subject).
@Suite struct PathEncodingThroughServerTests {
    static let register = Array(#"{"schema":"\"string\""}"#.utf8)

    @Test func subjectsThatAreNotUTF8AreRefusedAndNeverRegistered() throws {
        let server = try RegistryServerProcess()
        defer { server.stop() }
        let targets: [[UInt8]] = [
            Array("/subjects/a".utf8) + [0xFF] + Array("b/versions".utf8),
            Array("/subjects/a".utf8) + [0xFE] + Array("b/versions".utf8),
            Array("/subjects/a%FFb/versions".utf8),
            Array("/subjects/a%FEb/versions".utf8),
            Array("/subjects/a%ED%A0%80b/versions".utf8),
        ]
        for target in targets {
            let answer = try exchange(port: server.port, method: "POST", target: target, body: Self.register)
            #expect(answer.status == 400, "\(answer.text)")
            #expect(answer.text.contains("application/vnd.schemaregistry.v1+json"))
            #expect(answer.text.contains(#"{"error_code":\#(answer.status),"message":"#))
        }
        let raw = try exchange(port: server.port, method: "POST", target: targets[0], body: Self.register)
        #expect(raw.status == 400)
        let list = try exchange(port: server.port, method: "GET", target: Array("/subjects".utf8), body: [])
        #expect(list.text.hasSuffix("\r\n\r\n[]"))
    }

    @Test func percentEncodedUTF8SubjectIsRegistered() throws {
        let server = try RegistryServerProcess()
        defer { server.stop() }
        let answer = try exchange(port: server.port, method: "POST", target: Array("/subjects/caf%C3%A9/versions".utf8), body: Self.register)
        #expect(answer.status == 200, "\(answer.text)")
        let list = try exchange(port: server.port, method: "GET", target: Array("/subjects".utf8), body: [])
        #expect(list.text.hasSuffix("[\"caf\u{E9}\"]"))
    }

    /// Confluent answers HEAD on every GET route like GET, without the body. libmicrohttpd already drops the body
    /// of a HEAD response and keeps its `Content-Length`; the REST layer has to route HEAD as GET.
    @Test func headIsAnsweredLikeGet() throws {
        let server = try RegistryServerProcess()
        defer { server.stop() }
        let get = try exchange(port: server.port, method: "GET", target: Array("/subjects".utf8), body: [])
        let head = try exchange(port: server.port, method: "HEAD", target: Array("/subjects".utf8), body: [])
        #expect(!head.text.hasSuffix("[]"))
        #expect(head.status == get.status)
    }

    /// One request with `Connection: close`, answered until the server closes: the status and the whole text.
    private func exchange(port: Int, method: String, target: [UInt8], body: [UInt8]) throws -> (status: Int, text: String) {
        let descriptor = Darwinless.socket()
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        var head = Array("\(method) ".utf8) + target + Array(" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".utf8)
        head += Array("Content-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
        let request = head + body
        let sent = request.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        try #require(sent == request.count)
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += chunk[..<count]
        }
        let text = String(decoding: received, as: UTF8.self)
        let status = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (status, text)
    }
}
