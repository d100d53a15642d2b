/// How to read data written with one schema as another schema's value (the specification's schema
/// resolution), compiled once and reused for every record.
///
/// Matching uses `ResolutionRules`, the functions the compatibility checker uses, so the checker and
/// the decoder cannot disagree: writer fields the reader lacks are skipped without being built, reader
/// fields the writer lacks get their defaults (converted once, at compile time), promotions apply
/// (int→long/float/double, long→float/double, float→double, string↔bytes), enums resolve by symbol
/// name with the reader's enum default for unknown symbols, unions by the branch rules, named types
/// and fields by unqualified name or a reader alias.
///
/// A part the reader cannot read compiles to a step that fails only when data reaches it (a writer
/// union branch the reader lacks is fine until a record uses that branch).
///
/// ```swift
/// let plan = ResolutionPlan(writer: v1, reader: v2)   // once per (writer id, reader)
/// let row = try plan.decode(payload)                 // per record
/// ```
public final class ResolutionPlan: Sendable {
    public let writer: AvroSchema
    public let reader: AvroSchema
    let steps: [Step]
    let root: Int
    /// True when reader and writer are the same schema: decoding needs no resolution.
    public let isIdentity: Bool

    enum Step: Sendable {
        /// The same primitive on both sides.
        case primitive(AvroKind)
        /// A promotion from the writer's primitive to the reader's.
        case promote(from: AvroKind, to: AvroKind)
        /// Writer fields in writer order, each read into a reader position or skipped; then the
        /// reader's remaining fields from defaults. `inOrder`: every writer field lands at its own
        /// position and nothing is skipped or defaulted.
        case record(RecordPlan)
        /// Per writer symbol index: the reader's symbol, or nil when the reader cannot read it.
        case enumeration(symbols: [String?], writerName: String, readerName: String)
        case array(items: Int, writerItems: SchemaNode.ID)
        case map(values: Int)
        case fixed(size: Int)
        /// A writer union: one step per writer branch.
        case writerUnion(branches: [Int])
        /// A non-union writer read into one branch of a reader union.
        case readerUnion(branch: Int, step: Int)
        case failure(String)
    }

    struct RecordPlan: Sendable {
        enum FieldAction: Sendable {
            case read(into: Int, step: Int)
            case skip(SchemaNode.ID)
        }

        let actions: [FieldAction]
        let writerFieldNames: [String]
        let readerFieldCount: Int
        let defaults: [(position: Int, value: AvroValue)]
        let inOrder: Bool
    }

    /// Compiles the plan for reading `writer` data as `reader`.
    public init(writer: AvroSchema, reader: AvroSchema) {
        var compiler = Compiler(writer: writer, reader: reader)
        root = compiler.step(writer.root, reader.root)
        steps = compiler.steps.map { $0 ?? .failure("internal: step not compiled") }
        self.writer = writer
        self.reader = reader
        isIdentity = false
    }

    /// A plan that reads `schema` data as `schema` (no resolution).
    public init(identity schema: AvroSchema) {
        writer = schema
        reader = schema
        steps = []
        root = 0
        isIdentity = true
    }

    /// Decodes one value written with the writer schema into the reader's shape; all of `bytes` must
    /// be consumed.
    public func decode(_ bytes: ArraySlice<UInt8>) throws(AvroCodingError) -> AvroValue {
        if isIdentity { return try AvroBinary.decode(bytes, schema: writer) }
        let result = bytes.withUnsafeBufferPointer { buffer -> Result<AvroValue, AvroCodingError> in
            var decoder = AvroBinary.Decoder(schema: writer, bytes: buffer)
            return Result { () throws(AvroCodingError) -> AvroValue in
                let value = try run(root, &decoder, depth: 0)
                try decoder.expectEnd()
                return value
            }
        }
        return try result.get()
    }

