import AvroCodec
import PostgresClient

#if canImport(Glibc)
    import Glibc
#endif

/// What the source itself keeps durable about its slot, beside the change logs: whether an initial
/// snapshot is under way (and where each log stood before it, to undo a partial one), whether the slot
/// has ever been used. PostgreSQL's slot alone cannot say these: a snapshot killed half-way leaves a
/// slot that looks like any other, and a dropped slot leaves nothing at all.
///
/// One small JSON file per slot in the output directory, replaced atomically (write, fsync, rename,
/// fsync the directory), so a crash leaves the old state or the new one, never a torn one.
struct SourceState: Equatable {
    enum SnapshotProgress: String {
        /// No snapshot was asked for with this slot, or the state predates snapshots.
        case none
        /// Started and not finished: the next start undoes it and takes it again.
        case running
        case done
    }

    var snapshot = SnapshotProgress.none
    /// Each log's length ("schema.table" → bytes) before the running snapshot wrote to it.
    var lengthsBeforeSnapshot: [String: Int] = [:]
    /// With Kafka exactly once: the slot's consistent point once the running snapshot's rows are all read,
    /// written before its Kafka transaction commits (0: not that far). A start that finds the offsets topic
    /// at or past it knows the snapshot committed, and records it done instead of taking it again.
    var snapshotCommitLSN: UInt64 = 0
    /// Whether a slot was created (or found) and used by this source: a later start that finds no
    /// slot then knows that changes may have been lost in between.
    var hasUsedSlot = false
    /// Incremental snapshots asked for and not finished, in order: the first is being read.
    var incremental: [IncrementalProgress] = []
    /// The tables ("schema.table", quoted) whose rows a snapshot (initial or incremental) has read with
    /// this slot; nil when the state predates this record.
    var snapshotted: Set<String>?
    /// The end LSN of the commit `incremental` and `snapshotted` are as of (0: not tied to a commit).
    /// They are written before that commit's position is recorded (`DurablePosition`), so a crash in
    /// between leaves them ahead of it: a start then takes `earlierIncremental` and
    /// `earlierSnapshotted`, which were in force at the position recorded before.
    var incrementalAsOf: UInt64 = 0
    var earlierIncremental: [IncrementalProgress] = []
    /// The commit `earlierIncremental` is as of (it may be past a failover's switch point too).
    var earlierIncrementalAsOf: UInt64 = 0
    var earlierSnapshotted: Set<String>?

    /// An incremental snapshot of one table: how far its chunks are durable.
    struct IncrementalProgress: Equatable {
        /// "schema.table", quoted as `TableName.quoted`.
        var table: String
        /// The last key of the last chunk whose rows are durable (the key columns' text); nil: none yet.
        var lastKey: [String?]?
        var rowsRead = 0
        /// The table's OID when its first chunk was read: a table dropped and created again under the
        /// same name is read again from the start.
        var relationID: UInt32?

        var json: JSONValue {
            .object([
                ("table", .string(table)),
                ("lastKey", lastKey.map { .array($0.map { $0.map(JSONValue.string) ?? .null }) } ?? .null),
                ("rowsRead", .integer(Int64(rowsRead))),
                ("relation", relationID.map { .integer(Int64($0)) } ?? .null),
            ])
        }

        init(table: String, lastKey: [String?]? = nil, rowsRead: Int = 0, relationID: UInt32? = nil) {
            self.table = table
            self.lastKey = lastKey
            self.rowsRead = rowsRead
            self.relationID = relationID
        }

        init?(json: JSONValue) {
            guard let table = json["table"]?.stringValue else { return nil }
            self.table = table
            switch json["lastKey"] {
            case .array(let values)?:
                var key: [String?] = []
                for value in values {
                    switch value {
                    case .string(let text): key.append(text)
                    case .null: key.append(nil)
                    default: return nil
                    }
                }
                lastKey = key
            case .null?, nil: lastKey = nil
            default: return nil
            }
            if case .integer(let rows)? = json["rowsRead"], rows >= 0 { rowsRead = Int(rows) }
            switch json["relation"] {
            case .integer(let oid)?:
                guard let relation = UInt32(exactly: oid) else { return nil }
                relationID = relation
            case .null?, nil: relationID = nil
            default: return nil
            }
        }
    }

    /// A set of table names as the state file writes it (sorted).
    static func namesJSON(_ names: Set<String>) -> JSONValue { .array(names.sorted().map(JSONValue.string)) }

    /// A set of table names as `namesJSON` writes it: nil when the member does not parse; `.some(nil)` when it is
    /// absent (unknown: written before the record existed, not empty).
    static func names(_ value: JSONValue?) -> Set<String>?? {
        guard let value else { return .some(nil) }
        guard let names = elements(value, \.stringValue) else { return nil }
        return .some(Set(names))
    }

