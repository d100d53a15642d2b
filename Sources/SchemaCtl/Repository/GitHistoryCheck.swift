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
        /// No version at REV: nothing to break (`noValidVersion`: it had versions, none of them valid).
        case new(noValidVersion: Bool)
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
        // schemactl.toml as it was at REV: its [paths] resolve REV's files (a directory dropped since still holds
        // the types the old versions used) and its [subjects] pair a file with its old name.
        let then = projectAtRevision(git: git, commit: commit)
        var thenDirectories: [String] = []
        if let then, let root = then.directory {
            thenDirectories = then.schemaDirectories.compactMap { git.repositoryPath($0.hasPrefix("/") ? $0 : root + "/" + $0) }
        }
        let directories = Array(
            Set((present.filter { $0 != "-" && SchemaSet.isDirectory($0) } + project.schemaDirectories).compactMap(git.repositoryPath) + thenDirectories)
        ).sorted()
        // First each file's versions (which revisions, under which path), then every revision's files read at once.
        // The files given and the files they use: `register` would send those too, so each is checked against
        // its own history (a changed shared type can break its own subject while every file using it is fine).
        var checked = current.selected
        var inChecked = Set(checked)
        for path in current.selected {
            for used in current.closure(of: path) where inChecked.insert(used).inserted { checked.append(used) }
        }
        var plans: [(path: String, plan: Result<Plan, InputError>)] = []
        for path in checked {
            plans.append((path, Result { () throws(InputError) in try plan(path, current: current, git: git, commit: commit, renames: renames, then: then) }))
        }
        var planned = plans.compactMap { try? $0.plan.get() }
        let sets = try RevisionSets(
            git: git, commit: commit, paths: everyPath + renames.values + planned.flatMap { $0.versions.map(\.path) }, directories: directories,
            manyRevisions: planned.contains { $0.level.isTransitive })
        try sets.prepare(planned.flatMap { $0.versions.map(\.revision) })
        if planned.contains(where: { $0.level.isTransitive }) {
            for (index, entry) in plans.enumerated() {
                guard case .success(let plan) = entry.plan else { continue }
                plans[index].plan = .success(try addingCommitsOfUsedFiles(plan, sets: sets, git: git, commit: commit))
            }
            planned = plans.compactMap { try? $0.plan.get() }
            try sets.prepare(planned.flatMap { $0.versions.map(\.revision) })
        }
        var results: [FileResult] = []
        for (path, planning) in plans {
            let plan: Plan
            switch planning {
            case .success(let made): plan = made
            case .failure(let error):
                results.append(FileResult(path: path, verdict: .invalid(error.description), shallowNote: nil))
                continue
            }
            let new = plan.new
            let level = plan.level
            // Distinct schemas only (their resolved text: a change in a type from another file is a new version,
            // the same content twice is one), and a version that never parsed is skipped with a note: no registry
            // would have held it.
            var seen = Set<String>()
            var parsed: [(label: String, schema: AvroSchema)] = []
            var notes: [String] = []
            for version in plan.versions {
                let at = sets.set(at: version.revision)
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
                results.append(FileResult(path: path, verdict: .new(noValidVersion: !notes.isEmpty), shallowNote: nil))
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
        let renamedAway = Set(renames.values).union(planned.compactMap(\.pairedFrom))
        let given = present.filter { $0 != "-" && SchemaSet.isDirectory($0) }.compactMap(git.repositoryPath)
        for file in sets.filesAtCommit where !here.contains(file) && !renamedAway.contains(file) && !deleted.contains(file) {
            if given.contains(where: { $0.isEmpty || file.hasPrefix($0 + "/") }) { deleted.append(file) }
        }
        return (results, deleted)
    }
}

extension GitHistoryCheck {
    /// What one file is compared with: its schema today, its level, and the versions (oldest first) to read.
    struct Plan {
        let new: SchemaSet.Loaded
        let level: CompatibilityLevel
        let versions: [(label: String, path: String, revision: String)]
        /// The file at REV this one replaces under the same subject, though git saw no rename.
        let pairedFrom: String?
        /// The file's own commits (_TRANSITIVE levels), oldest first, with its path in each.
        let own: [(commit: String, path: String)]
        /// The files (repository paths at REV) whose types it uses today.
        let usedToday: [String]
    }

