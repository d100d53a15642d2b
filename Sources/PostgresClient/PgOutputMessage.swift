/// One message of PostgreSQL's built-in `pgoutput` logical decoding plugin, protocol version 1
/// ("Logical Replication Message Formats" in the PostgreSQL manual).
///
/// A transaction arrives as `begin`, then any `relation`/`type` descriptions the receiver has not
/// seen yet in this session, then the row changes, then `commit`:
///
/// ```swift
/// switch try PgOutputMessage.decode(bytes) {
/// case .relation(let relation): relations[relation.id] = relation
/// case .insert(let insert): emit(relations[insert.relationID], insert.new)
/// case .commit(let commit): acknowledge(commit.endLSN)
/// default: break
/// }
/// ```
public enum PgOutputMessage: Sendable, Equatable {
    /// Starts a transaction ('B').
    case begin(Begin)
    /// Ends a transaction ('C').
    case commit(Commit)
    /// Names the replication origin the transaction came from ('O').
    case origin(Origin)
    /// Describes a table's columns before its first change in this session, and again after it changes ('R').
    case relation(Relation)
    /// Describes a non-built-in column type ('Y').
    case type(TypeDescription)
    /// A new row ('I').
    case insert(Insert)
    /// A changed row ('U').
    case update(Update)
    /// A removed row ('D').
    case delete(Delete)
    /// One TRUNCATE of one or more tables ('T').
    case truncate(Truncate)
    /// A logical decoding message written with `pg_logical_emit_message` ('M'); sent only when
    /// replication was started with the `messages` option.
    case message(LogicalMessage)

    /// The start of a transaction.
    public struct Begin: Sendable, Equatable {
        /// The LSN of the transaction's commit record.
        public var finalLSN: LSN
        /// Commit time in microseconds since 2000-01-01 UTC (see `postgresEpochToUnixMicros`).
        public var commitTime: Int64
        /// The transaction id.
        public var xid: UInt32

        /// Creates a Begin message.
        public init(finalLSN: LSN, commitTime: Int64, xid: UInt32) {
            self.finalLSN = finalLSN
            self.commitTime = commitTime
            self.xid = xid
        }
    }

    /// The end of a transaction.
    public struct Commit: Sendable, Equatable {
        /// Unused by PostgreSQL so far (0).
        public var flags: UInt8
        /// The LSN of the commit record.
        public var commitLSN: LSN
        /// The LSN just past the commit record: the position to confirm once the transaction is durable downstream.
        public var endLSN: LSN
        /// Commit time in microseconds since 2000-01-01 UTC.
        public var commitTime: Int64

        /// Creates a Commit message.
        public init(flags: UInt8, commitLSN: LSN, endLSN: LSN, commitTime: Int64) {
            self.flags = flags
            self.commitLSN = commitLSN
            self.endLSN = endLSN
            self.commitTime = commitTime
        }
    }

    /// The replication origin of the current transaction.
    public struct Origin: Sendable, Equatable {
        /// The LSN of the commit on the origin server.
        public var commitLSN: LSN
        /// The origin's name.
        public var name: String

        /// Creates an Origin message.
        public init(commitLSN: LSN, name: String) {
            self.commitLSN = commitLSN
            self.name = name
        }
    }

    /// One column of a relation description.
    public struct RelationColumn: Sendable, Equatable {
        /// Whether the column is part of the replica identity (the key sent with updates and deletes).
        public var isKey: Bool
        /// The column name.
        public var name: String
        /// The OID of the column's type (`pg_type.oid`), e.g. 23 for `integer`, 25 for `text`.
        public var typeOID: UInt32
        /// The type modifier (`atttypmod`), e.g. the length of a `varchar(n)` plus 4; -1 when none.
        public var typeModifier: Int32

        /// Creates a relation column.
        public init(isKey: Bool, name: String, typeOID: UInt32, typeModifier: Int32) {
            self.isKey = isKey
            self.name = name
            self.typeOID = typeOID
            self.typeModifier = typeModifier
        }
    }

