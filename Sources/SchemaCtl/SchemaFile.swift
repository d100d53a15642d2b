import AvroCodec

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A schema file read from disk and parsed.
struct SchemaFile {
    let path: String
    let schema: AvroSchema

    /// Reads and parses `path`; any failure is an `InputError` naming the file and the JSON path.
    init(path: String) throws {
        self.path = path
        let bytes = try SchemaFile.readBytes(path)
        do {
            schema = try AvroSchema(parsing: bytes)
        } catch {
            throw InputError(description: "\(path): invalid Avro schema \(error.description)")
        }
    }

    /// The whole file, or `-` for standard input.
    static func readBytes(_ path: String) throws -> [UInt8] {
        let file: UnsafeMutablePointer<FILE>?
        if path == "-" {
            file = fdopen(dup(0), "rb")
        } else {
            file = fopen(path, "rb")
        }
        guard let file else {
            throw InputError(description: "\(path): cannot read file: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
            if count < chunk.count {
                if ferror(file) != 0 {
                    throw InputError(description: "\(path): read error: \(String(cString: strerror(errno)))")
                }
                break
            }
        }
        return bytes
    }
}
