/// The kinds of incompatibility, named as Avro's Java library and Confluent's registry name them,
/// plus `LOGICAL_TYPE_MISMATCH` for decimals whose precision or scale differ (which the specification
/// requires to match and Avro Java does not check).
public enum IncompatibilityType: String, Sendable, Hashable, CaseIterable, Codable {
    case readerFieldMissingDefaultValue = "READER_FIELD_MISSING_DEFAULT_VALUE"
    case typeMismatch = "TYPE_MISMATCH"
    case nameMismatch = "NAME_MISMATCH"
    case fixedSizeMismatch = "FIXED_SIZE_MISMATCH"
    case missingEnumSymbols = "MISSING_ENUM_SYMBOLS"
    case missingUnionBranch = "MISSING_UNION_BRANCH"
    case logicalTypeMismatch = "LOGICAL_TYPE_MISMATCH"
}

/// One reason a reader schema cannot read data written with a writer schema.
public struct ResolutionProblem: Sendable, Equatable {
    public let type: IncompatibilityType
    /// JSON Pointer of the problem in the reader schema.
    public let readerPath: String
    /// JSON Pointer of the problem in the writer schema.
    public let writerPath: String
    /// The location as Avro's Java checker (and so Confluent) reports it: the reader path with writer
    /// union branch indexes in place of reader ones.
    public let location: String
    /// Avro's detail text ("reader type: STRING not compatible with writer type: INT", a field name, …).
    public let additionalInfo: String
    /// The reader and writer nodes where the problem is, for fix suggestions.
    public let readerNode: SchemaNode.ID
    public let writerNode: SchemaNode.ID
    /// For READER_FIELD_MISSING_DEFAULT_VALUE: the reader field's index in its record.
    public let fieldIndex: Int?
    /// For MISSING_ENUM_SYMBOLS: the writer symbols the reader lacks, in writer order.
    public let missingSymbols: [String]
}

/// Reader/writer compatibility as the specification's schema-resolution rules decide it.
public enum SchemaResolution {
    /// Whether data written with `writer` can be read with `reader`.
    public static func canRead(reader: AvroSchema, writer: AvroSchema) -> Bool {
        problems(reader: reader, writer: writer).isEmpty
    }

    /// Every reason `reader` cannot read data written with `writer`; empty when it can.
    public static func problems(reader: AvroSchema, writer: AvroSchema) -> [ResolutionProblem] {
        var walker = ResolutionWalker(reader: reader, writer: writer)
        walker.check(reader.root, writer.root)
        return walker.problems
    }
}

/// Walks a reader and a writer schema side by side, collecting every problem.
struct ResolutionWalker {
    let reader: AvroSchema
    let writer: AvroSchema
    var problems: [ResolutionProblem] = []
    private var readerPath = JSONPointer()
    private var writerPath = JSONPointer()
    private var location = JSONPointer()
    /// Record pairs already entered: recursion terminates, and each pair is reported once.
    private var visitedRecords: Set<UInt64> = []

    init(reader: AvroSchema, writer: AvroSchema) {
        self.reader = reader
        self.writer = writer
    }

