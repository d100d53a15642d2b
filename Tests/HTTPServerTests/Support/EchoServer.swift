import Foundation
import HTTPServer

/// Starts servers on a free loopback port with a handler that reports what it received.
///
/// - `/echo` answers with the request body as it came.
/// - `/slow` signals `slowRequestStarted`, sleeps half a second, then answers `slow done`.
/// - `/method` answers with the request method as its body.
/// - `/status/NNN` answers with status NNN and an `X-Extra` header.
/// - anything else answers with a description: one tab-separated line per method, path, query item, header, body size.
enum EchoServer {
    static let oversizedText = "request body larger than"

    static func start(
        maximumBodyBytes: Int = 16 * 1024 * 1024, threads: Int = 4, timeoutSeconds: Int = 30, requestTimeoutSeconds: Int = 30,
        slowRequestStarted: DispatchSemaphore? = nil
    ) throws -> HTTPServer {
        var configuration = HTTPServerConfiguration()
        configuration.requestTimeoutSeconds = requestTimeoutSeconds
        configuration.port = 0
        configuration.threads = threads
        configuration.maximumBodyBytes = maximumBodyBytes
        configuration.connectionTimeoutSeconds = timeoutSeconds
        let started = slowRequestStarted.map(UncheckedSemaphore.init)
        return try HTTPServer(
            configuration: configuration,
            oversizedBody: { limit in
                HTTPResponse(status: 413, contentType: "application/json", body: Array(#"{"error":"\#(oversizedText) \#(limit)"}"#.utf8))
            },
            handler: { request in respond(to: request, slowRequestStarted: started) }
        )
    }

    private static func respond(to request: HTTPRequest, slowRequestStarted: UncheckedSemaphore?) -> HTTPResponse {
        switch request.path {
        case "/echo":
            return HTTPResponse(status: 200, contentType: "application/octet-stream", body: request.body)
        case "/method":
            return HTTPResponse(status: 200, contentType: "text/plain", body: Array(request.method.utf8))
        case "/slow":
            slowRequestStarted?.semaphore.signal()
            usleep(500_000)
            return HTTPResponse(status: 200, contentType: "text/plain", body: Array("slow done".utf8))
        case let path where path.hasPrefix("/status/"):
            let status = Int(path.dropFirst("/status/".count)) ?? 0
            return HTTPResponse(status: status, contentType: "", body: [], extraHeaders: [(name: "X-Extra", value: "yes")])
        default:
            var lines = ["method\t\(request.method)", "path\t\(request.path)"]
            lines += request.query.map { "query\t\($0.name)\t\($0.value)" }
            lines += request.headers.sorted { $0.key < $1.key }.map { "header\t\($0.key)\t\($0.value)" }
            lines.append("body\t\(request.body.count)")
            return HTTPResponse(status: 200, contentType: "text/plain; charset=utf-8", body: Array(lines.joined(separator: "\n").utf8))
        }
    }
}

/// `DispatchSemaphore` is thread-safe but not declared Sendable in corelibs Dispatch.
struct UncheckedSemaphore: @unchecked Sendable {
    let semaphore: DispatchSemaphore
}

/// The description `EchoServer` returns for an ordinary request.
struct EchoDescription {
    var method = ""
    var path = ""
    var query: [(name: String, value: String)] = []
    var headers: [String: String] = [:]
    var bodyCount = -1

    init(_ response: RawHTTPResponse) {
        for line in response.bodyText.split(separator: "\n", omittingEmptySubsequences: false) {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            switch fields.first {
            case "method": method = fields[1]
            case "path": path = fields[1]
            case "query": query.append((name: fields[1], value: fields[2]))
            case "header": headers[fields[1]] = fields[2]
            case "body": bodyCount = Int(fields[1]) ?? -1
            default: break
            }
        }
    }
}

/// A value shared between test threads under a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// Runs `body` on `count` real threads (not the cooperative pool, whose width is the core count) and waits.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            body(index)
            group.leave()
        }
        thread.start()
    }
    group.wait()
}
