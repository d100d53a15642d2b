import AvroCodec

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Schema files that use each other's named types, as a repository holds them: `"type": "com.acme.Address"` in
/// one file, `Address` defined in another (avro-maven-plugin's `imports`). A type a file uses but does not define
/// is looked up among the other files given and those under the directories `schemactl.toml` names
/// (`[paths] schemas = ["schemas", "common"]`); that file is parsed first and its types come in as references.
final class SchemaSet {
    /// A parsed file and the files whose types it uses (its references, in the order they were needed).
    struct Loaded {
        let path: String
        let schema: AvroSchema
        let dependencies: [String]
        /// For each dependency, the full name of the type this file first needed from it (a Confluent
        /// reference's `name`).
        let referenceNames: [String]
    }

    /// The files asked about, in order: each given file, then the `.avsc` files under each given directory.
    let selected: [String]
    /// Which files define each full name (selected files first, then the library's).
    private var definers: [String: [String]] = [:]
    /// A definition's text per (name, file), to tell two files defining a name alike from differently.
    private var definitionText: [String: [String: String]] = [:]
    private var loaded: [String: Loaded] = [:]
    private var failed: [String: InputError] = [:]
    private var loading: [String] = []

    /// Each file's bytes (absent: unreadable, the error comes when it is loaded).
    private(set) var contentsByPath: [String: [UInt8]] = [:]
    private var readErrors: [String: InputError] = [:]

    /// The files of a working tree. `arguments`: files and directories; `library`: directories whose files only
    /// resolve names.
    convenience init(arguments: [String], library: [String]) throws {
        let (selected, libraryFiles) = try SchemaSet.expand(arguments: arguments, library: library)
        var contents: [String: [UInt8]] = [:]
        var errors: [String: InputError] = [:]
        for path in selected + libraryFiles {
            do {
                contents[path] = try SchemaFile.readBytes(path)
            } catch let error as InputError {
                errors[path] = error
            }
        }
        self.init(selected: selected, contents: contents, readErrors: errors)
    }

    /// Files given by their contents (a git revision's, say): `selected` are asked about, every file of
    /// `contents` resolves names.
    init(selected: [String], contents: [String: [UInt8]], readErrors: [String: InputError] = [:]) {
        self.selected = selected
        self.contentsByPath = contents
        self.readErrors = readErrors
        for path in selected + contents.keys.filter({ !selected.contains($0) }).sorted() {
            // A file that is not JSON defines nothing; its own error comes when it is loaded.
            guard let bytes = contents[path], let json = try? JSONParser.parse(bytes: bytes) else { continue }
            var found: [(String, String)] = []
            SchemaSet.definitions(in: json, namespace: "", into: &found)
            for (name, text) in found where definitionText[name]?[path] == nil {
                definers[name, default: []].append(path)
                definitionText[name, default: [:]][path] = text
            }
        }
    }

    /// The selected files (given files, then `.avsc` files under given directories, each once) and the library's.
    static func expand(arguments: [String], library: [String]) throws -> (selected: [String], library: [String]) {
        var selected: [String] = []
        for argument in arguments {
            if argument != "-", SchemaSet.isDirectory(argument) {
                let found = SchemaSet.schemaFiles(under: argument)
                guard !found.isEmpty else { throw InputError(description: "\(argument): no .avsc files in this directory") }
                selected += found
            } else {
                selected.append(argument)
            }
        }
        var seen = Set<String>()
        selected = selected.map(SchemaSet.normalized).filter { seen.insert($0).inserted }
        var libraryFiles: [String] = []
        for directory in library where SchemaSet.isDirectory(directory) {
            libraryFiles += SchemaSet.schemaFiles(under: directory).map(SchemaSet.normalized).filter { seen.insert($0).inserted }
        }
        return (selected, libraryFiles)
    }

    /// Parses `path` (and, first, the files whose types it uses). Errors name the file; two files defining a
    /// needed name differently, or files needing each other's types in a cycle, are errors naming both.
    func load(_ path: String) throws -> Loaded {
        if let done = loaded[path] { return done }
        if let error = failed[path] { throw error }
        // A type this file defines that another file defines differently is an error whether or not anything
        // uses it: which of the two a reader gets would depend on the order of files.
        for (name, texts) in definitionText where texts[path] != nil {
            if let other = texts.first(where: { $0.key != path && $0.value != texts[path] })?.key {
                let error = InputError(description: "\(path): type \(name) is defined differently in \(path) and \(other); keep one definition and use it by name")
                failed[path] = error
                throw error
            }
        }
        if let start = loading.firstIndex(of: path) {
            let cycle = (loading[start...] + [path]).joined(separator: " → ")
            throw InputError(description: "\(path): the files use each other's types in a cycle (\(cycle)); move the shared types into one file")
        }
        loading.append(path)
        defer { loading.removeLast() }
        do {
            let result = try parse(path)
            loaded[path] = result
            return result
        } catch let error as InputError {
            failed[path] = error
            throw error
        }
    }

