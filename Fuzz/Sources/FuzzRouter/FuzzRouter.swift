import AvroCodec
import FuzzSupport
import HTTPServer
import Registry
import RegistryHTTP

#if canImport(Glibc)
import Glibc
#endif

/// The REST layer — routing, query and body parsing, the registry behind it — on fuzzed requests, called as the
/// server calls it. Input: one byte picks the method, then the target line, header lines, an empty line, the
/// body. Never crashes; every error is Confluent's `{"error_code":…,"message":…}`.
nonisolated(unsafe) var api: RegistryAPI?
nonisolated(unsafe) var calls = 0
nonisolated(unsafe) var databasePath = ""

let methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "get"]

/// A registry on tmpfs (no disk waits), replaced every 50,000 requests so its state stays small.
func currentAPI() -> RegistryAPI {
    if let api, calls % 50_000 != 0 { return api }
    api = nil
    if !databasePath.isEmpty {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(databasePath + suffix) }
    }
    databasePath = "/dev/shm/fuzz-router-\(getpid())-\(calls).db"
    do {
        let created = RegistryAPI(registry: try SchemaRegistry(databasePath: databasePath))
        api = created
        return created
    } catch {
        fatalError("cannot open the fuzz registry: \(error)")
    }
}

func fuzzRouter(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = bytes(data, size)
    guard let first = input.first else { return 0 }
    calls += 1
    let rest = input.dropFirst()
    let lineEnd = rest.firstIndex(of: 10) ?? rest.endIndex
    let target = String(decoding: rest[..<lineEnd], as: UTF8.self)
    var headers: [String: String] = ["content-type": "application/vnd.schemaregistry.v1+json"]
    var index = lineEnd < rest.endIndex ? lineEnd + 1 : rest.endIndex
    while index < rest.endIndex {
        let end = rest[index...].firstIndex(of: 10) ?? rest.endIndex
        let line = rest[index..<end]
        index = end < rest.endIndex ? end + 1 : rest.endIndex
        if line.isEmpty { break }
        let text = String(decoding: line, as: UTF8.self)
        if let colon = text.firstIndex(of: ":") {
            headers[text[..<colon].lowercased()] = String(text[text.index(after: colon)...]).trimmingCharacters(in: " ")
        }
    }
    let body = Array(rest[index...])
    let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
    let query: [(name: String, value: String)] = parts.count > 1
        ? parts[1].split(separator: "&").map { item in
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (name: String(pair[0]), value: pair.count > 1 ? String(pair[1]) : "")
        } : []
    let path = parts.first.map(String.init) ?? ""
    let request = HTTPRequest(method: methods[Int(first) % methods.count], path: path.hasPrefix("/") ? path : "/" + path, query: query, headers: headers, body: body)
    let response = currentAPI().handle(request)
    require((100..<600).contains(response.status), "status \(response.status)")
    if response.status >= 400 {
        let parsed = try? JSONParser.parse(bytes: response.body)
        guard case .object(let members)? = parsed, case .integer? = parsed?["error_code"], case .string? = parsed?["message"], members.members.count == 2 else {
            require(false, "an error that is not Confluent's body: \(response.status) \(String(decoding: response.body.prefix(300), as: UTF8.self))")
            return 0
        }
    }
    return 0
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var text = Substring(self)
        while text.first == set { text = text.dropFirst() }
        while text.last == set { text = text.dropLast() }
        return String(text)
    }
}

@main
struct Main {
    static func main() {
        runFuzzer { data, size in data.map { fuzzRouter($0, size) } ?? 0 }
    }
}
