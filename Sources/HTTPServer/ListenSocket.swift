#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bound, listening, non-blocking TCP socket, handed to libmicrohttpd with `MHD_OPTION_LISTEN_SOCKET`.
///
/// We open the socket ourselves rather than pass `MHD_OPTION_SOCK_ADDR` because `MHD_get_daemon_info` is variadic
/// and cannot be called from Swift: owning the socket gives the bound port through `getsockname`, and bind errors
/// keep their `errno` text instead of a bare NULL daemon.
struct ListenSocket {
    let descriptor: Int32
    let port: UInt16
    let isIPv6: Bool

    static func open(host: String, port: UInt16) throws(HTTPServerError) -> ListenSocket {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = streamSocketType
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var addresses: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &addresses)
        guard status == 0, let first = addresses else {
            throw HTTPServerError("cannot resolve listen address \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }

        var lastError = "no usable address"
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let address = candidate {
            candidate = address.pointee.ai_next
            let family = address.pointee.ai_family
            guard family == AF_INET || family == AF_INET6, let socketAddress = address.pointee.ai_addr else { continue }
            switch bindAndListen(family: family, address: socketAddress, length: address.pointee.ai_addrlen) {
            case .success(let listening):
                return listening
            case .failure(let error):
                lastError = error.description
            }
        }
        throw HTTPServerError("cannot listen on \(host):\(port): \(lastError)")
    }

    private static func bindAndListen(family: Int32, address: UnsafePointer<sockaddr>, length: socklen_t) -> Result<ListenSocket, HTTPServerError> {
        let descriptor = socket(family, streamSocketType | closeOnExecFlag, 0)
        guard descriptor >= 0 else { return .failure(HTTPServerError("socket: \(systemError())")) }
        var enabled: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &enabled, socklen_t(MemoryLayout<Int32>.size))
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else {
            return failure(closing: descriptor, "fcntl(O_NONBLOCK)")
        }
        guard bind(descriptor, address, length) == 0 else { return failure(closing: descriptor, "bind") }
        guard listen(descriptor, SOMAXCONN) == 0 else { return failure(closing: descriptor, "listen") }

        var bound = sockaddr_storage()
        var boundLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &boundLength) }
        }
        guard named == 0 else { return failure(closing: descriptor, "getsockname") }
        let networkOrderPort: UInt16 = withUnsafePointer(to: &bound) { pointer in
            family == AF_INET6
                ? pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port }
                : pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }
        }
        return .success(ListenSocket(descriptor: descriptor, port: UInt16(bigEndian: networkOrderPort), isIPv6: family == AF_INET6))
    }

    private static func failure(closing descriptor: Int32, _ call: String) -> Result<ListenSocket, HTTPServerError> {
        let error = HTTPServerError("\(call): \(systemError())")
        _ = close(descriptor)
        return .failure(error)
    }

    private static func systemError() -> String {
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
