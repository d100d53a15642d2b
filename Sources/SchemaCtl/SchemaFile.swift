import AvroCodec
import Synchronization

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

    /// Reads and parses every file of `paths` on all cores, returning them in the order given.
    static func loadAll(_ paths: [String]) async throws -> [SchemaFile] {
        try await loadAll(paths) { _, file in file }
    }

    /// Reads and parses every file of `paths` on all cores and applies `then` to each as soon as it is
    /// parsed, on the same thread; returns the results in the order of `paths`.
    ///
    /// Parsing is nearly all of `schemactl check` with many `--against` files (measured with callgrind
    /// on 101 files of a 1,000-field record: 87% of the instructions), and files parse independently;
    /// so does checking one version, which `then` does while the file is still in the core's cache.
    /// Workers take the next file from a shared counter, so a core slowed by other work takes fewer.
    /// Every file is attempted; the error thrown is that of the first failing file in `paths` order,
    /// the one a one-by-one loop would have thrown, so messages do not depend on thread timing.
    static func loadAll<Result: Sendable>(
        _ paths: [String], then: @escaping @Sendable (Int, SchemaFile) -> Result
    ) async throws -> [Result] {
        let workerCount = min(paths.count, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        if workerCount <= 1 {
            return try paths.enumerated().map { index, path in then(index, try SchemaFile(path: path)) }
        }
        let next = FileCounter()
        var results = [Swift.Result<Result, any Error>?](repeating: nil, count: paths.count)
        await withTaskGroup(of: [(Int, Swift.Result<Result, any Error>)].self) { group in
            for _ in 0..<workerCount {
                group.addTask {
                    var loaded: [(Int, Swift.Result<Result, any Error>)] = []
                    while true {
                        let index = next.value.add(1, ordering: .relaxed).oldValue
                        guard index < paths.count else { return loaded }
                        loaded.append((index, Swift.Result { then(index, try SchemaFile(path: paths[index])) }))
                    }
                }
            }
            for await loaded in group {
                for (index, result) in loaded { results[index] = result }
            }
        }
        var values: [Result] = []
        values.reserveCapacity(paths.count)
        for result in results {
            // Every index below paths.count was taken by exactly one worker, so none is nil.
            guard let result else { preconditionFailure("a schema file was not loaded") }
            values.append(try result.get())
        }
        return values
    }

    /// The whole file, or `-` for standard input.
    /// More than this is no schema (the registry takes 16 MiB request bodies): a file past it, or a link to
    /// `/dev/zero`, is an error instead of memory without end.
    static let maximumBytes = 64 * 1024 * 1024

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
        // A regular file is read in one call of the size fstat reports, straight into the array (the
        // 64 KiB chunk loop below allocated and zeroed a chunk, then copied every byte once more).
        // The loop still runs afterwards, for standard input and for a file that grew meanwhile.
        var bytes: [UInt8] = []
        var status = stat()
        let tooLarge = InputError(description: "\(path): larger than \(maximumBytes / 1024 / 1024) MiB, not a schema file")
        if fstat(fileno(file), &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_size > 0 {
            let size = Int(status.st_size)
            if size > maximumBytes { throw tooLarge }
            bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
                initialized = fread(buffer.baseAddress, 1, size, file)
            }
            if bytes.count < size {
                if ferror(file) != 0 {
                    throw InputError(description: "\(path): read error: \(String(cString: strerror(errno)))")
                }
                return bytes
            }
            let probe = fgetc(file)
            if probe == EOF {
                if ferror(file) != 0 {
                    throw InputError(description: "\(path): read error: \(String(cString: strerror(errno)))")
                }
                return bytes
            }
            bytes.append(UInt8(truncatingIfNeeded: probe))
        }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
            if bytes.count > maximumBytes { throw tooLarge }
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

/// The index of the next file a `SchemaFile.loadAll` worker takes. A class, so the workers' closures
/// can share one atomic (a non-copyable `Atomic` cannot be captured by an escaping closure).
private final class FileCounter: Sendable {
    let value = Atomic<Int>(0)
}
