#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a registry listens, from its base URL: `http://host[:port][/prefix]` or `https://…`, the
/// host a name, an IPv4 address or a bracketed IPv6 address. No query or fragment: a registry URL has no
/// use for them, and a wrong guess at what they mean is worse than a refusal. Credentials in the URL
/// (`https://user:password@host`) are taken out first by `splitCredentials`.
struct RegistryEndpoint: Hashable, Sendable {
    /// `https://user:pass@host:8081/x` → (`https://host:8081/x`, `user:pass` percent-decoded); a URL without
    /// credentials (or with a user and no password) comes back unchanged with nil.
    static func splitCredentials(_ url: String) -> (url: String, credentials: String?) {
        let bytes = Array(url.utf8)
        guard let schemeEnd = find(Array("://".utf8), in: bytes) else { return (url, nil) }
        let authorityStart = schemeEnd + 3
        let authorityEnd = bytes[authorityStart...].firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") })
            ?? bytes.endIndex
        // Only `user:password@`: a user without a password is not credentials Basic can carry, and the URL stays
        // as it is (which the parser then refuses).
        guard let at = bytes[authorityStart..<authorityEnd].lastIndex(of: UInt8(ascii: "@")),
            bytes[authorityStart..<at].contains(UInt8(ascii: ":"))
        else { return (url, nil) }
        var decoded: [UInt8] = []
        var index = authorityStart
        while index < at {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < at, let value = UInt8(String(decoding: bytes[(index + 1)...(index + 2)], as: UTF8.self), radix: 16) {
                decoded.append(value)
                index += 3
            } else {
                decoded.append(bytes[index])
                index += 1
            }
        }
        let stripped = String(decoding: bytes[..<authorityStart] + bytes[(at + 1)...], as: UTF8.self)
        return (stripped, String(decoding: decoded, as: UTF8.self))
    }

    enum Scheme: String, Sendable {
        case http, https

        var defaultPort: UInt16 { self == .http ? 80 : 443 }
    }

    let scheme: Scheme
    /// The host as getaddrinfo and certificate checks want it: lowercased, IPv6 without brackets.
    let host: String
    /// The host is an IPv4 or IPv6 address rather than a name (TLS then sends no server name).
    let isAddress: Bool
    let port: UInt16
    /// The base URL's path without a trailing slash: "" or "/…".
    let pathPrefix: String

    /// Parses a base URL; nil when it is not one of the forms above.
    init?(parsing url: String) {
        let bytes = Array(url.utf8)
        guard let schemeEnd = Self.find(Array("://".utf8), in: bytes),
            let scheme = Scheme(rawValue: String(decoding: bytes[..<schemeEnd], as: UTF8.self).lowercased())
        else { return nil }
        let rest = bytes[(schemeEnd + 3)...]
        guard !rest.contains(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") || $0 == UInt8(ascii: "@") }) else { return nil }
        let authorityEnd = rest.firstIndex(of: UInt8(ascii: "/")) ?? rest.endIndex
        let authority = rest[..<authorityEnd]

        var host: ArraySlice<UInt8>
        var portText: ArraySlice<UInt8>?
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            host = authority[(authority.startIndex + 1)..<close]
            let afterHost = authority[(close + 1)...]
            if let colon = afterHost.first {
                guard colon == UInt8(ascii: ":") else { return nil }
                portText = afterHost.dropFirst()
            }
            guard Self.isAddress(host, family: AF_INET6) else { return nil }
        } else {
            let colons = authority.indices.filter { authority[$0] == UInt8(ascii: ":") }
            guard colons.count <= 1 else { return nil }
            if let colon = colons.first {
                host = authority[..<colon]
                portText = authority[(colon + 1)...]
            } else {
                host = authority
            }
            // Letters, digits, '-', '.' and '_' (container names have it); no international names.
            guard
                !host.isEmpty,
                host.allSatisfy({ Self.isASCIIAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") })
            else { return nil }
        }
        var port = scheme.defaultPort
        if let portText, !portText.isEmpty {
            guard portText.count <= 5, portText.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                let number = Int(String(decoding: portText, as: UTF8.self)), (1...65535).contains(number)
            else { return nil }
            port = UInt16(number)
        }
        var path = rest[authorityEnd...]
        while path.last == UInt8(ascii: "/") { path = path.dropLast() }

        self.scheme = scheme
        self.host = String(decoding: host, as: UTF8.self).lowercased()
        self.isAddress = authority.first == UInt8(ascii: "[") || Self.isAddress(host, family: AF_INET)
        self.port = port
        self.pathPrefix = String(decoding: path, as: UTF8.self)
    }

    /// The `Host` header's value: the port only when it is not the scheme's default.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == scheme.defaultPort ? name : "\(name):\(port)"
    }

    /// The request target for an API path (`/subjects?deleted=true`): the base URL's prefix, then the
    /// path, with every byte a request line cannot carry percent-encoded (space, controls, non-ASCII,
    /// `"<>\^`{|}#`) as URL(string:) used to do. '%' is left alone: escapes are already escapes.
    func requestTarget(_ apiPath: String) -> [UInt8] {
        let raw = Array((pathPrefix + apiPath).utf8)
        var target: [UInt8] = []
        target.reserveCapacity(raw.count + 1)
        if raw.first != UInt8(ascii: "/") { target.append(UInt8(ascii: "/")) }
        for byte in raw {
            if Self.isAllowedInTarget(byte) {
                target.append(byte)
            } else {
                target.append(UInt8(ascii: "%"))
                target.append(Self.hexDigits[Int(byte >> 4)])
                target.append(Self.hexDigits[Int(byte & 0x0F)])
            }
        }
        return target
    }

    static let hexDigits = Array("0123456789ABCDEF".utf8)

    static func isASCIIAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    /// With letters and digits, RFC 3986's unreserved and sub-delims characters, ':', '@', '/', '?' and '%'.
    private static let targetPunctuation = Array("-._~!$&'()*+,;=:@/?%".utf8)

    private static func isAllowedInTarget(_ byte: UInt8) -> Bool {
        isASCIIAlphanumeric(byte) || targetPunctuation.contains(byte)
    }

    private static func isAddress(_ text: ArraySlice<UInt8>, family: Int32) -> Bool {
        guard !text.isEmpty, !text.contains(0) else { return false }
        var storage = in6_addr()
        return String(decoding: text, as: UTF8.self).withCString { inet_pton(family, $0, &storage) } == 1
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
