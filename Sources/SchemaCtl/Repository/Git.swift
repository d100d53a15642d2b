#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The git repository around the working directory, read by running `git` (never linked): what a file held
/// at a revision, and its history.
struct GitRepository {
    /// The top of the work tree, symlinks resolved; every git command runs there, with repository paths.
    let root: String
    let isShallow: Bool

    /// The repository the working directory is in; exit 2 with a clear message when `git` is missing or the
    /// directory is not in a work tree.
    static func here() throws -> GitRepository {
        let probe = try run(["rev-parse", "--is-inside-work-tree", "--show-toplevel", "--is-shallow-repository"])
        guard probe.status == 0 else {
            throw InputError(description: "--against-git: \(currentDirectory()) is not inside a git work tree (git: \(probe.errorText))")
        }
        let lines = String(decoding: probe.output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3, lines[0] == "true" else { throw InputError(description: "--against-git: \(currentDirectory()) is not inside a git work tree") }
        return GitRepository(root: realPath(lines[1]) ?? lines[1], isShallow: lines[2] == "true")
    }

    /// Runs git at the top of the work tree, paths printed as they are (not quoted: `café.avsc`, not
    /// `"caf\303\251.avsc"`).
    func git(_ arguments: [String], input: [UInt8] = []) throws -> Output {
        try Self.run(["-C", root, "-c", "core.quotePath=false"] + arguments, input: input)
    }

    /// git's batch input is one object a line: a name with a line break would shift every answer after it.
    private static func batchInput(_ objects: [String]) throws -> [UInt8] {
        if let odd = objects.first(where: { $0.utf8.contains(UInt8(ascii: "\n")) || $0.utf8.contains(UInt8(ascii: "\r")) }) {
            throw InputError(description: "--against-git: a file name with a line break is not supported: \(odd.debugDescription)")
        }
        return Array(objects.map { $0 + "\n" }.joined().utf8)
    }

    /// Fails with a clear message unless `revision` names a commit.
    func requireCommit(_ revision: String) throws -> String {
        let result = try git(["rev-parse", "--verify", "--quiet", revision + "^{commit}"])
        guard result.status == 0 else {
            let shallow = isShallow ? " (this is a shallow clone: fetch more history, e.g. git fetch --unshallow)" : ""
            throw InputError(description: "--against-git: \(revision) is not a commit in this repository\(shallow)")
        }
        return String(decoding: result.output, as: UTF8.self).trimming(" \n")
    }

    /// A path given on the command line (relative, absolute, through symlinks; the file itself may be gone) as
    /// git names it: relative to the top of the work tree. Nil when it lies outside the work tree.
    func repositoryPath(_ path: String) -> String? {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let absolute: String
        var status = stat()
        let isLinkToFile = lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFLNK && !SchemaSet.isDirectory(path)
        if !isLinkToFile, let whole = Self.realPath(path) {
            absolute = whole
        } else if let parent = Self.realPath(directory) {
            // A symbolic link to a file is its own path in git (its history is the link's), not its target's.
            absolute = parent + "/" + name
        } else {
            return nil
        }
        if absolute == root { return "" }
        guard absolute.hasPrefix(root + "/") else { return nil }
        return String(absolute.dropFirst(root.count + 1))
    }

    /// Files renamed between `revision` and the working tree: new repository path → old one.
    func renamesSince(_ revision: String) throws -> [String: String] {
        let result = try git(["diff", "-M", "--name-status", "-z", revision, "--"])
        guard result.status == 0 else { return [:] }
        let fields = result.output.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        var renames: [String: String] = [:]
        var index = 0
        while index < fields.count {
            let status = fields[index]
            if status.hasPrefix("R"), index + 2 < fields.count {
                renames[fields[index + 2]] = fields[index + 1]
                index += 3
            } else if status.hasPrefix("C"), index + 2 < fields.count {
                index += 3
            } else {
                index += 2
            }
        }
        return renames
    }

    /// The contents of `paths` (repository paths) at `revision`, in one `git cat-file --batch`; absent files are
    /// left out.
    func contents(at revision: String, of paths: [String]) throws -> [String: [UInt8]] {
        let found = try objectContents(paths.map { "\(revision):\($0)" })
        var byPath: [String: [UInt8]] = [:]
        for path in paths { if let bytes = found["\(revision):\(path)"] { byPath[path] = bytes } }
        return byPath
    }

    /// `contents` with each symbolic link (git keeps a link as a blob holding its target: `../versions/v2.avsc`)
    /// replaced by its target's text at `revision`, as the working tree reads it.
    func followingLinks(_ contents: [String: [UInt8]], at revision: String) throws -> [String: [UInt8]] {
        var followed = contents
        for (path, bytes) in contents {
            guard let target = Self.linkTarget(bytes, from: path) else { continue }
            if let text = contents[target] {
                followed[path] = text
            } else if let text = try self.contents(at: revision, of: [target])[target] {
                followed[path] = text
            }
        }
        return followed
    }

    /// The repository path a link blob at `path` points to; nil for a schema's text (JSON starts with `{`, `[` or `"`).
    static func linkTarget(_ bytes: [UInt8], from path: String) -> String? {
        guard !bytes.isEmpty, bytes.count < 4096, let first = bytes.first,
            ![UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "\""), UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\t"), UInt8(ascii: "\r"), 0xEF].contains(first),
            !bytes.contains(UInt8(ascii: "\n")), !bytes.contains(0), bytes.first != UInt8(ascii: "/")
        else { return nil }
        var parts = path.split(separator: "/").dropLast().map(String.init)
        for part in String(decoding: bytes, as: UTF8.self).split(separator: "/") {
            if part == ".." {
                guard !parts.isEmpty else { return nil }
                parts.removeLast()
            } else if part != "." {
                parts.append(String(part))
            }
        }
        return parts.joined(separator: "/")
    }

    /// The blobs `objects` name (`REV:path`, object ids), in one `git cat-file --batch`; missing ones (and trees)
    /// are left out.
    func objectContents(_ objects: [String]) throws -> [String: [UInt8]] {
        guard !objects.isEmpty else { return [:] }
        let result = try git(["cat-file", "--batch"], input: try Self.batchInput(objects))
        guard result.status == 0 else { throw InputError(description: "--against-git: git cat-file failed: \(result.errorText)") }
        var found: [String: [UInt8]] = [:]
        let output = result.output
        var index = 0
        for object in objects {
            guard let newline = output[index...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            let header = String(decoding: output[index..<newline], as: UTF8.self)
            index = newline + 1
            let fields = header.split(separator: " ")
            guard fields.count == 3, let size = Int(fields[2]) else { continue }  // "… missing"
            guard index + size <= output.count else { break }
            if fields[1] == "blob" { found[object] = Array(output[index..<(index + size)]) }
            index += size + 1
        }
        return found
    }

    /// The blob id each of `objects` (`REV:path`) names, in one `git cat-file --batch-check`; missing ones are left
    /// out. Cheap: no content is read.
    func objectIDs(_ objects: [String]) throws -> [String: String] {
        guard !objects.isEmpty else { return [:] }
        let result = try git(["cat-file", "--batch-check=%(objectname) %(objecttype)"], input: try Self.batchInput(objects))
        guard result.status == 0 else { throw InputError(description: "--against-git: git cat-file failed: \(result.errorText)") }
        let lines = String(decoding: result.output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        var ids: [String: String] = [:]
        for (object, line) in zip(objects, lines) where line.hasSuffix(" blob") {
            ids[object] = String(line.dropLast(5))
        }
        return ids
    }

    /// Every path under `directories` that some commit reachable from `revision` added, changed or deleted: the
    /// files those directories ever held (one `git log`).
    func pathsEverUnder(_ directories: [String], from revision: String) throws -> [String] {
        guard !directories.isEmpty else { return [] }
        let result = try git(["log", "--format=", "--name-only", "--no-renames", revision, "--"] + directories.map { $0.isEmpty ? "." : $0 })
        guard result.status == 0 else { throw InputError(description: "--against-git: git log failed: \(result.errorText)") }
        return Array(Set(String(decoding: result.output, as: UTF8.self).split(separator: "\n").map(String.init))).filter { $0.hasSuffix(".avsc") }.sorted()
    }

    /// The commits reachable from `revision` that changed the file, oldest first, with the file's path in each
    /// (`git log --follow`: a renamed file keeps its history).
    func history(of path: String, from revision: String) throws -> [(commit: String, path: String)] {
        let result = try git(["log", "--follow", "--format=%x01%H", "--name-only", "--diff-filter=AMRC", revision, "--", path])
        guard result.status == 0 else { throw InputError(description: "--against-git: git log failed for \(path): \(result.errorText)") }
        var entries: [(commit: String, path: String)] = []
        var commit: String?
        for line in String(decoding: result.output, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("\u{1}") {
                commit = String(line.dropFirst())
            } else if let current = commit, !line.isEmpty {
                entries.append((current, String(line)))
                commit = nil
            }
        }
        return entries.reversed()
    }

    /// The commits reachable from `revision` that changed any of `paths`, oldest first (parents before children).
    func commits(touching paths: [String], from revision: String) throws -> [String] {
        let result = try git(["log", "--format=%H", "--topo-order", "--reverse", revision, "--"] + paths.map { $0.isEmpty ? "." : $0 })
        guard result.status == 0 else { throw InputError(description: "--against-git: git log failed: \(result.errorText)") }
        return String(decoding: result.output, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// The `.avsc` files under `directory` (a repository path) at `revision`.
    func schemaFiles(at revision: String, under directory: String) throws -> [String] {
        try schemaFiles(at: revision, under: [directory])
    }

    /// The `.avsc` files under any of `directories` (repository paths) at `revision`, in one `git ls-tree`.
    func schemaFiles(at revision: String, under directories: [String]) throws -> [String] {
        guard !directories.isEmpty else { return [] }
        let result = try git(["ls-tree", "-r", "--name-only", revision, "--"] + directories.map { $0.isEmpty ? "." : $0 })
        guard result.status == 0 else { return [] }
        return String(decoding: result.output, as: UTF8.self).split(separator: "\n").map(String.init).filter { $0.hasSuffix(".avsc") }
    }

    // MARK: Running git

    struct Output {
        let status: Int32
        let output: [UInt8]
        let errorText: String
    }

    /// Runs `git arguments…` in the working directory, feeding `input` and collecting standard output and error.
    static func run(_ arguments: [String], input: [UInt8] = []) throws -> Output {
        // git may exit before reading all of its input: that must be an error status, not SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        var inputPipe: [Int32] = [0, 0]
        var outputPipe: [Int32] = [0, 0]
        var errorPipe: [Int32] = [0, 0]
        guard pipe(&inputPipe) == 0, pipe(&outputPipe) == 0, pipe(&errorPipe) == 0 else {
            throw InputError(description: "--against-git: cannot create pipes: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inputPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)
        for descriptor in inputPipe + outputPipe + errorPipe { posix_spawn_file_actions_addclose(&actions, descriptor) }
        let argv = (["git"] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var process = pid_t()
        let spawned = posix_spawnp(&process, "git", &actions, nil, argv, environ)
        close(inputPipe[0])
        close(outputPipe[1])
        close(errorPipe[1])
        guard spawned == 0 else {
            close(inputPipe[1])
            close(outputPipe[0])
            close(errorPipe[0])
            throw InputError(description: "--against-git: cannot run git (\(String(cString: strerror(spawned)))); install git or check PATH")
        }
        // Input, output and error move together through poll(2), so no pipe fills up while another is waited on.
        var output: [UInt8] = []
        var errors: [UInt8] = []
        var written = 0
        var open: (input: Bool, output: Bool, error: Bool) = (true, true, true)
        if input.isEmpty {
            close(inputPipe[1])
            open.input = false
        } else {
            // Non-blocking: a write must never wait for git while git waits for us to read its output.
            _ = fcntl(inputPipe[1], F_SETFL, fcntl(inputPipe[1], F_GETFL) | O_NONBLOCK)
        }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while open.output || open.error {
            var descriptors: [pollfd] = []
            if open.input { descriptors.append(pollfd(fd: inputPipe[1], events: Int16(POLLOUT), revents: 0)) }
            if open.output { descriptors.append(pollfd(fd: outputPipe[0], events: Int16(POLLIN), revents: 0)) }
            if open.error { descriptors.append(pollfd(fd: errorPipe[0], events: Int16(POLLIN), revents: 0)) }
            guard poll(&descriptors, nfds_t(descriptors.count), -1) >= 0 || errno == EINTR else { break }
            for descriptor in descriptors where descriptor.revents != 0 {
                if descriptor.fd == inputPipe[1] {
                    let count = input[written...].withUnsafeBytes { write(inputPipe[1], $0.baseAddress, min($0.count, 65_536)) }
                    if count > 0 { written += count }
                    if count < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK || written == input.count {
                        close(inputPipe[1])
                        open.input = false
                    }
                    continue
                }
                let count = chunk.withUnsafeMutableBytes { read(descriptor.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    if descriptor.fd == outputPipe[0] { output += chunk[..<count] } else { errors += chunk[..<count] }
                } else if count == 0 || errno != EINTR {
                    close(descriptor.fd)
                    if descriptor.fd == outputPipe[0] { open.output = false } else { open.error = false }
                }
            }
        }
        if open.input { close(inputPipe[1]) }
        var status: Int32 = 0
        while waitpid(process, &status, 0) < 0, errno == EINTR {}
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(status: exitStatus, output: output, errorText: String(decoding: errors, as: UTF8.self).trimming(" \n"))
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
