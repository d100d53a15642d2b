import CGnuTLS
import CMicroHTTPD

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The C callbacks handed to libmicrohttpd. They are file-level functions, not closures, so they capture nothing and
// carry no actor isolation: MHD calls them on its worker threads (a main-actor closure would trap there).

/// `MHD_OPTION_UNESCAPE_CALLBACK`: the `size_t (*)(void *cls, struct MHD_Connection *c, char *s)` MHD calls on the
/// path and on each query name and value.
typealias UnescapeCallback = @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafeMutablePointer<CChar>?) -> Int

/// `MHD_OPTION_URI_LOG_CALLBACK`: `void *(*)(void *cls, const char *uri, struct MHD_Connection *c)`.
typealias URILogCallback = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, OpaquePointer?) -> UnsafeMutableRawPointer?


/// Leaves the text escaped. MHD's default would turn `%2F` into `/` in the path, and subjects may contain `/`;
/// query names and values are decoded by `TextDecoding.queryComponent` instead.
func keepEscapes(_ cls: UnsafeMutableRawPointer?, _ connection: OpaquePointer?, _ text: UnsafeMutablePointer<CChar>?) -> Int {
    guard let text else { return 0 }
    return strlen(text)
}

/// `MHD_OPTION_URI_LOG_CALLBACK`: the request line has arrived, before libmicrohttpd splits the query into
/// parameters (each stored in the connection's memory pool, which a long query exhausts: the library then closes
/// the connection without an answer). The request's state starts here and becomes the handler's context. A
/// target too long or with too many parameters is refused: its query is cut to nothing in the library's buffer
/// (which the callback may write, whatever the `const`), and the handler answers 414.
func beginRequest(_ cls: UnsafeMutableRawPointer?, _ uri: UnsafePointer<CChar>?, _ connection: OpaquePointer?) -> UnsafeMutableRawPointer? {
    guard let cls else { return nil }
    let server = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    let state = RequestState()
    server.requestStarted()
    // The request line is in: on a kept-alive connection the deadline for the headers runs from now (it was
    // idle, within the idle timeout); a new connection's runs from its accept.
    if let connection { connectionRecord(connection)?.startReceivingIfIdle() }
    if let uri {
        let length = strlen(uri)
        var parameters = 0
        var query: UnsafeMutablePointer<CChar>?
        for index in 0..<length {
            let character = uri[index]
            if query == nil {
                if character == 0x3F /* ? */ { query = UnsafeMutablePointer(mutating: uri + index); parameters = 1 }
            } else if character == 0x26 /* & */ {
                parameters += 1
            }
        }
        if length > RefusedRequest.maximumTargetBytes || parameters > RefusedRequest.maximumQueryParameters {
            state.refusal = .targetTooLarge
            if let query { query[1] = 0 }
        }
    }
    return Unmanaged.passRetained(state).toOpaque()
}

/// `MHD_OPTION_NOTIFY_CONNECTION`: a connection was accepted (its TLS session exists, the handshake has not
/// begun) or closed. Each connection gets a record for the request deadline, kept in its socket context. With
/// mutual TLS, the session is told to ask for the client's certificate — required or optional — and to verify
/// what it presents against the trusted authorities during the handshake, so a client without a valid
/// certificate never gets as far as a request.
func notifyConnection(
    _ cls: UnsafeMutableRawPointer?,
    _ connection: OpaquePointer?,
    _ socketContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ event: MHD_ConnectionNotificationCode
) {
    guard let cls, let connection, let socketContext else { return }
    let server = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    guard event.rawValue == 0 /* MHD_CONNECTION_NOTIFY_STARTED */ else {
        // MHD_CONNECTION_NOTIFY_CLOSED
        if let recordPointer = socketContext.pointee {
            socketContext.pointee = nil
            server.deadlines.closed(Unmanaged<ConnectionRecord>.fromOpaque(recordPointer).takeRetainedValue())
        }
        return
    }
    let socket = shim_connection_socket(connection)
    if socket >= 0 {
        socketContext.pointee = Unmanaged.passRetained(server.deadlines.opened(socket: socket)).toOpaque()
    }
    guard let policy = server.clientCertificates, let session = shim_connection_tls_session(connection) else { return }
    let tlsSession = OpaquePointer(session)
    gnutls_certificate_server_set_request(tlsSession, policy == .required ? GNUTLS_CERT_REQUIRE : GNUTLS_CERT_REQUEST)
    if policy == .required {
        gnutls_session_set_verify_function(tlsSession, verifyRequiredClientCertificate)
    } else {
        gnutls_session_set_verify_function(tlsSession, verifyOptionalClientCertificate)
    }
}

