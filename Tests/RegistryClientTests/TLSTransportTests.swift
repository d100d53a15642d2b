import Foundation
import RegistryClient
import Testing

/// https through GnuTLS against a Python `ssl` server (fixtures/tls/https_server.py) with
/// certificates made for the test by the openssl command: trust from a CA file, verification of the
/// chain and of the host name, and a client certificate.
@Suite(.serialized, .enabled(if: TestCertificates.openssl != nil, "needs the openssl command to make certificates"))
struct TLSTransportTests {
    @Test func aServerSignedByTheCAFileIsTrusted() async throws {
        let certificates = try TestCertificates()
        let server = try HTTPSServerProcess(certificate: certificates.file("server.pem"), key: certificates.file("server.key"))
        defer { server.stop() }
        var transport = RegistryTransportOptions()
        transport.tls.caFile = certificates.file("ca.pem")
        for host in ["127.0.0.1", "localhost"] {
            let client = RegistryClient(baseURL: "https://\(host):\(server.port)", retry: .none, transport: transport)
            for _ in 0..<3 {
                #expect(try await client.subjects() == ["anonymous"])
            }
        }
    }

    @Test func aServerSignedByAnotherCAIsRefused() async throws {
        let certificates = try TestCertificates()
        let server = try HTTPSServerProcess(certificate: certificates.file("server.pem"), key: certificates.file("server.key"))
        defer { server.stop() }
        var transport = RegistryTransportOptions()
        transport.tls.caFile = certificates.file("other-ca.pem")
        let client = RegistryClient(baseURL: "https://127.0.0.1:\(server.port)", retry: .none, transport: transport)
        let reason = await Self.unavailableReason(client)
        #expect(reason?.contains("TLS handshake with 127.0.0.1 failed") == true, "\(reason ?? "")")
        #expect(reason?.contains("issuer is unknown") == true, "\(reason ?? "")")
    }

    @Test func theSystemTrustStoreDoesNotTrustATestCA() async throws {
        let certificates = try TestCertificates()
        let server = try HTTPSServerProcess(certificate: certificates.file("server.pem"), key: certificates.file("server.key"))
        defer { server.stop() }
        let reason = await Self.unavailableReason(RegistryClient(baseURL: "https://127.0.0.1:\(server.port)", retry: .none))
        #expect(reason?.contains("TLS handshake with 127.0.0.1 failed") == true, "\(reason ?? "")")
    }

    @Test func aCertificateForAnotherHostIsRefused() async throws {
        let certificates = try TestCertificates()
        let server = try HTTPSServerProcess(certificate: certificates.file("elsewhere.pem"), key: certificates.file("elsewhere.key"))
        defer { server.stop() }
        var transport = RegistryTransportOptions()
        transport.tls.caFile = certificates.file("ca.pem")
        let reason = await Self.unavailableReason(RegistryClient(baseURL: "https://127.0.0.1:\(server.port)", retry: .none, transport: transport))
        #expect(reason?.contains("does not match") == true, "\(reason ?? "")")
    }

    @Test func aClientCertificateIsPresentedWhenTheServerAsks() async throws {
        let certificates = try TestCertificates()
        let server = try HTTPSServerProcess(certificate: certificates.file("server.pem"), key: certificates.file("server.key"), clientCA: certificates.file("ca.pem"))
        defer { server.stop() }
        var transport = RegistryTransportOptions()
        transport.tls.caFile = certificates.file("ca.pem")
        let anonymous = RegistryClient(baseURL: "https://127.0.0.1:\(server.port)", retry: .none, transport: transport)
        #expect(await Self.unavailableReason(anonymous) != nil)
        transport.tls.clientCertificateFile = certificates.file("client.pem")
        transport.tls.clientKeyFile = certificates.file("client.key")
        let identified = RegistryClient(baseURL: "https://127.0.0.1:\(server.port)", retry: .none, transport: transport)
        #expect(try await identified.subjects() == ["schemactl-test-client"])
    }

    @Test func aMissingCAFileIsUnavailableWithItsPath() async throws {
        var transport = RegistryTransportOptions()
        transport.tls.caFile = "/nonexistent/ca.pem"
        let server = try ScriptedHTTPServer { _ in .hangUp }
        defer { server.stop() }
        let reason = await Self.unavailableReason(RegistryClient(baseURL: "https://127.0.0.1:\(server.port)", retry: .none, transport: transport))
        #expect(reason?.hasPrefix("https://127.0.0.1:\(server.port): cannot read CA file /nonexistent/ca.pem: ") == true, "\(reason ?? "")")
    }

    static func unavailableReason(_ client: RegistryClient) async -> String? {
        do {
            _ = try await client.subjects()
            Issue.record("the request succeeded")
        } catch {
            guard case .unavailable(let reason) = error else {
                Issue.record("expected unavailable, got \(error)")
                return nil
            }
            return reason
        }
        return nil
    }
}

/// A CA, a second unrelated CA, a server certificate for 127.0.0.1 and localhost, one for another
/// host, and a client certificate, made in a temporary directory with the openssl command.
struct TestCertificates {
    static let openssl: String? = ["/usr/bin/openssl", "/usr/local/bin/openssl", "/opt/homebrew/bin/openssl"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    let directory: URL

    init() throws {
        let openssl = try #require(Self.openssl)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("registry-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for ca in ["ca", "other-ca"] {
            try run(openssl, ["req", "-x509"] + key + ["-keyout", "\(ca).key", "-out", "\(ca).pem", "-days", "2", "-subj", "/CN=Test \(ca)",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        }
        let leaves = [
            ("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
            ("elsewhere", "/CN=registry.example", "subjectAltName=DNS:registry.example\nextendedKeyUsage=serverAuth"),
            ("client", "/CN=schemactl-test-client", "extendedKeyUsage=clientAuth"),
        ]
        for (serial, (name, subject, extensions)) in leaves.enumerated() {
            try run(openssl, ["req"] + key + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject])
            try ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n" + extensions + "\n").write(to: directory.appendingPathComponent("\(name).ext"), atomically: true, encoding: .utf8)
            try run(openssl, ["x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "\(serial + 2)", "-days", "2",
                "-extfile", "\(name).ext", "-out", "\(name).pem"])
        }
    }

    func file(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl \(arguments.joined(separator: " ")): \(text)")
    }
}

/// fixtures/tls/https_server.py, running until `stop`.
/// `@unchecked Sendable`: `process` and `port` are set in `init` and never change; `Process` is only
/// asked to terminate and wait, which Foundation allows from any thread.
final class HTTPSServerProcess: @unchecked Sendable {
    let process = Process()
    let port: Int

    init(certificate: String, key: String, clientCA: String? = nil) throws {
        let script = CachingRegistryClientTests.repository.appendingPathComponent("fixtures/tls/https_server.py").path
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, certificate, key] + (clientCA.map { [$0] } ?? [])
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // The first line is the port; read byte by byte so nothing past it is waited for.
        var line: [UInt8] = []
        while let byte = try output.fileHandleForReading.read(upToCount: 1)?.first, byte != UInt8(ascii: "\n") { line.append(byte) }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            process.terminate()
            throw ServerDidNotStart()
        }
        self.port = port
    }

    struct ServerDidNotStart: Error {}

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
