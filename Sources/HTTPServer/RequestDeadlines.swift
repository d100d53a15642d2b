import CMicroHTTPD
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One open connection, behind libmicrohttpd's socket context: its socket, its peer, and when the phase it is in
/// began — waiting for a request's headers (from the accept, or from the end of the previous answer), or reading
/// its body (from the end of the headers). While a request is being answered no deadline runs.
///
/// `@unchecked Sendable` is sound: `socket` and `peer` are immutable; `phaseStart` is atomic. The connection's
/// worker thread writes it, the reaper reads it.
final class ConnectionRecord: @unchecked Sendable {
    let socket: Int32
    /// The peer's address as `getpeername` gave it at the accept: a socket number reused by a later connection
    /// has another peer, so the reaper never shuts down a connection it does not mean.
    let peer: [UInt8]
    /// Milliseconds on the monotonic clock when the current phase began, plus one; 0 while answering.
    let phaseStart = Atomic<UInt64>(0)

    init(socket: Int32) {
        self.socket = socket
        self.peer = ConnectionRecord.peerAddress(of: socket) ?? []
        phaseStart.store(RequestDeadlines.nowMilliseconds() + 1, ordering: .relaxed)
    }

    /// A phase with a deadline begins now (headers awaited, or body being read).
    func startPhase() { phaseStart.store(RequestDeadlines.nowMilliseconds() + 1, ordering: .relaxed) }

    /// The request is complete and being answered: no deadline until the answer is done.
    func startAnswering() { phaseStart.store(0, ordering: .relaxed) }

    static func peerAddress(of socket: Int32) -> [UInt8]? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(socket, $0, &length) }
        }
        guard result == 0 else { return nil }
        return withUnsafeBytes(of: &storage) { Array($0.prefix(Int(length))) }
    }
}

/// The request deadline: a connection must deliver a request's headers within `timeout` of being ready for one,
/// and then its body within `timeout` of the headers, however it trickles them — libmicrohttpd's own timeout
/// only closes connections that send nothing for that long, so a client sending a byte a second (slowloris)
/// would hold its connection for ever. A timer shuts down the socket of every connection past its deadline;
/// libmicrohttpd then sees the end of the stream and closes it as if the client had left.
///
/// `@unchecked Sendable` is sound: `open` is only touched under `lock`; the timer is set once at start and
/// cancelled in `stop()`.
final class RequestDeadlines: @unchecked Sendable {
    private let timeoutMilliseconds: UInt64
    private let lock = Lock()
    private var open: [ObjectIdentifier: ConnectionRecord] = [:]  // guarded by lock
    private var timer: DispatchSourceTimer?
    /// Connections shut down for passing their deadline (for tests and metrics).
    let closedCount = Atomic<Int>(0)

    init(timeoutSeconds: Int) {
        timeoutMilliseconds = UInt64(timeoutSeconds) * 1000
    }

    /// Starts checking, a few times per deadline (at most twice a second).
    func start() {
        guard timeoutMilliseconds > 0 else { return }
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "http-request-deadlines"))
        let interval = max(100, min(500, Int(timeoutMilliseconds / 4)))
        timer.schedule(deadline: .now() + .milliseconds(interval), repeating: .milliseconds(interval), leeway: .milliseconds(50))
        timer.setEventHandler { [weak self] in self?.closeLateConnections() }
        timer.resume()
        self.timer = timer
    }

    func stop() {
        timer?.cancel()
        timer = nil
    }

    /// A connection was accepted: its record, to keep in its socket context (retained; `closed` releases it).
    func opened(socket: Int32) -> ConnectionRecord {
        let record = ConnectionRecord(socket: socket)
        lock.withLock { open[ObjectIdentifier(record)] = record }
        return record
    }

    /// libmicrohttpd is done with the connection (it closes the socket after this returns).
    func closed(_ record: ConnectionRecord) {
        lock.withLock { _ = open.removeValue(forKey: ObjectIdentifier(record)) }
    }

    var openCount: Int { lock.withLock { open.count } }

    func closeLateConnections() {
        let now = RequestDeadlines.nowMilliseconds()
        lock.withLock {
            for record in open.values {
                let started = record.phaseStart.load(ordering: .relaxed)
                guard started > 0, now + 1 - started > timeoutMilliseconds else { continue }
                // Under the lock: `closed` (which runs before libmicrohttpd closes the socket) cannot pass us, and
                // the peer check rules out a socket number already given to another connection.
                guard ConnectionRecord.peerAddress(of: record.socket) == record.peer else { continue }
                record.startAnswering()  // once is enough
                _ = shutdown(record.socket, Int32(SHUT_RDWR))
                closedCount.add(1, ordering: .relaxed)
            }
        }
    }

    static func nowMilliseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1000 + UInt64(time.tv_nsec) / 1_000_000
    }
}
