#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a pthread mutex, used as `Synchronization.Mutex` is: `state.withLock { $0.count += 1 }`.
///
/// Not `Mutex` itself: its lock is a futex inside the standard library, which is not built with
/// ThreadSanitizer, so TSan sees no synchronisation and reports every access it guards as a race (checked with
/// an 8-thread counter: correct total, a race reported). TSan intercepts pthread mutexes, so the concurrency
/// tests run under it (`scripts/fuzz.sh --tsan`) report only real races. Uncontended cost is the same futex.
///
/// `@unchecked Sendable` is sound: the value is only reached through `withLock`, under the mutex; both live in
/// heap memory that never moves.
public final class Locked<Value: ~Copyable>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let storage: UnsafeMutablePointer<Value>

    public init(_ value: consuming Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        storage = .allocate(capacity: 1)
        storage.initialize(to: value)
    }

    deinit {
        storage.deinitialize(count: 1)
        storage.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock.
    @inlinable
    public func withLock<Result: ~Copyable, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&storage.pointee)
    }
}
