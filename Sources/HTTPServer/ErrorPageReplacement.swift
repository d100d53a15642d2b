import CGnuTLS
import CMicroHTTPD

#if canImport(Glibc)
    import Glibc
#endif

/// libmicrohttpd answers some malformed requests by itself (a Content-Length or chunk size of 2^64,
/// an oversized chunk extension, header or URL, an unknown HTTP version, …) with built-in HTML pages,
/// before any callback of ours runs, and it has no option to change them. Every client of this server
/// expects Confluent's JSON error body instead.
///
/// The library queues those pages through its exported `MHD_queue_response`, called through the PLT
/// (checked with `objdump -d libmicrohttpd.so.12`: `call MHD_queue_response@plt` right after
/// `call MHD_create_response_from_buffer@plt` in its error path), so a definition of that symbol in this
/// process interposes it. This one passes this server's own responses through unchanged (they are
/// queued with a thread-local mark set, on the thread that calls the library) and replaces the
/// library's error pages (an error status queued without the mark) by the JSON body with the same
/// status, then calls the library's definition (found with `dlsym(RTLD_NEXT)`).
@_cdecl("MHD_queue_response")
public func queueResponseReplacingErrorPages(_ connection: OpaquePointer?, _ status: CUnsignedInt, _ response: OpaquePointer?) -> MHD_Result {
    guard let library = libraryQueueResponse else { return .NO }
    guard status >= 400, let response, !ErrorPageReplacement.isQueueingOwnResponse else {
        return library(connection, status, response)
    }
    let body = Array(#"{"error_code":\#(status),"message":"\#(ErrorPageReplacement.message(for: Int(status)))"}"#.utf8)
    // libmicrohttpd 0.9.75 writes the head of its answer to a Content-Length it cannot read twice (the
    // client would take the second copy for the body). So the answer is written here, once, straight to
    // the socket (nothing else has been written on it: this is the request's first answer), and the
    // library is told to close the connection.
    if let connection, MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length") != nil, status == 400 || status == 413 {
        // Over TLS the bytes go through the connection's session.
        let reason = status == 413 ? "Payload Too Large" : "Bad Request"
        let head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(RefusedRequest.errorContentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        if let session = shim_connection_tls_session(connection) {
            ErrorPageReplacement.sendAll(Array(head.utf8) + body, session: OpaquePointer(session), socket: shim_connection_socket(connection))
        } else {
            let socket = shim_connection_socket(connection)
            if socket >= 0 { ErrorPageReplacement.sendAll(Array(head.utf8) + body, on: socket) }
        }
        return .NO
    }
    let replacement = body.withUnsafeBytes { bytes in
        MHD_create_response_from_buffer(bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
    }
    guard let replacement else { return library(connection, status, response) }
    _ = MHD_add_response_header(replacement, "Content-Type", RefusedRequest.errorContentType)
    _ = MHD_add_response_header(replacement, "Connection", "close")
    let result = library(connection, status, replacement)
    MHD_destroy_response(replacement)
    return result
}

extension ErrorPageReplacement {
    /// Writes `bytes` to a (non-blocking) socket, waiting up to 100 ms in all for room; what does not go
    /// out by then is dropped (the connection is closed next).
    static func sendAll(_ bytes: [UInt8], on socket: Int32) {
        var sent = 0
        var waits = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { send(socket, $0.baseAddress.map { $0 + sent }, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if count > 0 {
                sent += count
                continue
            }
            guard count < 0, errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK, waits < 10 else { return }
            waits += 1
            var descriptor = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
            _ = poll(&descriptor, 1, 10)
        }
    }
}

extension ErrorPageReplacement {
    /// The same through a TLS session (non-blocking under libmicrohttpd): up to 100 ms in all for room.
    static func sendAll(_ bytes: [UInt8], session: OpaquePointer, socket: Int32) {
        var sent = 0
        var waits = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { gnutls_record_send(session, $0.baseAddress.map { $0 + sent }, bytes.count - sent) }
            if count > 0 {
                sent += count
                continue
            }
            guard count == Int(GNUTLS_E_AGAIN) || count == Int(GNUTLS_E_INTERRUPTED), waits < 10, socket >= 0 else { return }
            waits += 1
            var descriptor = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
            _ = poll(&descriptor, 1, 10)
        }
    }
}

/// libmicrohttpd's own `MHD_queue_response`, the next definition after this process's.
private let libraryQueueResponse: (@convention(c) (OpaquePointer?, CUnsignedInt, OpaquePointer?) -> MHD_Result)? = {
    // RTLD_NEXT is `((void *) -1)` in glibc's dlfcn.h, a macro Swift does not import.
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: -1), "MHD_queue_response") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (OpaquePointer?, CUnsignedInt, OpaquePointer?) -> MHD_Result).self)
}()

/// Messages for the statuses libmicrohttpd answers by itself, in Confluent's framework style, and the
/// mark that tells this server's own responses apart.
enum ErrorPageReplacement {
    /// A thread-specific value, set while this server queues a response of its own.
    private static let ownResponseKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Runs `queue` (a call of `MHD_queue_response` for a response this server made) with the mark set.
    static func queueingOwnResponse(_ queue: () -> MHD_Result) -> MHD_Result {
        pthread_setspecific(ownResponseKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(ownResponseKey, nil) }
        return queue()
    }

    /// Whether the current thread is queueing one of this server's responses.
    static var isQueueingOwnResponse: Bool { pthread_getspecific(ownResponseKey) != nil }

    static func message(for status: Int) -> String {
        switch status {
        case 400: return "HTTP 400 Bad Request: the request is not well-formed HTTP"
        case 413: return "HTTP 413 Payload Too Large: the declared body or chunk size is larger than this server accepts"
        case 414: return "HTTP 414 URI Too Long"
        case 431: return "HTTP 431 Request Header Fields Too Large"
        case 500: return "HTTP 500 Internal Server Error: the request could not be read (a chunk extension or line too long for the connection's memory)"
        case 501: return "HTTP 501 Not Implemented"
        case 505: return "HTTP 505 HTTP Version Not Supported"
        default: return "HTTP \(status)"
        }
    }
}
