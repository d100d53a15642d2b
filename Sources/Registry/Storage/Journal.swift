import Locking

/// Group commit: registrations enqueue their rows and wait; whichever waiter takes the commit lock
/// first writes everything queued so far in one SQLite transaction (one fsync), and every
/// registration in that batch is answered once it is durable.
///
/// Lock order: the registry's state lock, then the commit lock, then the queue lock. The commit
/// leader never takes the state lock, so the order has no cycle.
final class Journal: Sendable {
    /// One statement and its parameters.
    struct Operation: Sendable {
        let sql: String
        let values: [SQLiteDatabase.Value]
    }

    private struct Queue {
        var operations: [Operation] = []
        var lastTicket = 0
    }

    private struct Committer: ~Copyable {
        let database: SQLiteDatabase
        var durableTicket = 0
        /// Set when a commit failed: memory is then ahead of disk, so every later write is refused
        /// until a restart reloads the durable state.
        var failure: String?
    }

    private let queue = Locked(Queue())
    private let committer: Locked<Committer>
    /// Batch sizes and commit times, for `/metrics`.
    private let statistics: StorageStatistics

    init(database: SQLiteDatabase, statistics: StorageStatistics) {
        committer = Locked(Committer(database: database))
        self.statistics = statistics
    }

    /// Queues a registration's rows; returns its ticket. Call with the state lock held, so that
    /// tickets follow the order in which memory changed.
    func enqueue(_ operations: [Operation]) -> Int {
        queue.withLock { queue in
            queue.operations.append(contentsOf: operations)
            queue.lastTicket += 1
            return queue.lastTicket
        }
    }

    /// The newest ticket handed out: waiting for it covers everything a reader may have seen.
    var lastTicket: Int { queue.withLock { $0.lastTicket } }

    /// Returns once everything up to `ticket` is committed, committing the queue itself if no one
    /// else has.
    func waitUntilDurable(_ ticket: Int) throws(StorageError) {
        try committer.withLock { (committer) throws(StorageError) in
            if let failure = committer.failure { throw StorageError(code: -1, message: failure, statement: "group commit") }
            guard committer.durableTicket < ticket else { return }
            try commitQueued(&committer) { (_) throws(StorageError) in }
        }
    }

    /// Commits what is queued plus `operations` in one transaction, now. For writes made under the
    /// state lock (config, mode, deletes): queued rows go first, so the database sees the same order
    /// as memory.
    func writeNow(_ operations: [Operation]) throws(StorageError) {
        try committer.withLock { (committer) throws(StorageError) in
            if let failure = committer.failure { throw StorageError(code: -1, message: failure, statement: "group commit") }
            try commitQueued(&committer) { (database) throws(StorageError) in
                for operation in operations { try database.run(operation.sql, operation.values) }
            }
        }
    }

    /// Why writes are refused (a group commit failed), or nil.
    var failure: String? { committer.withLock { $0.failure } }

    private func commitQueued(_ committer: inout Committer, extra: (SQLiteDatabase) throws(StorageError) -> Void) throws(StorageError) {
        let (operations, ticket) = queue.withLock { queue in
            defer { queue.operations.removeAll(keepingCapacity: true) }
            return (queue.operations, queue.lastTicket)
        }
        let database = committer.database
        let registrations = ticket - committer.durableTicket
        do {
            let started = StorageStatistics.monotonicSeconds()
            try database.transaction {
                for operation in operations { try database.run(operation.sql, operation.values) }
                try extra(database)
            }
            statistics.recordCommit(registrations: registrations, seconds: StorageStatistics.monotonicSeconds() - started)
            committer.durableTicket = ticket
        } catch {
            statistics.recordFailedCommit()
            if !operations.isEmpty { committer.failure = "a group commit failed (\(error)); restart to reload the durable state" }
            throw (error as? StorageError) ?? StorageError(code: -1, message: String(describing: error), statement: "group commit")
        }
    }
}
