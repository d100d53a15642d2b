import AvroCodec

/// One file's verdict in a report about several files (`check`, `register`, `validate` of a repository): what
/// each output format prints for it.
struct FileReport {
    enum Verdict: String {
        case compatible, incompatible, new, invalid, deleted, registered, unchanged, skipped, valid, refused
    }

    let path: String
    let verdict: Verdict
    /// For people: the file's lines, ending with a newline.
    let text: String
    /// GitHub workflow commands, one a line, ending with a newline; each carries the file of its problem.
    var github: String { makeGithub() }
    /// Built only when GitHub output is asked for: placing each problem on its file parses schemas again.
    private let makeGithub: () -> String
    /// This file's part of the JSON document.
    let json: JSONValue

    /// A verdict told in one line: the text line, a GitHub annotation on the file (`level`: error, warning or
    /// notice) and a JSON object with `path`, `verdict`, `message` and `extra`.
    init(path: String, verdict: Verdict, message: String, annotation: String, title: String, extra: [(String, JSONValue)] = []) {
        self.path = path
        self.verdict = verdict
        self.text = message + "\n"
        let line = "::\(annotation) file=\(percentEscaped(path, "%\r\n:,")),title=\(percentEscaped(title, "%\r\n:,"))::\(percentEscaped(message, "%\r\n"))\n"
        self.makeGithub = { line }
        self.json = .object([("path", .string(path)), ("verdict", .string(verdict.rawValue)), ("message", .string(message))] + extra)
    }

    init(path: String, verdict: Verdict, text: String, github: @autoclosure @escaping () -> String, json: JSONValue) {
        self.path = path
        self.verdict = verdict
        self.text = text
        self.makeGithub = github
        self.json = json
    }

    /// A compatibility report of the codec's checker (offline checks).
    init(path: String, formatter: CheckReportFormatter) {
        let document = formatter.jsonValue
        var members = [("path", JSONValue.string(path)), ("verdict", JSONValue.string(formatter.report.isCompatible ? "compatible" : "incompatible"))]
        if case .object(let object) = document { members += object.members.map { ($0.key, $0.value) } }
        self.init(
            path: path, verdict: formatter.report.isCompatible ? .compatible : .incompatible, text: formatter.text(), github: formatter.github(),
            json: .object(members))
    }
}

/// Prints the reports of several files in one format, then the summary line (`3 files: 2 compatible, 1
/// INCOMPATIBLE`, with `counted` always counted); `header` members lead the JSON document, `okKey` names its
/// overall verdict. Throws the exit status: 2 if any file is invalid, else 1 if any is incompatible (or was not
/// registered).
func printReports(
    _ reports: [FileReport], format: CheckCommand.Format, counted: FileReport.Verdict, okKey: String, header: [(String, JSONValue)],
    summaryTitle: String
) throws {
    for report in reports {
        switch format {
        case .text: print(report.text, terminator: "")
        case .github: print(report.github, terminator: "")
        case .json: break
        }
    }
    let summary = summaryLine(reports, counted: counted)
    let failed = reports.contains { $0.verdict == .incompatible || $0.verdict == .skipped }
    let invalid = reports.contains { $0.verdict == .invalid || $0.verdict == .refused }
    switch format {
    case .text: print(summary)
    case .github: print("::\(invalid || failed ? "error" : "notice") title=\(percentEscaped(summaryTitle, "%\r\n:,"))::\(percentEscaped(summary, "%\r\n"))")
    case .json:
        let document = JSONValue.object(
            header + [("files", .array(reports.map(\.json))), ("summary", .string(summary)), (okKey, .bool(!failed && !invalid))])
        print(document.prettyText(sortingKeys: true))
    }
    if invalid { throw ExitStatus.invalidInput }
    if failed { throw ExitStatus.incompatible }
}

/// `N files: 2 compatible, 1 INCOMPATIBLE (1 new); 1 deleted`: deleted files are not counted among the files.
func summaryLine(_ reports: [FileReport], counted: FileReport.Verdict) -> String {
    let files = reports.filter { $0.verdict != .deleted }
    func count(_ verdicts: FileReport.Verdict...) -> Int { files.filter { verdicts.contains($0.verdict) }.count }
    var parts: [String] = []
    let compatible = count(.compatible, .new)
    if compatible > 0 || counted == .compatible { parts.append("\(compatible) compatible") }
    if count(.incompatible) > 0 { parts.append("\(count(.incompatible)) INCOMPATIBLE") }
    if count(.registered) > 0 || counted == .registered { parts.append("\(count(.registered)) registered") }
    if count(.unchanged) > 0 { parts.append("\(count(.unchanged)) already registered") }
    if count(.valid) > 0 || counted == .valid { parts.append("\(count(.valid)) valid") }
    if count(.skipped) > 0 { parts.append("\(count(.skipped)) NOT REGISTERED") }
    if count(.refused) > 0 { parts.append("\(count(.refused)) REFUSED") }
    if count(.invalid) > 0 { parts.append("\(count(.invalid)) INVALID") }
    var line = "\(files.count) file\(files.count == 1 ? "" : "s"): " + parts.joined(separator: ", ")
    if count(.new) > 0 { line += " (\(count(.new)) new)" }
    let deleted = reports.count - files.count
    if deleted > 0 { line += "; \(deleted) deleted" }
    return line
}
