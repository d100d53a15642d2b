/// What changed between two versions of a schema, field by field, with the compatibility verdict each way.
///
/// ```swift
/// let diff = SchemaDiff.between(old: v1, new: v2)
/// for change in diff.changes { print(change.path, change.message) }
/// // /fields/amount/type type changed: int → long (promotion int → long)
/// // /fields/email field added: string, default ""
/// print(diff.isBackwardCompatible, diff.isForwardCompatible)
/// ```
///
/// Paths are JSON Pointers into the schemas with fields named instead of numbered (`/fields/address/type/fields/city`),
/// so one path names the same place in both versions, and union branches named by their type (`/fields/payment/type/
/// com.acme.Card`, `…/type/string`). A named type used in several places is compared once, where it is first reached:
/// its changes are reported at that path (and a recursive type ends there).
public struct SchemaDiff: Sendable {
    /// Every change, in the new schema's order (a record's removed fields after its other changes).
    public let changes: [SchemaChange]
    /// Why the new schema cannot read data written with the old one (BACKWARD); empty when it can. The old schema
    /// is version 1 in these problems.
    public let backwardProblems: [Incompatibility]
    /// Why the old schema cannot read data written with the new one (FORWARD); empty when it can.
    public let forwardProblems: [Incompatibility]

    /// Whether the new schema reads data written with the old one.
    public var isBackwardCompatible: Bool { backwardProblems.isEmpty }
    /// Whether the old schema reads data written with the new one.
    public var isForwardCompatible: Bool { forwardProblems.isEmpty }

    /// Compares `old` with `new`, and checks compatibility both ways with `CompatibilityChecker`.
    public static func between(old: AvroSchema, new: AvroSchema) -> SchemaDiff {
        var walker = DiffWalker(old: old, new: new)
        walker.compare(old.root, new.root, at: "")
        let existing = ExistingSchemaVersion(version: 1, schema: old)
        return SchemaDiff(
            changes: walker.changes,
            backwardProblems: CompatibilityChecker.problems(of: new, against: existing, level: .backward),
            forwardProblems: CompatibilityChecker.problems(of: new, against: existing, level: .forward))
    }
}

/// One difference between two versions of a schema.
public struct SchemaChange: Sendable, Equatable {
    /// What changed.
    public enum Kind: String, Sendable, CaseIterable {
        /// A field only the new schema has (`new`: its type) or only the old one has (`old`: its type).
        case fieldAdded, fieldRemoved
        /// A new field reads an old one through an alias: `old` and `new` are the two names.
        case fieldRenamed
        /// The fields both versions have are in another order (`old`, `new`: the names in each order).
        case fieldsReordered
        /// Another type; `promotion` is set when Avro reads the old type's data as the new type.
        case typeChanged
        /// A field's default, as JSON text.
        case defaultAdded, defaultRemoved, defaultChanged
        /// The doc of a field or of a named type.
        case docChanged
        /// A field's sort order.
        case orderChanged
        /// The aliases of a field (besides the old name of a renamed one) or of a named type.
        case aliasesChanged
        /// A named type's full name (its namespace, its name or both).
        case nameChanged
        /// An enum symbol only one version has, or the symbols both have in another order.
        case symbolAdded, symbolRemoved, symbolsReordered
        /// An enum's default symbol (added, removed or changed).
        case enumDefaultChanged
        /// A logical type added, removed or changed, a decimal's precision or scale included.
        case logicalTypeChanged
        /// A fixed type's size.
        case fixedSizeChanged
        /// A union branch only one version has (`old`/`new`: its type); a type that becomes or stops being a union
        /// is a `typeChanged` ("made optional", "made required" when `null` comes or goes).
        case unionBranchAdded, unionBranchRemoved
        /// The same branches in another order (a union's default is its first branch's; the fingerprint changes).
        case unionBranchesReordered
    }

    /// What changed.
    public let kind: Kind
    /// Where: a JSON Pointer with fields named (see `SchemaDiff`); "" for the top-level type.
    public let path: String
    /// The old value as short text (a type, a default as JSON, a symbol, …); nil when there was none.
    public let old: String?
    /// The new value as short text; nil when there is none.
    public let new: String?
    /// For a type change Avro resolves by promotion: "int → long".
    public let promotion: String?
    /// One line for people: "type changed: int → long (promotion int → long)".
    public let message: String
}