    var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("format", .integer(1)),
            ("snapshot", .string(snapshot.rawValue)),
            ("lengthsBeforeSnapshot", .object(lengthsBeforeSnapshot.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.integer(Int64($0.value))) })),
            ("hasUsedSlot", .bool(hasUsedSlot)),
            ("snapshotCommitLSN", .string(String(snapshotCommitLSN))),
            ("incremental", .array(incremental.map(\.json))),
            ("incrementalAsOf", .string(String(incrementalAsOf))),
            ("earlierIncremental", .array(earlierIncremental.map(\.json))),
            ("earlierIncrementalAsOf", .string(String(earlierIncrementalAsOf))),
        ]
        if let snapshotted { members.append(("snapshotted", Self.namesJSON(snapshotted))) }
        if let earlierSnapshotted { members.append(("earlierSnapshotted", Self.namesJSON(earlierSnapshotted))) }
        return .object(members)
    }

    init() {}

    init?(json: JSONValue) {
        guard case .integer(1)? = json["format"], let progress = json["snapshot"]?.stringValue.flatMap(SnapshotProgress.init(rawValue:)) else {
            return nil
        }
        snapshot = progress
        if case .object(let lengths)? = json["lengthsBeforeSnapshot"] {
            for member in lengths.members {
                guard case .integer(let length) = member.value, length >= 0 else { return nil }
                lengthsBeforeSnapshot[member.key] = Int(length)
            }
        }
        if case .bool(let used)? = json["hasUsedSlot"] { hasUsedSlot = used }
        guard let incremental = Self.elements(json["incremental"], IncrementalProgress.init(json:)),
            let earlierIncremental = Self.elements(json["earlierIncremental"], IncrementalProgress.init(json:)),
            let incrementalAsOf = Self.lsn(json["incrementalAsOf"]), let earlierIncrementalAsOf = Self.lsn(json["earlierIncrementalAsOf"]),
            let snapshotCommitLSN = Self.lsn(json["snapshotCommitLSN"])
        else { return nil }
        self.snapshotCommitLSN = snapshotCommitLSN
        self.incremental = incremental
        self.earlierIncremental = earlierIncremental
        self.incrementalAsOf = incrementalAsOf
        self.earlierIncrementalAsOf = earlierIncrementalAsOf
        guard let snapshotted = Self.names(json["snapshotted"]), let earlierSnapshotted = Self.names(json["earlierSnapshotted"]) else { return nil }
        self.snapshotted = snapshotted
        self.earlierSnapshotted = earlierSnapshotted
    }

    /// The elements of an array member, each parsed (none when the member is absent); nil when it is not
    /// an array or an element does not parse: a damaged state file is refused, not read in part.
    static func elements<Element>(_ value: JSONValue?, _ parse: (JSONValue) -> Element?) -> [Element]? {
        guard let value else { return [] }
        guard case .array(let values) = value else { return nil }
        var elements: [Element] = []
        for value in values {
            guard let element = parse(value) else { return nil }
            elements.append(element)
        }
        return elements
    }

    /// An LSN member, written as a decimal string (0 when absent); nil when it is something else.
    static func lsn(_ value: JSONValue?) -> UInt64? {
        guard let value else { return 0 }
        return value.stringValue.flatMap { UInt64($0) }
    }

    /// The state file of `slot` in `directory`.
    static func path(directory: String, slot: String) -> String {
        "\(directory)/.wal-source.\(slot).state"
    }

    /// The state at `path`; nil when there is none yet. An unreadable file is an error, not a fresh start.
    static func read(path: String) throws(WALSourceError) -> SourceState? {
        guard let file = fopen(path, "rb") else {
            if errno == ENOENT { return nil }
            throw .configuration("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            bytes.append(contentsOf: chunk[0..<count])
            if count < chunk.count { break }
        }
        guard let json = try? JSONParser.parse(bytes: bytes), let state = SourceState(json: json) else {
            throw .configuration("\(path) is not a state file this wal-source can read; move it away only if you know the slot's history")
        }
        return state
    }

    /// Replaces the state at `path` durably.
    func write(path: String) throws(WALSourceError) {
        let temporary = path + ".tmp"
        let bytes = Array((json.compactText + "\n").utf8)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .configuration("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                close(descriptor)
                throw .configuration("cannot write \(temporary): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard synced, rename(temporary, path) == 0 else {
            throw .configuration("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let directoryDescriptor = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else { throw .configuration("cannot open \(directory) to make \(path) durable") }
        defer { close(directoryDescriptor) }
        guard fsync(directoryDescriptor) == 0 else { throw .configuration("cannot make \(path) durable: \(String(cString: strerror(errno)))") }
    }
}

/// The end LSN of the last transaction whose events are durable in every change log: the source's
/// own record of its position. PostgreSQL 15 keeps a logical slot's confirmed position only in memory
/// until something else makes it save the slot, so after a server restart the slot may stand before
/// what the source already made durable; the source then skips what it has rather than cutting the
/// logs back and writing it again (a reader following a log would read it twice).
///
/// The record says which server history the LSN belongs to: the PostgreSQL system identifier and the
/// timeline it was written on. An LSN of another cluster means nothing here, and after a failover the
/// LSNs past the old timeline's end are another history's (`WALSourceEngine.checkPositionHistory`).
///
/// Thirty-two bytes at the start of a file, rewritten in place and fdatasync'ed at every group commit
/// that wrote events (and set to a new slot's consistent point when the slot is created): the LSN, the
/// system identifier, the timeline and a check word, so a torn write reads as no record (then the
/// slot's position decides) rather than a wrong one. One write and one sync per group commit, not a
/// rename. A sixteen-byte record of an earlier release (LSN and check word) reads as an LSN of an
/// unknown history.
final class DurablePosition {
    struct Record: Equatable {
        let lsn: UInt64
        /// Nil in a record of an earlier release.
        let systemID: UInt64?
        let timeline: UInt32?
    }

    let path: String
    private let descriptor: Int32
    /// The history new records are written for (`IDENTIFY_SYSTEM` at the start).
    var systemID: UInt64 = 0
    var timeline: UInt32 = 0

    init(path: String) throws(WALSourceError) {
        self.path = path
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .configuration("cannot open \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(descriptor) }

    private static func check(_ lsn: UInt64) -> UInt64 { (lsn ^ 0x5741_4C2D_534F_5552) &* 0x9E37_79B9_7F4A_7C15 }

    private static func check(_ lsn: UInt64, _ system: UInt64, _ timeline: UInt64) -> UInt64 {
        var hash = check(lsn)
        hash = (hash ^ system) &* 0xBF58_476D_1CE4_E5B9
        hash = (hash ^ timeline ^ 0x32) &* 0x94D0_49BB_1331_11EB
        return hash ^ (hash >> 31)
    }

    /// The record, or nil when there is none (a new or torn file).
    func readRecord() -> Record? {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let count = withUnsafeMutableBytes(of: &words) { pread(descriptor, $0.baseAddress, 32, 0) }
        let lsn = UInt64(littleEndian: words.0)
        if count == 32 {
            let system = UInt64(littleEndian: words.1)
            let timeline = UInt64(littleEndian: words.2)
            if UInt64(littleEndian: words.3) == Self.check(lsn, system, timeline), timeline <= UInt64(UInt32.max) {
                return Record(lsn: lsn, systemID: system, timeline: UInt32(timeline))
            }
        }
        // A record of an earlier release: sixteen bytes.
        guard count >= 16, words.0 != 0 || words.1 != 0, UInt64(littleEndian: words.1) == Self.check(lsn) else { return nil }
        return Record(lsn: lsn, systemID: nil, timeline: nil)
    }

    /// The recorded LSN, or nil when there is none.
    func read() -> UInt64? { readRecord()?.lsn }

    /// Records `lsn` (of `systemID` and `timeline`) durably.
    func record(_ lsn: UInt64) throws(WALSourceError) {
        var words = (lsn.littleEndian, systemID.littleEndian, UInt64(timeline).littleEndian, Self.check(lsn, systemID, UInt64(timeline)).littleEndian)
        let count = withUnsafeBytes(of: &words) { pwrite(descriptor, $0.baseAddress, 32, 0) }
        guard count == 32, fdatasync(descriptor) == 0 else {
            throw .configuration("cannot record the durable position in \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Which timeline a server history switched away from `timeline` at, from a `TIMELINE_HISTORY`
    /// file ("parent-timeline<TAB>switch-LSN<TAB>reason" a line); nil when it has no such line.
    static func switchPoint(leaving timeline: UInt32, history: String) -> UInt64? {
        for line in history.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 2, let parent = UInt32(fields[0].trimming(" ")), parent == timeline,
                let point = LSN(fields[1].trimming(" "))
            else { continue }
            return point.value
        }
        return nil
    }
}

extension WALSourceEngine.IncrementalRecord {
    /// The progress as JSON members, as the state file writes them (`snapshotted` only when known).
    var jsonMembers: [(String, JSONValue)] {
        [("incremental", .array(queue.map(\.json)))] + (snapshotted.map { [("snapshotted", SourceState.namesJSON($0))] } ?? [])
    }

    /// The progress in an object with `jsonMembers`; nil when a member does not parse.
    init?(json: JSONValue) {
        guard let queue = SourceState.elements(json["incremental"], SourceState.IncrementalProgress.init(json:)),
            let snapshotted = SourceState.names(json["snapshotted"])
        else { return nil }
        self.init(queue: queue, snapshotted: snapshotted)
    }
}
