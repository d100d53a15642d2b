import CMicroHTTPD
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One open connection, behind libmicrohttpd's socket context: its socket, its peer, and the phase it is in with
/// when that began — idle between requests (from the end of the previous answer, bounded by the idle timeout),
/// receiving a request (from its accept or its request line, bounded by the request deadline: headers, then
/// body from the end of the headers), or being answered (no deadline).
///
/// `@unchecked Sendable` is sound: `socket` and `peer` are immutable; `phase` is atomic. The connection's worker
/// thread moves it; the reaper claims it (`closed`) with a compare-and-exchange, so a request is either answered
/// or its connection shut down, never both.
final class ConnectionRecord: @unchecked Sendable {
    let socket: Int32
    /// The peer's address as `getpeername` gave it at the accept: a socket number reused by a later connection
    /// has another peer, so the reaper never shuts down a connection it does not mean.
    let peer: [UInt8]
    /// The peer's IP address as text, for the requests' `clientAddress` (made once per connection).
    let peerText: String
    /// 0: being answered. `closed`: claimed by the reaper. Otherwise milliseconds on the monotonic clock, plus
    /// one, when the phase began, with `idleBit` set while idle between requests.
    let phase = Atomic<UInt64>(0)

    static let closed = UInt64.max
    static let idleBit: UInt64 = 1 << 62

    init(socket: Int32) {
        self.socket = socket
        self.peer = ConnectionRecord.peerAddress(of: socket) ?? []
        self.peerText = ConnectionRecord.text(ofAddress: peer)
        phase.store(RequestDeadlines.nowMilliseconds() + 1, ordering: .relaxed)
    }

    /// A request is being received (its request line is in, or its headers are): the request deadline runs
    /// from now.
    func startReceiving() { move(to: RequestDeadlines.nowMilliseconds() + 1) }

    /// A kept-alive connection's next request line is in: the request deadline runs from now. A connection
    /// already receiving (its first request, from the accept) keeps its deadline.
    func startReceivingIfIdle() {
        var current = phase.load(ordering: .relaxed)
        while current != ConnectionRecord.closed, current & ConnectionRecord.idleBit != 0 {
            let (exchanged, original) = phase.compareExchange(
                expected: current, desired: RequestDeadlines.nowMilliseconds() + 1, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }

    /// The previous answer is done: the idle timeout runs from now.
    func startIdle() { move(to: (RequestDeadlines.nowMilliseconds() + 1) | ConnectionRecord.idleBit) }

    /// The request is complete: false when the reaper has already claimed the connection, which must then not
    /// run the request (its answer could not be sent).
    func startAnswering() -> Bool { move(to: 0) }

    /// Moves to `next` unless the reaper claimed the connection first.
    @discardableResult
    private func move(to next: UInt64) -> Bool {
        var current = phase.load(ordering: .relaxed)
        while current != ConnectionRecord.closed {
            let (exchanged, original) = phase.compareExchange(expected: current, desired: next, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// The IP address in a `sockaddr` (as `getpeername` filled it) as text; empty for other families.
    static func text(ofAddress address: [UInt8]) -> String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let written: Bool = address.withUnsafeBytes { bytes in
            guard bytes.count >= MemoryLayout<sa_family_t>.size, let base = bytes.baseAddress else { return false }
            let family = Int32(base.loadUnaligned(as: sa_family_t.self))
            if family == AF_INET, bytes.count >= MemoryLayout<sockaddr_in>.size {
                var ipv4 = base.loadUnaligned(as: sockaddr_in.self)
                return inet_ntop(AF_INET, &ipv4.sin_addr, &text, socklen_t(text.count)) != nil
            }
            if family == AF_INET6, bytes.count >= MemoryLayout<sockaddr_in6>.size {
                var ipv6 = base.loadUnaligned(as: sockaddr_in6.self)
                return inet_ntop(AF_INET6, &ipv6.sin6_addr, &text, socklen_t(text.count)) != nil
            }
            return false
        }
        guard written, let end = text.firstIndex(of: 0) else { return "" }
        return String(decoding: text[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

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

/// The request deadline: a connection must deliver a request's headers within `requestTimeout` of starting it
/// (its accept, or its request line on a kept-alive connection), and then its body within `requestTimeout` of
/// the headers, however it trickles them — libmicrohttpd's own timeout only closes connections that send
/// nothing for that long, so a client sending a byte a second (slowloris) would hold its connection for ever.
/// Between requests a connection may be idle for `idleTimeout`. A timer shuts down the socket of every
/// connection past its deadline; libmicrohttpd then sees the end of the stream and closes it as if the client
/// had left.
///
/// `@unchecked Sendable` is sound: `open` is only touched under `lock`; the timer is set once at start and
/// cancelled in `stop()`.
final class RequestDeadlines: @unchecked Sendable {
    private let requestMilliseconds: UInt64
    private let idleMilliseconds: UInt64
    private let lock = Lock()
    private var open: [ObjectIdentifier: ConnectionRecord] = [:]  // guarded by lock
    private var timer: DispatchSourceTimer?
    /// Connections shut down for passing their deadline.
    let closedCount = Atomic<Int>(0)

    /// 0 for either: no such deadline.
    init(requestTimeoutSeconds: Int, idleTimeoutSeconds: Int) {
        requestMilliseconds = UInt64(max(0, requestTimeoutSeconds)) * 1000
        idleMilliseconds = UInt64(max(0, idleTimeoutSeconds)) * 1000
    }

    /// Starts checking, a few times per deadline (at most twice a second).
    func start() {
        guard requestMilliseconds > 0 else { return }
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "http-request-deadlines"))
        let interval = max(100, min(500, Int(requestMilliseconds / 4)))
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

    /// Connections open now (accepted and not yet closed).
    var openCount: Int { lock.withLock { open.count } }

    /// libmicrohttpd is done with the connection (it closes the socket after this returns).
    func closed(_ record: ConnectionRecord) {
        lock.withLock { _ = open.removeValue(forKey: ObjectIdentifier(record)) }
    }

    func closeLateConnections() {
        lock.withLock {
            // Read under the lock, after any phase a worker stored before: `started` is never ahead of `now`
            // by more than the clock's own step, and the comparison below cannot wrap either way.
            let now = RequestDeadlines.nowMilliseconds() + 1
            for record in open.values {
                let value = record.phase.load(ordering: .relaxed)
                guard value != 0, value != ConnectionRecord.closed else { continue }
                let isIdle = value & ConnectionRecord.idleBit != 0
                let started = value & ~ConnectionRecord.idleBit
                // Idle without an idle timeout: the request deadline, so a trickled request line is bounded too.
                let limit = isIdle && idleMilliseconds > 0 ? idleMilliseconds : requestMilliseconds
                guard limit > 0, now > started, now - started > limit else { continue }
                // Under the lock: `closed` (which runs before libmicrohttpd closes the socket) cannot pass us, and
                // the peer check rules out a socket number already given to another connection.
                guard ConnectionRecord.peerAddress(of: record.socket) == record.peer else { continue }
                // Claimed only if the phase is still the late one: a request that has just become complete is
                // answered instead.
                guard record.phase.compareExchange(expected: value, desired: ConnectionRecord.closed, ordering: .acquiringAndReleasing).exchanged else { continue }
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
