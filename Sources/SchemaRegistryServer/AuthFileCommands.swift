import ArgumentParser
import AvroCodec
import RegistryHTTP

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The auth file in force and how to notice it changed: its device, inode, size and modification time.
final class AuthFileWatch {
    enum Outcome {
        case unchanged
        case reloaded(String)
        case refused(String)
    }

    struct Signature: Equatable {
        let device: UInt64
        let inode: UInt64
        let size: Int64
        let seconds: Int
        let nanoseconds: Int
    }

    let path: String
    let authenticator: Authenticator
    private var signature: Signature?

    /// Loads the file; throws (with the reason) when it cannot be read or is not a valid auth file.
    init(path: String) throws {
        self.path = path
        signature = AuthFileWatch.signature(path)
        authenticator = Authenticator(rules: try AuthFileWatch.load(path))
    }

    var summary: String { AuthFileWatch.summary(authenticator.rules) }

    /// Reloads when the file looks different from the last attempt.
    func reloadIfChanged() -> Outcome {
        guard AuthFileWatch.signature(path) != signature else { return .unchanged }
        return reload()
    }

    /// Reloads now (SIGHUP); a file that does not load leaves the rules in force.
    func reload() -> Outcome {
        signature = AuthFileWatch.signature(path)
        do {
            let rules = try AuthFileWatch.load(path)
            authenticator.replace(with: rules)
            return .reloaded(AuthFileWatch.summary(rules))
        } catch {
            return .refused("\(error)")
        }
    }

    static func load(_ path: String) throws -> AccessRules {
        guard let text = readTextFile(path) else { throw AuthFileError(reading: path) }
        return try AccessRules(parsing: Array(text.utf8))
    }

    static func summary(_ rules: AccessRules) -> String {
        "\(rules.userCount) users, \(rules.permissionCount) permissions"
    }

    static func signature(_ path: String) -> Signature? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Signature(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size), seconds: info.st_mtim.tv_sec,
            nanoseconds: info.st_mtim.tv_nsec)
    }
}

extension AuthFileError {
    init(reading path: String) {
        self.init(description: "cannot read \(path) (missing, unreadable, over 16 MiB or not UTF-8)")
    }
}

/// `schema-registry user …`: manages the auth file.
struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage the users of an auth file.", subcommands: [UserAddCommand.self])
}

