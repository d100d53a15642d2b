// swift-tools-version: 6.0
// libFuzzer targets for everything the registry parses from the network. Built only by scripts/fuzz.sh, with
// `-sanitize=fuzzer,address`; each target's `main` hands its function to libFuzzer's driver. A plain
// `swift build` of the main package never sees them.
import PackageDescription

let fuzzTargets = ["FuzzJSON", "FuzzSchema", "FuzzCompatibility", "FuzzBinary", "FuzzFrame", "FuzzRouter"]

let package = Package(
    name: "fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "schema-registry", path: "..")],
    targets: [
        .target(name: "CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer", .product(name: "AvroCodec", package: "schema-registry")]),
    ] + fuzzTargets.map { name in
        .executableTarget(
            name: name,
            dependencies: [
                "FuzzSupport",
                .product(name: "AvroCodec", package: "schema-registry"),
                .product(name: "Registry", package: "schema-registry"),
                .product(name: "RegistryHTTP", package: "schema-registry"),
                .product(name: "HTTPServer", package: "schema-registry"),
            ]
        )
    }
)
