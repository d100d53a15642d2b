#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A connected TCP socket in non-blocking mode; closed in `deinit`. Every wait for it (connect, read,
/// write) is a `poll` bounded by `timeout`, so no call blocks longer than that.
final class TCPSocket {
    let descriptor: Int32
    let timeout: Duration

    private init(descriptor: Int32, timeout: Duration) {
        self.descriptor = descriptor
        self.timeout = timeout
    }

    deinit { close(descriptor) }

    /// Resolves `host` and connects to the first of its addresses that answers within `timeout`.
    static func open(host: String, port: UInt16, timeout: Duration) throws(TransportError) -> TCPSocket {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = streamSocketType
        hints.ai_flags = AI_NUMERICSERV
        var addresses: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &addresses)
        guard status == 0, let first = addresses else {
            let reason = status == EAI_SYSTEM ? systemError() : String(cString: gai_strerror(status))
            throw TransportError("cannot resolve host \(host): \(reason)")
        }
        defer { freeaddrinfo(first) }

        var lastError = TransportError("cannot connect to \(host) port \(port): no usable address")
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let address = candidate {
            candidate = address.pointee.ai_next
            let family = address.pointee.ai_family
            guard family == AF_INET || family == AF_INET6, let socketAddress = address.pointee.ai_addr else { continue }
            let shown = numericHost(socketAddress, length: address.pointee.ai_addrlen) ?? host
            do {
                return try open(family: family, address: socketAddress, length: address.pointee.ai_addrlen, timeout: timeout, shown: "\(shown) port \(port)")
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private static func open(family: Int32, address: UnsafePointer<sockaddr>, length: socklen_t, timeout: Duration, shown: String) throws(TransportError) -> TCPSocket {
        let descriptor = socket(family, streamSocketType | closeOnExecFlag, 0)
        guard descriptor >= 0 else { throw TransportError("socket: \(systemError())") }
        // From here the descriptor belongs to `connection`, which closes it on every path out.
        let connection = TCPSocket(descriptor: descriptor, timeout: timeout)
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else { throw TransportError("fcntl(O_NONBLOCK): \(systemError())") }
        var enabled: Int32 = 1
        // Requests go out in one write; without this a TLS record split over two segments waits for an ACK.
        _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &enabled, socklen_t(MemoryLayout<Int32>.size))
        #if canImport(Darwin)
            _ = setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &enabled, socklen_t(MemoryLayout<Int32>.size))
        #endif
        if connect(descriptor, address, length) != 0 {
            guard errno == EINPROGRESS || errno == EINTR else { throw TransportError("cannot connect to \(shown): \(systemError())") }
            try connection.wait(forWriting: true, doing: "connecting to \(shown)")
            var pending: Int32 = 0
            var pendingLength = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &pending, &pendingLength) == 0 else {
                throw TransportError("cannot connect to \(shown): \(systemError())")
            }
            guard pending == 0 else { throw TransportError("cannot connect to \(shown): \(String(cString: strerror(pending)))") }
        }
        return connection
    }

    /// Sends all of `bytes`, waiting (at most `timeout` each time) while the socket buffer is full.
    func write(_ bytes: UnsafeRawBufferPointer) throws(TransportError) {
        var offset = 0
        while offset < bytes.count {
            let sent = sendSome(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            if sent >= 0 {
                offset += sent
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                try wait(forWriting: true, doing: "sending the request")
            } else if errno != EINTR {
                throw TransportError("cannot send the request: \(Self.systemError())")
            }
        }
    }

    /// Reads what is there (at least one byte, waiting at most `timeout` for it); 0 at end of stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> Int {
        while true {
            let count = recv(descriptor, buffer.baseAddress, buffer.count, 0)
            if count >= 0 { return count }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                try wait(forWriting: false, doing: "waiting for the response")
            } else if errno != EINTR {
                throw TransportError("cannot read the response: \(Self.systemError())")
            }
        }
    }

    /// Waits until the socket can be written (or read), at most `timeout`. Errors and hang-ups count
    /// as ready: the next call reports them with their errno.
    func wait(forWriting: Bool, doing what: String) throws(TransportError) {
        let deadline = ContinuousClock.now + timeout
        while true {
            var entry = pollfd(fd: descriptor, events: Int16(forWriting ? POLLOUT : POLLIN), revents: 0)
            let result = poll(&entry, 1, Self.milliseconds(until: deadline))
            if result > 0 { return }
            if result == 0 && ContinuousClock.now >= deadline {
                throw TransportError("timed out after \(timeout) \(what)", isTimeout: true)
            }
            if result < 0 && errno != EINTR { throw TransportError("poll: \(Self.systemError())") }
        }
    }

    /// Nothing to read and no hang-up: an idle keep-alive connection the server has not closed.
    var isOpenAndQuiet: Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) == 0
    }

    private func sendSome(_ bytes: UnsafeRawBufferPointer) -> Int {
        #if canImport(Darwin)
            send(descriptor, bytes.baseAddress, bytes.count, 0)
        #else
            send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
        #endif
    }

    /// Milliseconds left until `deadline`, rounded up so that a wait never ends just short of it.
    private static func milliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
        let (seconds, attoseconds) = (deadline - ContinuousClock.now).components
        guard seconds >= 0, seconds < Int64(Int32.max / 1000) else { return seconds < 0 ? 0 : Int32.max }
        let rounded = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(max(0, rounded))
    }

    private static func numericHost(_ address: UnsafePointer<sockaddr>, length: socklen_t) -> String? {
        var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(address, length, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func systemError() -> String {
        String(cString: strerror(errno))
    }

    #if canImport(Glibc)
        private static let streamSocketType = Int32(SOCK_STREAM.rawValue)
        private static let closeOnExecFlag = Int32(SOCK_CLOEXEC.rawValue)
    #else
        private static let streamSocketType = SOCK_STREAM
        private static let closeOnExecFlag: Int32 = 0
    #endif
}
