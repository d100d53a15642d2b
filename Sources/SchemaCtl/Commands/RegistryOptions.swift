import ArgumentParser
import AvroCodec
import RegistryClient
import RegistryCommandLine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `--registry URL` and, for https, whom to trust and which certificate to present: shared by every
/// command that talks to a registry.
struct RegistryOptions: ParsableArguments {
    @Option(help: "Registry URL (default: $SCHEMA_REGISTRY_URL, else http://127.0.0.1:8081).")
    var registry: String?

    @OptionGroup var connection: RegistryConnectionOptions

    var client: RegistryClient {
        RegistryClient(baseURL: RegistryClient.url(explicit: registry), transport: connection.transport)
    }
}

/// Runs a registry call, mapping its failures to exit statuses: 3 for an outage, 2 for a refusal.
func callRegistry<T>(_ body: () async throws(RegistryClientError) -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        printError("error: \(error.description)")
        switch error {
        case .unavailable, .malformedResponse: throw ExitStatus.unavailable
        case .rejected: throw ExitStatus.invalidInput
        }
    }
}

/// The subject a schema file belongs to: `--subject`, else a mapping in the nearest `schemactl.toml`
/// (`[subjects]` then `"schemas/orders.avsc" = "orders-value"`, paths relative to that file's directory), else the
/// file's base name.
func subjectName(for file: String, explicit: String?) -> String {
    if let explicit { return explicit }
    let wanted = SchemaSet.normalized(file)
    let project = ProjectFile.nearest  // checked by the command first (ProjectFile.current())
    let fromProject = project.pathFromProjectDirectory(wanted)
    for (key, value) in project.sections["subjects"] ?? [] {
        let path = SchemaSet.normalized(key)
        // Keys are paths from the project file's directory; with no such file, from the working directory.
        if project.directory == nil ? path == wanted : path == fromProject { return value.trimming(" \t\"") }
    }
    var name = wanted.split(separator: "/").last.map(String.init) ?? wanted
    if let dot = name.lastIndex(of: ".") { name = String(name[..<dot]) }
    return name
}
