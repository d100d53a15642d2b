// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "schema-registry",
    // Mutex and Atomic (Synchronization) need macOS 15.
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AvroCodec", targets: ["AvroCodec"]),
        // For the fuzzing package (Fuzz/), which builds them with libFuzzer and AddressSanitizer.
        .library(name: "Registry", targets: ["Registry"]),
        .library(name: "RegistryHTTP", targets: ["RegistryHTTP"]),
        .library(name: "HTTPServer", targets: ["HTTPServer"]),
        .executable(name: "schemactl", targets: ["SchemaCtl"]),
        .executable(name: "codec-bench", targets: ["CodecBench"]),
        .executable(name: "schema-registry", targets: ["SchemaRegistryServer"]),
        .executable(name: "wal-consume", targets: ["WALConsume"]),
        .executable(name: "wal-source", targets: ["WALSourceCommand"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Request logging: the API surface every Swift server library logs through.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // C libraries at the edges: one system-library target each, nothing else includes their headers.
        .systemLibrary(name: "CAvro", pkgConfig: "avro-c", providers: [.apt(["libavro-dev"])]),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CPostgres", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // Digests for the codec. Not swift-crypto: it imports all of Foundation, which cost every
        // schemactl run 4 ms of start-up; Nettle loads in 0.1 ms (both measured with perf stat).
        .systemLibrary(name: "CNettle", pkgConfig: "nettle", providers: [.apt(["nettle-dev"])]),
        .systemLibrary(name: "CGnuTLS", pkgConfig: "gnutls", providers: [.apt(["libgnutls28-dev"])]),
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),

        // A pthread-mutex-guarded value (ThreadSanitizer sees it; it does not see Synchronization.Mutex).
        .target(name: "Locking"),
        // The codec module: schema model, strict parser, canonical form, fingerprints, compatibility.
        // Knows nothing of HTTP or storage.
        .target(
            name: "AvroCodec",
            dependencies: ["CAvro", "CNettle", "Locking"]
        ),
        // The registry domain: subjects, versions, ids, levels, modes, deletes over SQLite. No HTTP.
        .target(name: "Registry", dependencies: ["AvroCodec", "CSQLite", "PostgresClient", "Locking"]),
        .target(name: "HTTPServer", dependencies: ["CMicroHTTPD", "CGnuTLS"]),
        // The REST API: libmicrohttpd requests → registry domain calls → responses. Thin.
        .target(
            name: "RegistryHTTP",
            dependencies: ["AvroCodec", "Registry", "HTTPServer", "CNettle", "Locking", .product(name: "Logging", package: "swift-log")]),
        .executableTarget(
            name: "SchemaRegistryServer",
            dependencies: [
                "Registry", "RegistryHTTP", "HTTPServer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The REST API from the other side, for schemactl, the WAL source and consumers.
        // Its own HTTP/1.1 transport over POSIX sockets and GnuTLS rather than URLSession: loading
        // Foundation + FoundationNetworking cost every schemactl run ~12 ms of start-up.
        .target(name: "RegistryClient", dependencies: ["AvroCodec", "CGnuTLS", "Locking"]),
        // The registry connection flags the command-line tools share.
        .target(name: "RegistryCommandLine", dependencies: ["RegistryClient", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "SchemaCtl",
            dependencies: [
                "AvroCodec",
                "RegistryClient",
                "RegistryCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Debezium-style change events: table → Avro schemas, rows → envelopes, the change-log file
        // format, and the consumer type (on the registry client).
        .target(name: "ChangeEvents", dependencies: ["AvroCodec", "RegistryClient"]),
        .executableTarget(
            name: "WALConsume",
            dependencies: ["ChangeEvents", "AvroCodec", "KafkaClient", "RegistryClient", "RegistryCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // In-process benchmark driver used by bench/ scripts (not part of the test run).
        .executableTarget(name: "CodecBench", dependencies: ["AvroCodec"]),
        // The WAL source: PostgreSQL logical replication (pgoutput) → Avro records.
        // libpq, wrapped once: the WAL source's connections and (step 3) the registry's PostgreSQL store.
        .target(name: "PostgresClient", dependencies: ["CPostgres"]),
        // librdkafka, wrapped once: the WAL source's producer and the consumers reading its topics.
        .target(name: "KafkaClient", dependencies: ["CRdKafka", "Locking"]),
        .target(name: "WALSource", dependencies: ["PostgresClient", "AvroCodec", "ChangeEvents", "RegistryClient", "Locking", "KafkaClient"]),
        .executableTarget(
            name: "WALSourceCommand",
            dependencies: ["WALSource", "KafkaClient", "HTTPServer", "RegistryClient", "RegistryCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        .testTarget(name: "AvroCodecTests", dependencies: ["AvroCodec"]),
        .testTarget(name: "SchemaCtlTests", dependencies: ["SchemaCtl"]),
        .testTarget(name: "RegistryTests", dependencies: ["Registry"]),
        .testTarget(name: "RegistryClientTests", dependencies: ["RegistryClient", "AvroCodec", "Locking"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer"]),
        // The REST layer without a socket: request → response, the permission matrix.
        .testTarget(name: "RegistryHTTPTests", dependencies: ["RegistryHTTP", "Registry", "HTTPServer", "AvroCodec"]),
        .testTarget(name: "CLibraryLinkTests", dependencies: ["CAvro", "CMicroHTTPD", "CSQLite", "CGnuTLS"]),
        .testTarget(name: "PostgresClientTests", dependencies: ["PostgresClient"]),
        .testTarget(name: "WALSourceTests", dependencies: ["WALSource"]),
        .testTarget(name: "ChangeEventsTests", dependencies: ["ChangeEvents", "AvroCodec"]),
    ],
    swiftLanguageModes: [.v6]
)
