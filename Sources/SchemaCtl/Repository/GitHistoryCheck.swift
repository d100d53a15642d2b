import AvroCodec

/// `schemactl check FILES… --against-git REV`: each file against its own content at REV (with a `_TRANSITIVE`
/// level, against every distinct version of it in the history reachable from REV, oldest first), offline, the way
/// the registry would check it. Types used across files are resolved in each revision's own files.
struct GitHistoryCheck {
    enum Verdict {
        case compatible(CheckReportFormatter)
        case incompatible(CheckReportFormatter)
        /// No version at REV: nothing to break.
        case new
        case invalid(String)
    }

    struct FileResult {
        let path: String
        let verdict: Verdict
        /// Versions seen in a shallow clone's history (a note when the history may be cut short).
        let shallowNote: String?
    }

    let revision: String
    let explicitLevel: CompatibilityLevel?
    let project: ProjectFile

    func run(arguments: [String]) throws -> (results: [FileResult], deleted: [String]) {
        let git = try GitRepository.here()
        let commit = try git.requireCommit(revision)
        let current = try SchemaSet(arguments: arguments, library: project.schemaDirectories)
        let (_, library) = try SchemaSet.expand(arguments: arguments, library: project.schemaDirectories)
        let everyPath = current.selected.filter { $0 != "-" } + library
        // Each revision's files, read once (one `git cat-file --batch` a revision), as sets resolving names.
        var sets: [String: SchemaSet] = [:]
        func set(at revision: String, extra: [String] = []) throws -> SchemaSet {
            let key = revision + "\u{0}" + extra.joined(separator: "\u{0}")
            if let known = sets[key] { return known }
            let repositoryPaths = Array(Set(everyPath.map(git.repositoryPath) + extra)).sorted()
            let made = SchemaSet(selected: [], contents: try git.contents(at: revision, of: repositoryPaths))
            sets[key] = made
            return made
        }
        var results: [FileResult] = []
        for path in current.selected {
            let new: SchemaSet.Loaded
            do {
                new = try current.load(path)
            } catch let error as InputError {
                results.append(FileResult(path: path, verdict: .invalid(error.description), shallowNote: nil))
                continue
            }
            let level = explicitLevel ?? project.level(forSubject: subjectName(for: path, explicit: nil)) ?? .backward
            let repositoryPath = git.repositoryPath(path)
            // The versions to compare with: (label, repository path, revision), oldest first.
            var versions: [(label: String, path: String, revision: String)] = []
            let history = try git.history(of: repositoryPath, from: commit)
            if level.isTransitive {
                versions = history.map { ("\($0.path)@\($0.commit.prefix(8))", $0.path, $0.commit) }
            } else if let last = history.last {
                versions = [("\(last.path)@\(revision)", last.path, commit)]
            }
            guard !versions.isEmpty else {
                results.append(FileResult(path: path, verdict: .new, shallowNote: nil))
                continue
            }
            // Distinct contents only: a file changed back is one version.
            var seen = Set<[UInt8]>()
            var parsed: [(label: String, schema: AvroSchema)] = []
            var unreadable: String?
            for version in versions {
                let at = try set(at: version.revision, extra: [version.path])
                guard let bytes = at.contents(of: version.path), seen.insert(bytes).inserted else { continue }
                do {
                    parsed.append((version.label, try at.load(version.path).schema))
                } catch let error as InputError {
                    unreadable = "\(path): its version \(version.label) cannot be read: \(error.description)"
                    break
                }
            }
            if let unreadable {
                results.append(FileResult(path: path, verdict: .invalid(unreadable), shallowNote: nil))
                continue
            }
            let numbers = Array(1..<(parsed.count + 1))
            let compared = CompatibilityChecker.comparedVersions(of: numbers, level: level)
            var problems: [Int: [Incompatibility]] = [:]
            for number in compared {
                problems[number] = CompatibilityChecker.problems(
                    of: new.schema, against: ExistingSchemaVersion(version: number, schema: parsed[number - 1].schema), level: level)
            }
            let report = CompatibilityChecker.report(level: level, comparedVersions: compared, problemsByVersion: problems)
            let formatter = CheckReportFormatter(newPath: path, existingPaths: parsed.map(\.label), report: report)
            let note = git.isShallow ? "\(path): shallow clone: \(parsed.count) version\(parsed.count == 1 ? "" : "s") could be seen" : nil
            results.append(FileResult(path: path, verdict: report.isCompatible ? .compatible(formatter) : .incompatible(formatter), shallowNote: note))
        }
        // Files under a given directory at REV that are gone now.
        var deleted: [String] = []
        let present = Set(current.selected.map(git.repositoryPath))
        for argument in arguments where argument != "-" && SchemaSet.isDirectory(argument) {
            for file in try git.schemaFiles(at: commit, under: git.repositoryPath(argument)) where !present.contains(file) {
                deleted.append(file)
            }
        }
        return (results, deleted)
    }
}

extension SchemaSet {
    /// The bytes held for `path`.
    func contents(of path: String) -> [UInt8]? { contentsByPath[path] }
}

extension ProjectFile {
    /// `[levels] "orders-value" = "FULL"`.
    func level(forSubject subject: String) -> CompatibilityLevel? {
        for (key, value) in sections["levels"] ?? [] where key == subject {
            return CompatibilityLevel(rawValue: value.trimming(" \t\"").uppercased())
        }
        return nil
    }
}
