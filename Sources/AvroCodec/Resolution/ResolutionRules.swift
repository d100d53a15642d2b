/// The specification's schema-resolution matching rules, in one place.
///
/// The compatibility checker uses them to decide whether a reader can read a writer's data; the
/// binary decoder's resolution plan uses the same functions to decide how to read it, so the two can
/// never disagree.
public enum ResolutionRules {
    /// Whether a writer value of kind `writer` can be read as kind `reader` by promotion
    /// (int→long/float/double, long→float/double, float→double, string↔bytes).
    public static func isPromotion(writer: AvroKind, reader: AvroKind) -> Bool {
        switch (writer, reader) {
        case (.int, .long), (.int, .float), (.int, .double),
            (.long, .float), (.long, .double),
            (.float, .double),
            (.string, .bytes), (.bytes, .string):
            return true
        default:
            return false
        }
    }

    /// Whether a reader named type accepts a writer named type's name: the unqualified names are equal
    /// (as current Apache Avro implementations match them), or one of the reader's aliases names the
    /// writer. A writer's aliases do not count.
    public static func namesMatch(reader: SchemaNode, writer: SchemaNode) -> Bool {
        guard let readerName = reader.name, let writerName = writer.name else { return false }
        if readerName.name == writerName.name { return true }
        for alias in reader.aliases where alias.name == writerName.name {
            return true
        }
        return false
    }

    /// The index of the writer field that the reader field at `position` reads: by name, then by the
    /// reader field's aliases.
    public static func writerFieldIndex(forReaderField position: Int, of reader: RecordType, in writer: RecordType) -> Int? {
        let nameID = reader.fieldNameIDs[position]
        // Fast path: evolution usually keeps field positions.
        if position < writer.fieldNameIDs.count, writer.fieldNameIDs[position] == nameID { return position }
        if let index = writer.fieldPositionByNameID[nameID] { return index }
        return aliasedWriterFieldIndex(forReaderField: position, of: reader, in: writer)
    }

    /// The writer field a reader field's aliases name, unless another reader field already reads it:
    /// one with that very name, or an earlier one through its own alias. Each writer field is read by
    /// at most one reader field.
    static func aliasedWriterFieldIndex(forReaderField position: Int, of reader: RecordType, in writer: RecordType) -> Int? {
        for alias in reader.fields[position].aliases {
            guard let index = writer.fieldIndex[alias] else { continue }
            if reader.fieldIndex[writer.fields[index].name] != nil { continue }
            let claimedEarlier = (0..<position).contains { earlier in
                !reader.fields[earlier].aliases.isEmpty && writer.fieldIndex[reader.fields[earlier].name] == nil
                    && aliasedWriterFieldIndex(forReaderField: earlier, of: reader, in: writer) == index
            }
            if claimedEarlier { continue }
            return index
        }
        return nil
    }

    /// Whether `reader` and `writer` match at the top level, before their contents are compared:
    /// the same primitive or a promotion, both arrays, both maps, or named types of the same kind
    /// whose names match. Unions are resolved by the callers.
    public static func matchesShallowly(reader: SchemaNode, writer: SchemaNode) -> Bool {
        let readerKind = reader.kind
        let writerKind = writer.kind
        if readerKind == writerKind {
            return readerKind.isNamed ? namesMatch(reader: reader, writer: writer) : true
        }
        return isPromotion(writer: writerKind, reader: readerKind)
    }

    /// The reader union branch that reads a (non-union) writer schema: for a named type the branch with the
    /// same full name, then one with that full name as an alias, then the first of the same kind and unqualified
    /// name; for others the first of the same
    /// type; otherwise the first branch that matches by promotion or alias, as Apache Avro's Java resolver
    /// chooses. (Full names first: a union holding `a.B` and `b.B` would otherwise read `b.B` as `a.B`, and a
    /// schema would not be compatible with itself — found by fuzzing.)
    public static func unionBranch(
        in readerBranches: [SchemaNode.ID], of reader: AvroSchema, for writerID: SchemaNode.ID, of writer: AvroSchema
    ) -> Int? {
        let writerKind = writer.kinds[writerID]
        let writerName = writerKind.isNamed ? writer.nodes[writerID].name?.name : nil
        if writerKind.isNamed, let fullName = writer.nodes[writerID].name?.fullName {
            for (index, branch) in readerBranches.enumerated() where reader.kinds[branch] == writerKind && reader.nodes[branch].name?.fullName == fullName {
                return index
            }
            // Then a branch whose alias is that full name (Java applies reader aliases before choosing).
            for (index, branch) in readerBranches.enumerated() where reader.kinds[branch] == writerKind
                && reader.nodes[branch].aliases.contains(where: { $0.fullName == fullName }) {
                return index
            }
        }
        for (index, branch) in readerBranches.enumerated() where reader.kinds[branch] == writerKind {
            if writerName == nil || reader.nodes[branch].name?.name == writerName { return index }
        }
        for (index, branch) in readerBranches.enumerated() {
            let readerKind = reader.kinds[branch]
            if readerKind.isNamed {
                if readerKind == writerKind, namesMatch(reader: reader.nodes[branch], writer: writer.nodes[writerID]) { return index }
            } else if isPromotion(writer: writerKind, reader: readerKind) {
                return index
            }
        }
        return nil
    }
}
