import AvroCodec

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
        let renames = try git.renamesSince(commit)
        // Files named on the command line that are gone now: deleted since REV (when REV has them), not invalid.
        var deleted: [String] = []
        var present: [String] = []
        for argument in arguments {
            var status = stat()
            if argument == "-" || stat(argument, &status) == 0 {
                present.append(argument)
            } else if let path = git.repositoryPath(argument), !(try git.contents(at: commit, of: [path])).isEmpty {
                deleted.append(path)
            } else {
                present.append(argument)  // its own error (cannot read) comes with the file's verdict
            }
        }
        let current = try SchemaSet(arguments: present, library: project.schemaDirectories)
        // Every file of today's set: the selected ones and the library's (what `current` read).
        let everyPath = Set(current.selected + current.contentsByPath.keys).filter { $0 != "-" }.compactMap(git.repositoryPath)
        // Each revision's files, read once (one `git cat-file --batch` a revision), as sets resolving names: the
        // files of today's set and those of REV's tree under the same directories (a file renamed or deleted
        // since then still defines its types at REV).
        let directories = (present.filter { $0 != "-" && SchemaSet.isDirectory($0) } + project.schemaDirectories).compactMap(git.repositoryPath)
        var sets: [String: SchemaSet] = [:]
        var asked: [String: Set<String>] = [:]  // the paths each set's batch asked git for
        func set(at revision: String, extra: [String]) throws -> SchemaSet {
            // One set a revision for every file; a path its batch did not ask for (an older name in a file's
            // history) gets a set of its own.
            if let shared = sets[revision], extra.allSatisfy({ asked[revision]?.contains($0) == true }) { return shared }
            let key = sets[revision] == nil ? revision : revision + "\u{0}" + extra.joined(separator: "\u{0}")
            if let known = sets[key] { return known }
            var then: [String] = []
            for directory in directories { then += try git.schemaFiles(at: revision, under: directory) }
            let repositoryPaths = Array(Set(everyPath + extra + renames.values + then)).sorted()
            let made = SchemaSet(selected: [], contents: try git.contents(at: revision, of: repositoryPaths))
            sets[key] = made
            asked[key] = Set(repositoryPaths)
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
            guard let repositoryPath = git.repositoryPath(path) else {
                results.append(FileResult(path: path, verdict: .invalid("\(path): outside the git work tree \(git.root)"), shallowNote: nil))
                continue
            }
            let level = explicitLevel ?? project.level(forSubject: subjectName(for: path, explicit: nil)) ?? .backward
            // A file renamed since REV is compared under its name at REV.
            let pathAtRevision = renames[repositoryPath] ?? repositoryPath
            // The versions to compare with, oldest first: REV's own content last (it may come from a merge that
            // no commit of the file's history shows), the history before it with a _TRANSITIVE level.
            var versions: [(label: String, path: String, revision: String)] = []
            if level.isTransitive {
                // The file's own commits (renames followed) and those changing a file whose types it uses: the
                // registry gets a version for each (a new reference), so they are versions here too.
                let own = try git.history(of: pathAtRevision, from: commit)
                let used = current.closure(of: path).compactMap(git.repositoryPath).map { renames[$0] ?? $0 }
                var commits = own.map(\.commit)
                if !used.isEmpty, !own.isEmpty {
                    commits = try git.commits(touching: Array(Set(own.map(\.path))).sorted() + used, from: commit)
                }
                let pathAt = Dictionary(own.map { ($0.commit, $0.path) }, uniquingKeysWith: { first, _ in first })
                var pathThen: String?
                for each in commits {
                    if let own = pathAt[each] { pathThen = own }
                    if let pathThen { versions.append(("\(pathThen)@\(each.prefix(8))", pathThen, each)) }
                }
            }
            versions.append(("\(pathAtRevision)@\(revision)", pathAtRevision, commit))
            // Distinct schemas only (their resolved text: a change in a type from another file is a new version,
            // the same content twice is one), and a version that never parsed is skipped with a note: no registry
            // would have held it.
            var seen = Set<String>()
            var parsed: [(label: String, schema: AvroSchema)] = []
            var notes: [String] = []
            for version in versions {
                let at = try set(at: version.revision, extra: [version.path])
                guard at.contents(of: version.path) != nil else { continue }
                do {
                    let schema = try at.load(version.path).schema
                    if seen.insert(schema.resolvedText).inserted { parsed.append((version.label, schema)) }
                } catch let error as InputError {
                    notes.append("\(path): its version \(version.label) is skipped, it is not a valid schema: \(error.description)")
                }
            }
            for note in notes { printError("note: \(note)") }
            guard !parsed.isEmpty else {
                results.append(FileResult(path: path, verdict: .new, shallowNote: nil))
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
            var formatter = CheckReportFormatter(newPath: path, existingPaths: parsed.map(\.label), report: report)
            formatter.fileOfProblem = { [current] problem in current.definingFile(of: problem.path, in: new) }
            let note = git.isShallow ? "\(path): shallow clone: \(parsed.count) version\(parsed.count == 1 ? "" : "s") could be seen" : nil
            results.append(FileResult(path: path, verdict: report.isCompatible ? .compatible(formatter) : .incompatible(formatter), shallowNote: note))
        }
        // Files under a given directory at REV that are gone now (and not merely renamed).
        let here = Set(current.selected.compactMap(git.repositoryPath))
        let renamedAway = Set(renames.values)
        for argument in present where argument != "-" && SchemaSet.isDirectory(argument) {
            guard let directory = git.repositoryPath(argument) else { continue }
            for file in try git.schemaFiles(at: commit, under: directory) where !here.contains(file) && !renamedAway.contains(file) {
                if !deleted.contains(file) { deleted.append(file) }
            }
        }
        return (results, deleted)
    }
}

extension SchemaSet {
    /// The bytes held for `path`.
    func contents(of path: String) -> [UInt8]? { contentsByPath[path] }

    /// The files whose types `path` uses, directly or through others (copied in or referenced); `path` must load.
    func closure(of path: String) -> [String] {
        var found: [String] = []
        var pending = [path]
        while let next = pending.popLast() {
            guard let loaded = try? load(next) else { continue }
            for file in loaded.dependencies + loaded.copiedFrom.sorted() where file != path && !found.contains(file) {
                found.append(file)
                pending.append(file)
            }
        }
        return found
    }
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