    private func run(_ index: Int, _ decoder: inout AvroBinary.Decoder, depth: Int) throws(AvroCodingError) -> AvroValue {
        guard depth < AvroBinary.maximumDepth else { throw decoder.failure("data nests deeper than \(AvroBinary.maximumDepth) levels") }
        switch steps[index] {
        case .primitive(let kind):
            return try decoder.primitive(kind)
        case .promote(let from, let to):
            return try Self.promote(try decoder.primitive(from), to: to, decoder)
        case .record(let plan):
            if plan.inOrder {
                var values: [AvroValue] = []
                values.reserveCapacity(plan.readerFieldCount)
                for (position, action) in plan.actions.enumerated() {
                    guard case .read(_, let step) = action else { continue }
                    do {
                        values.append(try run(step, &decoder, depth: depth + 1))
                    } catch {
                        throw error.inside(plan.writerFieldNames[position])
                    }
                }
                return .record(values)
            }
            var values = [AvroValue](repeating: .null, count: plan.readerFieldCount)
            for (position, action) in plan.actions.enumerated() {
                do {
                    switch action {
                    case .read(let into, let step): values[into] = try run(step, &decoder, depth: depth + 1)
                    case .skip(let writerType): try decoder.skip(writerType, depth: depth + 1)
                    }
                } catch {
                    throw error.inside(plan.writerFieldNames[position])
                }
            }
            for (position, value) in plan.defaults { values[position] = value }
            return .record(values)
        case .enumeration(let symbols, let writerName, let readerName):
            let index = try decoder.long()
            guard index >= 0, index < Int64(symbols.count) else {
                throw decoder.failure("enum index \(index) is out of range for \(writerName) (\(symbols.count) symbols)")
            }
            guard let symbol = symbols[Int(index)] else {
                throw decoder.failure("symbol #\(index) of the writer's enum \(writerName) is not in the reader's enum \(readerName), which has no default")
            }
            return .enumeration(symbol)
        case .array(let items, let writerItems):
            var values: [AvroValue] = []
            let itemsTakeBytes = decoder.takesBytes(writerItems)
            while true {
                let count = try decoder.blockCount(itemsTakeBytes: itemsTakeBytes)
                if count == 0 { break }
                values.reserveCapacity(values.count + count)
                for _ in 0..<count {
                    do {
                        values.append(try run(items, &decoder, depth: depth + 1))
                    } catch {
                        throw error.inside(values.count)
                    }
                }
            }
            return .array(values)
        case .map(let valueStep):
            var entries: [AvroValue.MapEntry] = []
            while true {
                let count = try decoder.blockCount(itemsTakeBytes: true)
                if count == 0 { break }
                for _ in 0..<count {
                    let key: String
                    do {
                        key = try decoder.string()
                    } catch {
                        throw error.inside(entries.count)
                    }
                    do {
                        entries.append(AvroValue.MapEntry(key: key, value: try run(valueStep, &decoder, depth: depth + 1)))
                    } catch {
                        throw error.inside(key)
                    }
                }
            }
            return .map(entries)
        case .fixed(let size):
            return .fixed(Array(try decoder.take(size)))
        case .writerUnion(let branches):
            return try run(branches[try decoder.branch(of: branches.count)], &decoder, depth: depth + 1)
        case .readerUnion(let branch, let step):
            return .union(branch: branch, value: try run(step, &decoder, depth: depth + 1))
        case .failure(let message):
            throw decoder.failure(message)
        }
    }

    /// The specification's promotions.
    static func promote(_ value: AvroValue, to kind: AvroKind, _ decoder: AvroBinary.Decoder) throws(AvroCodingError) -> AvroValue {
        switch (value, kind) {
        case (.int(let number), .long): return .long(Int64(number))
        case (.int(let number), .float): return .float(Float(number))
        case (.int(let number), .double): return .double(Double(number))
        case (.long(let number), .float): return .float(Float(number))
        case (.long(let number), .double): return .double(Double(number))
        case (.float(let number), .double): return .double(Double(number))
        case (.string(let text), .bytes): return .bytes(Array(text.utf8))
        case (.bytes(let data), .string):
            guard let text = String(validating: data, as: UTF8.self) else { throw decoder.failure("bytes are not valid UTF-8 and cannot be read as a string") }
            return .string(text)
        default: return value
        }
    }

    /// Builds steps depth-first; a (writer node, reader node) pair is compiled once, which also ends
    /// recursion through recursive named types.
    struct Compiler {
        let writer: AvroSchema
        let reader: AvroSchema
        var steps: [Step?] = []
        var compiled: [Pair: Int] = [:]

        struct Pair: Hashable {
            let writer: SchemaNode.ID
            let reader: SchemaNode.ID
        }

        init(writer: AvroSchema, reader: AvroSchema) {
            self.writer = writer
            self.reader = reader
        }

        mutating func step(_ writerID: SchemaNode.ID, _ readerID: SchemaNode.ID) -> Int {
            let pair = Pair(writer: writerID, reader: readerID)
            if let index = compiled[pair] { return index }
            let index = steps.count
            steps.append(nil)
            compiled[pair] = index
            steps[index] = build(writerID, readerID)
            return index
        }

