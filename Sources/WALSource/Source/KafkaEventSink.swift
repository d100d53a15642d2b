import AvroCodec
import ChangeEvents
import KafkaClient

#if canImport(Glibc)
    import Glibc
#endif

/// How the source writes to Kafka (`wal-source --kafka-brokers …`).
public struct KafkaSinkConfiguration: Sendable {
    /// Bootstrap brokers, `HOST:PORT[,…]`.
    public var brokers: String
    /// `--kafka-config KEY=VALUE` pairs, passed to librdkafka after ours (so they win).
    public var settings: KafkaSettings
    /// Each group of PostgreSQL transactions is one Kafka transaction that also writes the source's position to
    /// the offsets topic; false: idempotent producer, at least once.
    public var exactlyOnce = true
    /// A delete is followed by a tombstone (same key, null value), as Debezium does by default.
    public var tombstones = true
    /// Test hook (`WAL_SOURCE_CRASH_AFTER_COMMIT=K`): SIGKILL right after the K-th commit, before the slot hears.
    public var crashAfterCommit: Int?

    public init(brokers: String, settings: KafkaSettings) {
        self.brokers = brokers
        self.settings = settings
    }

    /// The librdkafka settings the source sets itself (the values it sets, which may be repeated), and why: given
    /// otherwise with `--kafka-config`, they would silently undo a guarantee (or, for the brokers, contradict
    /// `--kafka-brokers`), so they are refused.
    public static let reservedSettings: [(keys: [String], values: [String], reason: String)] = [
        (["bootstrap.servers", "metadata.broker.list"], [], "give the brokers with --kafka-brokers"),
        (["enable.idempotence"], ["true"], "the producer is idempotent: no duplicate or reordering from its retries"),
        (["acks", "request.required.acks"], ["all", "-1"], "acks=all: an event is acknowledged to the slot only once every in-sync replica has it"),
        (["transactional.id"], [], "exactly once derives it from the PostgreSQL cluster, the topic prefix and the slot, so a restart fences the previous instance; --at-least-once uses no transactions"),
        (["partitioner"], ["murmur2_random"], "murmur2_random, the Java client's partitioner: a row's changes stay in one partition whoever produces them"),
        (["isolation.level"], ["read_committed"], "the offsets topic is read read_committed: a position of an aborted transaction is never used"),
        (["enable.partition.eof"], ["true"], "the offsets topic is read to its end at each start"),
        (["log.queue"], ["false"], "librdkafka's log lines go to standard error as they come"),
    ]

    /// Why `key=value` may not be given with `--kafka-config` (nil: it may). librdkafka takes a topic-level
    /// setting with a `topic.` prefix too.
    public static func reservedReason(_ key: String, value: String) -> String? {
        let name = key.hasPrefix("topic.") ? String(key.dropFirst("topic.".count)) : key
        guard let reserved = reservedSettings.first(where: { $0.keys.contains(name) }), !reserved.values.contains(value) else { return nil }
        return reserved.reason
    }
}

/// The WAL source's Kafka side: events of the transactions being received go to their tables' topics (framed Avro
/// key and value; a tombstone after a delete), and `commit(through:)` makes them durable in the brokers before the
/// slot hears of them.
///
/// Exactly once: a group of PostgreSQL transactions is one Kafka transaction, which also writes the end LSN of its
/// last PostgreSQL transaction to `<prefix>.wal-source.offsets` under the slot's name. A restarted source reads that
/// position (read_committed) and skips what PostgreSQL sends again at or below it: a crash between the Kafka commit
/// and the slot's acknowledgement duplicates nothing. Every event of the group is delivered before the position is
/// written, so a position that can be read (even where a broker shows uncommitted messages, as librdkafka's mock
/// does) implies its events were delivered.
///
/// The snapshots' progress (an initial snapshot done, the incremental snapshots' queue and the tables read) goes
/// into the same transaction under `<slot>/progress` when the group changed it: a chunk whose rows are committed is
/// not read again, and a snapshot asked for in a committed transaction is not lost, whenever the source is killed.
///
/// At least once: the events are flushed (every delivery report in) before the slot hears.
///
/// Messages the brokers refuse for good (too large, no permission) stop the source with the broker's reason; the
/// brokers being away stops acknowledging (the slot keeps the WAL), and the supervisor starts again, resuming from
/// the last commit.
final class KafkaEventSink {
    let configuration: KafkaSinkConfiguration
    let producer: KafkaProducer
    let offsetsTopic: String
    let slot: String
    /// `SYSTEM/TIMELINE/`: the PostgreSQL cluster and timeline a position belongs to, before its LSN in the record.
    let origin: String
    private var transactionOpen = false
    /// Topics whose metadata was looked at (once each: a topic this client may not write stops the source).
    private var checkedTopics = Set<String>()
    private var commits = 0
    /// Called while waiting for the brokers (the replication connection's keepalive).
    var whileWaiting: () -> Void = {}
    var log: (String) -> Void = { _ in }