/// The deadline record of a connection (set up by `notifyConnection`).
private func connectionRecord(_ connection: OpaquePointer) -> ConnectionRecord? {
    shim_connection_socket_context(connection).map { Unmanaged<ConnectionRecord>.fromOpaque($0).takeUnretainedValue() }
}

/// GnuTLS' verify hook during the handshake (nonzero fails it): a certificate is needed and must verify.
func verifyRequiredClientCertificate(_ session: OpaquePointer?) -> Int32 {
    verifyClientCertificate(session, required: true)
}

/// The same when a client may present none (GnuTLS' own automatic check would refuse those too).
func verifyOptionalClientCertificate(_ session: OpaquePointer?) -> Int32 {
    verifyClientCertificate(session, required: false)
}

private func verifyClientCertificate(_ session: OpaquePointer?, required: Bool) -> Int32 {
    guard let session else { return -1 }
    var count: UInt32 = 0
    guard gnutls_certificate_get_peers(session, &count) != nil, count > 0 else { return required ? -1 : 0 }
    var status: UInt32 = 0
    guard gnutls_certificate_verify_peers2(session, &status) == 0, status == 0 else { return -1 }
    return 0
}

/// `MHD_OPTION_NOTIFY_COMPLETED`: MHD is done with a request (sent, failed, timed out or shut down).
func completeRequest(
    _ cls: UnsafeMutableRawPointer?,
    _ connection: OpaquePointer?,
    _ requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ termination: MHD_RequestTerminationCode
) {
    guard let cls, let requestContext, let statePointer = requestContext.pointee else { return }
    requestContext.pointee = nil
    // The connection waits for its next request: idle, within the idle timeout.
    if let connection { connectionRecord(connection)?.startIdle() }
    let state = Unmanaged<RequestState>.fromOpaque(statePointer).takeRetainedValue()
    let server = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    server.releaseBodyBytes(budgeted(state.reservedBodyBytes))
    state.reservedBodyBytes = 0
    server.requestFinished()
}