    private func parse(_ path: String) throws -> Loaded {
        if let error = readErrors[path] { throw error }
        guard let bytes = contentsByPath[path] else { throw InputError(description: "\(path): cannot read file") }
        var references: [AvroSchema] = []
        var dependencies: [String] = []
        var referenceNames: [String] = []
        while true {
            do {
                return Loaded(
                    path: path, schema: try AvroSchema(parsing: bytes, references: references), dependencies: dependencies,
                    referenceNames: referenceNames)
            } catch {
                guard error.kind == .unknownType, let (name, files) = definition(of: error.unresolvedNames, except: path) else {
                    throw InputError(description: "\(path): invalid Avro schema \(error.description)")
                }
                let texts = Set(files.compactMap { definitionText[name]?[$0] })
                if texts.count > 1 {
                    throw InputError(
                        description: "\(path): type \(name) is defined differently in \(files.joined(separator: " and ")); keep one definition and use it by name")
                }
                let definer = files[0]
                guard !dependencies.contains(definer) else {
                    throw InputError(description: "\(path): invalid Avro schema \(error.description) (\(definer) was expected to define \(name))")
                }
                let dependency: Loaded
                do {
                    dependency = try load(definer)
                } catch let failure as InputError {
                    throw InputError(description: "\(path) uses \(name) from \(definer), which is invalid: \(failure.description)")
                }
                references.append(dependency.schema)
                dependencies.append(definer)
                referenceNames.append(name)
            }
        }
    }

    /// The first of `names` another file defines, with the files defining it.
    private func definition(of names: [String], except path: String) -> (String, [String])? {
        for name in names {
            let files = (definers[name] ?? []).filter { $0 != path }
            if !files.isEmpty { return (name, files) }
        }
        return nil
    }

    // MARK: Finding files and definitions

    /// Every `.avsc` file under `directory`, recursively, in path order.
    static func schemaFiles(under directory: String) -> [String] {
        var found: [String] = []
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var entries: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." || name.hasPrefix(".") { continue }
            entries.append(name)
        }
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        for name in entries.sorted() {
            let path = base + "/" + name
            // Directories reached through a symlink are not entered: a link back up would never end.
            var status = stat()
            if lstat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
                found += schemaFiles(under: path)
            } else if name.hasSuffix(".avsc") {
                found.append(path)
            }
        }
        return found
    }

    static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    static func normalized(_ path: String) -> String {
        path.hasPrefix("./") ? String(path.dropFirst(2)) : path
    }

    /// The named types a schema document defines: (full name, the definition's compact JSON).
    static func definitions(in value: JSONValue, namespace: String, into found: inout [(String, String)]) {
        switch value {
        case .array(let branches):
            for branch in branches { definitions(in: branch, namespace: namespace, into: &found) }
        case .object(let object):
            guard let type = object["type"] else { return }
            if case .string(let kind) = type, ["record", "error", "enum", "fixed"].contains(kind), let name = object["name"]?.stringValue {
                let full: String
                if name.utf8.contains(UInt8(ascii: ".")) {
                    full = name
                } else {
                    let space = object["namespace"]?.stringValue ?? namespace
                    full = space.isEmpty ? name : space + "." + name
                }
                // Compared in one form: the full name in "name", no "namespace", keys sorted (the same type written
                // `"name":"M","namespace":"com.m"` or `"name":"com.m.M"` is one definition).
                var members = object.members.filter { $0.key != "namespace" }
                if let index = members.firstIndex(where: { $0.key == "name" }) { members[index].value = .string(full) }
                found.append((full, JSONValue.object(JSONObject(members: members)).prettyText(sortingKeys: true)))
                let inner = full.lastIndex(of: ".").map { String(full[..<$0]) } ?? ""
                if case .array(let fields)? = object["fields"] {
                    for field in fields { if let fieldType = field["type"] { definitions(in: fieldType, namespace: inner, into: &found) } }
                }
                return
            }
            if case .string("array") = type, let items = object["items"] { definitions(in: items, namespace: namespace, into: &found) }
            if case .string("map") = type, let values = object["values"] { definitions(in: values, namespace: namespace, into: &found) }
            if case .object = type { definitions(in: type, namespace: namespace, into: &found) }
            if case .array = type { definitions(in: type, namespace: namespace, into: &found) }
        default:
            return
        }
    }
}

/// `schemactl.toml`, the few keys schemactl reads: `[subjects]` (file → subject), `[paths] schemas` (directories
/// whose files resolve named types), `[levels]` (subject → level).
struct ProjectFile {
    var sections: [String: [(key: String, value: String)]] = [:]
    var schemaDirectories: [String] = []

    /// The nearest `schemactl.toml`: in the working directory or the closest directory above it (a command run
    /// in a subdirectory of the repository finds the repository's file); its `[paths]` are relative to it.
    static func load() -> ProjectFile {
        var prefix = ""
        for _ in 0..<32 {
            let candidate = prefix + "schemactl.toml"
            if access(candidate, R_OK) == 0 {
                var project = load(candidate)
                if !prefix.isEmpty { project.schemaDirectories = project.schemaDirectories.map { $0.hasPrefix("/") ? $0 : prefix + $0 } }
                return project
            }
            guard let here = GitRepository.realPath(prefix.isEmpty ? "." : prefix), here != "/" else { break }
            prefix += "../"
        }
        return ProjectFile()
    }

    static func load(_ path: String) -> ProjectFile {
        guard let bytes = try? SchemaFile.readBytes(path) else { return ProjectFile() }
        var project = ProjectFile()
        var section = ""
        for rawLine in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let trimmed = line.trimming(" \t\r")
            if trimmed.hasPrefix("[") {
                section = trimmed.trimming("[] \t")
                continue
            }
            guard let equals = trimmed.firstIndex(of: "=") else { continue }
            let key = trimmed[..<equals].trimming(" \t\"")
            let value = trimmed[trimmed.index(after: equals)...].trimming(" \t")
            project.sections[section, default: []].append((key, value))
            if section == "paths", key == "schemas" {
                project.schemaDirectories = value.trimming("[] \t").split(separator: ",").map { $0.trimming(" \t\"") }.filter { !$0.isEmpty }
            }
        }
        return project
    }
}
