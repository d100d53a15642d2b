import AvroCodec
import CFuzzer

#if canImport(Glibc)
import Glibc
#endif

/// Runs libFuzzer's loop (with the process's command-line flags) over `callback`; never returns.
public func runFuzzer(_ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
    var count = CommandLine.argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    let status = LLVMFuzzerRunDriver(&count, &arguments, callback)
    exit(status)
}

/// A property every input must keep; a violation stops the fuzzer with the input saved (libFuzzer reports the
/// trap as a crash).
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("property violated: \(message())") }
}

/// The input's bytes.
public func bytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
    Array(UnsafeBufferPointer(start: data, count: size))
}

/// Schemas the binary and frame targets decode with: every type, logical types, recursion, and evolved pairs.
public enum FuzzSchemas {
    public static let texts: [String] = [
        #"{"type":"record","name":"All","fields":[{"name":"n","type":"null"},{"name":"b","type":"boolean"},{"name":"i","type":"int"},{"name":"l","type":"long"},{"name":"f","type":"float"},{"name":"d","type":"double"},{"name":"by","type":"bytes"},{"name":"s","type":"string"},{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},{"name":"a","type":{"type":"array","items":["null","long"]}},{"name":"m","type":{"type":"map","values":"string"}},{"name":"u","type":["null","string",{"type":"array","items":"int"}]},{"name":"x","type":{"type":"fixed","name":"F","size":3}},{"name":"next","type":["null","All"]}]}"#,
        #"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"status","type":{"type":"enum","name":"Status","symbols":["ACTIVE","SUSPENDED"]}},{"name":"created_at","type":{"type":"long","logicalType":"timestamp-micros"}}]}"#,
        #"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"status","type":{"type":"enum","name":"Status","symbols":["ACTIVE","SUSPENDED","CLOSED"],"default":"ACTIVE"}},{"name":"created_at","type":{"type":"long","logicalType":"timestamp-micros"}},{"name":"email","type":["null","string"],"default":null}]}"#,
        #"{"type":"record","name":"Money","fields":[{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":20,"scale":4}},{"name":"fixedAmount","type":{"type":"fixed","name":"D","size":9,"logicalType":"decimal","precision":18,"scale":2}},{"name":"day","type":{"type":"int","logicalType":"date"}},{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"id","type":{"type":"string","logicalType":"uuid"}},{"name":"t","type":{"type":"int","logicalType":"time-millis"}}]}"#,
        #"{"type":"record","name":"Promote","fields":[{"name":"a","type":"int"},{"name":"b","type":"long"},{"name":"c","type":"float"},{"name":"s","type":"string"},{"name":"y","type":"bytes"},{"name":"u","type":["int","string"]}]}"#,
        #"{"type":"record","name":"Promote","fields":[{"name":"a","type":"double"},{"name":"b","type":"float"},{"name":"c","type":"double"},{"name":"s","type":"bytes"},{"name":"y","type":"string"},{"name":"u","type":["long","string","null"]},{"name":"extra","type":{"type":"map","values":"int"},"default":{}}]}"#,
        #"["null","int",{"type":"array","items":{"type":"map","values":["null","double"]}}]"#,
    ]

    public static let schemas: [AvroSchema] = texts.map { text in
        do { return try AvroSchema(parsing: text) } catch { fatalError("fuzz schema does not parse: \(error)") }
    }

    /// (writer, reader) pairs the resolution plan is fuzzed with: identical, evolved both ways, promoted.
    public static let pairs: [(writer: Int, reader: Int)] = [(0, 0), (1, 2), (2, 1), (3, 3), (4, 5), (6, 6)]
}