/// Walks the old and the new schema side by side, collecting changes.
private struct DiffWalker {
    let old: AvroSchema
    let new: AvroSchema
    var changes: [SchemaChange] = []
    /// Named type pairs already compared: each once, and recursive types end.
    private var visitedNamedPairs: Set<NodePair> = []

    private struct NodePair: Hashable {
        let old: SchemaNode.ID
        let new: SchemaNode.ID
    }

    init(old: AvroSchema, new: AvroSchema) {
        self.old = old
        self.new = new
    }

    private mutating func report(
        _ kind: SchemaChange.Kind, _ path: String, old: String?, new: String?, _ message: String, promotion: String? = nil
    ) {
        changes.append(SchemaChange(kind: kind, path: path, old: old, new: new, promotion: promotion, message: message))
    }

    mutating func compare(_ oldID: SchemaNode.ID, _ newID: SchemaNode.ID, at path: String) {
        switch (old[oldID].content, new[newID].content) {
        case (.union(let oldBranches), .union(let newBranches)):
            let pairs = pairBranches(oldBranches, newBranches)
            for (oldIndex, newIndex) in pairs {
                switch (oldIndex, newIndex) {
                case (nil, let newIndex?):
                    let branch = typeText(newBranches[newIndex], in: new)
                    report(.unionBranchAdded, path, old: nil, new: branch, "union branch added: \(branch)\(branch == "null" ? " (made optional)" : "")")
                case (let oldIndex?, nil):
                    let branch = typeText(oldBranches[oldIndex], in: old)
                    report(.unionBranchRemoved, path, old: branch, new: nil, "union branch removed: \(branch)\(branch == "null" ? " (made required)" : "")")
                default:
                    break
                }
            }
            let kept = pairs.compactMap { pair in pair.old.flatMap { old in pair.new.map { (old, $0) } } }
            if kept.map(\.0) != kept.map(\.0).sorted() {
                let before = kept.sorted { $0.0 < $1.0 }.map { typeText(oldBranches[$0.0], in: old) }
                let after = kept.map { typeText(newBranches[$0.1], in: new) }
                report(
                    .unionBranchesReordered, path, old: before.joined(separator: ", "), new: after.joined(separator: ", "),
                    "union branches reordered: [\(before.joined(separator: ", "))] → [\(after.joined(separator: ", "))]")
            }
            for (oldIndex, newIndex) in kept {
                compare(oldBranches[oldIndex], newBranches[newIndex], at: path + "/" + branchKey(newBranches[newIndex], in: new))
            }
        case (.union(let oldBranches), _):
            reportTypeChange(oldID, newID, at: path)
            if let oldIndex = pairBranches(oldBranches, [newID]).first(where: { $0.new != nil })?.old {
                compare(oldBranches[oldIndex], newID, at: path + "/" + branchKey(oldBranches[oldIndex], in: old))
            }
        case (_, .union(let newBranches)):
            reportTypeChange(oldID, newID, at: path)
            if let newIndex = pairBranches([oldID], newBranches).first(where: { $0.old != nil })?.new {
                compare(oldID, newBranches[newIndex], at: path + "/" + branchKey(newBranches[newIndex], in: new))
            }
        default:
            compareNonUnion(oldID, newID, at: path)
        }
    }

