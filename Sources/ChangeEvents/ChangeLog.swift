#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One entry of a change-log file: an event's key and value, each a Confluent-framed Avro record.
///
/// On disk, big-endian: `u32 length of the rest | u64 commit LSN | u64 event LSN | u8 op |
/// u32 key length (0xFFFFFFFF: no key) | key | u32 value length | value`. The commit LSN is the
/// transaction's (known from its BEGIN), so that a restarted source can cut the file back to what the
/// replication slot has confirmed, and receive the rest again: no loss, no duplicates.
public struct ChangeLogEntry: Sendable, Equatable {
    public var commitLSN: UInt64
    public var eventLSN: UInt64
    public var operation: ChangeOperation
    public var key: [UInt8]?
    public var value: [UInt8]

    public init(commitLSN: UInt64, eventLSN: UInt64, operation: ChangeOperation, key: [UInt8]?, value: [UInt8]) {
        self.commitLSN = commitLSN
        self.eventLSN = eventLSN
        self.operation = operation
        self.key = key
        self.value = value
    }

    static let headerLength = 8 + 8 + 1 + 4

    func append(to bytes: inout [UInt8]) {
        let length = Self.headerLength + (key?.count ?? 0) + 4 + value.count
        bytes.appendBigEndian(UInt32(length))
        bytes.appendBigEndian(commitLSN)
        bytes.appendBigEndian(eventLSN)
        bytes.append(operation.rawValue.utf8.first ?? 0)
        if let key {
            bytes.appendBigEndian(UInt32(key.count))
            bytes.append(contentsOf: key)
        } else {
            bytes.appendBigEndian(UInt32.max)
        }
        bytes.appendBigEndian(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    /// Parses the entry that starts at `offset`; nil when the bytes there are not a whole entry (the
    /// file ends inside it), with `malformed` set when they can never become one.
    static func parse(_ bytes: UnsafeRawBufferPointer, at offset: Int, malformed: inout Bool) -> (entry: ChangeLogEntry, next: Int)? {
        func u32(_ at: Int) -> UInt32 { UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        func u64(_ at: Int) -> UInt64 { UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        guard bytes.count - offset >= 4 else { return nil }
        let length = Int(u32(offset))
        guard length >= headerLength + 4 else {
            malformed = true
            return nil
        }
        guard bytes.count - offset - 4 >= length else { return nil }
        let start = offset + 4
        let end = start + length
        guard let operation = ChangeOperation(rawValue: String(UnicodeScalar(bytes[start + 16]))) else {
            malformed = true
            return nil
        }
        var position = start + 17
        let keyLength = u32(position)
        position += 4
        var key: [UInt8]?
        if keyLength != UInt32.max {
            guard Int(keyLength) <= end - position - 4 else {
                malformed = true
                return nil
            }
            key = Array(bytes[position..<(position + Int(keyLength))])
            position += Int(keyLength)
        }
        let valueLength = Int(u32(position))
        position += 4
        guard valueLength == end - position else {
            malformed = true
            return nil
        }
        let entry = ChangeLogEntry(
            commitLSN: u64(start), eventLSN: u64(start + 8), operation: operation, key: key, value: Array(bytes[position..<end]))
        return (entry, end)
    }
}

/// Why a change-log file could not be read or written.
public struct ChangeLogError: Error, Sendable, CustomStringConvertible {
    public let description: String

    static func system(_ what: String, _ path: String) -> ChangeLogError {
        ChangeLogError(description: "\(what) \(path): \(String(cString: strerror(errno)))")
    }
}

/// Appends entries to one table's change-log file. Appends are buffered; `sync()` writes them and
/// fsyncs, after which they survive a crash (the source acknowledges an LSN only after that).
///
/// Owned by the source's one replication thread: not shared.
public final class ChangeLogWriter {
    public let path: String
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private var isDirty = false
    /// The file's length once everything queued is written.
    public private(set) var length: Int

    /// Opens (creating) `path`, first cutting it back to its entries whose commit LSN is below
    /// `confirmedLSN` (what the replication slot has confirmed; the rest will be streamed again), and
    /// a torn entry at its end. Everything from the first entry to cut on goes, so that entries after it
    /// cannot stay behind. A corrupt entry (not a torn tail) is an error: nothing is cut then. Returns
    /// the writer and how many entries were cut.
    public static func open(path: String, confirmedLSN: UInt64) throws(ChangeLogError) -> (writer: ChangeLogWriter, entriesCut: Int) {
        let existed = access(path, F_OK) == 0
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .system("cannot open", path) }
        func fail(_ what: String) -> ChangeLogError {
            let error = ChangeLogError.system(what, path)
            close(descriptor)
            return error
        }
        if !existed {
            // The new file's directory entry must be durable too, or an acknowledged event could vanish with it.
            guard fsync(descriptor) == 0, syncDirectory(of: path) else { throw fail("cannot make durable") }
        }
        // Scan in chunks: the file can be large.
        var keep = 0
        var cut = 0
        do {
            let reader = try ChangeLogReader(path: path)
            while let entry = try reader.next() {
                if cut == 0 && (entry.commitLSN < confirmedLSN || entry.commitLSN == 0) {
                    keep = reader.offset
                } else {
                    cut += 1
                }
            }
        } catch {
            close(descriptor)
            throw error
        }
        var size = stat()
        guard fstat(descriptor, &size) == 0 else { throw fail("cannot stat") }
        if keep < Int(size.st_size) {
            guard ftruncate(descriptor, off_t(keep)) == 0, fsync(descriptor) == 0 else { throw fail("cannot truncate") }
        }
        guard lseek(descriptor, 0, SEEK_END) >= 0 else { throw fail("cannot seek") }
        return (ChangeLogWriter(path: path, descriptor: descriptor, length: keep), cut)
    }

    /// fsync of the directory that holds `path`.
    static func syncDirectory(of path: String) -> Bool {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let descriptor = Glibc.open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return fsync(descriptor) == 0
    }

    private init(path: String, descriptor: Int32, length: Int) {
        self.path = path
        self.descriptor = descriptor
        self.length = length
        buffer.reserveCapacity(1 << 16)
    }

    deinit { close(descriptor) }

    /// Queues an entry (written at the next `flush` or `sync`).
    public func append(_ entry: ChangeLogEntry) throws(ChangeLogError) {
        let before = buffer.count
        entry.append(to: &buffer)
        length += buffer.count - before
        isDirty = true
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// Writes queued entries to the file (not yet durable). On a failure the bytes already written
    /// leave the queue, so a retry cannot write them twice.
    public func flush() throws(ChangeLogError) {
        var offset = 0
        defer { buffer.removeFirst(offset) }
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .system("cannot write", path)
            }
            offset += written
        }
    }

    /// Writes queued entries and makes everything written durable.
    public func sync() throws(ChangeLogError) {
        try flush()
        guard isDirty else { return }
        guard fdatasync(descriptor) == 0 else { throw .system("cannot fsync", path) }
        isDirty = false
    }

    /// Drops everything after `length` (queued or written), durably: how a failed snapshot is undone.
    public func truncate(to newLength: Int) throws(ChangeLogError) {
        buffer.removeAll(keepingCapacity: true)
        guard ftruncate(descriptor, off_t(newLength)) == 0, fsync(descriptor) == 0, lseek(descriptor, 0, SEEK_END) >= 0 else {
            throw .system("cannot truncate", path)
        }
        length = newLength
        isDirty = false
    }
}

/// Reads a change-log file's entries in order; with `follow`, waits for more at the end.
public final class ChangeLogReader {
    public let path: String
    private let descriptor: Int32
    private var pending: [UInt8] = []
    private var pendingOffset = 0
    /// Bytes of the file before `pending`.
    private var consumed = 0

    /// The file offset just after the last entry returned.
    public var offset: Int { consumed + pendingOffset }

    public init(path: String) throws(ChangeLogError) {
        self.path = path
        descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .system("cannot open", path) }
    }

    deinit { close(descriptor) }

    /// The next entry; nil at the end of the file (or at a torn entry still being written).
    public func next() throws(ChangeLogError) -> ChangeLogEntry? {
        while true {
            var malformed = false
            let parsed = pending.withUnsafeBytes { ChangeLogEntry.parse($0, at: pendingOffset, malformed: &malformed) }
            if let (entry, next) = parsed {
                pendingOffset = next
                if pendingOffset > 1 << 20 {
                    pending.removeFirst(pendingOffset)
                    consumed += pendingOffset
                    pendingOffset = 0
                }
                return entry
            }
            if malformed { throw ChangeLogError(description: "\(path): malformed entry at byte offset \(pendingOffset) of the unread part") }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .system("cannot read", path)
            }
            if count == 0 {
                // A restarted source cuts unacknowledged entries off the end; a reader that had read
                // past the new end must not go on from the middle of whatever is written next.
                var size = stat()
                if fstat(descriptor, &size) == 0, Int(size.st_size) < consumed + pending.count {
                    throw ChangeLogError(description: "\(path) was cut back to \(size.st_size) bytes after \(offset) had been read (a restarted source dropped unacknowledged events); read it again from the start")
                }
                return nil
            }
            pending.append(contentsOf: chunk[0..<count])
        }
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}