    /// A commit waits in slices this long: between them the replication connection and the status line hear
    /// that the source is waiting (a timed-out commit is retriable and resumes where it was).
    static let commitTimeoutMilliseconds: Int32 = 1_000

    /// `systemID`/`timeline`: the PostgreSQL cluster's identity (IDENTIFY_SYSTEM), written with each position and part
    /// of the transactional id (two clusters' sources with one slot name do not fence each other).
    init(configuration: KafkaSinkConfiguration, slot: String, topicPrefix: String, systemID: UInt64, timeline: UInt32) throws(KafkaError) {
        self.configuration = configuration
        self.slot = slot
        origin = "\(systemID)/\(timeline)/"
        offsetsTopic = topicPrefix + ".wal-source.offsets"
        var settings = KafkaSettings([
            ("bootstrap.servers", configuration.brokers),
            // Bounded memory: a full queue makes the source wait (and stop reading the slot), not grow.
            ("queue.buffering.max.kbytes", "65536"),
            ("linger.ms", "5"),
        ])
        if configuration.exactlyOnce {
            // A snapshot is one transaction: room for a large table.
            settings.pairs += [("transaction.timeout.ms", "300000"), ("message.timeout.ms", "300000")]
        }
        settings.pairs += configuration.settings.pairs
        let transactionalID = "wal-source-\(systemID)-\(topicPrefix)-\(slot)"
        producer = try KafkaProducer(settings: settings, transactionalID: configuration.exactlyOnce ? transactionalID : nil)
        if configuration.exactlyOnce {
            // Fences an earlier instance with the same slot and aborts its open transaction.
            try producer.initTransactions(milliseconds: 30_000)
        }
    }

    /// Creates the offsets topic, compacted with one partition (it keeps each slot's last position), when a reader
    /// that never auto-creates topics found none. Brokers that cannot create topics leave it to auto-creation.
    func createOffsetsTopic() throws(KafkaError) {
        do {
            try producer.createTopic(offsetsTopic, partitions: 1, settings: [("cleanup.policy", "compact")], milliseconds: 5_000)
        } catch {
            if error.isConfiguration { throw error }
            log("kafka: creating \(offsetsTopic) compacted: \(error); it is left to the brokers' automatic creation")
        }
    }

    /// The key of the snapshots' progress record (slot names hold no `/`).
    var progressKey: String { slot + "/progress" }

    /// What the offsets topic holds for the slot: the position committed by this PostgreSQL cluster on its
    /// current timeline, and the snapshots' progress committed with the last group that changed it (its LSN
    /// is that group's end).
    struct Committed {
        var position: UInt64?
        var progress: (asOf: UInt64, record: WALSourceEngine.IncrementalRecord)?
    }