    /// The project file at REV (nil: there was none), its directory today's.
    private func projectAtRevision(git: GitRepository, commit: String) -> ProjectFile? {
        guard let directory = project.directory, let path = git.repositoryPath(directory + "/schemactl.toml"),
            let bytes = (try? git.contents(at: commit, of: [path]))?[path]
        else { return nil }
        var old = ProjectFile.parse(String(decoding: bytes, as: UTF8.self))
        old.directory = directory
        return old
    }

    private func plan(
        _ path: String, current: SchemaSet, git: GitRepository, commit: String, renames: [String: String], then: ProjectFile?
    ) throws(InputError) -> Plan {
        let new: SchemaSet.Loaded
        do {
            new = try current.load(path)
        } catch let error as InputError {
            throw error
        } catch {
            throw InputError(description: "\(path): \(error)")
        }
        guard let repositoryPath = git.repositoryPath(path) else { throw InputError(description: "\(path): outside the git work tree \(git.root)") }
        let level = explicitLevel ?? project.level(forSubject: subjectName(for: path, explicit: nil)) ?? .backward
        // A file renamed since REV is compared under its name at REV: as git sees the rename, or, when the file was
        // changed too much for git to see one, as schemactl.toml maps both names to the file's subject.
        var pathAtRevision = renames[repositoryPath] ?? repositoryPath
        var pairedFrom: String?
        if renames[repositoryPath] == nil {
            let subject = subjectName(for: path, explicit: nil)
            let others = Array(Set(project.paths(withSubject: subject) + (then?.paths(withSubject: subject) ?? [])))
                .compactMap(git.repositoryPath).filter { $0 != repositoryPath }.sorted()
            if !others.isEmpty, (try? git.contents(at: commit, of: [repositoryPath]))?.isEmpty ?? false,
                let earlier = others.first(where: { ((try? git.contents(at: commit, of: [$0])) ?? [:]).isEmpty == false })
            {
                pathAtRevision = earlier
                pairedFrom = earlier
            }
        }
        // The versions to compare with, oldest first: REV's own content last (it may come from a merge that no
        // commit of the file's history shows), the history before it with a _TRANSITIVE level.
        var versions: [(label: String, path: String, revision: String)] = []
        var own: [(commit: String, path: String)] = []
        if level.isTransitive {
            // The file's own commits (renames followed); those changing a file whose types it uses are added once
            // the files it used then are known (`addingCommitsOfUsedFiles`).
            do {
                own = try git.history(of: pathAtRevision, from: commit)
            } catch let error as InputError {
                throw error
            } catch {
                throw InputError(description: "--against-git: \(error)")
            }
            versions = own.map { ("\($0.path)@\($0.commit.prefix(8))", $0.path, $0.commit) }
        }
        versions.append(("\(pathAtRevision)@\(revision)", pathAtRevision, commit))
        let used = current.closure(of: path).compactMap(git.repositoryPath).map { renames[$0] ?? $0 }
        return Plan(new: new, level: level, versions: versions, pairedFrom: pairedFrom, own: own, usedToday: used)
    }

    /// A _TRANSITIVE plan with the commits that changed a file whose types the file used, today or in any of its
    /// own versions (a dependency dropped or renamed since counts for the versions that used it): the registry
    /// gets a version for each (a new reference), so they are versions here too.
    func addingCommitsOfUsedFiles(_ plan: Plan, sets: RevisionSets, git: GitRepository, commit: String) throws -> Plan {
        guard plan.level.isTransitive, !plan.own.isEmpty else { return plan }
        var used = Set(plan.usedToday)
        for version in plan.versions { used.formUnion(sets.set(at: version.revision).closure(of: version.path)) }
        used.subtract(plan.own.map(\.path))
        guard !used.isEmpty else { return plan }
        let commits = try git.commits(touching: Array(Set(plan.own.map(\.path))).sorted() + used.sorted(), from: commit)
        let pathAt = Dictionary(plan.own.map { ($0.commit, $0.path) }, uniquingKeysWith: { first, _ in first })
        var versions: [(label: String, path: String, revision: String)] = []
        var pathThen: String?
        for each in commits {
            if let own = pathAt[each] { pathThen = own }
            if let pathThen { versions.append(("\(pathThen)@\(each.prefix(8))", pathThen, each)) }
        }
        if let last = plan.versions.last { versions.append(last) }  // REV's own content, last
        return Plan(new: plan.new, level: plan.level, versions: versions, pairedFrom: plan.pairedFrom, own: plan.own, usedToday: plan.usedToday)
    }
}

