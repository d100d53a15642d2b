// codec-bench: in-process measurements for bench/ scripts (not a test).
//
//   codec-bench compat DIR [--iterations N]
//     Parses DIR/v001.avsc … (sorted), treats the last file as the new schema and the others as
//     existing versions, then times CompatibilityChecker.check(new, against: all, level: FULL_TRANSITIVE)
//     with every schema already parsed, as the registry holds them. Prints key=value figures.
import AvroCodec
import Foundation

func milliseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1000 + Double(attoseconds) / 1e15
}

func percentile(_ values: [Double], _ fraction: Double) -> Double {
    let sorted = values.sorted()
    let index = min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))
    return sorted[index]
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data(("codec-bench: " + message + "\n").utf8))
    exit(2)
}

func runCompat(directory: String, iterations: Int) {
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".avsc") }.sorted()
    guard names.count >= 2 else { fail("need at least two .avsc files in \(directory)") }
    let files = names.map { [UInt8](FileManager.default.contents(atPath: directory + "/" + $0) ?? Data()) }
    let totalBytes = files.reduce(0) { $0 + $1.count }
    let clock = ContinuousClock()

    // Parsing: every file, as `schemactl check` does; best of 5 rounds.
    var parseTimes: [Double] = []
    var schemas: [AvroSchema] = []
    for _ in 0..<5 {
        var parsed: [AvroSchema] = []
        let elapsed = clock.measure {
            for bytes in files {
                do {
                    parsed.append(try AvroSchema(parsing: bytes))
                } catch {
                    fail("invalid schema: \(error)")
                }
            }
        }
        parseTimes.append(milliseconds(elapsed))
        schemas = parsed
    }
    var jsonTimes: [Double] = []
    for _ in 0..<5 {
        jsonTimes.append(milliseconds(clock.measure {
            for bytes in files { _ = try? JSONParser.parse(bytes: bytes) }
        }))
    }

    let new = schemas[schemas.count - 1]
    let existing = schemas.dropLast().enumerated().map { ExistingSchemaVersion(version: $0.offset + 1, schema: $0.element) }
    var checkTimes: [Double] = []
    var compatible = true
    for _ in 0..<iterations {
        var report: CompatibilityReport?
        let elapsed = clock.measure {
            report = CompatibilityChecker.check(new, against: existing, level: .fullTransitive)
        }
        checkTimes.append(milliseconds(elapsed))
        compatible = compatible && (report?.isCompatible ?? false)
    }
    guard compatible else { fail("expected the benchmark schemas to be FULL_TRANSITIVE compatible") }
    let megabytes = Double(totalBytes) / 1_048_576
    print(
        "schemas=\(files.count) bytes=\(totalBytes) checks=\(2 * existing.count) level=FULL_TRANSITIVE compatible=\(compatible)")
    print(String(format: "inprocess_median_ms=%.3f p90_ms=%.3f min_ms=%.3f", percentile(checkTimes, 0.5), percentile(checkTimes, 0.9), checkTimes.min() ?? 0))
    print(String(format: "parse_total_ms=%.2f parse_mb_per_s=%.1f json_only_ms=%.2f", parseTimes.min() ?? 0, megabytes / ((parseTimes.min() ?? 1) / 1000), jsonTimes.min() ?? 0))
}

var arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.first == "compat", arguments.count >= 2 else {
    fail("usage: codec-bench compat DIR [--iterations N]")
}
var iterations = 30
if let index = arguments.firstIndex(of: "--iterations"), index + 1 < arguments.count, let value = Int(arguments[index + 1]), value > 0 {
    iterations = value
}
runCompat(directory: arguments[1], iterations: iterations)
