import Foundation
import Testing

@testable import RegistryClient

/// Registry base URLs and path segments, without Foundation's URL and CharacterSet.
@Suite struct RegistryURLTests {
    @Test func baseURLsParseIntoSchemeHostPortAndPrefix() throws {
        let cases: [(String, RegistryEndpoint.Scheme, String, UInt16, String, String)] = [
            ("http://127.0.0.1:8081", .http, "127.0.0.1", 8081, "", "127.0.0.1:8081"),
            ("HTTPS://Registry.Example.COM", .https, "registry.example.com", 443, "", "registry.example.com"),
            ("http://registry_1/", .http, "registry_1", 80, "", "registry_1"),
            ("http://host:/base/path//", .http, "host", 80, "/base/path", "host"),
            ("https://[::1]:8443/api", .https, "::1", 8443, "/api", "[::1]:8443"),
            ("http://[2001:db8::7]", .http, "2001:db8::7", 80, "", "[2001:db8::7]"),
        ]
        for (url, scheme, host, port, prefix, hostHeader) in cases {
            let endpoint = try #require(RegistryEndpoint(parsing: url), "\(url)")
            #expect(endpoint.scheme == scheme && endpoint.host == host && endpoint.port == port && endpoint.pathPrefix == prefix, "\(url)")
            #expect(endpoint.hostHeader == hostHeader, "\(url)")
        }
        #expect(RegistryEndpoint(parsing: "http://10.1.2.3")?.isAddress == true)
        #expect(RegistryEndpoint(parsing: "http://[::1]")?.isAddress == true)
        #expect(RegistryEndpoint(parsing: "http://registry")?.isAddress == false)
    }

    @Test func urlsWeCannotReachDoNotParse() {
        for url in [
            "", "registry:8081", "ftp://host", "http://", "http://:80", "http://host:0", "http://host:65536", "http://host:8o",
            "http://[::1", "http://[zz]", "http://[::1]x", "http://a:b:c", "http://user:pw@host", "http://host/?q", "http://host/#f",
            "http://h\u{E9}te", "http://a b",
        ] {
            #expect(RegistryEndpoint(parsing: url) == nil, "\(url)")
        }
    }

    @Test func requestTargetsEncodeWhatARequestLineCannotCarry() throws {
        let endpoint = try #require(RegistryEndpoint(parsing: "http://h/base"))
        #expect(String(decoding: endpoint.requestTarget("/subjects/a%2Fb/versions?deleted=true"), as: UTF8.self) == "/base/subjects/a%2Fb/versions?deleted=true")
        #expect(String(decoding: endpoint.requestTarget("/x y/\u{E9}\"<>#|\r\n"), as: UTF8.self) == "/base/x%20y/%C3%A9%22%3C%3E%23%7C%0D%0A")
        let bare = try #require(RegistryEndpoint(parsing: "http://h"))
        #expect(String(decoding: bare.requestTarget("/config"), as: UTF8.self) == "/config")
    }

    /// The encoding Foundation's `addingPercentEncoding(withAllowedCharacters: .alphanumerics + "-._~")`
    /// gave (the client used it before it dropped Foundation), for ASCII, non-ASCII letters and digits
    /// (which Foundation's set contains but which it encodes byte by byte all the same), and random text.
    @Test func pathSegmentsEncodeAsFoundationDid() {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        var samples = ["", "users-value", "a/b", "x y", "caf\u{E9}", "\u{65E5}\u{672C}", "\u{216B}", "\u{661}\u{662}", "e\u{301}", "\u{1F600}", "%2F", "+&=?#", "\u{0}\u{7F}"]
        samples.append(String((0..<128).map { Character(Unicode.Scalar(UInt8($0))) }))
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let scalars = (0..<Int.random(in: 1...12, using: &generator)).compactMap { _ in Unicode.Scalar(UInt32.random(in: 0...0x2FFFF, using: &generator)) }
            samples.append(String(String.UnicodeScalarView(scalars)))
        }
        for sample in samples {
            #expect(RegistryClient.pathSegment(sample) == sample.addingPercentEncoding(withAllowedCharacters: allowed), "\(sample.unicodeScalars.map(\.value))")
        }
        #expect(RegistryClient.pathSegment("caf\u{E9}/x") == "caf%C3%A9%2Fx")
    }
}
