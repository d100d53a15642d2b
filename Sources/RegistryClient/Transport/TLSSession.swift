import AvroCodec
import CGnuTLS

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A GnuTLS client session over a `TCPSocket`, handshaken and verified in `init`; freed in `deinit`.
///
/// The socket is non-blocking: when GnuTLS answers `GNUTLS_E_AGAIN`, we poll the socket in the
/// direction it was waiting for (at most the socket's timeout) and call again, so no TLS call blocks
/// longer than the timeout either.
final class TLSSession {
    private let handle: gnutls_session_t
    /// Kept alive as long as the session: GnuTLS reads and writes its descriptor.
    private let socket: TCPSocket
    /// Kept alive as long as the session: GnuTLS refers to them without a reference count.
    private let credentials: TLSCredentials
    /// The host name GnuTLS verifies the certificate against (it keeps this pointer; see `init`).
    private var verifiedHost: UnsafeMutablePointer<CChar>?

    /// Handshakes as a client of `host`: sends it as SNI when it is a name (RFC 6066 forbids
    /// addresses there), and verifies that the server's certificate chains to a trusted authority
    /// and names `host` (a DNS name, or an IP address in the certificate's IP entries).
    init(over socket: TCPSocket, host: String, hostIsAddress: Bool, credentials: TLSCredentials) throws(TransportError) {
        var allocated: gnutls_session_t?
        let status = gnutls_init(&allocated, UInt32(GNUTLS_CLIENT | GNUTLS_NO_SIGNAL))
        guard status == GNUTLS_E_SUCCESS, let allocated else { throw TLSCredentials.error("cannot start a TLS session", status) }
        handle = allocated
        self.socket = socket
        self.credentials = credentials
        // From here `deinit` frees the session whichever way `init` ends.

        try check(gnutls_set_default_priority(handle), "cannot set the TLS priorities")
        try check(gnutls_credentials_set(handle, GNUTLS_CRD_CERTIFICATE, UnsafeMutableRawPointer(credentials.handle)), "cannot set the TLS credentials")
        let hostBytes = Array(host.utf8)
        guard !hostBytes.contains(0) else { throw TransportError("host name contains a NUL byte") }
        if !hostIsAddress {
            try check(hostBytes.withUnsafeBytes { gnutls_server_name_set(handle, GNUTLS_NAME_DNS, $0.baseAddress, $0.count) }, "cannot set the TLS server name")
        }
        // GnuTLS keeps the pointer, not a copy, and reads it at every handshake: the session owns a
        // copy of the name for as long as it lives (freed in deinit, after gnutls_deinit).
        verifiedHost = strdup(host)
        guard let verifiedHost else { throw TransportError("out of memory for the TLS host name") }
        gnutls_session_set_verify_cert(handle, verifiedHost, 0)
        gnutls_transport_set_int2(handle, socket.descriptor, socket.descriptor)
        try handshake(host: host)
    }

    deinit {
        // One non-blocking attempt at close_notify: good manners, never worth a wait.
        _ = gnutls_bye(handle, GNUTLS_SHUT_WR)
        gnutls_deinit(handle)
        free(verifiedHost)
    }

    private func handshake(host: String) throws(TransportError) {
        while true {
            let status = gnutls_handshake(handle)
            if status == GNUTLS_E_SUCCESS { return }
            if status == GNUTLS_E_AGAIN || status == GNUTLS_E_INTERRUPTED {
                try waitForSocket(doing: "in the TLS handshake with \(host)")
                continue
            }
            if status == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR {
                throw TransportError("TLS handshake with \(host) failed: \(verificationProblem())")
            }
            if gnutls_error_is_fatal(status) != 0 {
                throw TLSCredentials.error("TLS handshake with \(host) failed", status)
            }
            // A warning alert: the handshake goes on.
        }
    }

    /// Sends all of `bytes` as TLS records.
    func write(_ bytes: UnsafeRawBufferPointer) throws(TransportError) {
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let sent = gnutls_record_send(handle, rest.baseAddress, rest.count)
            if sent >= 0 {
                offset += sent
            } else if sent == GNUTLS_E_AGAIN || sent == GNUTLS_E_INTERRUPTED {
                // GnuTLS wants the same call again once the socket is ready.
                try waitForSocket(doing: "sending the request")
            } else {
                throw TLSCredentials.error("cannot send the request", Int32(sent))
            }
        }
    }

    /// Reads decrypted bytes (at least one); 0 at the end of the stream, whether the server sent
    /// close_notify or just closed the connection (many servers do; HTTP framing catches truncation).
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> Int {
        while true {
            let count = gnutls_record_recv(handle, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            switch Int32(count) {
            case GNUTLS_E_AGAIN, GNUTLS_E_INTERRUPTED:
                try waitForSocket(doing: "waiting for the response")
            case GNUTLS_E_PREMATURE_TERMINATION:
                return 0
            default:
                if gnutls_error_is_fatal(Int32(count)) == 0 { continue }  // a warning alert
                throw TLSCredentials.error("cannot read the response", Int32(count))
            }
        }
    }

    /// No decrypted bytes waiting and nothing on the socket: the idle connection is still usable.
    var isOpenAndQuiet: Bool {
        gnutls_record_check_pending(handle) == 0 && socket.isOpenAndQuiet
    }

    private func waitForSocket(doing what: String) throws(TransportError) {
        try socket.wait(forWriting: gnutls_record_get_direction(handle) == 1, doing: what)
    }

    private func check(_ status: Int32, _ what: String) throws(TransportError) {
        guard status == GNUTLS_E_SUCCESS else { throw TLSCredentials.error(what, status) }
    }

    /// GnuTLS's account of why the server's certificate was not accepted ("The certificate is NOT
    /// trusted. The certificate issuer is unknown."), copied and freed at once.
    private func verificationProblem() -> String {
        let status = gnutls_session_get_verify_cert_status(handle)
        var text = gnutls_datum_t()
        guard gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == GNUTLS_E_SUCCESS, let data = text.data else {
            return "certificate verification failed (status \(status))"
        }
        defer { cgnutls_free(data) }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(text.size)).prefix { $0 != 0 }, as: UTF8.self).trimming(" \n")
    }
}