/// `schema-registry user add`: appends a user entry (Karapace's format) to the auth file, creating it if missing.
struct UserAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a user to an auth file (created if missing); the password is read from standard input.",
        discussion: """
            The password's hash is PBKDF2-HMAC-SHA512 (5,000 rounds) by default, or scrypt (N=16384, r=8, p=1) \
            with --algorithm scrypt; the salt is 22 random URL-safe characters, as Karapace's karapace_mkpasswd \
            writes. Permissions are not added: give the user entries under "permissions", e.g.
              {"username": "ci", "operation": "Write", "resource": "Subject:orders-.*"}

            Example:
              printf '%s' "$CI_PASSWORD" | schema-registry user add --auth-file auth.json --name ci --password-stdin
            """)

    @Option(help: "The auth file.")
    var authFile: String

    @Option(help: "The user name.")
    var name: String

    @Flag(help: "Read the password from standard input (one line; the newline is not part of it).")
    var passwordStdin = false

    @Option(help: "sha1, sha256, sha512 or scrypt.")
    var algorithm: String = "sha512"

    func validate() throws {
        guard passwordStdin else { throw ValidationError("--password-stdin is required: passwords are never taken from the command line") }
        guard PasswordAlgorithm(rawValue: algorithm) != nil else { throw ValidationError("--algorithm must be sha1, sha256, sha512 or scrypt") }
        guard !name.isEmpty, !name.contains(":") else { throw ValidationError("--name must be non-empty and without ':' (HTTP Basic splits at it)") }
    }

    func run() throws {
        guard let algorithm = PasswordAlgorithm(rawValue: algorithm) else { throw ExitCode.validationFailure }
        var password = readPassword()
        defer { for index in password.indices { password[index] = 0 } }
        guard !password.isEmpty else { fail("the password on standard input is empty") }

        var top = JSONObject()
        if let text = readTextFile(authFile) {
            do {
                _ = try AccessRules(parsing: Array(text.utf8))
                guard case .object(let object) = try JSONParser.parse(text) else { fail("\(authFile) does not hold a JSON object") }
                top = object
            } catch {
                fail("\(authFile) is not a valid auth file, nothing changed: \(error)")
            }
        } else if access(authFile, F_OK) == 0 {
            fail("cannot read \(authFile)")
        }
        guard case .array(var users) = top["users"] ?? .array([]) else { fail("'users' in \(authFile) is not an array") }
        if users.contains(where: { $0["username"]?.stringValue == name }) { fail("user '\(name)' is already in \(authFile)") }

        let salt = UserAddCommand.randomSalt()
        let hash = Base64.encode(algorithm.derive(password: password, salt: Array(salt.utf8)))
        users.append(.object([("username", .string(name)), ("algorithm", .string(algorithm.rawValue)), ("salt", .string(salt)), ("password_hash", .string(hash))]))
        top.members.removeAll { $0.key == "users" }
        top.members.insert(JSONObject.Member(key: "users", value: .array(users)), at: 0)
        if top["permissions"] == nil { top.members.append(JSONObject.Member(key: "permissions", value: .array([]))) }
        try write(JSONValue.object(top).prettyText() + "\n")
        print("added user '\(name)' (\(algorithm.rawValue)) to \(authFile); give it permissions under \"permissions\"")
    }

    /// One line of standard input, without its line ending.
    private func readPassword() -> [UInt8] {
        var bytes: [UInt8] = []
        while true {
            let character = getchar()
            if character == EOF || character == 10 { break }
            bytes.append(UInt8(truncatingIfNeeded: character))
        }
        if bytes.last == 13 { bytes.removeLast() }
        return bytes
    }

    /// 16 random bytes as 22 URL-safe base64 characters.
    static func randomSalt() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let standard = Base64.encode(bytes)
        return String(standard.prefix(22).map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }

    /// Replaces the file atomically: a new file (made with `mkstemp`, so never through a planted link) with the
    /// old file's owner, group and mode (0600 for a new file), written whole, synced, renamed over it, and the
    /// directory synced.
    private func write(_ text: String) throws {
        var template = Array((authFile + ".tmp-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { fail("cannot write next to \(authFile): \(String(cString: strerror(errno)))") }
        let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var existing = stat()
        if stat(authFile, &existing) == 0 {
            _ = fchown(descriptor, existing.st_uid, existing.st_gid)
            _ = fchmod(descriptor, existing.st_mode & 0o7777)
        } else {
            _ = fchmod(descriptor, 0o600)
        }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { systemWrite(descriptor, $0.baseAddress! + written, $0.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            written += count
        }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == bytes.count, synced, rename(temporary, authFile) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            fail("cannot write \(authFile): \(reason)")
        }
        let slash = authFile.lastIndex(of: "/")
        let directory = slash.map { $0 == authFile.startIndex ? "/" : String(authFile[..<$0]) } ?? "."
        let directoryDescriptor = open(directory, O_RDONLY)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    private func fail(_ message: String) -> Never {
        let line = "error: \(message)\n"
        _ = line.withCString { systemWrite(2, $0, strlen($0)) }
        systemExit(2)
    }
}

/// write(2), named apart from the method above.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(descriptor, bytes, count)
    #else
    Darwin.write(descriptor, bytes, count)
    #endif
}

private func systemExit(_ code: Int32) -> Never {
    #if canImport(Glibc)
    Glibc.exit(code)
    #else
    Darwin.exit(code)
    #endif
}