    /// What the offsets topic holds for this slot (nothing with at least once); `missing` is set when the topic
    /// does not exist. A record of another cluster or timeline is logged and not used: its LSNs mean nothing here.
    func committed(missing: inout Bool) throws(KafkaError) -> Committed {
        guard configuration.exactlyOnce else { return Committed() }
        let topic = offsetsTopic
        let consumer = try KafkaConsumer(
            settings: KafkaSettings([("bootstrap.servers", configuration.brokers)] + configuration.settings.pairs + [("isolation.level", "read_committed"), ("enable.partition.eof", "true")]),
            group: nil)
        guard let partitions = try consumer.partitions(of: topic, milliseconds: 10_000), !partitions.isEmpty else {
            missing = true
            return Committed()
        }
        try consumer.assign(topic: topic, partitions: partitions, fromBeginning: true)
        var open = Set(partitions)
        // Per key, the last record of this cluster and timeline (another's, under the same slot name and prefix,
        // may come after it).
        var latest: String?
        var progress: (asOf: UInt64, record: WALSourceEngine.IncrementalRecord)?
        var foreign: String?
        let deadline = ContinuousClock.now + .seconds(60)
        while !open.isEmpty {
            guard ContinuousClock.now < deadline else { throw KafkaError(message: "\(topic): not read to its end within 60 s") }
            switch try consumer.poll(milliseconds: 500) {
            case .message(let message)?:
                guard let value = message.value, let key = message.key.map({ String(decoding: $0, as: UTF8.self) }) else { continue }
                if key == slot {
                    let position = String(decoding: value, as: UTF8.self)
                    if ownLSN(position) != nil { latest = position } else { foreign = position }
                } else if key == progressKey {
                    let (position, record) = try parseProgress(value)
                    if let asOf = ownLSN(position) { progress = (asOf, record) } else { foreign = position }
                }
            case .endOfPartition(_, let partition)?:
                open.remove(partition)
            case nil:
                continue
            }
            if stopRequested.load(ordering: .relaxed) { throw KafkaError(message: "stopped while reading \(topic)") }
        }
        var committed = Committed()
        committed.position = latest.flatMap(ownLSN)
        if let foreign {
            log("kafka: \(topic) holds \(foreign) for slot \(slot), written from another PostgreSQL cluster or timeline (this one is \(origin.dropLast())): not used")
        }
        committed.progress = progress
        return committed
    }

    /// A `SLOT/progress` record: its position (`SYSTEM/TIMELINE/LSN`) and the progress as of it.
    private func parseProgress(_ value: [UInt8]) throws(KafkaError) -> (String, WALSourceEngine.IncrementalRecord) {
        guard let json = try? JSONParser.parse(bytes: value), let position = json["position"]?.stringValue,
            let record = WALSourceEngine.IncrementalRecord(json: json)
        else { throw KafkaError(message: "\(offsetsTopic): the record \(progressKey) is not one this wal-source wrote") }
        return (position, record)
    }

    /// The LSN of a position written by this cluster on its current timeline (`SYSTEM/TIMELINE/LSN`).
    private func ownLSN(_ position: String) -> UInt64? {
        guard position.hasPrefix(origin) else { return nil }
        return UInt64(position.dropFirst(origin.count))
    }

    /// Queues one event for `topic` (and, after a delete, its tombstone).
    func append(topic: String, operation: ChangeOperation, key: [UInt8]?, value: [UInt8]) throws(WALSourceError) {
        if checkedTopics.insert(topic).inserted { try checkTopic(topic) }
        do {
            if configuration.exactlyOnce, !transactionOpen {
                try producer.beginTransaction()
                transactionOpen = true
            }
            try producer.produce(topic: topic, key: key, value: value, whileWaiting: waiting, shouldStop: stopping)
            if operation == .delete, configuration.tombstones, let key {
                try producer.produce(topic: topic, key: key, value: nil, whileWaiting: waiting, shouldStop: stopping)
            }
        } catch {
            throw .kafka(error)
        }
        waitingSince = nil
        if let failure = producer.takeDeliveryFailure() { throw .kafka(failure) }
    }

    /// A topic this client may not write stops the source before its first message (librdkafka would only say so
    /// when the message times out). Asked in 1 s slices for up to 10 s, the replication connection kept alive in
    /// between; brokers that do not answer are not waited for longer: the messages wait for them.
    private func checkTopic(_ topic: String) throws(WALSourceError) {
        for _ in 0..<10 {
            switch producer.topicStatus(topic, milliseconds: 1_000) {
            case .writable:
                return
            case .refused(let error):
                if error.isPermanentForMessage { throw .kafka(error) }
                return
            case .noAnswer:
                waiting()
                if stopping() { throw .kafka(KafkaError(message: "stopped while asking the brokers about \(topic)")) }
            }
        }
    }

    private var lastWaitLog = ContinuousClock.now
    /// Since when the source has been waiting for the brokers (nil: it is not), for the status line.
    private(set) var waitingSince: ContinuousClock.Instant?
    /// Messages handed to librdkafka and not yet acknowledged by the brokers.
    var outstanding: Int { producer.outstanding }