    private mutating func compareNonUnion(_ oldID: SchemaNode.ID, _ newID: SchemaNode.ID, at path: String) {
        let oldNode = old[oldID]
        let newNode = new[newID]
        guard oldNode.kind == newNode.kind else {
            reportTypeChange(oldID, newID, at: path)
            return
        }
        if oldNode.kind.isNamed {
            guard visitedNamedPairs.insert(NodePair(old: oldID, new: newID)).inserted else { return }
            compareNamed(oldNode, newNode, at: path)
        }
        if oldNode.logicalType != newNode.logicalType {
            let before = oldNode.logicalType.map(logicalText) ?? "none"
            let after = newNode.logicalType.map(logicalText) ?? "none"
            report(
                .logicalTypeChanged, path, old: oldNode.logicalType.map(logicalText), new: newNode.logicalType.map(logicalText),
                "logical type changed: \(before) → \(after)")
        }
        switch (oldNode.content, newNode.content) {
        case (.record(let oldRecord), .record(let newRecord)):
            compareRecords(oldRecord, newRecord, at: path)
        case (.enumeration(let oldEnum), .enumeration(let newEnum)):
            compareEnums(oldEnum, newEnum, at: path)
        case (.fixed(let oldFixed), .fixed(let newFixed)) where oldFixed.size != newFixed.size:
            report(.fixedSizeChanged, path, old: String(oldFixed.size), new: String(newFixed.size), "fixed size changed: \(oldFixed.size) → \(newFixed.size)")
        case (.array(let oldItems), .array(let newItems)):
            compare(oldItems, newItems, at: path + "/items")
        case (.map(let oldValues), .map(let newValues)):
            compare(oldValues, newValues, at: path + "/values")
        default:
            break
        }
    }

    /// Name, aliases and doc of two named types of the same kind.
    private mutating func compareNamed(_ oldNode: SchemaNode, _ newNode: SchemaNode, at path: String) {
        var newAliases = newNode.aliases.map(\.fullName)
        if let oldName = oldNode.name, let newName = newNode.name, oldName != newName {
            var what = oldName.name == newName.name ? "namespace changed: \(oldName.namespace) → \(newName.namespace)" : "name changed"
            if newAliases.contains(oldName.fullName) {
                what += " through an alias"
                newAliases.removeAll { $0 == oldName.fullName }  // the rename itself, not an aliases change
            }
            report(.nameChanged, path, old: oldName.fullName, new: newName.fullName, "\(what) (\(oldName.fullName) → \(newName.fullName))")
        }
        compareAliases(oldNode.aliases.map(\.fullName), newAliases, at: path)
        compareDoc(oldNode.doc, newNode.doc, at: path)
    }

    private mutating func compareRecords(_ oldRecord: RecordType, _ newRecord: RecordType, at path: String) {
        // Avro's own matching (by name, then by the new field's aliases), as the new schema reads old data.
        let oldIndexByNewField = newRecord.fields.indices.map {
            ResolutionRules.writerFieldIndex(forReaderField: $0, of: newRecord, in: oldRecord)
        }
        let kept = oldIndexByNewField.compactMap { $0 }
        if kept != kept.sorted() {
            let oldOrder = kept.sorted().map { oldRecord.fields[$0].name }
            let newOrder = zip(newRecord.fields, oldIndexByNewField).filter { $0.1 != nil }.map(\.0.name)
            report(
                .fieldsReordered, path, old: oldOrder.joined(separator: ", "), new: newOrder.joined(separator: ", "),
                "fields reordered: \(oldOrder.joined(separator: ", ")) → \(newOrder.joined(separator: ", "))")
        }
        for (newField, oldIndex) in zip(newRecord.fields, oldIndexByNewField) {
            let fieldPath = path + "/fields/" + newField.name
            guard let oldIndex else {
                let type = typeText(newField.type, in: new)
                report(.fieldAdded, fieldPath, old: nil, new: type, "field added: \(type), \(defaultText(newField.defaultValue))")
                continue
            }
            compareFields(oldRecord.fields[oldIndex], newField, at: fieldPath)
        }
        let keptSet = Set(kept)
        for (index, oldField) in oldRecord.fields.enumerated() where !keptSet.contains(index) {
            let type = typeText(oldField.type, in: old)
            report(.fieldRemoved, path + "/fields/" + oldField.name, old: type, new: nil, "field removed: \(type), \(defaultText(oldField.defaultValue))")
        }
    }

