import ArgumentParser
import AvroCodec
import RegistryClient

struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show what changed between two versions of a schema, field by field, and whether each reads the other's data.",
        discussion: """
            Prints one line per change: fields added, removed or renamed through an alias, types changed (promotions \
            such as int → long named), defaults, docs, orders and aliases changed, enum symbols added or removed, \
            logical types changed (decimal precision and scale too), fixed sizes, names and union branches. Each \
            change has a path in the schema with fields named rather than numbered (/fields/address/type/fields/city) \
            and union branches named by their type. Then the verdict each way: BACKWARD (the new schema reads data \
            written with the old one) and FORWARD (the old one reads data written with the new one), with each \
            problem's path and fix as check prints them.

            The two versions are two files; or a file and its own content at a git revision (--against-git REV FILE; \
            a file renamed since REV is compared with its old name there; a file new since REV has nothing to diff \
            against, which is said, exit 0); or two versions of a registry subject (--subject S --from N --to M, \
            versions as numbers or latest, --to latest by default), or a registered version and a file (--from N FILE, \
            --from latest by default; the subject is --subject, else the file's entry in schemactl.toml, else its \
            base name). A type a file uses from another file is found as validate finds it (schemactl.toml's \
            [paths]); the file's own definitions win over another file defining the same type (another version of \
            it, typically). Registered schemas with references are read with the versions they reference.

            A diff is a report: exit 0 once it is printed, whatever changed and whichever way the schemas are \
            incompatible (use check to fail a build). Exit 2 for invalid input or usage, 3 when the registry is \
            unreachable or failing.

            Examples:
              schemactl diff customer-v1.avsc customer-v2.avsc
              --- customer-v1.avsc
              +++ customer-v2.avsc
              ~ /fields/id/type   type changed: int → long (promotion int → long)
              ~ /fields/fullName  field renamed: name → fullName (through the alias name)
              + /fields/email     field added: string, default ""
              - /fields/fax       field removed: [null, string], default null
              BACKWARD (new reads old): compatible
              FORWARD (old reads new): INCOMPATIBLE, 2 problems
              (then each problem with its path and fix)
              schemactl diff --against-git origin/main schemas/order.avsc
              schemactl diff --subject orders-value --from 3 --to 4 --registry http://127.0.0.1:8081
              schemactl diff --from latest schemas/order.avsc --format json
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Argument(help: "OLD NEW schema files (.avsc; - for standard input); one file with --against-git, and with the registry the new file (or none).")
    var files: [String] = []

    @Option(help: "Compare the file with its own content at this git revision (offline).")
    var againstGit: String?

    @Option(help: "Registry: the subject (with a file, default: from schemactl.toml, else the file's base name).")
    var subject: String?

    @Option(help: "Registry: the old version, a number or latest (with a file, default latest).")
    var from: String?

    @Option(help: "Registry: the new version, a number or latest (default latest); not with a file.")
    var to: String?

    @Option(help: "text (for people) or json (for tools).")
    var format: Format = .text

    @OptionGroup var options: RegistryOptions

    private var usesRegistry: Bool { subject != nil || from != nil || to != nil || options.registry != nil }

    func validate() throws {
        if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("standard input can be read once: give at most one - ") }
        if againstGit != nil, files.contains("-") { throw ValidationError("standard input has no history in git: give the file's path") }
        if againstGit != nil {
            guard files.count == 1, !usesRegistry else { throw ValidationError("--against-git REV takes one file, and neither --registry, --subject, --from nor --to") }
            return
        }
        if usesRegistry {
            for version in [from, to].compactMap({ $0 }) where version != "latest" && (Int(version) ?? 0) < 1 {
                throw ValidationError("version '\(version)' is neither a number from 1 nor latest")
            }
            switch files.count {
            case 0:
                guard subject != nil, from != nil else { throw ValidationError("give --subject and --from (and --to, default latest), or the new schema file") }
            case 1:
                guard to == nil else { throw ValidationError("give either --to or a file as the new version, not both") }
            default:
                throw ValidationError("with the registry (--registry, --subject, --from, --to), give at most one file: the new version")
            }
            return
        }
        guard files.count == 2 else {
            throw ValidationError("give two files (schemactl diff OLD NEW), or one with --against-git REV or with --subject/--from")
        }
    }

    func run() async throws {
        let library = try ProjectFile.current().schemaDirectories
        let sides: (old: Side, new: Side)
        if let againstGit {
            guard let found = try Self.sidesInGit(files[0], revision: againstGit, library: library) else {
                printNewFile(files[0], revision: againstGit)
                return
            }
            sides = found
        } else if usesRegistry {
            sides = try await registrySides(library: library)
        } else {
            sides = (try Self.fileSide(files[0], library: library), try Self.fileSide(files[1], library: library))
        }
        let formatter = DiffReportFormatter(
            oldLabel: sides.old.label, newLabel: sides.new.label, diff: SchemaDiff.between(old: sides.old.schema, new: sides.new.schema))
        switch format {
        case .text: print(formatter.text(), terminator: "")
        case .json: print(formatter.json())
        }
    }

    /// One version to compare: what to call it and its schema.
    private struct Side {
        let label: String
        let schema: AvroSchema
    }

    // MARK: Files

    private static func fileSide(_ argument: String, library: [String]) throws -> Side {
        let (selected, libraryFiles) = try SchemaSet.expand(arguments: [argument], library: library)
        guard selected.count == 1, let path = selected.first else { throw InputError(description: "\(argument): a directory; diff compares two files") }
        var libraryContents: [String: [UInt8]] = [:]
        for file in libraryFiles { libraryContents[file] = try? SchemaFile.readBytes(file) }  // an unreadable one defines nothing
        return Side(label: path, schema: try load(path, bytes: try SchemaFile.readBytes(path), library: libraryContents))
    }

    /// Parses `path` with the types it uses from `library`'s files. The file's own definitions win: a library file
    /// that defines one of its types too (another version of this very file, typically: `diff old/order.avsc
    /// schemas/order.avsc`) is left out, where `SchemaSet` would refuse two definitions of one name.
    private static func load(_ path: String, bytes: [UInt8], library: [String: [UInt8]]) throws -> AvroSchema {
        func names(in bytes: [UInt8]) -> Set<String> {
            guard let json = try? JSONParser.parse(bytes: bytes) else { return [] }
            var found: [(String, String)] = []
            SchemaSet.definitions(in: json, namespace: "", into: &found)
            return Set(found.map(\.0))
        }
        let own = names(in: bytes)
        var contents = library.filter { $0.key != path && names(in: $0.value).isDisjoint(with: own) }
        contents[path] = bytes
        return try SchemaSet(selected: [path], contents: contents).load(path).schema
    }

    // MARK: Git

    /// The file at `revision` and in the working tree; nil when the file is new since `revision`.
    private static func sidesInGit(_ argument: String, revision: String, library: [String]) throws -> (old: Side, new: Side)? {
        let git = try GitRepository.here()
        let commit = try git.requireCommit(revision)
        let new = try fileSide(argument, library: library)
        guard let repositoryPath = git.repositoryPath(new.label) else { throw InputError(description: "\(new.label): outside the git work tree \(git.root)") }
        // A file renamed since REV is compared under its name there; the types it uses come from REV's files.
        let pathAtRevision = try git.renamesSince(commit)[repositoryPath] ?? repositoryPath
        var paths = [pathAtRevision]
        for directory in library.compactMap(git.repositoryPath) { paths += try git.schemaFiles(at: commit, under: directory) }
        let contents = try git.followingLinks(try git.contents(at: commit, of: Array(Set(paths)).sorted()), at: commit)
        guard let bytes = contents[pathAtRevision] else { return nil }
        let old: AvroSchema
        do {
            old = try load(pathAtRevision, bytes: bytes, library: contents)
        } catch let error as InputError {
            throw InputError(description: "at \(revision): \(error.description)")
        }
        return (Side(label: "\(pathAtRevision)@\(revision)", schema: old), new)
    }

    private func printNewFile(_ path: String, revision: String) {
        switch format {
        case .text: print("\(path) is new since \(revision): nothing to diff against")
        case .json:
            print(DiffReportFormatter.document(old: .null, new: path, changes: [], backward: [], forward: [], extra: [("newSince", .string(revision))]))
        }
    }

    // MARK: Registry

    private func registrySides(library: [String]) async throws -> (old: Side, new: Side) {
        let target = subject ?? subjectName(for: files.first ?? "", explicit: nil)
        let registered = RegisteredSchemas(client: options.client)
        let fromFile = try files.first.map { try Self.fileSide($0, library: library) }  // a bad file before any request
        let old = try await registered.side(subject: target, version: from ?? "latest")
        if let fromFile { return (old, fromFile) }
        return (old, try await registered.side(subject: target, version: to ?? "latest"))
    }

    /// Registered versions, parsed with the schemas they reference (Confluent's `references`, fetched recursively).
    private final class RegisteredSchemas {
        let client: RegistryClient
        private var parsed: [ExportedVersion.Key: AvroSchema] = [:]
        /// What was registered may predate stricter checks of defaults; a diff of history reads it as it is.
        private static let lenient = AvroSchema.ParseOptions(validatesDefaults: false)

        init(client: RegistryClient) {
            self.client = client
        }

        func side(subject: String, version: String) async throws -> Side {
            let found = try await fetch(subject: subject, version: version)
            return Side(label: "\(subject) v\(found.version) (id \(found.id))", schema: try await schema(of: found, referencedFrom: []))
        }

        private func fetch(subject: String, version: String) async throws -> ExportedVersion {
            let client = self.client
            let answer = try await callRegistry { () async throws(RegistryClientError) -> JSONValue in
                try await client.version(subject: subject, version: version)
            }
            do {
                return try ExportedVersion(subject: subject, answer: answer, deleted: false)
            } catch {
                printError("error: unexpected registry response: \(error.description)")
                throw ExitStatus.unavailable
            }
        }

        private func schema(of version: ExportedVersion, referencedFrom chain: [ExportedVersion.Key]) async throws -> AvroSchema {
            if let known = parsed[version.key] { return known }
            let name = "\(version.subject) v\(version.version)"
            guard version.schemaType == "AVRO" else { throw InputError(description: "\(name) is a \(version.schemaType) schema; diff compares Avro schemas") }
            var references: [AvroSchema] = []
            for key in version.referencedKeys {
                guard !chain.contains(key), key != version.key else {
                    throw InputError(description: "\(name): its references come back to \(key.subject) v\(key.version)")
                }
                references.append(try await schema(of: try await fetch(subject: key.subject, version: String(key.version)), referencedFrom: chain + [version.key]))
            }
            do {
                let schema = try AvroSchema(parsing: version.schema, references: references, options: Self.lenient)
                parsed[version.key] = schema
                return schema
            } catch {
                throw InputError(description: "\(name) (id \(version.id)): invalid Avro schema \(error.description)")
            }
        }
    }
}
