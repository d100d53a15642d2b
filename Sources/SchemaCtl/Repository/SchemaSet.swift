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
        /// The document parsed: the file's bytes, or, in a cycle of files, with the other files' types copied in.
        let text: [UInt8]
        /// Files whose definitions were copied into this schema, here or in a file it references.
        let copiedFrom: Set<String>
    }

    /// The files asked about, in order: each given file, then the `.avsc` files under each given directory.
    let selected: [String]
    /// Files given from outside the library's directories: their definitions shadow the library's.
    private let shadowing: Set<String>
    /// Which files define each full name (selected files first, then the library's).
    private var definers: [String: [String]] = [:]
    /// A definition's text per (name, file), to tell two files defining a name alike from differently.
    private var definitionText: [String: [String: String]] = [:]
    /// The full names each definition uses (and defines inside it), to find types defined in terms of each other:
    /// worked out when a cycle of files asks (rare), not for every file read.
    private var usesMemo: [String: Set<String>] = [:]

    private func uses(_ name: String) -> Set<String> {
        if let known = usesMemo[name] { return known }
        var used: [String] = []
        for text in (definitionText[name] ?? [:]).values {
            if let definition = try? JSONParser.parse(text) { SchemaSet.typeNames(in: definition, namespace: "", into: &used) }
        }
        let found = Set(used.filter { $0 != name })
        usesMemo[name] = found
        return found
    }
    private var loaded: [String: Loaded] = [:]
    private var resolvedDocuments: [String: (root: JSONValue, definitions: [String: String])] = [:]
    static let maximumDepth = 256
    private var failed: [String: InputError] = [:]
    /// For a file invalid because a file it uses is: the file invalid on its own, and its error.
    private var rootCause: [String: (file: String, message: String)] = [:]
    private var loading: [String] = []

    /// Each file's bytes (absent: unreadable, the error comes when it is loaded).
    private(set) var contentsByPath: [String: [UInt8]] = [:]
    private var readErrors: [String: InputError] = [:]

    /// The files of a working tree. `arguments`: files and directories; `library`: directories whose files only
    /// resolve names.
    convenience init(arguments: [String], library: [String]) throws {
        let (selected, libraryFiles, outsiders) = try SchemaSet.expandMarkingOutsiders(arguments: arguments, library: library)
        var contents: [String: [UInt8]] = [:]
        var errors: [String: InputError] = [:]
        for path in selected + libraryFiles {
            do {
                contents[path] = try SchemaFile.readBytes(path)
            } catch let error as InputError {
                errors[path] = error
            }
        }
        self.init(selected: selected, contents: contents, readErrors: errors, shadowing: outsiders)
    }

    /// The named types of file contents already read: a check over many revisions meets the same blobs again.
    final class DefinitionIndex {
        fileprivate var byBlob: [String: [(name: String, text: String)]] = [:]

        init() {}
    }

    /// Files given by their contents (a git revision's, say): `selected` are asked about, every file of
    /// `contents` resolves names.
    /// `blobIDs` (git's ids of the contents) let `index` remember what a blob defines across sets.
    init(
        selected: [String], contents: [String: [UInt8]], readErrors: [String: InputError] = [:], index: DefinitionIndex? = nil,
        blobIDs: [String: String] = [:], shadowing: Set<String> = []
    ) {
        self.selected = selected
        self.shadowing = shadowing
        self.contentsByPath = contents
        self.readErrors = readErrors
        let chosen = Set(selected)
        for path in selected + contents.keys.filter({ !chosen.contains($0) }).sorted() {
            guard let bytes = contents[path] else { continue }
            let blob = blobIDs[path]
            let found = blob.flatMap { index?.byBlob[$0] } ?? SchemaSet.index(bytes)
            if let blob { index?.byBlob[blob] = found }
            for (name, text) in found where definitionText[name]?[path] == nil {
                definers[name, default: []].append(path)
                definitionText[name, default: [:]][path] = text
            }
        }
    }

    /// The named types a file defines: full name and the definition's text in one form. A file that is not JSON
    /// defines nothing (its own error comes when it is loaded).
    private static func index(_ bytes: [UInt8]) -> [(name: String, text: String)] {
        guard let json = try? JSONParser.parse(bytes: bytes) else { return [] }
        var found: [(String, String)] = []
        SchemaSet.definitions(in: json, namespace: "", into: &found)
        return found.map { (name: $0.0, text: $0.1) }
    }

    /// The selected files (given files, then `.avsc` files under given directories, each once) and the library's.
    static func expand(arguments: [String], library: [String]) throws -> (selected: [String], library: [String]) {
        let (selected, libraryFiles, _) = try expandMarkingOutsiders(arguments: arguments, library: library)
        return (selected, libraryFiles)
    }

    /// As `expand`, with the selected files that lie outside the library's directories (an edited copy, standard
    /// input): their definitions shadow the library's.
    static func expandMarkingOutsiders(arguments: [String], library: [String]) throws -> (selected: [String], library: [String], outsiders: Set<String>) {
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
        if let odd = selected.first(where: { $0.utf8.contains(UInt8(ascii: "\n")) || $0.utf8.contains(UInt8(ascii: "\r")) }) {
            throw InputError(description: "\(odd.debugDescription): a file name with a line break is not supported; rename it")
        }
        // One file named two ways (`order.avsc` and `../schemas/order.avsc`) is one file: the first spelling is kept.
        var seen = Set<String>()
        let identity = { (path: String) in path == "-" ? path : GitRepository.realPath(path) ?? SchemaSet.normalized(path) }
        selected = selected.map(SchemaSet.normalized).filter { seen.insert(identity($0)).inserted }
        var libraryFiles: [String] = []
        var libraryIdentities = Set<String>()
        for directory in library where SchemaSet.isDirectory(directory) {
            let found = SchemaSet.schemaFiles(under: directory).map(SchemaSet.normalized)
            libraryIdentities.formUnion(found.map(identity))
            libraryFiles += found.filter { seen.insert(identity($0)).inserted }
        }
        let outsiders = Set(selected.filter { !libraryIdentities.contains(identity($0)) })
        return (selected, libraryFiles, library.isEmpty ? [] : outsiders)
    }

    /// Parses `path` (and, first, the files whose types it uses). Errors name the file; two files defining a
    /// needed name differently, or files needing each other's types in a cycle, are errors naming both.
    func load(_ path: String) throws -> Loaded {
        if let done = loaded[path] { return done }
        if let error = failed[path] { throw error }
        // A type this file defines that another file defines differently is an error whether or not anything
        // uses it: which of the two a reader gets would depend on the order of files.
        // A file given from outside the library shadows the library's files (an edited copy of schemas/order.avsc
        // checked on its own): it conflicts only with another such file; a library file with the others.
        let isShadowing = shadowing.contains(path)
        for (name, texts) in definitionText where texts[path] != nil {
            if let other = texts.first(where: { $0.key != path && $0.value != texts[path] && shadowing.contains($0.key) == isShadowing })?.key {
                let error = InputError(description: "\(path): type \(name) is defined differently in \(path) and \(other); keep one definition and use it by name")
                failed[path] = error
                throw error
            }
        }
        if let start = loading.firstIndex(of: path) {
            let cycle = (loading[start...] + [path]).joined(separator: " → ")
            throw InputError(description: "\(path): the files use each other's types in a cycle (\(cycle)); move the shared types into one file")
        }
        // Each file using the next one's type is a level of recursion here: bounded, with a clear error, far past
        // what a registry accepts as nested references.
        guard loading.count < SchemaSet.maximumDepth else {
            throw InputError(
                description: "\(path): files use each other's types more than \(SchemaSet.maximumDepth) files deep (\(loading[0]) → … → \(path)); no registry takes references that deep")
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
        guard var bytes = contentsByPath[path] else { throw InputError(description: "\(path): cannot read file") }
        var references: [AvroSchema] = []
        var dependencies: [String] = []
        var referenceNames: [String] = []
        var copied: [String] = []  // names copied in (a cycle of files)
        var moved = Set<String>()  // own definitions moved up to a use in what was copied
        var copiedFrom = Set<String>()
        while true {
            do {
                return Loaded(
                    path: path, schema: try AvroSchema(parsing: bytes, references: references), dependencies: dependencies,
                    referenceNames: referenceNames, text: bytes, copiedFrom: copiedFrom)
            } catch {
                // A type copied in from another file uses one this file defines further down: the definition moves
                // up to that first use (Avro wants a name defined before it is used), its old place names it.
                if error.kind == .unknownType, !copied.isEmpty,
                    let own = error.unresolvedNames.first(where: { definers[$0]?.contains(path) == true && !moved.contains($0) }),
                    let definition = definitionText[own]?[path].flatMap({ try? JSONParser.parse($0) }),
                    var document = try? JSONParser.parse(bytes: bytes),
                    SchemaSet.replaceFirstUse(of: own, with: .string(own), in: &document, namespace: "", definitionSite: true),
                    SchemaSet.replaceFirstUse(of: own, with: definition, in: &document, namespace: "")
                {
                    bytes = Array(document.compactText.utf8)
                    moved.insert(own)
                    continue
                }
                guard error.kind == .unknownType, let (name, files) = definition(of: error.unresolvedNames, except: path) else {
                    let note = copied.isEmpty ? "" : " (with \(copied.joined(separator: ", ")) copied in: the files use each other's types)"
                    throw InputError(description: "\(path): invalid Avro schema \(error.description)\(note)")
                }
                let texts = Set(files.compactMap { definitionText[name]?[$0] })
                if texts.count > 1 {
                    throw InputError(
                        description: "\(path): type \(name) is defined differently in \(files.joined(separator: " and ")); keep one definition and use it by name")
                }
                let definer = files[0]
                guard !dependencies.contains(definer), !copied.contains(name) else {
                    throw InputError(description: "\(path): invalid Avro schema \(error.description) (\(definer) was expected to define \(name))")
                }
                // A cycle of files (this file is needed, maybe through others, by the one defining `name`): a
                // reference cannot point both ways, so the definition is copied in, unless the types themselves
                // are defined in terms of each other across the files.
                var copy = loading.contains(definer)
                if !copy {
                    let dependency: Loaded
                    do {
                        dependency = try load(definer)
                    } catch let failure as InputError {
                        // Only the first link and the cause: a chain of a thousand files would otherwise repeat
                        // every link in every message (10 MB of output).
                        let cause = rootCause[definer].map { ", because \($0.file) is: \($0.message)" } ?? ": \(failure.description)"
                        rootCause[path] = rootCause[definer] ?? (definer, failure.description)
                        throw InputError(description: "\(path) uses \(name) from \(definer), which is invalid\(cause)")
                    }
                    if dependency.copiedFrom.contains(path) {
                        copy = true
                    } else {
                        references.append(dependency.schema)
                        dependencies.append(definer)
                        referenceNames.append(name)
                        copiedFrom.formUnion(dependency.copiedFrom)
                        continue
                    }
                }
                if let cycle = crossFileCycle(through: name, definedIn: definer) {
                    let files = (loading.firstIndex(of: definer).map { Array(loading[$0...]) } ?? [path, definer]) + [definer]
                    throw InputError(
                        description:
                            "\(path): the files use each other's types in a cycle (\(files.joined(separator: " → "))) and so do the types (\(cycle.joined(separator: " → "))); a reference cannot point both ways: move those types into one file"
                    )
                }
                guard let definition = definitionText[name]?[definer].flatMap({ try? JSONParser.parse($0) }),
                    var document = try? JSONParser.parse(bytes: bytes), SchemaSet.replaceFirstUse(of: name, with: definition, in: &document, namespace: "")
                else {
                    throw InputError(description: "\(path): invalid Avro schema \(error.description) (\(name) from \(definer) could not be copied in)")
                }
                bytes = Array(document.compactText.utf8)
                copied.append(name)
                copiedFrom.insert(definer)
            }
        }
    }

    /// A cycle of types through `name` that passes through a type of another file than `file` (recursion inside
    /// one file is Avro's own business): the names along it, or nil.
    private func crossFileCycle(through name: String, definedIn file: String) -> [String]? {
        var visited = Set<String>()
        func walk(_ current: String, crossed: Bool, trail: [String]) -> [String]? {
            for next in uses(current) {
                let crossing = crossed || !(definers[next] ?? []).contains(file)
                if next == name { if crossing { return trail + [next] } else { continue } }
                let key = next + (crossing ? "\u{1}" : "")
                guard visited.insert(key).inserted else { continue }
                if let found = walk(next, crossed: crossing, trail: trail + [next]) { return found }
            }
            return nil
        }
        return walk(name, crossed: false, trail: [name])
    }

    /// The first of `names` another file defines, with the files defining it.
    private func definition(of names: [String], except path: String) -> (String, [String])? {
        for name in names {
            let files = (definers[name] ?? []).filter { $0 != path }
            // A name a file given from outside the library defines is taken from there, the library's copies aside.
            let given = files.filter { shadowing.contains($0) }
            if !given.isEmpty { return (name, given) }
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

extension SchemaSet {
    /// The file defining the named type that JSON pointer `pointer` (a problem's path in `loaded`'s schema, as
    /// the checker reports it) lies inside, when that is another file than `loaded`'s own; nil otherwise.
    func definingFile(of pointer: String, in loaded: Loaded) -> String? {
        guard !loaded.dependencies.isEmpty || !loaded.copiedFrom.isEmpty else { return nil }
        // The resolved document and its definitions, once a file (a report places every problem of it).
        let resolved: (root: JSONValue, definitions: [String: String])
        if let known = resolvedDocuments[loaded.path] {
            resolved = known
        } else {
            guard let root = try? JSONParser.parse(loaded.schema.resolvedText) else { return nil }
            var texts: [(String, String)] = []
            SchemaSet.definitions(in: root, namespace: "", into: &texts)
            resolved = (root, Dictionary(texts, uniquingKeysWith: { first, _ in first }))
            resolvedDocuments[loaded.path] = resolved
        }
        let (root, definitions) = resolved
        var value = root
        var namespace = ""
        var inside: String?
        for segment in pointer.split(separator: "/").map(SchemaSet.unescapedPointerSegment) {
            if case .string(let name) = value {
                guard let text = definitions[SchemaSet.resolve(name, namespace: namespace)], let definition = try? JSONParser.parse(text) else { return nil }
                value = definition
            }
            guard case .object(let object) = value else {
                guard case .array(let items) = value, let index = Int(segment), items.indices.contains(index) else { return nil }
                value = items[index]
                continue
            }
            if case .string(let kind)? = object["type"], ["record", "error", "enum", "fixed"].contains(kind), let name = object["name"]?.stringValue {
                namespace = SchemaSet.innerNamespace(of: object, namespace: namespace)
                inside = SchemaSet.resolve(name.split(separator: ".").last.map(String.init) ?? name, namespace: namespace)
            }
            guard let next = object[segment] else { return nil }
            value = next
        }
        // A problem at a type itself (a record from another file no longer readable as a whole) is that type's.
        if case .string(let name) = value, definitions[SchemaSet.resolve(name, namespace: namespace)] != nil {
            inside = SchemaSet.resolve(name, namespace: namespace)
        } else if case .object(let object) = value, case .string(let kind)? = object["type"], ["record", "error", "enum", "fixed"].contains(kind),
            let name = object["name"]?.stringValue
        {
            inside = SchemaSet.resolve(name.split(separator: ".").last.map(String.init) ?? name, namespace: SchemaSet.innerNamespace(of: object, namespace: namespace))
        }
        guard let inside, let files = definers[inside], !files.contains(loaded.path) else { return nil }
        return files.first
    }

    /// A JSON Pointer segment with `~1` and `~0` read back as `/` and `~`.
    private static func unescapedPointerSegment(_ segment: Substring) -> String {
        guard segment.contains("~") else { return String(segment) }
        var out = ""
        var escaped = false
        for character in segment {
            if escaped {
                out.append(character == "1" ? "/" : character == "0" ? "~" : character)
                escaped = false
            } else if character == "~" {
                escaped = true
            } else {
                out.append(character)
            }
        }
        return out
    }

    /// The full name a type-position string stands for in `namespace`.
    private static func resolve(_ name: String, namespace: String) -> String {
        name.utf8.contains(UInt8(ascii: ".")) || namespace.isEmpty ? name : namespace + "." + name
    }

    /// The namespace names inside a named type's definition are resolved in.
    private static func innerNamespace(of object: JSONObject, namespace: String) -> String {
        guard let name = object["name"]?.stringValue else { return namespace }
        if let dot = name.lastIndex(of: ".") { return String(name[..<dot]) }
        return object["namespace"]?.stringValue ?? namespace
    }

    /// Every full name a schema document uses at a type position or defines inside it.
    static func typeNames(in value: JSONValue, namespace: String, into found: inout [String]) {
        switch value {
        case .string(let name):
            found.append(resolve(name, namespace: namespace))
        case .array(let branches):
            for branch in branches { typeNames(in: branch, namespace: namespace, into: &found) }
        case .object(let object):
            guard let type = object["type"] else { return }
            if case .string(let kind) = type, ["record", "error", "enum", "fixed"].contains(kind), let name = object["name"]?.stringValue {
                let inner = innerNamespace(of: object, namespace: namespace)
                found.append(resolve(name.split(separator: ".").last.map(String.init) ?? name, namespace: inner))
                if case .array(let fields)? = object["fields"] {
                    for field in fields { if let fieldType = field["type"] { typeNames(in: fieldType, namespace: inner, into: &found) } }
                }
                return
            }
            if case .string("array") = type, let items = object["items"] { return typeNames(in: items, namespace: namespace, into: &found) }
            if case .string("map") = type, let values = object["values"] { return typeNames(in: values, namespace: namespace, into: &found) }
            typeNames(in: type, namespace: namespace, into: &found)
        default:
            return
        }
    }

    /// Replaces the first use of `fullName` at a type position of `value` (document order, namespaces
    /// resolved as Avro does) by `definition`; false when there is none. With `definitionSite`, the first
    /// definition of `fullName` is replaced instead (by its name, to move the definition to an earlier use).
    static func replaceFirstUse(
        of fullName: String, with definition: JSONValue, in value: inout JSONValue, namespace: String, definitionSite: Bool = false
    ) -> Bool {
        if definitionSite, case .object(let object) = value, case .string(let kind)? = object["type"], ["record", "error", "enum", "fixed"].contains(kind),
            let name = object["name"]?.stringValue,
            resolve(name.split(separator: ".").last.map(String.init) ?? name, namespace: innerNamespace(of: object, namespace: namespace)) == fullName
        {
            value = definition
            return true
        }
        switch value {
        case .string(let name):
            guard !definitionSite, resolve(name, namespace: namespace) == fullName else { return false }
            value = definition
            return true
        case .array(var branches):
            for index in branches.indices
            where replaceFirstUse(of: fullName, with: definition, in: &branches[index], namespace: namespace, definitionSite: definitionSite) {
                value = .array(branches)
                return true
            }
            return false
        case .object(var object):
            guard let typeIndex = object.members.firstIndex(where: { $0.key == "type" }) else { return false }
            if case .string(let kind) = object.members[typeIndex].value, ["record", "error"].contains(kind),
                let fieldsIndex = object.members.firstIndex(where: { $0.key == "fields" }), case .array(var fields) = object.members[fieldsIndex].value
            {
                let inner = innerNamespace(of: object, namespace: namespace)
                for index in fields.indices {
                    guard case .object(var field) = fields[index], let fieldTypeIndex = field.members.firstIndex(where: { $0.key == "type" }) else { continue }
                    if replaceFirstUse(of: fullName, with: definition, in: &field.members[fieldTypeIndex].value, namespace: inner, definitionSite: definitionSite) {
                        fields[index] = .object(field)
                        object.members[fieldsIndex].value = .array(fields)
                        value = .object(object)
                        return true
                    }
                }
                return false
            }
            var key = "type"
            if case .string("array") = object.members[typeIndex].value { key = "items" }
            if case .string("map") = object.members[typeIndex].value { key = "values" }
            if case .string(let kind) = object.members[typeIndex].value, ["enum", "fixed"].contains(kind) { return false }
            guard let index = object.members.firstIndex(where: { $0.key == key }),
                replaceFirstUse(of: fullName, with: definition, in: &object.members[index].value, namespace: namespace, definitionSite: definitionSite)
            else { return false }
            value = .object(object)
            return true
        default:
            return false
        }
    }
}

/// `schemactl.toml`, the few keys schemactl reads: `[subjects]` (file → subject), `[paths] schemas` (directories
/// whose files resolve named types), `[levels]` (subject → level).
struct ProjectFile: Sendable {
    var sections: [String: [(key: String, value: String)]] = [:]
    var schemaDirectories: [String] = []
    /// What the file says that schemactl cannot read as meant (each with its line).
    var problems: [String] = []
    /// The real path of the directory holding the file (nil: no file found).
    var directory: String?

    /// The nearest file, read once a process.
    static let nearest = ProjectFile.load()

    /// `path` (relative to the working directory, or absolute) relative to the file's directory, when inside it.
    func pathFromProjectDirectory(_ path: String) -> String? {
        guard let directory else { return nil }
        let slash = path.lastIndex(of: "/")
        let parent = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard let real = GitRepository.realPath(parent.isEmpty ? "/" : parent) else { return nil }
        let full = (real == "/" ? "" : real) + "/" + name
        return full.hasPrefix(directory + "/") ? String(full.dropFirst(directory.count + 1)) : nil
    }

    /// The nearest `schemactl.toml`: in the working directory or the closest directory above it (a command run
    /// in a subdirectory of the repository finds the repository's file); its `[paths]` are relative to it.
    static func load() -> ProjectFile {
        var prefix = ""
        for _ in 0..<32 {
            let candidate = prefix + "schemactl.toml"
            if access(candidate, R_OK) == 0 {
                var project = load(candidate)
                project.directory = GitRepository.realPath(prefix.isEmpty ? "." : prefix)
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
        return parse(String(decoding: bytes, as: UTF8.self))
    }

    /// The subset of TOML a project file uses: `[section]` headers, `key = value` with bare, "basic" or 'literal'
    /// keys and strings, arrays of strings (over several lines, trailing comma allowed), `#` comments outside
    /// strings. Values are kept as their strings (an array: its strings joined by newlines).
    static func parse(_ text: String) -> ProjectFile {
        var project = ProjectFile()
        var section = ""
        var pending = ""  // an array not closed yet
        var pendingLine = 0
        var seen = Set<String>()
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }  // a byte-order mark
        // Split on the scalar: as Characters, "\r\n" is one grapheme that "\n" never matches.
        let lines = body.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
        for (index, rawLine) in lines.enumerated() {
            let number = index + 1
            var line = uncommented(Substring(rawLine))
            if !pending.isEmpty {
                pending += " " + line
                guard bracketsClose(pending) else { continue }
                line = pending
                pending = ""
            }
            let trimmed = line.trimming(" \t\r")
            if trimmed.isEmpty { continue }
            let at = "schemactl.toml line \(pendingLine > 0 ? pendingLine : number)"
            pendingLine = 0
            if trimmed.hasPrefix("[") && outsideQuotes(trimmed, find: "=") == nil {
                guard trimmed.hasSuffix("]") else {
                    project.problems.append("\(at): \(trimmed) is not a table header (no closing ])")
                    continue
                }
                let name = trimmed.trimming("[] \t")
                if trimmed.hasPrefix("[[") || outsideQuotes(name, find: ".") != nil {
                    project.problems.append("\(at): \(trimmed) is not a table schemactl reads ([paths], [subjects], [levels])")
                }
                section = strings(in: name).first ?? name
                continue
            }
            guard let equals = outsideQuotes(trimmed, find: "=") else {
                project.problems.append("\(at): not a key = value line: \(trimmed)")
                continue
            }
            let value = String(trimmed[trimmed.index(after: equals)...]).trimming(" \t")
            if value.hasPrefix("["), !bracketsClose(value) {
                pending = trimmed
                pendingLine = number
                continue
            }
            let rawKey = String(trimmed[..<equals]).trimming(" \t")
            let quotedKey = rawKey.first == "\"" || rawKey.first == "'"
            guard let key = strings(in: rawKey).first, quotedKey || outsideQuotes(rawKey, find: ".") == nil else {
                project.problems.append("\(at): dotted key \(rawKey): quote it (\"\(rawKey)\" = …)")
                continue
            }
            if value.hasPrefix("{") || value.hasPrefix("\"\"\"") || value.hasPrefix("'''") {
                project.problems.append("\(at): inline tables and multi-line strings are not read by schemactl: \(trimmed)")
                continue
            }
            guard seen.insert(section + "\u{0}" + key).inserted else {
                project.problems.append("\(at): \(key) is given twice in [\(section)]")
                continue
            }
            let values = strings(in: value)
            let joined = values.isEmpty ? value : values.joined(separator: "\n")
            if section == "levels", CompatibilityLevel(rawValue: joined.uppercased()) == nil {
                project.problems.append(
                    "\(at): unknown level \(joined) for \(key); use one of \(CompatibilityLevel.allCases.map(\.rawValue).joined(separator: ", "))")
                continue
            }
            project.sections[section, default: []].append((key, joined))
            if section == "paths", key == "schemas" { project.schemaDirectories = values.filter { !$0.isEmpty } }
        }
        if !pending.isEmpty { project.problems.append("schemactl.toml line \(pendingLine): an array is not closed") }
        return project
    }

    /// Fails with every problem of the file (exit 2): a project file schemactl misread would check or register
    /// under the wrong subjects and levels.
    static func current() throws -> ProjectFile {
        guard nearest.problems.isEmpty else { throw InputError(description: nearest.problems.joined(separator: "\n")) }
        return nearest
    }

    /// The line without its comment: `#` outside a string ends it.
    private static func uncommented(_ line: Substring) -> String {
        guard let hash = outsideQuotes(String(line), find: "#") else { return String(line) }
        let text = String(line)
        return String(text[..<hash])
    }

    /// The first `character` outside "…" and '…' strings.
    private static func outsideQuotes(_ text: String, find character: Character) -> String.Index? {
        var quote: Character?
        var escaped = false
        var index = text.startIndex
        while index < text.endIndex {
            let current = text[index]
            if let open = quote {
                if escaped {
                    escaped = false
                } else if current == "\\", open == "\"" {
                    escaped = true
                } else if current == open {
                    quote = nil
                }
            } else if current == "\"" || current == "'" {
                quote = current
            } else if current == character {
                return index
            }
            index = text.index(after: index)
        }
        return nil
    }

    /// Whether every `[` outside strings is closed.
    private static func bracketsClose(_ text: String) -> Bool {
        var depth = 0
        var quote: Character?
        var escaped = false
        for character in text {
            if let open = quote {
                if escaped {
                    escaped = false
                } else if character == "\\", open == "\"" {
                    escaped = true
                } else if character == open {
                    quote = nil
                }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "[" {
                depth += 1
            } else if character == "]" {
                depth -= 1
            }
        }
        return depth <= 0
    }

    /// The strings of a value: "basic" (with \" \\ \n \t escapes) and 'literal' ones, in order; a bare word is
    /// one string.
    static func strings(in value: String) -> [String] {
        var found: [String] = []
        var current: String?
        var quote: Character = "\""
        var escaped = false
        for character in value {
            if current != nil {
                if escaped {
                    switch character {
                    case "n": current?.append("\n")
                    case "t": current?.append("\t")
                    default: current?.append(character)
                    }
                    escaped = false
                } else if character == "\\", quote == "\"" {
                    escaped = true
                } else if character == quote {
                    found.append(current ?? "")
                    current = nil
                } else {
                    current?.append(character)
                }
            } else if character == "\"" || character == "'" {
                quote = character
                current = ""
            }
        }
        if found.isEmpty {
            let bare = value.trimming(" \t[],")
            if !bare.isEmpty, !bare.contains("\"") && !bare.contains("'") { return [bare] }
        }
        return found
    }
}
