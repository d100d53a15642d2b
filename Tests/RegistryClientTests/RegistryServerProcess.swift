import Foundation
import Testing

@testable import RegistryClient

/// A real `schema-registry` process on 127.0.0.1 with its own SQLite file, for client tests.
/// `@unchecked Sendable`: its stored properties are set in `init` and never change; `Process` is
/// only asked to terminate and wait, which Foundation allows from any thread.
final class RegistryServerProcess: @unchecked Sendable {
    let process = Process()
    let directory: URL
    let url: String
    let port: Int

    /// The schema-registry built beside this test binary.
    static let binary: URL? = {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
            Bundle.main.bundleURL,
        ]
        for directory in candidates {
            let url = directory.appendingPathComponent("schema-registry")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }()

    /// Starts a server on `port` (0: any free port) and waits until it listens.
    init(port requestedPort: Int = 0) throws {
        let binary = try #require(Self.binary, "schema-registry was not built beside the tests")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("registry-client-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let log = directory.appendingPathComponent("server.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = binary
        process.arguments = ["--listen", "127.0.0.1:\(requestedPort)", "--db", directory.appendingPathComponent("registry.db").path, "--threads", "2"]
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                let found = String(text[range])
                self.port = Int(found.split(separator: ":").last ?? "") ?? 0
                url = "http://127.0.0.1:\(self.port)"
                return
            }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        process.terminate()
        throw ServerDidNotStart(log: (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    struct ServerDidNotStart: Error {
        let log: String
    }

    /// The count of `schema_registry_requests_total` samples whose labels contain `route`. Fetched with
    /// the client's own transport: this test binary no longer links FoundationNetworking, without which
    /// `String(contentsOf:)` cannot read an http URL.
    func requestCount(route: String) throws -> Int {
        let endpoint = try #require(RegistryEndpoint(parsing: url))
        let metrics = try HTTPTransport.exchange(HTTPRequest(method: "GET", target: Array("/metrics".utf8), body: nil), with: endpoint, options: RegistryTransportOptions())
        let text = String(decoding: metrics.body, as: UTF8.self)
        var total = 0
        for line in text.split(separator: "\n") where line.hasPrefix("schema_registry_requests_total{") && line.contains("route=\"\(route)\"") {
            total += Int(line.split(separator: " ").last ?? "") ?? 0
        }
        return total
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }

    /// A loopback port nobody listens on right now.
    static func freePort() throws -> Int {
        let socket = Darwinless.socket()
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(bound == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

enum Darwinless {
    static func socket() -> Int32 { Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0) }
}
