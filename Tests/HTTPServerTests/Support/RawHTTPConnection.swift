#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct ClientError: Error, CustomStringConvertible {
    let description: String
}

/// A parsed HTTP/1.1 response as read off the wire.
struct RawHTTPResponse {
    var status: Int
    var headers: [String: String]  // lower-cased names
    var body: [UInt8]

    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking TCP connection to 127.0.0.1 that writes raw HTTP/1.1 and parses what comes back — no HTTP library in
/// between, so the tests see exactly what the server sends (keep-alive, early responses, closes).
final class RawHTTPConnection {
    private let descriptor: Int32
    private var buffered: [UInt8] = []

    init(port: UInt16, receiveTimeoutSeconds: Int = 15) throws {
        #if canImport(Glibc)
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw ClientError(description: "socket failed") }
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            // No close here: a class whose stored properties are all set runs deinit even when init throws, and
            // deinit closes the descriptor. Closing it twice closed whatever descriptor the number was reused for
            // meanwhile (seen: another test's listen socket, "getsockname: Bad file descriptor").
            throw ClientError(description: "connect: \(reason)")
        }
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// Sends everything; returns false if the peer reset or closed the connection part-way.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                #if canImport(Glibc)
                Glibc.send(descriptor, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                #else
                Darwin.send(descriptor, raw.baseAddress! + sent, raw.count - sent, 0)
                #endif
            }
            if result <= 0 { return false }
            sent += result
        }
        return true
    }

    func send(_ text: String) { send(Array(text.utf8)) }

    /// Sends a request with `Content-Length` framing.
    func sendRequest(_ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        send(Array(head.utf8) + body)
    }

    /// Reads one response (Content-Length, chunked, or until close). A response to HEAD has no body whatever its
    /// headers say: pass `toHead: true` to read only the head.
    func readResponse(toHead: Bool = false) throws -> RawHTTPResponse {
        let headerEnd = try fill(until: { buffer in Self.find([13, 10, 13, 10], in: buffer).map { $0 + 4 } })
        let headText = String(decoding: buffered[..<headerEnd], as: UTF8.self)
        buffered.removeFirst(headerEnd)
        var lines = headText.split(separator: "\r\n", omittingEmptySubsequences: true)
        guard !lines.isEmpty else { throw ClientError(description: "empty response head") }
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw ClientError(description: "bad status line: \(headText)")
        }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: " ")
            headers[name] = headers[name].map { $0 + ", " + value } ?? value
        }
        var body: [UInt8]
        if toHead {
            body = []
        } else if let length = headers["content-length"].flatMap({ Int($0) }) {
            _ = try fill(until: { $0.count >= length ? length : nil })
            body = Array(buffered[..<length])
            buffered.removeFirst(length)
        } else if headers["transfer-encoding"]?.lowercased() == "chunked" {
            body = []
            while true {
                let lineEnd = try fill(until: { Self.find([13, 10], in: $0) })
                let sizeText = String(decoding: buffered[..<lineEnd], as: UTF8.self).split(separator: ";")[0]
                buffered.removeFirst(lineEnd + 2)
                guard let size = Int(sizeText, radix: 16) else { throw ClientError(description: "bad chunk size") }
                _ = try fill(until: { $0.count >= size + 2 ? size : nil })
                body += buffered[..<size]
                buffered.removeFirst(size + 2)
                if size == 0 { break }
            }
        } else {
            while try readMore() {}
            body = buffered
            buffered = []
        }
        return RawHTTPResponse(status: status, headers: headers, body: body)
    }

    /// Reads one response, or returns nil when the server closes the connection without sending a byte.
    func readResponseUnlessClosed() throws -> RawHTTPResponse? {
        if buffered.isEmpty, try !readMore() { return nil }
        return try readResponse()
    }

    /// Every byte the server sends until it closes the connection (or the receive timeout passes).
    func readUntilClosed() throws -> [UInt8] {
        while (try? readMore()) == true {}
        defer { buffered = [] }
        return buffered
    }

    /// Bytes received after the last response read, waiting up to `milliseconds` for more (none expected).
    func strayBytes(waitingMilliseconds milliseconds: Int32 = 200) -> [UInt8] {
        var descriptorSet = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        if buffered.isEmpty, poll(&descriptorSet, 1, milliseconds) > 0 { _ = try? readMore() }
        return buffered
    }

    /// True when the server has closed its side (a read returns end-of-file or a reset).
    func isClosedByServer() -> Bool {
        guard buffered.isEmpty else { return false }
        return (try? readMore()) != true
    }

    private func fill(until found: ([UInt8]) -> Int?) throws -> Int {
        while true {
            if let position = found(buffered) { return position }
            guard try readMore() else { throw ClientError(description: "connection closed before a complete response (\(buffered.count) bytes buffered)") }
        }
    }

    /// Reads what is available; false at end of stream (EOF or reset).
    private func readMore() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            buffered += chunk[..<count]
            return true
        }
        if count == 0 || errno == ECONNRESET { return false }
        throw ClientError(description: "recv: \(String(cString: strerror(errno)))")
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}

private extension Substring {
    func trimmingCharacters(in character: Character) -> String {
        String(drop(while: { $0 == character }).reversed().drop(while: { $0 == character }).reversed())
    }
}