    /// A table's shape, sent before the first change to it in a session and again after DDL on it.
    public struct Relation: Sendable, Equatable {
        /// The table's OID, used by later change messages.
        public var id: UInt32
        /// The schema name; empty for `pg_catalog`.
        public var namespace: String
        /// The table name.
        public var name: String
        /// `relreplident`: 'd' default (primary key), 'n' nothing, 'f' full row, 'i' a chosen index.
        public var replicaIdentity: UInt8
        /// The published columns, in tuple order.
        public var columns: [RelationColumn]

        /// Creates a relation description.
        public init(id: UInt32, namespace: String, name: String, replicaIdentity: UInt8, columns: [RelationColumn]) {
            self.id = id
            self.namespace = namespace
            self.name = name
            self.replicaIdentity = replicaIdentity
            self.columns = columns
        }
    }

    /// A column type that is not built in, sent before the first relation that uses it.
    public struct TypeDescription: Sendable, Equatable {
        /// The type's OID.
        public var id: UInt32
        /// The schema name; empty for `pg_catalog`.
        public var namespace: String
        /// The type name.
        public var name: String

        /// Creates a type description.
        public init(id: UInt32, namespace: String, name: String) {
            self.id = id
            self.namespace = namespace
            self.name = name
        }
    }

    /// One column value of a row.
    public enum TupleColumn: Sendable, Equatable {
        /// SQL NULL.
        case null
        /// A TOASTed value the change did not touch: the server does not resend it.
        case unchangedToast
        /// The value in the type's text output format (database encoding).
        case text([UInt8])
        /// The value in the type's binary format (only with the `binary` option).
        case binary([UInt8])

        /// The text value as a string, or nil when the column is not `.text` or not valid UTF-8.
        public var string: String? {
            guard case .text(let bytes) = self else { return nil }
            return String(validating: bytes, as: UTF8.self)
        }
    }

    /// A row: one value per column of the relation, in relation column order.
    public typealias TupleData = [TupleColumn]

    /// The old row sent with an update or delete.
    public struct OldTuple: Sendable, Equatable {
        /// What the old row holds.
        public enum Kind: UInt8, Sendable, Equatable {
            /// 'K': only the replica identity key columns are set, the others are null.
            case key = 0x4B
            /// 'O': the whole old row (replica identity FULL).
            case full = 0x4F
        }

        /// Whether this is the key only or the full old row.
        public var kind: Kind
        /// The column values.
        public var columns: TupleData

        /// Creates an old row.
        public init(kind: Kind, columns: TupleData) {
            self.kind = kind
            self.columns = columns
        }
    }

    /// A new row.
    public struct Insert: Sendable, Equatable {
        /// The OID of the relation, as described by an earlier `relation` message.
        public var relationID: UInt32
        /// The new row.
        public var new: TupleData

        /// Creates an Insert message.
        public init(relationID: UInt32, new: TupleData) {
            self.relationID = relationID
            self.new = new
        }
    }

    /// A changed row.
    public struct Update: Sendable, Equatable {
        /// The OID of the relation.
        public var relationID: UInt32
        /// The old key (when it changed) or the full old row (replica identity FULL); nil when the key is unchanged.
        public var old: OldTuple?
        /// The new row; untouched TOASTed columns are `.unchangedToast`.
        public var new: TupleData

        /// Creates an Update message.
        public init(relationID: UInt32, old: OldTuple?, new: TupleData) {
            self.relationID = relationID
            self.old = old
            self.new = new
        }
    }

    /// A removed row.
    public struct Delete: Sendable, Equatable {
        /// The OID of the relation.
        public var relationID: UInt32
        /// The old key, or the full old row with replica identity FULL.
        public var old: OldTuple

        /// Creates a Delete message.
        public init(relationID: UInt32, old: OldTuple) {
            self.relationID = relationID
            self.old = old
        }
    }

    /// A TRUNCATE of one or more tables.
    public struct Truncate: Sendable, Equatable {
        /// Option bits: 1 CASCADE, 2 RESTART IDENTITY.
        public var options: UInt8
        /// The OIDs of the truncated relations.
        public var relationIDs: [UInt32]

        /// Whether the TRUNCATE was CASCADE.
        public var isCascade: Bool { options & 1 != 0 }
        /// Whether the TRUNCATE restarted identity sequences.
        public var isRestartIdentity: Bool { options & 2 != 0 }