        mutating func build(_ writerID: SchemaNode.ID, _ readerID: SchemaNode.ID) -> Step {
            let writerNode = writer[writerID]
            let readerNode = reader[readerID]
            if case .union(let writerBranches) = writerNode.content {
                return .writerUnion(branches: writerBranches.map { step($0, readerID) })
            }
            if case .union(let readerBranches) = readerNode.content {
                guard let index = ResolutionRules.unionBranch(in: readerBranches, of: reader, for: writerID, of: writer) else {
                    return .failure("the reader's union has no branch for the writer's \(describe(writerNode))")
                }
                return .readerUnion(branch: index, step: step(writerID, readerBranches[index]))
            }
            guard ResolutionRules.matchesShallowly(reader: readerNode, writer: writerNode) else {
                return .failure("the writer's \(describe(writerNode)) cannot be read as the reader's \(describe(readerNode))")
            }
            switch (writerNode.content, readerNode.content) {
            case (.primitive(let writerKind), .primitive(let readerKind)):
                return writerKind == readerKind ? .primitive(writerKind) : .promote(from: writerKind, to: readerKind)
            case (.record(let writerRecord), .record(let readerRecord)):
                return record(writerRecord, readerRecord)
            case (.enumeration(let writerEnum), .enumeration(let readerEnum)):
                let symbols = writerEnum.symbols.map { symbol -> String? in
                    readerEnum.symbols.contains(symbol) ? symbol : readerEnum.defaultSymbol
                }
                return .enumeration(symbols: symbols, writerName: writerEnum.name.fullName, readerName: readerEnum.name.fullName)
            case (.fixed(let writerFixed), .fixed(let readerFixed)):
                guard writerFixed.size == readerFixed.size else {
                    return .failure("fixed \(writerFixed.name.fullName) holds \(writerFixed.size) bytes, the reader's \(readerFixed.size)")
                }
                return .fixed(size: writerFixed.size)
            case (.array(let writerItems), .array(let readerItems)):
                return .array(items: step(writerItems, readerItems), writerItems: writerItems)
            case (.map(let writerValues), .map(let readerValues)):
                return .map(values: step(writerValues, readerValues))
            default:
                return .failure("the writer's \(describe(writerNode)) cannot be read as the reader's \(describe(readerNode))")
            }
        }

        mutating func record(_ writerRecord: RecordType, _ readerRecord: RecordType) -> Step {
            var readerPositionOfWriterField = [Int?](repeating: nil, count: writerRecord.fields.count)
            var defaults: [(position: Int, value: AvroValue)] = []
            for position in readerRecord.fields.indices {
                if let writerIndex = ResolutionRules.writerFieldIndex(forReaderField: position, of: readerRecord, in: writerRecord) {
                    readerPositionOfWriterField[writerIndex] = position
                    continue
                }
                let field = readerRecord.fields[position]
                guard let defaultJSON = field.defaultValue else {
                    return .failure("the writer's \(writerRecord.name.fullName) has no field \"\(field.name)\" and the reader gives it no default")
                }
                do {
                    defaults.append((position, try AvroJSON.defaultValue(defaultJSON, for: field.type, in: reader)))
                } catch {
                    return .failure("the default of the reader's field \"\(field.name)\" is not a value of its type: \(error.message)")
                }
            }
            var actions: [RecordPlan.FieldAction] = []
            actions.reserveCapacity(writerRecord.fields.count)
            var inOrder = defaults.isEmpty && writerRecord.fields.count == readerRecord.fields.count
            for (writerIndex, field) in writerRecord.fields.enumerated() {
                if let position = readerPositionOfWriterField[writerIndex] {
                    actions.append(.read(into: position, step: step(field.type, readerRecord.fields[position].type)))
                    if position != writerIndex { inOrder = false }
                } else {
                    actions.append(.skip(field.type))
                    inOrder = false
                }
            }
            return .record(
                RecordPlan(
                    actions: actions, writerFieldNames: writerRecord.fields.map(\.name), readerFieldCount: readerRecord.fields.count,
                    defaults: defaults, inOrder: inOrder))
        }

        func describe(_ node: SchemaNode) -> String {
            node.name.map { "\(node.kind.rawValue) \($0.fullName)" } ?? node.kind.rawValue
        }
    }
}

extension AvroBinary {
    /// Decodes bytes written with `writer` into the shape of `reader` (compiles a plan for this one
    /// call: to decode many records, keep a `ResolutionPlan`).
    public static func decode(_ bytes: ArraySlice<UInt8>, writer: AvroSchema, reader: AvroSchema) throws(AvroCodingError) -> AvroValue {
        try ResolutionPlan(writer: writer, reader: reader).decode(bytes)
    }
}
