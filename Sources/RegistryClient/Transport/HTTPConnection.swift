/// One connection to a registry: a TCP socket, TLS over it for https, and the bytes read ahead of
/// what the response reader has consumed.
///
/// `@unchecked Sendable`: a connection is used by one exchange at a time. It is either held by the
/// exchange that opened it or took it from `HTTPConnectionPool`, or sits in the pool, reached only
/// under the pool's lock; it passes between Dispatch threads only through that lock, which orders
/// every use before the hand-over before every use after. (A non-Sendable connection moved into the
/// `Mutex` with `sending` is what we would rather write, but Swift 6.3's region checker rejects the
/// store: "'inout sending' parameter cannot be task-isolated at end of function".)
final class HTTPConnection: @unchecked Sendable {
    private let socket: TCPSocket
    private let tls: TLSSession?
    /// Bytes read from the stream; those before `readIndex` are consumed.
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// Response bytes received over the connection's life. An exchange on a reused connection that
    /// fails while this has not grown met a connection the server had already closed.
    private(set) var bytesReceived = 0

    private init(socket: TCPSocket, tls: TLSSession?) {
        self.socket = socket
        self.tls = tls
    }

    /// Connects to `endpoint` (and handshakes for https).
    static func open(_ endpoint: RegistryEndpoint, options: RegistryTransportOptions) throws(TransportError) -> HTTPConnection {
        let socket = try TCPSocket.open(host: endpoint.host, port: endpoint.port, timeout: options.timeout)
        guard endpoint.scheme == .https else { return HTTPConnection(socket: socket, tls: nil) }
        let credentials = try TLSCredentials.shared(for: options.tls)
        let tls = try TLSSession(over: socket, host: endpoint.host, hostIsAddress: endpoint.isAddress, credentials: credentials)
        return HTTPConnection(socket: socket, tls: tls)
    }

    /// Sends `bytes` whole.
    func write(_ bytes: [UInt8]) throws(TransportError) {
        let result = bytes.withUnsafeBytes { bytes in
            Result { () throws(TransportError) in
                if let tls { try tls.write(bytes) } else { try socket.write(bytes) }
            }
        }
        try result.get()
    }

    /// Still open, nothing unread, nothing arrived while idle: fit for another request. A server
    /// that closed the connection (or a stray byte) makes the socket readable.
    var isReusable: Bool {
        readIndex == buffer.count && (tls?.isOpenAndQuiet ?? socket.isOpenAndQuiet)
    }

    // MARK: Buffered reading, for `HTTPResponseReader`

    /// The next line without its line end (CRLF, or a bare LF), or nil when the stream ends before
    /// any byte of it. A line longer than `limit` bytes is an error: `what` is longer than `shownLimit`.
    func readLine(limit: Int, what: String, shownLimit: Int) throws(TransportError) -> [UInt8]? {
        var scanned = 0  // unread bytes already searched for the newline
        while true {
            if let newline = buffer[(readIndex + scanned)...].firstIndex(of: UInt8(ascii: "\n")) {
                var line = buffer[readIndex..<newline]
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                guard line.count <= limit else { throw TransportError("\(what) is longer than \(shownLimit) bytes") }
                readIndex = newline + 1
                return Array(line)
            }
            scanned = buffer.count - readIndex
            guard scanned <= limit + 1 else { throw TransportError("\(what) is longer than \(shownLimit) bytes") }
            guard try fill() else {
                if scanned == 0 { return nil }
                throw TransportError("the connection closed in the middle of the \(what)")
            }
        }
    }

    /// Appends exactly `count` bytes of the stream to `body`.
    func read(exactly count: Int, into body: inout [UInt8]) throws(TransportError) {
        var remaining = count
        while remaining > 0 {
            if readIndex == buffer.count {
                guard try fill() else { throw TransportError("the connection closed \(remaining) bytes before the end of the response body") }
            }
            let take = min(remaining, buffer.count - readIndex)
            body.append(contentsOf: buffer[readIndex..<(readIndex + take)])
            readIndex += take
            remaining -= take
        }
    }

    /// Appends the rest of the stream to `body`; more than `limit` bytes in all is an error.
    func readToEnd(into body: inout [UInt8], limit: Int) throws(TransportError) {
        while true {
            if readIndex < buffer.count {
                guard body.count + (buffer.count - readIndex) <= limit else { throw TransportError("the response body is larger than \(limit) bytes") }
                body.append(contentsOf: buffer[readIndex...])
                readIndex = buffer.count
            }
            guard try fill() else { return }
        }
    }

    private static let readSize = 64 * 1024

    /// Reads more of the stream into `buffer`; false at its end.
    private static let zeroChunk = [UInt8](repeating: 0, count: readSize)

    private func fill() throws(TransportError) -> Bool {
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        } else if readIndex >= Self.readSize {
            buffer.removeSubrange(..<readIndex)
            readIndex = 0
        }
        let start = buffer.count
        // An array of zeros, not repeatElement: appending that went element by element, which in a debug build
        // cost 64 Ki generic calls per read and made a 900-version export spend 12 s in this line.
        buffer.append(contentsOf: Self.zeroChunk)
        let result = buffer.withUnsafeMutableBytes { whole in
            let space = UnsafeMutableRawBufferPointer(rebasing: whole[start...])
            return Result { () throws(TransportError) -> Int in
                if let tls { return try tls.read(into: space) }
                return try socket.read(into: space)
            }
        }
        let count: Int
        do {
            count = try result.get()
        } catch {
            buffer.removeSubrange(start...)
            throw error
        }
        buffer.removeSubrange((start + count)...)
        bytesReceived += count
        return count > 0
    }
}
