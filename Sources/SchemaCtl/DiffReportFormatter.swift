import AvroCodec

/// Renders a schema diff for people (text) or tools (JSON).
struct DiffReportFormatter {
    /// What the two sides are ("orders-value v3 (id 7)", "schemas/order.avsc@main", a file name).
    let oldLabel: String
    let newLabel: String
    let diff: SchemaDiff

    /// `--- old`, `+++ new`, one line per change (`+` added, `-` removed, `~` changed), then the verdict each way with
    /// its problems as `check` prints them.
    func text() -> String {
        var out = "--- \(oldLabel)\n+++ \(newLabel)\n"
        if diff.changes.isEmpty { out += "no changes\n" }
        let width = min(48, diff.changes.map { Self.shownPath($0.path).count }.max() ?? 0)
        for change in diff.changes {
            let path = Self.shownPath(change.path)
            out += "\(Self.sign(of: change.kind)) \(path)\(String(repeating: " ", count: max(0, width - path.count)))  \(change.message)\n"
        }
        out += verdict("BACKWARD (new reads old)", diff.backwardProblems, origin: "the new schema cannot read data written with the old one")
        if !diff.backwardProblems.isEmpty { out += "\n" }
        out += verdict("FORWARD (old reads new)", diff.forwardProblems, origin: "the old schema cannot read data written with the new one")
        return out
    }

    private func verdict(_ title: String, _ problems: [Incompatibility], origin: String) -> String {
        if problems.isEmpty { return "\(title): compatible\n" }
        var out = "\(title): INCOMPATIBLE, \(problems.count) problem\(problems.count == 1 ? "" : "s")\n"
        for (index, problem) in problems.enumerated() {
            out += CheckReportFormatter.text(of: problem, number: index + 1, origin: origin)
        }
        return out
    }

    /// One JSON document: the two sides, the changes, and each direction's verdict with its problems.
    func json() -> String {
        let changes = diff.changes.map { change -> JSONValue in
            var members: [(String, JSONValue)] = [
                ("kind", .string(change.kind.rawValue)), ("path", .string(change.path)), ("message", .string(change.message)),
                ("old", change.old.map(JSONValue.string) ?? .null), ("new", change.new.map(JSONValue.string) ?? .null),
            ]
            if let promotion = change.promotion { members.append(("promotion", .string(promotion))) }
            return .object(members)
        }
        return Self.document(
            old: .string(oldLabel), new: newLabel, changes: changes,
            backward: diff.backwardProblems.map { .object(CheckReportFormatter.jsonMembers(of: $0)) },
            forward: diff.forwardProblems.map { .object(CheckReportFormatter.jsonMembers(of: $0)) })
    }

    /// The JSON document, also for a file with nothing to compare with (`old` null, `extra` saying why).
    static func document(
        old: JSONValue, new: String, changes: [JSONValue], backward: [JSONValue], forward: [JSONValue], extra: [(String, JSONValue)] = []
    ) -> String {
        let payload = JSONValue.object(
            [
                ("old", old), ("new", .string(new)), ("changes", .array(changes)),
                ("backward", .object([("compatible", .bool(backward.isEmpty)), ("problems", .array(backward))])),
                ("forward", .object([("compatible", .bool(forward.isEmpty)), ("problems", .array(forward))])),
            ] + extra)
        return payload.prettyText(sortingKeys: true)
    }

    private static func shownPath(_ path: String) -> String { path.isEmpty ? "/" : path }

    private static func sign(of kind: SchemaChange.Kind) -> Character {
        switch kind {
        case .fieldAdded, .defaultAdded, .symbolAdded, .unionBranchAdded: return "+"
        case .fieldRemoved, .defaultRemoved, .symbolRemoved, .unionBranchRemoved: return "-"
        default: return "~"
        }
    }
}
