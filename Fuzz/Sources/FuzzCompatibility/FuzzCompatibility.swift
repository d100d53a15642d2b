import AvroCodec
import FuzzSupport

/// The compatibility checker on two fuzzed schemas (the input split at its first NUL byte), at every level and
/// both ways: never crashes, and a schema is always FULL_TRANSITIVE-compatible with itself.
func fuzzCompatibility(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = bytes(data, size)
    let separator = input.firstIndex(of: 0) ?? input.count
    guard let first = try? AvroSchema(parsing: Array(input[..<separator])) else { return 0 }
    require(CompatibilityChecker.check(first, against: [ExistingSchemaVersion(version: 1, schema: first)], level: .fullTransitive).isCompatible,
            "a schema is not compatible with itself: \(first.canonicalText.prefix(300))")
    guard separator < input.count, let second = try? AvroSchema(parsing: Array(input[(separator + 1)...])) else { return 0 }
    for level in CompatibilityLevel.allCases {
        let forward = CompatibilityChecker.check(second, against: [ExistingSchemaVersion(version: 1, schema: first)], level: level)
        let backward = CompatibilityChecker.check(first, against: [ExistingSchemaVersion(version: 1, schema: second)], level: level)
        for report in [forward, backward] {
            for problem in report.incompatibilities { _ = problem.message.count + problem.fix.count + problem.path.count }
        }
    }
    // BACKWARD one way is FORWARD the other way.
    let backward = CompatibilityChecker.check(second, against: [ExistingSchemaVersion(version: 1, schema: first)], level: .backward).isCompatible
    let forward = CompatibilityChecker.check(first, against: [ExistingSchemaVersion(version: 1, schema: second)], level: .forward).isCompatible
    require(backward == forward, "BACKWARD(new, old) != FORWARD(old, new) for \(first.canonicalText.prefix(200)) / \(second.canonicalText.prefix(200))")
    return 0
}

@main
struct Main {
    static func main() {
        runFuzzer { data, size in data.map { fuzzCompatibility($0, size) } ?? 0 }
    }
}