        /// Creates a Truncate message.
        public init(options: UInt8, relationIDs: [UInt32]) {
            self.options = options
            self.relationIDs = relationIDs
        }
    }

    /// A message written with `pg_logical_emit_message`.
    public struct LogicalMessage: Sendable, Equatable {
        /// Whether the message was written inside (and commits with) a transaction.
        public var isTransactional: Bool
        /// The LSN of the message.
        public var lsn: LSN
        /// The prefix given by the writer.
        public var prefix: String
        /// The content.
        public var content: [UInt8]

        /// Creates a logical decoding message.
        public init(isTransactional: Bool, lsn: LSN, prefix: String, content: [UInt8]) {
            self.isTransactional = isTransactional
            self.lsn = lsn
            self.prefix = prefix
            self.content = content
        }
    }

    /// Seconds from the Unix epoch (1970-01-01) to the PostgreSQL epoch (2000-01-01).
    public static let postgresEpochOffsetSeconds: Int64 = 946_684_800

    /// Converts microseconds since 2000-01-01 UTC to microseconds since 1970-01-01 UTC.
    /// Saturates instead of overflowing, so PostgreSQL's `infinity` timestamps stay at the extremes.
    public static func postgresEpochToUnixMicros(_ postgresMicros: Int64) -> Int64 {
        let (sum, overflow) = postgresMicros.addingReportingOverflow(postgresEpochOffsetSeconds * 1_000_000)
        return overflow ? Int64.max : sum
    }

    /// Decodes one pgoutput protocol version 1 message (the payload of an XLogData).
    /// Malformed input (truncated, trailing bytes, negative or oversized counts, unknown tags, invalid UTF-8
    /// names) throws.
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(PostgresError) -> PgOutputMessage {
        var reader = WireReader(bytes, context: "pgoutput message")
        let tag = try reader.readUInt8()
        let message: PgOutputMessage
        switch tag {
        case UInt8(ascii: "B"):
            reader.context = "pgoutput Begin message"
            let finalLSN = LSN(try reader.readUInt64())
            let commitTime = try reader.readInt64()
            let xid = try reader.readUInt32()
            message = .begin(Begin(finalLSN: finalLSN, commitTime: commitTime, xid: xid))
        case UInt8(ascii: "C"):
            reader.context = "pgoutput Commit message"
            let flags = try reader.readUInt8()
            let commitLSN = LSN(try reader.readUInt64())
            let endLSN = LSN(try reader.readUInt64())
            let commitTime = try reader.readInt64()
            message = .commit(Commit(flags: flags, commitLSN: commitLSN, endLSN: endLSN, commitTime: commitTime))
        case UInt8(ascii: "O"):
            reader.context = "pgoutput Origin message"
            let commitLSN = LSN(try reader.readUInt64())
            let name = try reader.readCString()
            message = .origin(Origin(commitLSN: commitLSN, name: name))
        case UInt8(ascii: "R"):
            reader.context = "pgoutput Relation message"
            message = .relation(try decodeRelation(&reader))
        case UInt8(ascii: "Y"):
            reader.context = "pgoutput Type message"
            let id = try reader.readUInt32()
            let namespace = try reader.readCString()
            let name = try reader.readCString()
            message = .type(TypeDescription(id: id, namespace: namespace, name: name))
        case UInt8(ascii: "I"):
            reader.context = "pgoutput Insert message"
            let relationID = try reader.readUInt32()
            try expectTupleMarker(UInt8(ascii: "N"), &reader)
            message = .insert(Insert(relationID: relationID, new: try decodeTuple(&reader)))
        case UInt8(ascii: "U"):
            reader.context = "pgoutput Update message"
            message = .update(try decodeUpdate(&reader))
        case UInt8(ascii: "D"):
            reader.context = "pgoutput Delete message"
            let relationID = try reader.readUInt32()
            let marker = try reader.readUInt8()
            guard let kind = OldTuple.Kind(rawValue: marker) else {
                throw reader.malformed("expected 'K' or 'O', found \(WireReader.describe(marker))")
            }
            let old = OldTuple(kind: kind, columns: try decodeTuple(&reader))
            message = .delete(Delete(relationID: relationID, old: old))
        case UInt8(ascii: "T"):
            reader.context = "pgoutput Truncate message"
            // The count comes before the options, unlike the order of the SQL statement.
            let count = try reader.readInt32()
            let options = try reader.readUInt8()
            guard count >= 0, Int(count) * 4 <= reader.remaining else {
                throw reader.malformed("relation count \(count) with \(reader.remaining) bytes left")
            }
            var relationIDs: [UInt32] = []
            relationIDs.reserveCapacity(Int(count))
            for _ in 0..<count { relationIDs.append(try reader.readUInt32()) }
            message = .truncate(Truncate(options: options, relationIDs: relationIDs))
        case UInt8(ascii: "M"):
            reader.context = "pgoutput logical decoding message"
            let flags = try reader.readUInt8()
            let lsn = LSN(try reader.readUInt64())
            let prefix = try reader.readAnyCString()
            let length = try reader.readInt32()
            let content = try reader.readBytes(length: length)
            message = .message(LogicalMessage(isTransactional: flags & 1 != 0, lsn: lsn, prefix: prefix, content: content))
        default:
            // Stream*, prepare and rollback-prepared messages exist only in protocol versions 2 and later.
            throw PostgresError(message: "unknown pgoutput v1 message type \(WireReader.describe(tag))", isMalformedStream: true)
        }
        try reader.expectEnd()
        return message
    }

