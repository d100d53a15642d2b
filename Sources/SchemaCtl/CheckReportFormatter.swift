import AvroCodec
import Foundation

/// Renders a compatibility report for people (text), tools (JSON) or GitHub Actions (annotations).
struct CheckReportFormatter {
    let newPath: String
    /// Existing version files, oldest first: version N is `existingPaths[N - 1]`.
    let existingPaths: [String]
    let report: CompatibilityReport

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
            out += "\n\(index + 1). \(problem.type.rawValue) at \(problem.path.isEmpty ? "/" : problem.path)\n"
            out += "   \(direction) (\(file(ofVersion: problem.version)))\n"
            out += "   \(problem.message)\n"
            out += "   fix: \(problem.fix)\n"
        }
        return out
    }

    private struct JSONReport: Encodable {
        struct Problem: Encodable {
            let type: String
            let path: String
            let location: String
            let version: Int
            let versionFile: String
            let direction: String
            let message: String
            let additionalInfo: String
            let fix: String
        }

        let compatible: Bool
        let level: String
        let schema: String
        let comparedVersions: [Int]
        let incompatibilities: [Problem]
    }

    func json() -> String {
        let payload = JSONReport(
            compatible: report.isCompatible, level: report.level.rawValue, schema: newPath, comparedVersions: report.comparedVersions,
            incompatibilities: report.incompatibilities.map {
                JSONReport.Problem(
                    type: $0.type.rawValue, path: $0.path, location: $0.location, version: $0.version,
                    versionFile: file(ofVersion: $0.version), direction: $0.direction.rawValue, message: $0.message,
                    additionalInfo: $0.additionalInfo, fix: $0.fix)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(payload) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// GitHub Actions workflow commands: one `::error` line per problem, a `::notice` when compatible.
    func github() -> String {
        if report.isCompatible {
            return "::notice file=\(property(newPath)),title=schema compatible::\(data(text().trimmingCharacters(in: .newlines)))\n"
        }
        var out = ""
        for problem in report.incompatibilities {
            let title = "\(problem.type.rawValue) at \(problem.path.isEmpty ? "/" : problem.path) (v\(problem.version))"
            let message = "\(problem.message). Fix: \(problem.fix)"
            out += "::error file=\(property(newPath)),title=\(property(title))::\(data(message))\n"
        }
        return out
    }

    /// Escaping for a workflow command's message.
    private func data(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
    }

    /// Escaping for a workflow command's property value.
    private func property(_ text: String) -> String {
        data(text).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }
}
