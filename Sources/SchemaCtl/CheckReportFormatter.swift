import AvroCodec

/// Renders a compatibility report for people (text), tools (JSON) or GitHub Actions (annotations).
struct CheckReportFormatter {
    let newPath: String
    /// Existing version files, oldest first: version N is `existingPaths[N - 1]`.
    let existingPaths: [String]
    let report: CompatibilityReport
    /// The file defining the type a problem lies in, when another file does (a type used from another file): its
    /// annotation goes there.
    var fileOfProblem: ((Incompatibility) -> String?)? = nil

    private func file(ofVersion version: Int) -> String {
        version >= 1 && version <= existingPaths.count ? existingPaths[version - 1] : "?"
    }

    private func plural(_ count: Int, _ noun: String) -> String {
        "\(count) \(noun)\(count == 1 ? "" : "s")"
    }

    func text() -> String {
        let level = report.level.rawValue
        if report.level == .none {
            return "COMPATIBLE: \(newPath): level NONE checks nothing\n"
        }
        if report.comparedVersions.isEmpty {
            return "COMPATIBLE: \(newPath): no existing versions to compare with\n"
        }
        let comparedList = report.comparedVersions
        let compared: String
        if comparedList.count <= 4 {
            compared = comparedList.map { "v\($0) (\(file(ofVersion: $0)))" }.joined(separator: ", ")
        } else {
            let newest = comparedList[0]
            let oldest = comparedList[comparedList.count - 1]
            compared = "v\(newest) (\(file(ofVersion: newest))) … v\(oldest) (\(file(ofVersion: oldest)))"
        }
        if report.isCompatible {
            return "COMPATIBLE: \(newPath) is \(level) compatible with \(plural(report.comparedVersions.count, "version")): \(compared)\n"
        }
        let versions = Set(report.incompatibilities.map(\.version)).count
        var out = "INCOMPATIBLE: \(newPath) is not \(level) compatible: \(plural(report.incompatibilities.count, "problem")) "
        out += "with \(plural(versions, "existing version"))\n"
        for (index, problem) in report.incompatibilities.enumerated() {
            let direction =
                problem.direction == .backward
                ? "the new schema cannot read data written with v\(problem.version)"
                : "v\(problem.version) cannot read data written with the new schema"
            out += Self.text(of: problem, number: index + 1, origin: "\(direction) (\(file(ofVersion: problem.version)))")
        }
        return out
    }

    /// One problem for people: a blank line, then numbered, with its path, `origin` (whose data the reader cannot
    /// read), the message and the fix. `diff` prints its verdicts' problems the same way.
    static func text(of problem: Incompatibility, number: Int, origin: String) -> String {
        var out = "\n\(number). \(problem.type.rawValue) at \(problem.path.isEmpty ? "/" : problem.path)\n"
        out += "   \(origin)\n"
        out += "   \(problem.message)\n"
        out += "   fix: \(problem.fix)\n"
        return out
    }

    /// One problem's JSON members but its version's: `diff` has no versions.
    static func jsonMembers(of problem: Incompatibility) -> [(String, JSONValue)] {
        [
            ("type", .string(problem.type.rawValue)), ("path", .string(problem.path)), ("location", .string(problem.location)),
            ("direction", .string(problem.direction.rawValue)), ("message", .string(problem.message)),
            ("additionalInfo", .string(problem.additionalInfo)), ("fix", .string(problem.fix)),
        ]
    }

    /// One JSON document for tools: keys sorted, indented.
    func json() -> String {
        jsonValue.prettyText(sortingKeys: true)
    }

    /// The report as a JSON value (a repository report nests it per file).
    var jsonValue: JSONValue {
        let problems = report.incompatibilities.map { problem -> JSONValue in
            .object(
                Self.jsonMembers(of: problem) + [
                    ("version", .integer(Int64(problem.version))), ("versionFile", .string(file(ofVersion: problem.version))),
                ])
        }
        let payload = JSONValue.object([
            ("compatible", .bool(report.isCompatible)), ("level", .string(report.level.rawValue)), ("schema", .string(newPath)),
            ("comparedVersions", .array(report.comparedVersions.map { .integer(Int64($0)) })),
            ("comparedFiles", .array(report.comparedVersions.map { .string(file(ofVersion: $0)) })),
            ("incompatibilities", .array(problems)),
        ])
        return payload
    }

    /// GitHub Actions workflow commands: one `::error` line per problem, a `::notice` when compatible.
    func github() -> String {
        if report.isCompatible {
            return "::notice file=\(property(newPath)),title=schema compatible::\(data(text().trimming("\n")))\n"
        }
        var out = ""
        for problem in report.incompatibilities {
            let definer = fileOfProblem?(problem)
            let through = definer.map { _ in ", breaks \(newPath)" } ?? ""
            let title = "\(problem.type.rawValue) at \(problem.path.isEmpty ? "/" : problem.path) (v\(problem.version)\(through))"
            let message = "\(problem.message). Fix: \(problem.fix)"
            out += "::error file=\(property(definer ?? newPath)),title=\(property(title))::\(data(message))\n"
        }
        return out
    }

    /// Escaping for a workflow command's message.
    private func data(_ text: String) -> String {
        percentEscaped(text, "%\r\n")
    }

    /// Escaping for a workflow command's property value.
    private func property(_ text: String) -> String {
        percentEscaped(text, "%\r\n:,")
    }
}

/// `text` with each of `characters` (ASCII) percent-encoded. Scalar by scalar: as Characters, a
/// "\r\n" pair is one grapheme that neither "\r" nor "\n" would match.
func percentEscaped(_ text: String, _ characters: StaticString) -> String {
    let special = Set(UnsafeBufferPointer(start: characters.utf8Start, count: characters.utf8CodeUnitCount))
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count)
    let hex = Array("0123456789ABCDEF".utf8)
    for byte in text.utf8 {
        if special.contains(byte) {
            out.append(UInt8(ascii: "%"))
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        } else {
            out.append(byte)
        }
    }
    return String(decoding: out, as: UTF8.self)
}