/// The access handler: MHD calls it once when the headers are in, once per chunk of body, and once more with
/// `*upload_data_size == 0` when the body is complete.
///
/// Keep-alive depends on the first call only creating the per-request state: a response queued on the first call is
/// an early response, and MHD closes the connection after it. That is exactly what we want for a body announced
/// too large, and nothing else.
func handleAccess(
    _ cls: UnsafeMutableRawPointer?,
    _ connection: OpaquePointer?,
    _ url: UnsafePointer<CChar>?,
    _ method: UnsafePointer<CChar>?,
    _ version: UnsafePointer<CChar>?,
    _ uploadData: UnsafePointer<CChar>?,
    _ uploadDataSize: UnsafeMutablePointer<Int>?,
    _ requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result {
    guard let cls, let connection, let url, let method, let uploadDataSize, let requestContext else { return .NO }
    let server = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()

    let state: RequestState
    if let statePointer = requestContext.pointee {
        state = Unmanaged<RequestState>.fromOpaque(statePointer).takeUnretainedValue()
    } else {
        // `beginRequest` makes the state; this is only a fallback.
        state = RequestState()
        requestContext.pointee = Unmanaged.passRetained(state).toOpaque()
        server.requestStarted()
    }
    if !state.hasHeaders {
        state.hasHeaders = true
        // The headers are in: the deadline for the body runs from now.
        connectionRecord(connection)?.startReceiving()
        if hasAmbiguousFraming(connection) {
            // Answered at once, and the connection closed after it: whatever follows on it (a body, or a
            // request pipelined behind) cannot be told apart.
            state.hasResponded = true
            return queueRefused(RefusedRequest.ambiguousFraming.response, server, connection, method, url, state, closing: true)
        }
        if let declaredLength = declaredContentLength(connection) {
            if declaredLength > UInt64(server.maximumBodyBytes) {
                // Refuse before reading a byte: MHD answers instead of sending `100 Continue`, skips the body
                // and closes the connection after the response.
                state.isOversized = true
                state.hasResponded = true
                return queueRefused(server.oversizedBody(server.maximumBodyBytes), server, connection, method, url, state, closing: true)
            }
            // A body the budget has no room for now is refused at once (the connection closes after). Nothing
            // is taken from the budget yet: it is charged as bytes arrive, so connections that announce bodies
            // and send nothing hold none of it.
            if !server.hasBodyRoom(for: budgeted(Int(min(declaredLength, UInt64(1 << 20))))) {
                state.isOverBudget = true
                state.hasResponded = true
                return queueRefused(overBudgetResponse, server, connection, method, url, state, closing: true)
            }
            let reservation = Int(min(declaredLength, UInt64(unbudgetedBodyBytes)))
            state.reservedBodyBytes = reservation
            state.body.reserveCapacity(reservation)
        }
        // Read the request line now, so that a refused request does not buffer its body. The answer still waits
        // for the end of the upload: queued now, it would be an early response and cost the connection.
        // MHD hands the method and path over without their lengths; `strlen` is the only way to get them (a NUL
        // byte sent inside the path ends it here, as it does inside MHD).
        state.method = TextDecoding.lossyText(UnsafeRawBufferPointer(start: method, count: strlen(method)))
        if let path = TextDecoding.validUTF8(UnsafeRawBufferPointer(start: url, count: strlen(url))) {
            state.path = path
        } else if state.refusal == nil {
            state.refusal = .pathNotUTF8
        }
        if state.refusal == nil {
            if let query = queryArguments(connection) {
                state.query = query
            } else {
                state.refusal = .queryNotUTF8
            }
        }
        return .YES
    }

    let chunkSize = uploadDataSize.pointee
    if chunkSize > 0 {
        if !state.isOversized, !state.isOverBudget, state.refusal == nil, let uploadData {
            if chunkSize > server.maximumBodyBytes - state.body.count {
                // A chunked (or lying) upload outgrew the limit: drop what we have and discard the rest.
                state.isOversized = true
                state.body = []
                server.releaseBodyBytes(budgeted(state.reservedBodyBytes))
                state.reservedBodyBytes = 0
            } else if !holdBudget(for: state.body.count + chunkSize, state, server) {
                // The bodies in flight together would pass the server's budget: drop this one, answer 503.
                state.isOverBudget = true
                state.body = []
                server.releaseBodyBytes(budgeted(state.reservedBodyBytes))
                state.reservedBodyBytes = 0
                // The rest is read and dropped; the 503 goes at the end of the upload (libmicrohttpd sends no
                // answer queued in the middle of one).
            } else {
                uploadData.withMemoryRebound(to: UInt8.self, capacity: chunkSize) {
                    state.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: chunkSize))
                }
            }
        }
        uploadDataSize.pointee = 0
        return .YES
    }

    if state.hasResponded { return .YES }
    state.hasResponded = true
    // The reaper shut the connection down as the request completed: do not run it (its answer could not go).
    if connectionRecord(connection)?.startAnswering() == false { return .NO }
    if state.isOversized {
        return queueRefused(server.oversizedBody(server.maximumBodyBytes), server, connection, method, url, state, closing: server.isStopping)
    }
    if state.isOverBudget {
        return queueRefused(overBudgetResponse, server, connection, method, url, state, closing: true)
    }
    if let refusal = state.refusal {
        // A target cut short in libmicrohttpd's buffer: the connection goes with the answer, as its own 414 does.
        return queueRefused(refusal.response, server, connection, method, url, state, closing: server.isStopping || refusal == .targetTooLarge)
    }
    let body = state.body
    state.body = []
    // The handler owns the body now; the budget counts uploads still arriving.
    server.releaseBodyBytes(budgeted(state.reservedBodyBytes))
    state.reservedBodyBytes = 0
    let request = HTTPRequest(
        method: state.method, path: state.path, query: state.query, headers: requestHeaders(connection), body: body,
        clientAddress: connectionRecord(connection)?.peerText ?? "")
    let response = server.handler(request)
    return queue(response, status: response.status, on: connection, closing: server.isStopping)
}

