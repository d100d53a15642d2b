import AvroCodec

/// A column of a row as the change stream delivers it.
public enum ColumnText: Sendable, Equatable {
    case null
    /// A TOASTed value that an UPDATE did not change: pgoutput does not send it.
    case unchangedToast
    case text(String)
}

/// What happened to a row.
public enum ChangeOperation: String, Sendable {
    case create = "c"
    case update = "u"
    case delete = "d"
    case truncate = "t"
    case read = "r"
}

/// Where an event came from, for the envelope's `source` block.
public struct ChangeSource: Sendable {
    public var database: String
    public var lsn: UInt64
    public var transactionID: UInt32
    /// Commit time, milliseconds since the Unix epoch.
    public var commitMilliseconds: Int64
    /// Debezium's `source.snapshot`: whether the event is a snapshot read, and the last of one.
    public var snapshot: SnapshotMarker

    /// Debezium's values of `source.snapshot`.
    public enum SnapshotMarker: String, Sendable {
        case `true`, last, `false`, incremental
    }

    public init(database: String, lsn: UInt64, transactionID: UInt32, commitMilliseconds: Int64, snapshot: SnapshotMarker = .false) {
        self.database = database
        self.lsn = lsn
        self.transactionID = transactionID
        self.commitMilliseconds = commitMilliseconds
        self.snapshot = snapshot
    }
}

/// Why a row could not be turned into an event.
public struct ChangeEventError: Error, Sendable, CustomStringConvertible {
    public let description: String
    /// The column (index into the table's columns) that holds NULL where the schema says NOT NULL:
    /// the catalog changed after the row was written (a source widens the column and goes on).
    public var nullInNotNullColumn: Int?

    public init(description: String, nullInNotNullColumn: Int? = nil) {
        self.description = description
        self.nullInNotNullColumn = nullInNotNullColumn
    }
}

extension ChangeEventSchemas {
    /// Debezium's placeholder for a TOASTed column an UPDATE left unchanged (pgoutput omits it).
    public static let unavailableValue = "__debezium_unavailable_value"

    /// The Value record of a full row.
    public func row(_ columns: [ColumnText]) throws(ChangeEventError) -> AvroValue {
        guard columns.count == table.columns.count else {
            throw ChangeEventError(description: "\(topic): row has \(columns.count) columns, the table \(table.columns.count)")
        }
        var values: [AvroValue] = []
        values.reserveCapacity(columns.count)
        for index in columns.indices {
            values.append(try columnValue(columns[index], at: index, nullable: table.columns[index].isNullable))
        }
        return .record(values)
    }

    /// The Key record, from a full row or from pgoutput's key-only old tuple (which has every column,
    /// non-key ones null).
    public func keyRecord(_ columns: [ColumnText]) throws(ChangeEventError) -> AvroValue {
        guard columns.count == table.columns.count else {
            throw ChangeEventError(description: "\(topic): row has \(columns.count) columns, the table \(table.columns.count)")
        }
        var values: [AvroValue] = []
        for index in keyColumnIndexes {
            values.append(try columnValue(columns[index], at: index, nullable: false))
        }
        return .record(values)
    }

    private func columnValue(_ column: ColumnText, at index: Int, nullable: Bool) throws(ChangeEventError) -> AvroValue {
        let value: AvroValue
        switch column {
        case .null:
            guard nullable else {
                throw ChangeEventError(
                    description: "\(topic): column \(table.columns[index].name) is NULL but NOT NULL in the schema",
                    nullInNotNullColumn: table.columns[index].isKey ? nil : index)
            }
            return .union(branch: 0, value: .null)
        case .unchangedToast:
            switch columnTypes[index] {
            // Debezium's placeholder where the type can hold it (strings, and arrays of strings).
            case .string, .semanticString, .enumeration: value = .string(Self.unavailableValue)
            case .bytes: value = .bytes(Array(Self.unavailableValue.utf8))
            case .array(.string), .array(.semanticString), .array(.enumeration):
                value = .array([.union(branch: 1, value: .string(Self.unavailableValue))])
            default:
                // Nothing to say "unchanged" with: null, and a NOT NULL column becomes nullable (the
                // source registers that version) rather than stopping the stream for good.
                guard nullable else {
                    throw ChangeEventError(
                        description: "\(topic): column \(table.columns[index].name) was not sent (unchanged TOAST value)",
                        nullInNotNullColumn: table.columns[index].isKey ? nil : index)
                }
                return .union(branch: 0, value: .null)
            }
        case .text(let text):
            guard let converted = columnTypes[index].value(fromText: text) else {
                let problem = "\(topic): column \(table.columns[index].name): \"\(text.prefix(80))\" has no \(columnTypes[index]) value"
                // A nullable column carries null (and the source says so); a NOT NULL column cannot.
                guard nullable else { throw ChangeEventError(description: problem + " and the column is NOT NULL") }
                onUnconvertibleValue?(problem + "; sent as null")
                return .union(branch: 0, value: .null)
            }
            value = converted
        }
        return nullable ? .union(branch: 1, value: value) : value
    }

    /// The value envelope of one event. `before` is the old row (REPLICA IDENTITY FULL) or the old key.
    public func envelope(
        operation: ChangeOperation, before: [ColumnText]?, beforeIsFullRow: Bool, after: [ColumnText]?, source: ChangeSource, nowMilliseconds: Int64
    ) throws(ChangeEventError) -> AvroValue {
        let beforeValue: AvroValue
        if let before {
            if beforeIsFullRow {
                beforeValue = .union(branch: 1, value: try row(before))
            } else if !keyColumnIndexes.isEmpty {
                beforeValue = .union(branch: 2, value: try keyRecord(before))
            } else {
                beforeValue = .union(branch: 0, value: .null)
            }
        } else {
            beforeValue = .union(branch: 0, value: .null)
        }
        let afterValue: AvroValue = try after.map { columns throws(ChangeEventError) in .union(branch: 1, value: try row(columns)) } ?? .union(branch: 0, value: .null)
        let sourceValue = AvroValue.record([
            .string("postgresql"), .string(source.database), .string(table.namespace), .string(table.name),
            .long(Int64(bitPattern: source.lsn)), .long(Int64(source.transactionID)), .long(source.commitMilliseconds),
            .string(source.snapshot.rawValue),
        ])
        return .record([beforeValue, afterValue, sourceValue, .string(operation.rawValue), .union(branch: 1, value: .long(nowMilliseconds))])
    }
}
