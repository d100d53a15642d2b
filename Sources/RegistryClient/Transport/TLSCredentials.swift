import CGnuTLS
import Locking

/// A GnuTLS certificate-credentials structure: the certificate authorities a client trusts and the
/// certificate it presents; freed in `deinit`.
///
/// `@unchecked Sendable`: the structure is filled in `init` and never changed afterwards, and GnuTLS
/// lets sessions on several threads share credentials that nobody modifies.
final class TLSCredentials: @unchecked Sendable {
    let handle: gnutls_certificate_credentials_t

    /// Credentials by options, built the first time an https connection needs them: loading the system
    /// trust store reads and parses every CA certificate on the machine, which http and offline runs
    /// must not pay for. Kept for the life of the process (a changed CA file is read again on restart).
    /// Built under the lock, so that concurrent first requests load the trust store once.
    static func shared(for options: TLSOptions) throws(TransportError) -> TLSCredentials {
        try cache.withLock { (cache) throws(TransportError) -> TLSCredentials in
            if let credentials = cache[options] { return credentials }
            let credentials = try TLSCredentials(options)
            cache[options] = credentials
            return credentials
        }
    }

    private static let cache = Locked<[TLSOptions: TLSCredentials]>([:])

    private init(_ options: TLSOptions) throws(TransportError) {
        var allocated: gnutls_certificate_credentials_t?
        let status = gnutls_certificate_allocate_credentials(&allocated)
        guard status == GNUTLS_E_SUCCESS, let allocated else { throw TLSCredentials.error("cannot allocate TLS credentials", status) }
        handle = allocated
        // From here `deinit` frees the handle whichever way `init` ends.

        if let caFile = options.caFile {
            let loaded = try Self.withPath(caFile) { gnutls_certificate_set_x509_trust_file(handle, $0, GNUTLS_X509_FMT_PEM) }
            guard loaded >= 0 else { throw Self.error("cannot read CA file \(caFile)", loaded) }
            guard loaded > 0 else { throw TransportError("CA file \(caFile) holds no PEM certificate") }
        } else {
            let loaded = gnutls_certificate_set_x509_system_trust(handle)
            guard loaded >= 0 else { throw Self.error("cannot load the system trust store", loaded) }
        }
        if let certificateFile = options.clientCertificateFile {
            let keyFile = options.clientKeyFile ?? certificateFile
            let status = try Self.withPath(certificateFile) { (certificate) throws(TransportError) in
                try Self.withPath(keyFile) { key in gnutls_certificate_set_x509_key_file(handle, certificate, key, GNUTLS_X509_FMT_PEM) }
            }
            guard status >= 0 else { throw Self.error("cannot load client certificate \(certificateFile) with key \(keyFile)", status) }
        }
    }

    deinit { gnutls_certificate_free_credentials(handle) }

    /// GnuTLS's message for a failed call, copied at once.
    static func error(_ what: String, _ status: Int32) -> TransportError {
        TransportError("\(what): \(String(cString: gnutls_strerror(status)))")
    }

    /// A file path as the C string GnuTLS wants; a path with a NUL byte would name another file.
    private static func withPath<T>(_ path: String, _ body: (UnsafePointer<CChar>) throws(TransportError) -> T) throws(TransportError) -> T {
        guard !path.utf8.contains(0) else { throw TransportError("file path \(path.debugDescription) contains a NUL byte") }
        let result = path.withCString { pointer in Result { () throws(TransportError) -> T in try body(pointer) } }
        return try result.get()
    }
}