    private static func decodeRelation(_ reader: inout WireReader) throws(PostgresError) -> Relation {
        let id = try reader.readUInt32()
        let namespace = try reader.readCString()
        let name = try reader.readCString()
        let replicaIdentity = try reader.readUInt8()
        let count = try reader.readInt16()
        // Each column takes at least 10 bytes (flags, empty name, type OID, modifier).
        guard count >= 0, Int(count) * 10 <= reader.remaining else {
            throw reader.malformed("column count \(count) with \(reader.remaining) bytes left")
        }
        var columns: [RelationColumn] = []
        columns.reserveCapacity(Int(count))
        for _ in 0..<count {
            let flags = try reader.readUInt8()
            let columnName = try reader.readCString()
            let typeOID = try reader.readUInt32()
            let typeModifier = try reader.readInt32()
            columns.append(RelationColumn(isKey: flags & 1 != 0, name: columnName, typeOID: typeOID, typeModifier: typeModifier))
        }
        return Relation(id: id, namespace: namespace, name: name, replicaIdentity: replicaIdentity, columns: columns)
    }

    private static func decodeUpdate(_ reader: inout WireReader) throws(PostgresError) -> Update {
        let relationID = try reader.readUInt32()
        var marker = try reader.readUInt8()
        var old: OldTuple?
        if let kind = OldTuple.Kind(rawValue: marker) {
            old = OldTuple(kind: kind, columns: try decodeTuple(&reader))
            marker = try reader.readUInt8()
        }
        guard marker == UInt8(ascii: "N") else {
            throw reader.malformed("expected 'K', 'O' or 'N', found \(WireReader.describe(marker))")
        }
        return Update(relationID: relationID, old: old, new: try decodeTuple(&reader))
    }

    private static func expectTupleMarker(_ expected: UInt8, _ reader: inout WireReader) throws(PostgresError) {
        let marker = try reader.readUInt8()
        guard marker == expected else {
            throw reader.malformed("expected \(WireReader.describe(expected)), found \(WireReader.describe(marker))")
        }
    }

    private static func decodeTuple(_ reader: inout WireReader) throws(PostgresError) -> TupleData {
        let count = try reader.readInt16()
        guard count >= 0, Int(count) <= reader.remaining else {
            throw reader.malformed("tuple column count \(count) with \(reader.remaining) bytes left")
        }
        var columns: TupleData = []
        columns.reserveCapacity(Int(count))
        for _ in 0..<count {
            let kind = try reader.readUInt8()
            switch kind {
            case UInt8(ascii: "n"): columns.append(.null)
            case UInt8(ascii: "u"): columns.append(.unchangedToast)
            case UInt8(ascii: "t"): columns.append(.text(try reader.readBytes(length: try reader.readInt32())))
            case UInt8(ascii: "b"): columns.append(.binary(try reader.readBytes(length: try reader.readInt32())))
            default: throw reader.malformed("unknown tuple column kind \(WireReader.describe(kind))")
            }
        }
        return columns
    }
}
