import AvroCodec
import Foundation
import RegistryClient
import Testing

/// The transport against a real `schema-registry` process (libmicrohttpd on loopback): large bodies
/// both ways, one connection for many requests, and a server that goes away under a kept connection.
@Suite(.serialized) struct TransportAgainstRegistryTests {
    /// A record schema of about `bytes` bytes: many fields with long docs.
    static func largeSchema(bytes: Int) -> String {
        let doc = String(repeating: "d", count: 1000)
        let fieldCount = bytes / 1040 + 1
        let fields = (0..<fieldCount).map { #"{"name":"field\#($0)","type":"long","doc":"\#(doc)"}"# }
        return #"{"type":"record","name":"Large","fields":["# + fields.joined(separator: ",") + "]}"
    }

    @Test func aSchemaLargerThanAMegabyteRoundTrips() async throws {
        let server = try RegistryServerProcess()
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        let text = Self.largeSchema(bytes: 1_500_000)
        #expect(text.utf8.count > 1_500_000)
        let id = try await client.register(subject: "large-value", schema: text)
        let fetched = try await client.schema(id: id)
        #expect(fetched.utf8.count > 1_400_000)
        #expect(try AvroSchema(parsing: fetched).canonicalForm == AvroSchema(parsing: text).canonicalForm)
        let latest = try await client.version(subject: "large-value", version: nil)
        #expect(latest["id"]?.integerValue == Int64(id))
    }

    @Test func twoHundredRequestsUseOneSocket() async throws {
        let server = try RegistryServerProcess()
        defer { server.stop() }
        let client = RegistryClient(baseURL: server.url, retry: .none)
        _ = try await client.register(subject: "users-value", schema: #""string""#)
        for _ in 0..<200 {
            #expect(try await client.subjects() == ["users-value"])
        }
        // Every socket this process opened to the server is in /proc/net/tcp while it is open and for a
        // minute after (TIME_WAIT): one socket, not 201.
        #expect(try Self.socketsTo(port: server.port) == 1)
    }

    @Test func aRestartedServerIsReachedWithoutARetry() async throws {
        var server = try RegistryServerProcess()
        let port = server.port
        let client = RegistryClient(baseURL: server.url, retry: .none)
        #expect(try await client.subjects() == [])
        // The kept connection dies with the server; the next request must not fail on it.
        server.stop()
        server = try RegistryServerProcess(port: port)
        defer { server.stop() }
        #expect(try await client.subjects() == [])
        #expect(try await client.subjects() == [])
    }

    /// Sockets of this host (there is only this test process talking to the server's port) whose
    /// remote end is 127.0.0.1:`port`, in any state.
    static func socketsTo(port: Int) throws -> Int {
        // Read to the end: procfs files say they are empty, and a one-read helper gets one page of them.
        let descriptor = open("/proc/net/tcp", O_RDONLY)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            try #require(count >= 0)
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        let table = String(decoding: bytes, as: UTF8.self)
        let remote = "0100007F:" + String(format: "%04X", port)
        return table.split(separator: "\n").dropFirst().filter { line in
            let columns = line.split(separator: " ")
            return columns.count > 2 && columns[2] == remote
        }.count
    }
}

extension JSONValue {
    fileprivate var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }
}