    /// A stop signal ends every wait for the brokers (what is not committed is not acknowledged: sent again).
    private func stopping() -> Bool { stopRequested.load(ordering: .relaxed) }

    private func waiting() {
        if waitingSince == nil { waitingSince = ContinuousClock.now }
        whileWaiting()
        if ContinuousClock.now - lastWaitLog >= .seconds(5) {
            lastWaitLog = ContinuousClock.now
            log("kafka: waiting for the brokers: \(producer.outstanding) messages queued; nothing more is acknowledged until they take them")
        }
    }

    /// Makes every event appended so far durable in the brokers; `endLSN` is the end of the last complete
    /// PostgreSQL transaction among them, `progress` the snapshots' progress as of it when the group changed
    /// it. Returns once the slot may be told.
    func commit(through endLSN: UInt64, progress: WALSourceEngine.IncrementalRecord? = nil) throws(WALSourceError) {
        if configuration.exactlyOnce {
            // A group without events writes nothing, unless it changed the snapshots' progress (a request, a chunk
            // whose rows were all struck, a table done): that goes to the topic like any other.
            if !transactionOpen, progress != nil {
                do {
                    try producer.beginTransaction()
                } catch {
                    throw .kafka(error)
                }
                transactionOpen = true
            }
            guard transactionOpen else { return }
            try deliverAll()
            do {
                if let progress {
                    let record = JSONValue.object([("position", .string(origin + String(endLSN)))] + progress.jsonMembers)
                    try producer.produce(
                        topic: offsetsTopic, key: Array(progressKey.utf8), value: Array(record.compactText.utf8), whileWaiting: waiting, shouldStop: stopping)
                }
                try producer.produce(topic: offsetsTopic, key: Array(slot.utf8), value: Array((origin + String(endLSN)).utf8), whileWaiting: waiting, shouldStop: stopping)
                try commitTransaction()
            } catch {
                throw .kafka(error)
            }
            transactionOpen = false
        } else {
            try deliverAll()
        }
        waitingSince = nil
        commits += 1
        if let crashAt = configuration.crashAfterCommit, commits >= crashAt {
            // The test hook: the moment an at-least-once source would send the transaction again on restart.
            log("WAL_SOURCE_CRASH_AFTER_COMMIT=\(crashAt): killing the process after commit \(commits) (through \(endLSN))")
            kill(getpid(), SIGKILL)
        }
    }

    /// Waits for every queued message's delivery report, keeping the replication connection alive; a message the
    /// brokers refused stops the source.
    private func deliverAll() throws(WALSourceError) {
        let started = ContinuousClock.now
        while !producer.flush(milliseconds: 1_000) {
            if let failure = producer.takeDeliveryFailure() { throw .kafka(failure) }
            waiting()
            if stopping() { throw .kafka(KafkaError(message: "stopped while waiting for the brokers: \(producer.outstanding) messages not delivered")) }
            // librdkafka gives up on a message after message.timeout.ms and reports it: the loop ends then.
            if ContinuousClock.now - started > .seconds(600) {
                throw .kafka(KafkaError(message: "the brokers took none of \(producer.outstanding) messages in 600 s"))
            }
        }
        if let failure = producer.takeDeliveryFailure() { throw .kafka(failure) }
    }

    private func commitTransaction() throws(KafkaError) {
        while true {
            do {
                try producer.commitTransaction(milliseconds: Self.commitTimeoutMilliseconds)
                return
            } catch {
                guard error.isRetriable, !error.requiresAbort, !error.isFatal, !stopping() else {
                    if error.requiresAbort { try? producer.abortTransaction(milliseconds: 10_000) }
                    transactionOpen = false
                    // The reason a message was refused says more than "the transaction failed".
                    throw producer.takeDeliveryFailure() ?? error
                }
                waiting()
            }
        }
    }

    /// On the way out: a transaction left open (its PostgreSQL transactions were not acknowledged) is aborted.
    func close() {
        if transactionOpen {
            try? producer.abortTransaction(milliseconds: 5_000)
            transactionOpen = false
        }
        _ = producer.flush(milliseconds: 5_000)
    }
}
