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
        var walker = ResolutionWalker(reader: reader, writer: writer, isDetailed: false)
        walker.check(reader.root, writer.root)
        return !walker.hasFailed
    }

    /// Every reason `reader` cannot read data written with `writer`; empty when it can.
    ///
    /// Most checks pass, so a quick walk that tracks no paths and stops at the first problem runs
    /// first; only when it fails does a second walk collect every problem with its paths.
    public static func problems(reader: AvroSchema, writer: AvroSchema) -> [ResolutionProblem] {
        if canRead(reader: reader, writer: writer) { return [] }
        var walker = ResolutionWalker(reader: reader, writer: writer, isDetailed: true)
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
    /// Named type pairs (reader id, writer id) already entered.
    private var visitedNamedPairs: Set<UInt64> = []
    /// Whether paths are tracked and every problem collected; otherwise the walk stops at the first.
    private let isDetailed: Bool
    /// Whether any problem was found.
    private(set) var hasFailed = false

    init(reader: AvroSchema, writer: AvroSchema, isDetailed: Bool) {
        self.reader = reader
        self.writer = writer
        self.isDetailed = isDetailed
    }

    mutating func check(_ readerID: SchemaNode.ID, _ writerID: SchemaNode.ID) {
        if hasFailed && !isDetailed { return }
        // Hot path: the same primitive on both sides (most fields of most records). Only a decimal on
        // bytes has anything further to compare.
        let readerKind = reader.kinds[readerID]
        if readerKind == writer.kinds[writerID], readerKind.isPrimitive {
            if readerKind == .bytes { checkDecimal(readerID, writerID) }
            return
        }
        let writerKind = writer.kinds[writerID]

        // A writer union: every branch the writer may have used must be readable.
        if writerKind == .union {
            guard case .union(let writerBranches) = writer.nodes[writerID].content else { return }
            for (index, branch) in writerBranches.enumerated() {
                if isDetailed {
                    writerPath.push(index)
                    location.push(index)
                }
                check(readerID, branch)
                if isDetailed {
                    location.pop()
                    writerPath.pop()
                }
            }
            return
        }
        // A reader union and a plain writer: the matching branch reads it.
        if readerKind == .union {
            guard case .union(let readerBranches) = reader.nodes[readerID].content else { return }
            guard let index = ResolutionRules.unionBranch(in: readerBranches, of: reader, for: writerID, of: writer) else {
                report(.missingUnionBranch, readerID, writerID, info: "reader union lacking writer type: \(writerKind.upperName)")
                return
            }
            if isDetailed { readerPath.push(index) }
            check(readerBranches[index], writerID)
            if isDetailed { readerPath.pop() }
            return
        }
        checkNonUnion(readerID, writerID)
    }

    /// Everything but the primitive and union fast paths. Kept out of line so that `check`, which
    /// recurses through every field and union branch, keeps a small stack frame.
    @inline(never)
    private mutating func checkNonUnion(_ readerID: SchemaNode.ID, _ writerID: SchemaNode.ID) {
        let readerNode = reader.nodes[readerID]
        let writerNode = writer.nodes[writerID]
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
        if readerNode.kind.isNamed {
            // A named pair is compared once per walk: recursion terminates, each problem is reported
            // once, and a type referenced by many fields costs one comparison.
            let pair = UInt64(UInt32(truncatingIfNeeded: readerID)) << 32 | UInt64(UInt32(truncatingIfNeeded: writerID))
            guard visitedNamedPairs.insert(pair).inserted else { return }
        }
        switch (readerNode.content, writerNode.content) {
        case (.record(let readerRecord), .record(let writerRecord)):
            checkFields(readerRecord, writerRecord, readerID, writerID)
        case (.enumeration(let readerEnum), .enumeration(let writerEnum)):
            guard readerEnum.defaultSymbol == nil, readerEnum.symbols != writerEnum.symbols else { return }
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
            checkDecimal(readerID, writerID)
        case (.array(let readerItems), .array(let writerItems)):
            push("items")
            check(readerItems, writerItems)
            pop()
        case (.map(let readerValues), .map(let writerValues)):
            push("values")
            check(readerValues, writerValues)
            pop()
        default:
            checkDecimal(readerID, writerID)
        }
    }

    private mutating func checkFields(_ readerRecord: RecordType, _ writerRecord: RecordType, _ readerID: SchemaNode.ID, _ writerID: SchemaNode.ID) {
        let readerFields = readerRecord.fields
        guard isDetailed else {
            let readerTypes = readerRecord.fieldTypes
            let writerTypes = writerRecord.fieldTypes
            for position in readerTypes.indices {
                if let writerIndex = ResolutionRules.writerFieldIndex(forReaderField: position, of: readerRecord, in: writerRecord) {
                    check(readerTypes[position], writerTypes[writerIndex])
                } else if !readerFields[position].hasDefault {
                    hasFailed = true
                }
                if hasFailed { return }
            }
            return
        }
        readerPath.push("fields")
        location.push("fields")
        for position in readerFields.indices {
            readerPath.push(position)
            location.push(position)
            if let writerIndex = ResolutionRules.writerFieldIndex(forReaderField: position, of: readerRecord, in: writerRecord) {
                readerPath.push("type")
                location.push("type")
                writerPath.push("fields")
                writerPath.push(writerIndex)
                writerPath.push("type")
                check(readerFields[position].type, writerRecord.fields[writerIndex].type)
                writerPath.pop()
                writerPath.pop()
                writerPath.pop()
                location.pop()
                readerPath.pop()
            } else if !readerFields[position].hasDefault {
                report(.readerFieldMissingDefaultValue, readerID, writerID, info: readerFields[position].name, fieldIndex: position)
            }
            location.pop()
            readerPath.pop()
        }
        location.pop()
        readerPath.pop()
    }

    /// Both decimal: the specification requires equal precision and scale. Otherwise the underlying
    /// types (already matched) decide.
    private mutating func checkDecimal(_ readerID: SchemaNode.ID, _ writerID: SchemaNode.ID) {
        guard case .decimal(let readerPrecision, let readerScale)? = reader.nodes[readerID].logicalType,
            case .decimal(let writerPrecision, let writerScale)? = writer.nodes[writerID].logicalType,
            readerPrecision != writerPrecision || readerScale != writerScale
        else { return }
        report(
            .logicalTypeMismatch, readerID, writerID,
            info: "reader decimal(\(readerPrecision),\(readerScale)) not compatible with writer decimal(\(writerPrecision),\(writerScale))")
    }

    private mutating func push(_ key: StaticString) {
        guard isDetailed else { return }
        readerPath.push(key)
        writerPath.push(key)
        location.push(key)
    }

    private mutating func pop() {
        guard isDetailed else { return }
        readerPath.pop()
        writerPath.pop()
        location.pop()
    }

    private mutating func report(
        _ type: IncompatibilityType, _ readerID: SchemaNode.ID, _ writerID: SchemaNode.ID, info: String,
        fieldIndex: Int? = nil, missingSymbols: [String] = []
    ) {
        hasFailed = true
        guard isDetailed else { return }
        problems.append(
            ResolutionProblem(
                type: type, readerPath: readerPath.rendered, writerPath: writerPath.rendered, location: location.rendered,
                additionalInfo: info, readerNode: readerID, writerNode: writerID, fieldIndex: fieldIndex,
                missingSymbols: missingSymbols))
    }
}
