import Foundation
import Testing

/// Runs the real `schemactl` binary, as a CI pipeline would.
struct SchemactlCommandTests {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func fixture(_ relative: String) -> String { repository.appendingPathComponent("fixtures/" + relative).path }

    /// The schemactl built beside this test binary.
    static let binary: URL? = {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
            Bundle.main.bundleURL,
        ]
        for directory in candidates {
            let url = directory.appendingPathComponent("schemactl")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }()

    static func run(_ arguments: String...) throws -> Run {
        let binary = try #require(Self.binary, "schemactl was not built beside the tests")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    // MARK: check

    /// Acceptance: an added field without default under BACKWARD prints the error type, the path and
    /// a fix, and exits 1.
    @Test func checkExplainsAnAddedFieldWithoutDefault() throws {
        let run = try Self.run("check", Self.fixture("evolution/user-add-required-email.avsc"), "--against", Self.fixture("evolution/user-v1.avsc"))
        #expect(run.status == 1)
        #expect(run.stdout.contains("INCOMPATIBLE"))
        #expect(run.stdout.contains("READER_FIELD_MISSING_DEFAULT_VALUE at /fields/2"))
        #expect(run.stdout.contains("fix: give field `email` a default, e.g. make it [\"null\",\"string\"] with \"default\": null"))
        #expect(run.stdout.contains("v1"))
    }

    @Test func checkPassesACompatibleChange() throws {
        let run = try Self.run("check", Self.fixture("evolution/user-add-optional-email.avsc"), "--against", Self.fixture("evolution/user-v1.avsc"), "--level", "FULL_TRANSITIVE")
        #expect(run.status == 0)
        #expect(run.stdout.hasPrefix("COMPATIBLE"))
    }

    @Test func checkComparesTransitivelyOnRequest() throws {
        let new = Self.fixture("evolution/user-v3-name-as-int.avsc")
        let v1 = Self.fixture("evolution/user-v1.avsc")
        let v2 = Self.fixture("evolution/user-v2-drop-name.avsc")
        #expect(try Self.run("check", new, "--against", v1, "--against", v2).status == 0)
        let transitive = try Self.run("check", new, "--against", v1, "--against", v2, "--level", "backward_transitive")
        #expect(transitive.status == 1)
        #expect(transitive.stdout.contains("TYPE_MISMATCH at /fields/1/type"))
    }

    @Test func checkWritesJSONForTools() throws {
        let run = try Self.run(
            "check", Self.fixture("evolution/order-v2-many-problems.avsc"), "--against", Self.fixture("evolution/order-v1.avsc"), "--format", "json")
        #expect(run.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["compatible"] as? Bool == false)
        #expect(object["level"] as? String == "BACKWARD")
        let problems = try #require(object["incompatibilities"] as? [[String: Any]])
        #expect(problems.count == 6)
        #expect(problems.allSatisfy { ($0["fix"] as? String)?.isEmpty == false && $0["version"] as? Int == 1 })
        #expect(problems.compactMap { $0["type"] as? String }.contains("MISSING_UNION_BRANCH"))
    }

    @Test func checkWritesGitHubAnnotations() throws {
        let new = Self.fixture("evolution/order-v2-many-problems.avsc")
        let run = try Self.run("check", new, "--against", Self.fixture("evolution/order-v1.avsc"), "--format", "github")
        #expect(run.status == 1)
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 6)
        #expect(lines.allSatisfy { $0.hasPrefix("::error file=\(new),title=") && $0.contains("Fix: ") })
    }

    @Test func checkRefusesAnInvalidSchemaWithExit2() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("schemactl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bad = directory.appendingPathComponent("bad.avsc")
        try Data(#"{"type":"record","name":"R","fields":[{"name":"n","type":"int","default":"1"}]}"#.utf8).write(to: bad)
        let run = try Self.run("check", bad.path, "--against", Self.fixture("evolution/user-v1.avsc"))
        #expect(run.status == 2)
        #expect(run.stderr.contains("at /fields/0/default"))
    }

    @Test(arguments: [
        ["check", "x.avsc", "--level", "SIDEWAYS"],
        ["check"],
        ["check", "/nonexistent/new.avsc"],
        ["frobnicate"],
        ["validate"],
    ])
    func usageAndInputErrorsExit2(_ arguments: [String]) throws {
        let binary = try #require(Self.binary)
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 2)
    }

    // MARK: validate, canonical, normalize, fingerprint

    @Test func validateAcceptsAValidSchema() throws {
        let run = try Self.run("validate", Self.fixture("examples/user-v1.avsc"))
        #expect(run.status == 0)
        #expect(run.stdout.contains("valid Avro schema"))
    }

    @Test func validateNamesThePathOfTheProblem() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("schemactl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("dup.avsc")
        try Data(#"{"type":"enum","name":"E","symbols":["A","B","A"]}"#.utf8).write(to: file)
        let run = try Self.run("validate", file.path)
        #expect(run.status == 2)
        #expect(run.stderr.contains("at /symbols/2"))
        #expect(run.stderr.contains("appears twice"))
    }

    @Test func canonicalAndFingerprintAgree() throws {
        let file = Self.fixture("evolution/user-v1.avsc")
        let canonical = try Self.run("canonical", file)
        #expect(canonical.status == 0)
        #expect(canonical.stdout == #"{"name":"com.example.User","type":"record","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}"# + "\n")
        let fingerprint = try Self.run("fingerprint", file)
        #expect(fingerprint.status == 0)
        #expect(fingerprint.stdout.count == 17)  // 16 hex digits and a newline
        let all = try Self.run("fingerprint", "--all", file)
        let lines = all.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[0] == "CRC-64-AVRO " + fingerprint.stdout.dropLast())
        #expect(lines[1].hasPrefix("MD5 ") && lines[1].count == 4 + 32)
        #expect(lines[2].hasPrefix("SHA-256 ") && lines[2].count == 8 + 64)
    }

    @Test func normalizePrintsWhatTheRegistryStores() throws {
        let file = Self.fixture("registry/order-with-doc.avsc")
        let normalized = try Self.run("normalize", file)
        #expect(normalized.status == 0)
        #expect(normalized.stdout.contains(#""doc":"An order as the shop sees it""#))
        #expect(normalized.stdout.contains(#""name":"com.shop.Order""#))
        let registered = try Self.run("normalize", "--as-registered", file)
        #expect(registered.status == 0)
        let expected = try String(contentsOfFile: Self.fixture("registry/order-with-doc.canonical"), encoding: .utf8)
        #expect(registered.stdout == expected)
    }

    @Test func helpShowsExamples() throws {
        for command in ["check", "validate", "normalize", "canonical", "fingerprint"] {
            let run = try Self.run(command, "--help")
            #expect(run.status == 0)
            #expect(run.stdout.contains("Example"), "\(command) --help")
        }
    }
}