    private mutating func compareFields(_ oldField: Field, _ newField: Field, at path: String) {
        var newAliases = newField.aliases
        if oldField.name != newField.name {
            report(
                .fieldRenamed, path, old: oldField.name, new: newField.name,
                "field renamed: \(oldField.name) → \(newField.name) (through the alias \(oldField.name))")
            newAliases.removeAll { $0 == oldField.name }  // the rename itself, not an aliases change
        }
        compareDoc(oldField.doc, newField.doc, at: path)
        switch (oldField.defaultValue, newField.defaultValue) {
        case (nil, let value?):
            report(.defaultAdded, path, old: nil, new: value.compactText, "default added: \(value.compactText)")
        case (let value?, nil):
            report(.defaultRemoved, path, old: value.compactText, new: nil, "default removed (was \(value.compactText))")
        case (let before?, let after?) where !Self.sameValue(before, after):
            report(.defaultChanged, path, old: before.compactText, new: after.compactText, "default changed: \(before.compactText) → \(after.compactText)")
        default:
            break
        }
        if oldField.order != newField.order {
            report(.orderChanged, path, old: oldField.order.rawValue, new: newField.order.rawValue, "order changed: \(oldField.order.rawValue) → \(newField.order.rawValue)")
        }
        compareAliases(oldField.aliases, newAliases, at: path)
        compare(oldField.type, newField.type, at: path + "/type")
    }

    private mutating func compareEnums(_ oldEnum: EnumType, _ newEnum: EnumType, at path: String) {
        let oldSymbols = Set(oldEnum.symbols)
        let newSymbols = Set(newEnum.symbols)
        for symbol in newEnum.symbols where !oldSymbols.contains(symbol) {
            report(.symbolAdded, path + "/symbols", old: nil, new: symbol, "symbol added: \(symbol)")
        }
        for symbol in oldEnum.symbols where !newSymbols.contains(symbol) {
            report(.symbolRemoved, path + "/symbols", old: symbol, new: nil, "symbol removed: \(symbol)")
        }
        let oldOrder = oldEnum.symbols.filter(newSymbols.contains)
        let newOrder = newEnum.symbols.filter(oldSymbols.contains)
        if oldOrder != newOrder {
            report(
                .symbolsReordered, path + "/symbols", old: oldOrder.joined(separator: ", "), new: newOrder.joined(separator: ", "),
                "symbols reordered: \(oldOrder.joined(separator: ", ")) → \(newOrder.joined(separator: ", "))")
        }
        if oldEnum.defaultSymbol != newEnum.defaultSymbol {
            report(
                .enumDefaultChanged, path + "/default", old: oldEnum.defaultSymbol, new: newEnum.defaultSymbol,
                "enum default changed: \(oldEnum.defaultSymbol ?? "none") → \(newEnum.defaultSymbol ?? "none")")
        }
    }

    private mutating func compareDoc(_ oldDoc: String?, _ newDoc: String?, at path: String) {
        guard oldDoc != newDoc else { return }
        let message = oldDoc == nil ? "doc added" : newDoc == nil ? "doc removed" : "doc changed"
        report(.docChanged, path, old: oldDoc, new: newDoc, message)
    }

    private mutating func compareAliases(_ oldAliases: [String], _ newAliases: [String], at path: String) {
        // Aliases are a set: their order means nothing.
        guard Set(oldAliases) != Set(newAliases) else { return }
        let before = "[" + oldAliases.joined(separator: ", ") + "]"
        let after = "[" + newAliases.joined(separator: ", ") + "]"
        report(.aliasesChanged, path, old: before, new: after, "aliases changed: \(before) → \(after)")
    }

    private mutating func reportTypeChange(_ oldID: SchemaNode.ID, _ newID: SchemaNode.ID, at path: String) {
        let oldKind = old.kinds[oldID]
        let newKind = new.kinds[newID]
        var before = typeText(oldID, in: old)
        var after = typeText(newID, in: new)
        if before == after {  // a record and an enum of one name, say
            before = "\(oldKind.rawValue) \(before)"
            after = "\(newKind.rawValue) \(after)"
        }
        var note = ""
        var promotion: String?
        if ResolutionRules.isPromotion(writer: oldKind, reader: newKind) {
            promotion = "\(oldKind.rawValue) → \(newKind.rawValue)"
            note = " (promotion \(oldKind.rawValue) → \(newKind.rawValue))"
        } else if ResolutionRules.isPromotion(writer: newKind, reader: oldKind) {
            note = " (narrowed: old readers promote \(newKind.rawValue) → \(oldKind.rawValue), the new schema cannot read old \(oldKind.rawValue))"
        } else if oldKind == .union || newKind == .union {
            let wasOptional = admitsNull(oldID, in: old)
            let isOptional = admitsNull(newID, in: new)
            if wasOptional != isOptional { note = isOptional ? " (made optional)" : " (made required)" }
        }
        report(.typeChanged, path, old: before, new: after, "type changed: \(before) → \(after)\(note)", promotion: promotion)
    }