/// Makes the request hold budget for a body of `count` bytes: its capacity, grown as an array grows (to
/// the next power of two), taken from the server's budget before the memory is. False when it does not fit.
private func holdBudget(for count: Int, _ state: RequestState, _ server: ServerContext) -> Bool {
    guard count > state.reservedBodyBytes else { return true }
    var capacity = max(state.reservedBodyBytes, 4096)
    while capacity < count { capacity *= 2 }
    capacity = min(capacity, max(count, server.maximumBodyBytes))
    guard server.reserveBodyBytes(budgeted(capacity) - budgeted(state.reservedBodyBytes)) else { return false }
    state.body.reserveCapacity(capacity)
    state.reservedBodyBytes = capacity
    return true
}

/// The first bytes of every body are not counted against the budget, so small requests (nearly all of
/// them) are served whatever large uploads hold; what that leaves unbounded is bounded by the number of
/// connections.
private let unbudgetedBodyBytes = 64 << 10

/// The part of a body's capacity counted against the server's budget.
private func budgeted(_ capacity: Int) -> Int { max(0, capacity - unbudgetedBodyBytes) }

private let overBudgetResponse = HTTPResponse(
    status: 503, contentType: RefusedRequest.errorContentType,
    body: Array(#"{"error_code":50301,"message":"The server holds as many request bodies as it may; retry shortly"}"#.utf8),
    extraHeaders: [("Retry-After", "1")])

/// Queues a response the server makes itself, once `ServerContext.refused` has seen it (and added its headers), with
/// the status it was made with. The request is what is known of it: the query and body are never read for these.
private func queueRefused(
    _ response: HTTPResponse, _ server: ServerContext, _ connection: OpaquePointer, _ method: UnsafePointer<CChar>, _ url: UnsafePointer<CChar>,
    _ state: RequestState, closing: Bool
) -> MHD_Result {
    let request = HTTPRequest(
        method: state.method.isEmpty ? TextDecoding.lossyText(UnsafeRawBufferPointer(start: method, count: strlen(method))) : state.method,
        path: state.path.isEmpty ? TextDecoding.lossyText(UnsafeRawBufferPointer(start: url, count: strlen(url))) : state.path,
        query: [], headers: requestHeaders(connection), body: [], clientAddress: connectionRecord(connection)?.peerText ?? "")
    return queue(server.refused(request, response), status: response.status, on: connection, closing: closing)
}

private func queue(_ response: HTTPResponse, status: Int, on connection: OpaquePointer, closing: Bool) -> MHD_Result {
    // MUST_COPY costs one memcpy of the body; handing MHD the array's storage would need the array kept alive and
    // its address stable past `withUnsafeBytes`, which Swift does not promise.
    let created = response.body.withUnsafeBytes { bytes in
        MHD_create_response_from_buffer(bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
    }
    guard let mhdResponse = created else { return .NO }
    defer { MHD_destroy_response(mhdResponse) }
    if !response.contentType.isEmpty {
        _ = MHD_add_response_header(mhdResponse, "Content-Type", response.contentType)
    }
    // MHD refuses (returns MHD_NO for) headers it manages itself and values with CR or LF; those are dropped.
    for header in response.extraHeaders {
        _ = MHD_add_response_header(mhdResponse, header.name, header.value)
    }
    if closing {
        _ = MHD_add_response_header(mhdResponse, "Connection", "close")
    }
    let statusCode = (100...999).contains(status) ? UInt32(status) : 500
    return ErrorPageReplacement.queueingOwnResponse { MHD_queue_response(connection, statusCode, mhdResponse) }
}

/// The `Content-Length` the client announced, or nil when absent or not a number (MHD enforces the framing).
private func declaredContentLength(_ connection: OpaquePointer) -> UInt64? {
    guard let text = MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length") else { return nil }
    var value: UInt64 = 0
    var pointer = text
    guard pointer.pointee != 0 else { return nil }
    while pointer.pointee != 0 {
        let character = UInt8(bitPattern: pointer.pointee)
        guard character >= UInt8(ascii: "0"), character <= UInt8(ascii: "9") else { return nil }
        let (shifted, multiplyOverflow) = value.multipliedReportingOverflow(by: 10)
        let (sum, addOverflow) = shifted.addingReportingOverflow(UInt64(character - UInt8(ascii: "0")))
        if multiplyOverflow || addOverflow { return .max }
        value = sum
        pointer += 1
    }
    return value
}

/// The query in order, or nil when a name or value is not UTF-8 once decoded.
private func queryArguments(_ connection: OpaquePointer) -> [(name: String, value: String)]? {
    var arguments: [(name: String, value: String)]? = []
    _ = withUnsafeMutablePointer(to: &arguments) {
        MHD_get_connection_values_n(connection, .GET_ARGUMENT_KIND, collectQueryArgument, $0)
    }
    return arguments
}

/// Whether the framing can be read two ways: two `Content-Length` headers (even equal ones), one beside
/// `Transfer-Encoding`, or a `Transfer-Encoding` other than one exact `chunked` (libmicrohttpd reads any
/// other value, `gzip, chunked` or `chunked ` say, as "the body runs to the end of the connection", where a
/// proxy in front would read chunks).
private func hasAmbiguousFraming(_ connection: OpaquePointer) -> Bool {
    var counts = FramingHeaders()
    _ = withUnsafeMutablePointer(to: &counts) {
        MHD_get_connection_values_n(connection, .HEADER_KIND, countFramingHeader, $0)
    }
    return counts.contentLength > 1 || (counts.contentLength > 0 && counts.transferEncoding > 0) || counts.transferEncoding > 1
        || counts.otherTransferEncoding
}

private struct FramingHeaders {
    var contentLength = 0
    var transferEncoding = 0
    var otherTransferEncoding = false
}

private func countFramingHeader(
    _ cls: UnsafeMutableRawPointer?, _ kind: MHD_ValueKind,
    _ key: UnsafePointer<CChar>?, _ keySize: Int, _ value: UnsafePointer<CChar>?, _ valueSize: Int
) -> MHD_Result {
    guard let cls, let key else { return .YES }
    let name = TextDecoding.lowercasedHeaderName(UnsafeRawBufferPointer(start: key, count: keySize))
    let counts = cls.assumingMemoryBound(to: FramingHeaders.self)
    if name == "content-length" { counts.pointee.contentLength += 1 }
    if name == "transfer-encoding" {
        counts.pointee.transferEncoding += 1
        let text = value.map { TextDecoding.lossyText(UnsafeRawBufferPointer(start: $0, count: valueSize)) } ?? ""
        if text.lowercased() != "chunked" { counts.pointee.otherTransferEncoding = true }
    }
    return .YES
}

private func requestHeaders(_ connection: OpaquePointer) -> [String: String] {
    var headers: [String: String] = [:]
    _ = withUnsafeMutablePointer(to: &headers) {
        MHD_get_connection_values_n(connection, .HEADER_KIND, collectHeader, $0)
    }
    return headers
}

/// With `keepEscapes` installed MHD leaves names and values encoded; a name without `=` has a NULL value.
private func collectQueryArgument(
    _ cls: UnsafeMutableRawPointer?, _ kind: MHD_ValueKind,
    _ key: UnsafePointer<CChar>?, _ keySize: Int, _ value: UnsafePointer<CChar>?, _ valueSize: Int
) -> MHD_Result {
    guard let cls, let key else { return .YES }
    let arguments = cls.assumingMemoryBound(to: [(name: String, value: String)]?.self)
    let name = TextDecoding.queryComponent(UnsafeRawBufferPointer(start: key, count: keySize))
    let decodedValue = if let value { TextDecoding.queryComponent(UnsafeRawBufferPointer(start: value, count: valueSize)) } else { Optional("") }
    guard let name, let decodedValue else {
        arguments.pointee = nil
        return .NO  // stops the iteration: one component that is not UTF-8 refuses the request
    }
    arguments.pointee?.append((name: name, value: decodedValue))
    return .YES
}

private func collectHeader(
    _ cls: UnsafeMutableRawPointer?, _ kind: MHD_ValueKind,
    _ key: UnsafePointer<CChar>?, _ keySize: Int, _ value: UnsafePointer<CChar>?, _ valueSize: Int
) -> MHD_Result {
    guard let cls, let key else { return .YES }
    let name = TextDecoding.lowercasedHeaderName(UnsafeRawBufferPointer(start: key, count: keySize))
    let text = value.map { TextDecoding.lossyText(UnsafeRawBufferPointer(start: $0, count: valueSize)) } ?? ""
    let headers = cls.assumingMemoryBound(to: [String: String].self)
    if let existing = headers.pointee[name] {
        headers.pointee[name] = existing + ", " + text
    } else {
        headers.pointee[name] = text
    }
    return .YES
}