/// The files of every revision a check reads, as sets resolving names: the files of today's set, the older names
/// in the files' histories, and every file the given directories held (a file renamed or deleted since still
/// defines its types then). Read at once: one `git cat-file --batch-check` for every (revision, path), one
/// `--batch` for the distinct blobs; revisions holding the same blobs share one set.
final class RevisionSets {
    private let git: GitRepository
    private let paths: [String]
    private let index = SchemaSet.DefinitionIndex()
    private var sets: [String: SchemaSet] = [:]
    private var keyOfRevision: [String: String] = [:]
    /// The `.avsc` files under the directories at the revision checked against.
    let filesAtCommit: [String]

    /// `manyRevisions`: files ever under `directories` are looked for (a history is read), not only those at `commit`.
    init(git: GitRepository, commit: String, paths: [String], directories: [String], manyRevisions: Bool) throws {
        self.git = git
        var everyPath = Set(paths)
        if manyRevisions { everyPath.formUnion(try git.pathsEverUnder(directories, from: commit)) }
        filesAtCommit = try git.schemaFiles(at: commit, under: directories)
        everyPath.formUnion(filesAtCommit)
        self.paths = everyPath.sorted()
    }

    /// Reads the files of the revisions not read yet, all at once.
    func prepare(_ revisions: [String]) throws {
        let missing = Array(Set(revisions.filter { keyOfRevision[$0] == nil })).sorted()
        guard !missing.isEmpty else { return }
        if missing.count == 1, keyOfRevision.isEmpty {
            // One revision (no _TRANSITIVE level): its files straight away, without asking for blob ids first.
            keyOfRevision[missing[0]] = missing[0]
            sets[missing[0]] = SchemaSet(selected: [], contents: try git.followingLinks(try git.contents(at: missing[0], of: paths), at: missing[0]))
            return
        }
        var objects: [String] = []
        objects.reserveCapacity(missing.count * paths.count)
        for revision in missing { for path in paths { objects.append("\(revision):\(path)") } }
        let ids = try git.objectIDs(objects)
        let blobs = try git.objectContents(Array(Set(ids.values)).sorted())
        for revision in missing {
            var contents: [String: [UInt8]] = [:]
            var blobIDs: [String: String] = [:]
            var key = ""
            for path in paths {
                guard let id = ids["\(revision):\(path)"], let bytes = blobs[id] else { continue }
                contents[path] = bytes
                blobIDs[path] = id
                key += path + "\u{0}" + id + "\u{0}"
            }
            keyOfRevision[revision] = key
            if sets[key] == nil {
                let followed = try git.followingLinks(contents, at: revision)
                for (path, bytes) in followed where bytes != contents[path] { blobIDs[path] = nil }  // a link: its target's text
                sets[key] = SchemaSet(selected: [], contents: followed, index: index, blobIDs: blobIDs)
            }
        }
    }

    /// The set of `revision` (one prepared).
    func set(at revision: String) -> SchemaSet {
        keyOfRevision[revision].flatMap { sets[$0] } ?? SchemaSet(selected: [], contents: [:])
    }
}

extension SchemaSet {
    /// The bytes held for `path`.
    func contents(of path: String) -> [UInt8]? { contentsByPath[path] }

    /// The files whose types `path` uses, directly or through others (copied in or referenced); `path` must load.
    func closure(of path: String) -> [String] {
        var found: [String] = []
        var seen: Set<String> = [path]
        var pending = [path]
        while let next = pending.popLast() {
            guard let loaded = try? load(next) else { continue }
            for file in loaded.dependencies + loaded.copiedFrom.sorted() where seen.insert(file).inserted {
                found.append(file)
                pending.append(file)
            }
        }
        return found
    }
}

extension ProjectFile {
    /// The files `[subjects]` maps to `subject`, as paths from the working directory (absolute).
    func paths(withSubject subject: String) -> [String] {
        guard let directory else { return [] }
        return (sections["subjects"] ?? []).filter { $0.value.trimming(" \t\"") == subject }.map { directory + "/" + SchemaSet.normalized($0.key) }
    }

    /// `[levels] "orders-value" = "FULL"`.
    func level(forSubject subject: String) -> CompatibilityLevel? {
        for (key, value) in sections["levels"] ?? [] where key == subject {
            return CompatibilityLevel(rawValue: value.trimming(" \t\"").uppercased())
        }
        return nil
    }
}