    /// Pairs the branches of two unions (a plain type is a union of one): first the same type (a named type by its
    /// full name), then as Avro resolves an old branch against the new union (promotion, aliases, unqualified name).
    /// Unpaired branches come with a nil partner; the order is the new union's, removed branches last.
    private func pairBranches(_ oldBranches: [SchemaNode.ID], _ newBranches: [SchemaNode.ID]) -> [(old: Int?, new: Int?)] {
        var oldForNew = [Int?](repeating: nil, count: newBranches.count)
        var paired = Set<Int>()
        for (oldIndex, oldBranch) in oldBranches.enumerated() {
            let key = branchKey(oldBranch, in: old)
            if let newIndex = newBranches.indices.first(where: { oldForNew[$0] == nil && branchKey(newBranches[$0], in: new) == key }) {
                oldForNew[newIndex] = oldIndex
                paired.insert(oldIndex)
            }
        }
        for (oldIndex, oldBranch) in oldBranches.enumerated() where !paired.contains(oldIndex) {
            let free = newBranches.indices.filter { oldForNew[$0] == nil }
            if let found = ResolutionRules.unionBranch(in: free.map { newBranches[$0] }, of: new, for: oldBranch, of: old) {
                oldForNew[free[found]] = oldIndex
                paired.insert(oldIndex)
            }
        }
        let removed = oldBranches.indices.filter { !paired.contains($0) }.map { (old: Optional($0), new: Int?.none) }
        return oldForNew.enumerated().map { (old: $0.element, new: Optional($0.offset)) } + removed
    }

    /// A union branch's name in paths: a named type's full name, else its kind (a union has one of each).
    private func branchKey(_ id: SchemaNode.ID, in schema: AvroSchema) -> String {
        schema[id].name?.fullName ?? schema.kinds[id].rawValue
    }

    private func admitsNull(_ id: SchemaNode.ID, in schema: AvroSchema) -> Bool {
        if case .union(let branches) = schema[id].content { return branches.contains { schema.kinds[$0] == .null } }
        return schema.kinds[id] == .null
    }

    /// A type as short text: `int`, `long (timestamp-millis)`, `com.acme.Address`, `array<string>`, `[null, string]`.
    private func typeText(_ id: SchemaNode.ID, in schema: AvroSchema) -> String {
        let node = schema[id]
        if let name = node.name { return name.fullName }
        switch node.content {
        case .primitive(let kind): return kind.rawValue + (node.logicalType.map { " (\(logicalText($0)))" } ?? "")
        case .array(let items): return "array<\(typeText(items, in: schema))>"
        case .map(let values): return "map<\(typeText(values, in: schema))>"
        case .union(let branches): return "[" + branches.map { typeText($0, in: schema) }.joined(separator: ", ") + "]"
        default: return node.kind.rawValue
        }
    }

    private func logicalText(_ logicalType: LogicalType) -> String {
        if case .decimal(let precision, let scale) = logicalType { return "decimal(\(precision),\(scale))" }
        return logicalType.name
    }

    /// Whether two defaults are the same value: members in any order, `1` and `1.0` alike.
    static func sameValue(_ first: JSONValue, _ second: JSONValue) -> Bool {
        switch (first, second) {
        case (.integer(let a), .double(let b)), (.double(let b), .integer(let a)):
            return Double(a) == b
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { sameValue($0, $1) }
        case (.object(let a), .object(let b)):
            guard a.members.count == b.members.count else { return false }
            return a.members.allSatisfy { member in b[member.key].map { sameValue(member.value, $0) } ?? false }
        default:
            return first == second
        }
    }

    private func defaultText(_ value: JSONValue?) -> String {
        value.map { "default \($0.compactText)" } ?? "no default"
    }
}

extension SchemaNode {
    /// The doc of a record, enum or fixed.
    fileprivate var doc: String? {
        switch content {
        case .record(let record): return record.doc
        case .enumeration(let enumeration): return enumeration.doc
        case .fixed(let fixed): return fixed.doc
        default: return nil
        }
    }
}