    mutating func check(_ readerID: SchemaNode.ID, _ writerID: SchemaNode.ID) {
        let readerNode = reader[readerID]
        let writerNode = writer[writerID]

        // A writer union: every branch the writer may have used must be readable.
        if case .union(let writerBranches) = writerNode.content {
            for (index, branch) in writerBranches.enumerated() {
                writerPath.push(index)
                location.push(index)
                check(readerID, branch)
                location.pop()
                writerPath.pop()
            }
            return
        }
        // A reader union and a plain writer: the matching branch reads it.
        if case .union(let readerBranches) = readerNode.content {
            guard let index = ResolutionRules.unionBranch(in: readerBranches, of: reader, for: writerNode) else {
                report(.missingUnionBranch, readerID, writerID, info: "reader union lacking writer type: \(writerNode.kind.upperName)")
                return
            }
            readerPath.push(index)
            check(readerBranches[index], writerID)
            readerPath.pop()
            return
        }
        guard ResolutionRules.matchesShallowly(reader: readerNode, writer: writerNode) else {
            if readerNode.kind == writerNode.kind, readerNode.kind.isNamed {
                push("name")
                report(.nameMismatch, readerID, writerID, info: "expected: \(writerNode.name?.fullName ?? "")")
                pop()
            } else {
                report(
                    .typeMismatch, readerID, writerID,
                    info: "reader type: \(readerNode.kind.upperName) not compatible with writer type: \(writerNode.kind.upperName)")
            }
            return
        }
        switch (readerNode.content, writerNode.content) {
        case (.record(let readerRecord), .record(let writerRecord)):
            let pair = UInt64(UInt32(truncatingIfNeeded: readerID)) << 32 | UInt64(UInt32(truncatingIfNeeded: writerID))
            guard visitedRecords.insert(pair).inserted else { return }
            checkFields(readerRecord, writerRecord, readerID, writerID)
        case (.enumeration(let readerEnum), .enumeration(let writerEnum)):
            guard readerEnum.defaultSymbol == nil else { return }
            let known = Set(readerEnum.symbols)
            let missing = writerEnum.symbols.filter { !known.contains($0) }
            if !missing.isEmpty {
                push("symbols")
                report(.missingEnumSymbols, readerID, writerID, info: "[\(missing.joined(separator: ", "))]", missingSymbols: missing)
                pop()
            }
        case (.fixed(let readerFixed), .fixed(let writerFixed)):
            if readerFixed.size != writerFixed.size {
                push("size")
                report(.fixedSizeMismatch, readerID, writerID, info: "expected: \(writerFixed.size), found: \(readerFixed.size)")
                pop()
                return
            }
            checkDecimal(readerNode, writerNode, readerID, writerID)
        case (.array(let readerItems), .array(let writerItems)):
            push("items")
            check(readerItems, writerItems)
            pop()
        case (.map(let readerValues), .map(let writerValues)):
            push("values")
            check(readerValues, writerValues)
            pop()
        default:
            checkDecimal(readerNode, writerNode, readerID, writerID)
        }
    }

    private mutating func checkFields(_ readerRecord: RecordType, _ writerRecord: RecordType, _ readerID: SchemaNode.ID, _ writerID: SchemaNode.ID) {
        readerPath.push("fields")
        location.push("fields")
        for (position, readerField) in readerRecord.fields.enumerated() {
            readerPath.push(position)
            location.push(position)
            if let writerIndex = ResolutionRules.writerFieldIndex(for: readerField, at: position, in: writerRecord) {
                readerPath.push("type")
                location.push("type")
                writerPath.push("fields")
                writerPath.push(writerIndex)
                writerPath.push("type")
                check(readerField.type, writerRecord.fields[writerIndex].type)
                writerPath.pop()
                writerPath.pop()
                writerPath.pop()
                location.pop()
                readerPath.pop()
            } else if !readerField.hasDefault {
                report(.readerFieldMissingDefaultValue, readerID, writerID, info: readerField.name, fieldIndex: position)
            }
            location.pop()
            readerPath.pop()
        }
        location.pop()
        readerPath.pop()
    }

    /// Both decimal: the specification requires equal precision and scale. Otherwise the underlying
    /// types (already matched) decide.
    private mutating func checkDecimal(_ readerNode: SchemaNode, _ writerNode: SchemaNode, _ readerID: SchemaNode.ID, _ writerID: SchemaNode.ID) {
        guard case .decimal(let readerPrecision, let readerScale)? = readerNode.logicalType,
            case .decimal(let writerPrecision, let writerScale)? = writerNode.logicalType,
            readerPrecision != writerPrecision || readerScale != writerScale
        else { return }
        report(
            .logicalTypeMismatch, readerID, writerID,
            info: "reader decimal(\(readerPrecision),\(readerScale)) not compatible with writer decimal(\(writerPrecision),\(writerScale))")
    }

    private mutating func push(_ key: String) {
        readerPath.push(key)
        writerPath.push(key)
        location.push(key)
    }

    private mutating func pop() {
        readerPath.pop()
        writerPath.pop()
        location.pop()
    }

    private mutating func report(
        _ type: IncompatibilityType, _ readerID: SchemaNode.ID, _ writerID: SchemaNode.ID, info: String,
        fieldIndex: Int? = nil, missingSymbols: [String] = []
    ) {
        problems.append(
            ResolutionProblem(
                type: type, readerPath: readerPath.rendered, writerPath: writerPath.rendered, location: location.rendered,
                additionalInfo: info, readerNode: readerID, writerNode: writerID, fieldIndex: fieldIndex,
                missingSymbols: missingSymbols))
    }
}
