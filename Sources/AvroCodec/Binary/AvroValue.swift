/// An Avro datum, shaped by a schema.
///
/// Records hold their field values in the schema's field order; unions say which branch they use.
public enum AvroValue: Sendable, Equatable {
    case null
    case boolean(Bool)
    case int(Int32)
    case long(Int64)
    case float(Float)
    case double(Double)
    case bytes([UInt8])
    case string(String)
    case record([AvroValue])
    case enumeration(String)
    case array([AvroValue])
    case map([MapEntry])
    indirect case union(branch: Int, value: AvroValue)
    case fixed([UInt8])

    /// One key/value pair of a map, in the order written.
    public struct MapEntry: Sendable, Equatable {
        public var key: String
        public var value: AvroValue

        public init(key: String, value: AvroValue) {
            self.key = key
            self.value = value
        }
    }

    /// NaN compares equal to NaN here, so that round trips of NaN are testable values.
    public static func == (lhs: AvroValue, rhs: AvroValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.boolean(let a), .boolean(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.long(let a), .long(let b)): return a == b
        case (.float(let a), .float(let b)): return a == b || (a.isNaN && b.isNaN)
        case (.double(let a), .double(let b)): return a == b || (a.isNaN && b.isNaN)
        case (.bytes(let a), .bytes(let b)), (.fixed(let a), .fixed(let b)): return a == b
        case (.string(let a), .string(let b)), (.enumeration(let a), .enumeration(let b)): return a == b
        case (.record(let a), .record(let b)), (.array(let a), .array(let b)): return a == b
        case (.map(let a), .map(let b)): return a == b
        case (.union(let i, let a), .union(let j, let b)): return i == j && a == b
        default: return false
        }
    }
}

/// Why a value could not be encoded or bytes decoded, and where (a path of field names and indexes).
public struct AvroCodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let message: String

    public var description: String { "at \(path.isEmpty ? "/" : path): \(message)" }

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// The same error one level further out: `segment` (a field name or an index) is prepended to the
    /// path. Decoders build paths this way while the error unwinds, so the success path keeps none.
    func inside(_ segment: String) -> AvroCodingError {
        AvroCodingError(path: "/" + segment + path, message: message)
    }

    func inside(_ index: Int) -> AvroCodingError { inside(String(index)) }
}
