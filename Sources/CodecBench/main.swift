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

/// Resident set size now, from /proc/self/statm (Linux), in MB.
func residentMegabytes() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
    return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}

func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

func loadSchema(_ path: String) -> AvroSchema {
    guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
    do {
        return try AvroSchema(parsing: [UInt8](data))
    } catch {
        fail("\(path): \(error)")
    }
}

/// The workload of bench/codec.sh (the same in bench/codec_avro_c.c and bench/codec_fastavro.py):
/// record i has id = i*7919, account = i % 100000, name = "name-" + (i % 1000),
/// email = "user" + (i % 5000) + "@example.com", city = one of five by i % 5, amount = i*0.25,
/// quantity = i % 100, created = 1700000000000 + i, active = i even, note = null when i % 3 == 0
/// else "note " + (i % 10).
struct Workload {
    let names = (0..<1000).map { AvroValue.string("name-\($0)") }
    let emails = (0..<5000).map { AvroValue.string("user\($0)@example.com") }
    let cities = ["Amsterdam", "Berlin", "Paris", "Madrid", "Rome"].map { AvroValue.string($0) }
    let notes = (0..<10).map { AvroValue.union(branch: 1, value: .string("note \($0)")) }
    let noNote = AvroValue.union(branch: 0, value: .null)

    func record(_ i: Int) -> AvroValue {
        .record([
            .long(Int64(i) * 7919), .int(Int32(i % 100_000)), names[i % 1000], emails[i % 5000], cities[i % 5],
            .double(Double(i) * 0.25), .int(Int32(i % 100)), .long(1_700_000_000_000 + Int64(i)), .boolean(i % 2 == 0),
            i % 3 == 0 ? noNote : notes[i % 10],
        ])
    }
}

/// The checksum all three implementations print: the sum of ids plus the UTF-8 lengths of every
/// string field decoded.
func checksum(_ value: AvroValue) -> Int64 {
    guard case .record(let fields) = value else { return 0 }
    guard case .long(let id)? = fields.first else { return 0 }
    var sum = id
    for field in fields {
        switch field {
        case .string(let text): sum &+= Int64(text.utf8.count)
        case .union(_, .string(let text)): sum &+= Int64(text.utf8.count)
        default: break
        }
    }
    return sum
}

func runCodec(writerPath: String, readerPath: String, records: Int) {
    let writer = loadSchema(writerPath)
    let reader = loadSchema(readerPath)
    let workload = Workload()
    let clock = ContinuousClock()
    func perSecond(_ duration: Duration) -> Double { Double(records) / (milliseconds(duration) / 1000) }

    // Encode (native Swift): build each record's value and append its encoding to one arena.
    var arena: [UInt8] = []
    arena.reserveCapacity(records * 80)
    var offsets: [Int] = []
    offsets.reserveCapacity(records + 1)
    offsets.append(0)
    let encodeTime = clock.measure {
        for i in 0..<records {
            do {
                try AvroBinary.encode(workload.record(i), schema: writer, into: &arena)
            } catch {
                fail("encode: \(error)")
            }
            offsets.append(arena.count)
        }
    }
    let arenaMegabytes = Double(arena.capacity) / 1_048_576

    // Encode through Avro C (AvroCCodec), checked byte-identical on the first 1,000 records.
    let cCodec: AvroCCodec
    do {
        cCodec = try AvroCCodec(schema: writer)
    } catch {
        fail("Avro C: \(error)")
    }
    var cBytes = 0
    let cEncodeTime = clock.measure {
        for i in 0..<records {
            do {
                let bytes = try cCodec.encode(workload.record(i))
                cBytes &+= bytes.count
                if i < 1000, bytes[...] != arena[offsets[i]..<offsets[i + 1]] { fail("Avro C and native encodings differ at record \(i)") }
            } catch {
                fail("Avro C encode: \(error)")
            }
        }
    }
    guard cBytes == arena.count else { fail("Avro C wrote \(cBytes) bytes, native \(arena.count)") }

    // Decode (native Swift) into values, with RSS samples at 10% and 100%.
    var sum: Int64 = 0
    var rssAt10 = 0.0
    let decodeTime = clock.measure {
        for i in 0..<records {
            do {
                sum &+= checksum(try AvroBinary.decode(arena[offsets[i]..<offsets[i + 1]], schema: writer))
            } catch {
                fail("decode record \(i): \(error)")
            }
            if i == records / 10 { rssAt10 = residentMegabytes() }
        }
    }
    let rssAt100 = residentMegabytes()

    // Decode through Avro C.
    var cSum: Int64 = 0
    let cDecodeTime = clock.measure {
        for i in 0..<records {
            do {
                cSum &+= checksum(try cCodec.decode(Array(arena[offsets[i]..<offsets[i + 1]])))
            } catch {
                fail("Avro C decode record \(i): \(error)")
            }
        }
    }
    guard cSum == sum else { fail("Avro C checksum \(cSum) differs from native \(sum)") }

    // Resolving decode: writer v1, reader v2, one plan compiled once.
    let plan = ResolutionPlan(writer: writer, reader: reader)
    var resolvedSum: Int64 = 0
    let resolveTime = clock.measure {
        for i in 0..<records {
            do {
                resolvedSum &+= checksum(try plan.decode(arena[offsets[i]..<offsets[i + 1]]))
            } catch {
                fail("resolve record \(i): \(error)")
            }
        }
    }
    // The reader's added string field (default "NL") adds 2 per record to the checksum.
    guard resolvedSum == sum + 2 * Int64(records) else { fail("resolved checksum \(resolvedSum), expected \(sum + 2 * Int64(records))") }

    print("records=\(records) encoded_bytes=\(arena.count) arena_mb=\(String(format: "%.1f", arenaMegabytes))")
    print(String(format: "encode_records_per_s=%.0f", perSecond(encodeTime)))
    print(String(format: "decode_records_per_s=%.0f", perSecond(decodeTime)))
    print(String(format: "resolve_records_per_s=%.0f", perSecond(resolveTime)))
    print(String(format: "avro_c_encode_records_per_s=%.0f", perSecond(cEncodeTime)))
    print(String(format: "avro_c_decode_records_per_s=%.0f", perSecond(cDecodeTime)))
    print("checksum=\(sum)")
    print(String(format: "rss_mb_at_10pct=%.1f", rssAt10))
    print(String(format: "rss_mb_at_100pct=%.1f", rssAt100))
    print(String(format: "peak_rss_mb=%.1f", peakResidentMegabytes()))
}

func option(_ name: String, in arguments: [String]) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "compat" where arguments.count >= 2:
    runCompat(directory: arguments[1], iterations: option("--iterations", in: arguments).flatMap { Int($0) }.map { max(1, $0) } ?? 30)
case "codec" where arguments.count >= 3:
    runCodec(writerPath: arguments[1], readerPath: arguments[2], records: option("--records", in: arguments).flatMap { Int($0) } ?? 1_000_000)
default:
    fail("usage: codec-bench compat DIR [--iterations N] | codec WRITER.avsc READER.avsc [--records N]")
}
