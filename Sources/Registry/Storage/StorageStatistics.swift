import Locking

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Counts of a histogram: how many observations fell at or below each bound (not cumulative), the rest, and the sum.
public struct Histogram: Sendable {
    /// Upper bounds, ascending.
    public let bounds: [Double]
    /// `counts[i]`: observations in (bounds[i-1], bounds[i]]; the last element counts those above every bound.
    public private(set) var counts: [Int]
    public private(set) var sum = 0.0
    public private(set) var count = 0

    init(bounds: [Double]) {
        self.bounds = bounds
        counts = [Int](repeating: 0, count: bounds.count + 1)
    }

    mutating func observe(_ value: Double) {
        counts[bounds.firstIndex { value <= $0 } ?? bounds.count] += 1
        sum += value
        count += 1
    }
}

/// What a store reports about its own work, for `/metrics`. Values, taken under one lock.
public struct StorageStatisticsSnapshot: Sendable {
    /// SQLite: registrations per group commit (one transaction, one fsync).
    public var commitBatchSizes = Histogram(bounds: [1, 2, 4, 8, 16, 32, 64, 128, 256])
    /// SQLite: time of each group commit's transaction, the fsync included.
    public var commitSeconds = Histogram(bounds: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])
    /// Transactions the database refused or could not complete.
    public var failedCommits = 0
    /// PostgreSQL: the last probe's round trip to the database (nil before the first, or with SQLite).
    public var roundTripSeconds: Double?
    /// PostgreSQL: at the last probe, how many committed changes (scope generations) the database held that this
    /// node's memory had not applied yet.
    public var changesBehind: Int?
    /// PostgreSQL: seconds since this node's memory was last seen to hold everything the database held (0 when it
    /// did at the last probe); nil before the first probe.
    public var secondsBehind: Double?
}

/// A store's statistics, recorded as it works. `@unchecked`-free: the values sit behind a `Locked`.
final class StorageStatistics: Sendable {
    private struct State {
        var snapshot = StorageStatisticsSnapshot()
        /// Monotonic seconds when memory was last seen in step with the database.
        var lastInStep: Double?
    }

    private let state = Locked(State())

    var snapshot: StorageStatisticsSnapshot { state.withLock { $0.snapshot } }

    /// A transaction holding `registrations` queued registrations committed (fsync included) in `seconds`. A
    /// synchronous write (config, mode, delete) with nothing queued counts in the time only, not as a batch.
    func recordCommit(registrations: Int, seconds: Double) {
        state.withLock { state in
            if registrations > 0 { state.snapshot.commitBatchSizes.observe(Double(registrations)) }
            state.snapshot.commitSeconds.observe(seconds)
        }
    }

    func recordFailedCommit() {
        state.withLock { $0.snapshot.failedCommits += 1 }
    }

    /// A probe of the database answered in `seconds`, when it held `changesBehind` changes memory had not applied.
    func recordProbe(seconds: Double, changesBehind: Int) {
        let now = StorageStatistics.monotonicSeconds()
        state.withLock { state in
            state.snapshot.roundTripSeconds = seconds
            state.snapshot.changesBehind = changesBehind
            if changesBehind == 0 || state.lastInStep == nil { state.lastInStep = now }
            state.snapshot.secondsBehind = changesBehind == 0 ? 0 : now - (state.lastInStep ?? now)
        }
    }

    static func monotonicSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
