import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway PostgreSQL cluster for integration tests: `initdb` into a fresh temporary directory, started
/// with `wal_level=logical` on a free loopback port, stopped and deleted by `stop()`.
///
/// PostgreSQL refuses to run as root, so when the tests run as root every server command runs as the
/// `postgres` user through `runuser`, and the directory is handed to that user first.
///
/// ```swift
/// let cluster = try PostgresCluster.start()
/// defer { cluster.stop() }
/// let connection = try PostgresConnection(conninfo: cluster.conninfo, replication: false)
/// ```
final class PostgresCluster {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The temporary directory: the data directory, the Unix socket and the logs live inside it.
    let directory: String
    /// The TCP port on 127.0.0.1.
    let port: Int
    private let binDirectory: String
    private var isRunning = true

    /// A libpq connection string for the `postgres` superuser and database.
    var conninfo: String { "host=127.0.0.1 port=\(port) user=postgres dbname=postgres connect_timeout=10" }

    private var dataDirectory: String { directory + "/data" }

    /// Whether the server binaries are installed (and, as root, a `postgres` user exists to run them).
    static var isAvailable: Bool {
        #if !os(Linux)
        return false
        #endif
        guard binDirectory != nil else { return false }
        return getuid() != 0 || (getpwnam("postgres") != nil && runuserPath != nil)
    }

    /// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `pg_ctl`, or the directory of an
    /// `initdb` on the PATH.
    static let binDirectory: String? = {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions {
            let bin = "\(root)/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: bin + "/initdb"),
               FileManager.default.isExecutableFile(atPath: bin + "/pg_ctl") {
                return bin
            }
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for entry in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(entry)/initdb") {
            return String(entry)
        }
        return nil
    }()

    private static let runuserPath: String? = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Creates and starts a cluster.
    static func start() throws -> PostgresCluster {
        guard let binDirectory else { throw Failure(description: "PostgreSQL server binaries not found") }
        let directory = FileManager.default.temporaryDirectory.path + "/walsource-pg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        if getuid() == 0 {
            guard let user = getpwnam("postgres") else { throw Failure(description: "no postgres user to run the server as") }
            guard chown(directory, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                throw Failure(description: "chown \(directory): \(String(cString: strerror(errno)))")
            }
        }
        do {
            try run(binDirectory + "/initdb", ["-D", directory + "/data", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"], in: directory)
            // A port found free can be taken before the server binds it: try a few.
            var lastError: Error?
            for _ in 0..<3 {
                let port = try freePort()
                let options = [
                    "-c wal_level=logical", "-c port=\(port)", "-c listen_addresses=127.0.0.1",
                    "-c unix_socket_directories=\(directory)", "-c fsync=off",
                ].joined(separator: " ")
                do {
                    try run(binDirectory + "/pg_ctl", ["-D", directory + "/data", "-l", directory + "/server.log", "-o", options, "-w", "-t", "60", "start"], in: directory)
                    return PostgresCluster(directory: directory, port: port, binDirectory: binDirectory)
                } catch {
                    lastError = error
                }
            }
            throw lastError ?? Failure(description: "pg_ctl start failed")
        } catch {
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(atPath: directory)
            throw Failure(description: "\(error)\n\(log)")
        }
    }

    private init(directory: String, port: Int, binDirectory: String) {
        self.directory = directory
        self.port = port
        self.binDirectory = binDirectory
    }

    deinit {
        stop()
    }

    /// Stops the server (fast shutdown: open connections are closed) and deletes the directory.
    func stop() {
        guard isRunning else { return }
        isRunning = false
        _ = try? PostgresCluster.run(binDirectory + "/pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "stop"], in: directory)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs a server program (as `postgres` when we are root) and waits for it; output goes to
    /// `directory/commands.log`.
    ///
    /// posix_spawn and waitpid rather than Foundation's `Process`: `pg_ctl start` leaves the server running
    /// in the background, and with `Process` its `waitUntilExit()` never returned although `runuser` had
    /// exited (left a zombie) — the server inherits every descriptor not marked close-on-exec, apparently
    /// including one `Process` watches. Here the child gets only stdin, stdout and stderr
    /// (`addclosefrom_np`), so the server also keeps none of the other tests' connections open.
    private static func run(_ executable: String, _ arguments: [String], in directory: String) throws {
        #if os(Linux)
        let command = (getuid() == 0 ? [runuserPath ?? "runuser", "-u", "postgres", "--", executable] : [executable]) + arguments
        let logPath = directory + "/commands.log"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // glibc ≥ 2.34 has both, but Swift's Glibc module does not import these `_np` extensions: look them up.
        if let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") {
            typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
            _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
        }
        if let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addchdir_np") {
            typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32
            _ = unsafeBitCast(symbol, to: AddChdir.self)(&actions, directory)
        }

        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        let argumentCopies = command.map { strdup($0) } + [nil]
        let environmentCopies = environment.map { strdup($0) } + [nil]
        defer {
            argumentCopies.forEach { free($0) }
            environmentCopies.forEach { free($0) }
        }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, command[0], &actions, nil, argumentCopies, environmentCopies)
        guard spawned == 0 else {
            throw Failure(description: "cannot run \(command[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(child, &status, 0) == -1 {
            guard errno == EINTR else { throw Failure(description: "waitpid: \(String(cString: strerror(errno)))") }
        }
        // WIFEXITED and WEXITSTATUS are macros Swift does not import.
        let exitedNormally = status & 0x7F == 0
        let exitCode = (status >> 8) & 0xFF
        guard exitedNormally && exitCode == 0 else {
            let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw Failure(description: "\(command.joined(separator: " ")) failed (wait status \(status)):\n\(output)")
        }
        #else
        throw Failure(description: "the throwaway cluster is only implemented for Linux")
        #endif
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
    private static func freePort() throws -> Int {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else { throw Failure(description: "bind: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
