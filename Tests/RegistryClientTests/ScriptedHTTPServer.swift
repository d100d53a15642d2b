import Foundation
import Locking
import Synchronization
import Testing

/// One request as a `ScriptedHTTPServer` received it.
struct ScriptedRequest: Sendable {
    /// The request line and the header lines, without the empty line.
    let headLines: [String]
    let body: [UInt8]
    /// Which accepted connection carried it (1: the first).
    let connection: Int
    /// Its place on that connection (1: the first request).
    let indexOnConnection: Int

    var requestLine: String { headLines.first ?? "" }

    /// The value of a header, by case-insensitive name.
    func header(_ name: String) -> String? {
        for line in headLines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].lowercased() == name.lowercased() { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }
}

/// What a scripted server does with one request.
enum ScriptedReply: Sendable {
    /// Sends these bytes, then closes the connection when `close` (else waits for the next request).
    case send([UInt8], close: Bool)
    /// Closes the connection without sending a byte.
    case hangUp
    /// Sends nothing and keeps the connection open (until the client gives up or the server stops).
    case silence

    /// A complete response with a `Content-Length`.
    static func answer(_ status: Int, _ body: String, headers: [String] = [], close: Bool = false) -> ScriptedReply {
        .send(ScriptedHTTPServer.response(status, body, headers: headers), close: close)
    }
}

/// A throw-away HTTP server on 127.0.0.1 over plain sockets, answering each request as a test's script
/// says: for the framings, failures and connection behaviours a real registry never shows on cue.
final class ScriptedHTTPServer: Sendable {
    let port: Int
    private let listener: Int32
    private let state = Locked(State())

    private struct State {
        var accepted = 0
        var requests: [ScriptedRequest] = []
        var openConnections: Set<Int32> = []
        var isStopped = false
    }

    /// Starts listening; `script` chooses the reply to each request.
    init(_ script: @escaping @Sendable (ScriptedRequest) -> ScriptedReply) throws {
        let listener = Darwinless.socket()
        self.listener = listener
        var enabled: Int32 = 1
        _ = setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &enabled, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(bound == 0)
        try #require(listen(listener, 64) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop(script) }
    }

    deinit { stop() }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Connections accepted so far.
    var acceptedConnections: Int { state.withLock { $0.accepted } }

    /// Requests received so far, in order.
    var requests: [ScriptedRequest] { state.withLock { $0.requests } }

    /// Stops accepting and cuts every open connection.
    func stop() {
        let connections = state.withLock { state -> Set<Int32> in
            guard !state.isStopped else { return [] }
            state.isStopped = true
            _ = shutdown(listener, Int32(SHUT_RDWR))
            return state.openConnections
        }
        for connection in connections { _ = shutdown(connection, Int32(SHUT_RDWR)) }
    }

    /// A response with a `Content-Length` and Confluent's media type.
    static func response(_ status: Int, _ body: String, headers: [String] = []) -> [UInt8] {
        var head = "HTTP/1.1 \(status) Scripted\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n"
        for header in headers { head += header + "\r\n" }
        head += "Content-Length: \(body.utf8.count)\r\n\r\n"
        return Array((head + body).utf8)
    }

    private func acceptLoop(_ script: @escaping @Sendable (ScriptedRequest) -> ScriptedReply) {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                break
            }
            let index: Int? = state.withLock { state in
                guard !state.isStopped else { return nil }
                state.accepted += 1
                state.openConnections.insert(connection)
                return state.accepted
            }
            guard let index else {
                close(connection)
                break
            }
            Thread.detachNewThread { [self] in serve(connection, index: index, script) }
        }
        close(listener)
    }

    private func serve(_ connection: Int32, index: Int, _ script: @escaping @Sendable (ScriptedRequest) -> ScriptedReply) {
        defer {
            state.withLock { _ = $0.openConnections.remove(connection) }
            close(connection)
        }
        var buffer: [UInt8] = []
        var requestIndex = 0
        while let request = readRequest(connection, &buffer) {
            requestIndex += 1
            let received = ScriptedRequest(headLines: request.headLines, body: request.body, connection: index, indexOnConnection: requestIndex)
            state.withLock { $0.requests.append(received) }
            switch script(received) {
            case .send(let bytes, let close):
                guard sendAll(connection, bytes), !close else { return }
            case .hangUp:
                return
            case .silence:
                continue
            }
        }
    }

    private func readRequest(_ connection: Int32, _ buffer: inout [UInt8]) -> (headLines: [String], body: [UInt8])? {
        let end = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while true {
            if buffer.count >= 4, let found = (0...(buffer.count - 4)).first(where: { buffer[$0..<($0 + 4)].elementsEqual(end) }) {
                headEnd = found
                break
            }
            guard receive(connection, &buffer) else { return nil }
        }
        guard let headEnd else { return nil }
        let headLines = String(decoding: buffer[..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
        buffer.removeSubrange(..<(headEnd + 4))
        let length = headLines.dropFirst().compactMap { line -> Int? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
            return Int(parts[1].trimmingCharacters(in: .whitespaces))
        }.first ?? 0
        while buffer.count < length {
            guard receive(connection, &buffer) else { return nil }
        }
        let body = Array(buffer[..<length])
        buffer.removeSubrange(..<length)
        return (headLines, body)
    }

    private func receive(_ connection: Int32, _ buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return false }
        buffer += chunk[..<count]
        return true
    }

    private func sendAll(_ connection: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }
}
