import CRdKafka
import Locking

#if canImport(Glibc)
    import Glibc
#endif

/// librdkafka settings as `KEY=VALUE` pairs, applied in order (a later one wins), each checked by librdkafka.
public struct KafkaSettings: Sendable {
    public var pairs: [(key: String, value: String)]

    public init(_ pairs: [(key: String, value: String)] = []) {
        self.pairs = pairs
    }

    /// `KEY=VALUE` strings (from `--kafka-config`); nil with the offending one.
    public static func parse(_ arguments: [String]) -> Result<KafkaSettings, KafkaError> {
        var settings = KafkaSettings()
        for argument in arguments {
            guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else {
                return .failure(KafkaError(message: "--kafka-config \(argument): expected KEY=VALUE"))
            }
            settings.pairs.append((String(argument[..<equals]), String(argument[argument.index(after: equals)...])))
        }
        return .success(settings)
    }

    /// A configuration object with every pair set; the caller owns it until it hands it to `rd_kafka_new`.
    func makeConfiguration() throws(KafkaError) -> OpaquePointer {
        guard let configuration = rd_kafka_conf_new() else { throw KafkaError(message: "cannot allocate a librdkafka configuration") }
        // librdkafka's own lines (a broker gone, a reconnection) on standard error as one line each, named.
        rd_kafka_conf_set_log_cb(configuration) { _, level, facility, text in
            guard let text else { return }
            let line = "librdkafka: \(level <= 3 ? "error" : level == 4 ? "warning" : "note") [\(facility.map { String(cString: $0) } ?? "")]: \(String(cString: text))\n"
            // One write(2) a line: whole lines whatever thread writes, and no shared FILE buffer.
            var bytes = Array(line.utf8)
            _ = write(2, &bytes, bytes.count)
        }
        var error = [CChar](repeating: 0, count: 512)
        for (key, value) in pairs where rd_kafka_conf_set(configuration, key, value, &error, error.count) != RD_KAFKA_CONF_OK {
            rd_kafka_conf_destroy(configuration)
            throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG, message: "Kafka setting \(key): \(cText(error))")
        }
        return configuration
    }

    /// The value given for `key`, if any (the last one wins).
    public func value(of key: String) -> String? {
        pairs.last { $0.key == key }?.value
    }
}

/// What the delivery reports (and librdkafka's error callback) have said, shared between the thread serving them
/// and the producing thread: the first failure, which the producer's user takes once.
final class DeliveryState: Sendable {
    let firstFailure = Locked<KafkaError?>(nil)

    func record(_ error: KafkaError) {
        firstFailure.withLock { if $0 == nil { $0 = error } }
    }
}

/// A librdkafka producer: one `rd_kafka_t`, owned here. Its delivery reports and errors are events
/// (`rd_kafka_conf_set_events`) served by one thread of its own from the main queue; in that mode librdkafka's
/// flush (ours, and the one inside `rd_kafka_commit_transaction` and `rd_kafka_abort_transaction`) waits for the
/// messages to be delivered without serving anything itself, so no report is ever handled on the producing thread.
/// Messages are copied into librdkafka at `produce`; a full queue makes `produce` wait and retry, so a caller
/// producing faster than the brokers take is slowed down rather than given an error or unbounded memory.
///
/// `@unchecked Sendable`: the handle is thread-safe in librdkafka for every call made here; `topics` is touched only
/// by the producing thread (the caller's), the report thread touches only `delivery` (locked).
public final class KafkaProducer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let delivery = DeliveryState()
    private var topics: [String: OpaquePointer] = [:]
    private let running = Locked(true)
    private var reportThread: pthread_t?

    /// `transactionalID`: a transactional producer (idempotent, acks=all); else idempotent with acks=all unless the
    /// settings say otherwise.
    public init(settings: KafkaSettings, transactionalID: String?) throws(KafkaError) {
        var all = KafkaSettings([("enable.idempotence", "true"), ("acks", "all"), ("partitioner", "murmur2_random")])
        if let transactionalID { all.pairs.append(("transactional.id", transactionalID)) }
        all.pairs += settings.pairs
        let configuration = try all.makeConfiguration()
        rd_kafka_conf_set_events(configuration, Int32(RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR))
        // SASL/OAUTHBEARER token refreshes run on librdkafka's background thread, not as main-queue events (which
        // the report thread would not serve).
        rd_kafka_conf_enable_sasl_queue(configuration, 1)
        var error = [CChar](repeating: 0, count: 512)
        guard let made = rd_kafka_new(RD_KAFKA_PRODUCER, configuration, &error, error.count) else {
            rd_kafka_conf_destroy(configuration)
            throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG, message: "cannot create the Kafka producer: \(cText(error))")
        }
        handle = made
        // (A throw from here on runs deinit, which destroys the handle.)
        // An error here only says that no SASL mechanism uses callbacks (nothing to refresh).
        if let error = rd_kafka_sasl_background_callbacks_enable(made) { rd_kafka_error_destroy(error) }
        guard startReportThread() else { throw KafkaError(message: "cannot start the thread serving the Kafka producer's delivery reports") }
    }

    deinit {
        running.withLock { $0 = false }
        if let reportThread { pthread_join(reportThread, nil) }
        for topic in topics.values { rd_kafka_topic_destroy(topic) }
        rd_kafka_destroy(handle)
    }

    /// Serves the main queue's events (delivery reports, errors) until the producer goes: a refused message, or an
    /// error no waiting fixes (a topic the brokers say this client may not write, a fatal idempotence error), is
    /// kept as the failure.
    private func startReportThread() -> Bool {
        final class Context {
            let handle: OpaquePointer
            let running: Locked<Bool>
            let delivery: DeliveryState
            init(handle: OpaquePointer, running: Locked<Bool>, delivery: DeliveryState) {
                self.handle = handle
                self.running = running
                self.delivery = delivery
            }
        }
        let context = Unmanaged.passRetained(Context(handle: handle, running: running, delivery: delivery)).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let context = Unmanaged<Context>.fromOpaque(raw).takeRetainedValue()
            guard let queue = rd_kafka_queue_get_main(context.handle) else { return nil }
            defer { rd_kafka_queue_destroy(queue) }
            while context.running.withLock({ $0 }) {
                guard let event = rd_kafka_queue_poll(queue, 100) else { continue }
                defer { rd_kafka_event_destroy(event) }
                switch Int32(rd_kafka_event_type(event)) {
                case Int32(RD_KAFKA_EVENT_DR):
                    while let message = rd_kafka_event_message_next(event) {
                        let code = message.pointee.err
                        // Purged by an abort: a consequence of the reason the transaction ended, not the reason.
                        guard code != RD_KAFKA_RESP_ERR_NO_ERROR, code != RD_KAFKA_RESP_ERR__PURGE_QUEUE, code != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT
                        else { continue }
                        let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
                        context.delivery.record(KafkaError(code: code, message: "\(topic): \(String(cString: rd_kafka_err2str(code)))"))
                    }
                case Int32(RD_KAFKA_EVENT_ERROR):
                    let code = rd_kafka_event_error(event)
                    let reason = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(code))
                    let error = KafkaError(code: code, message: reason)
                    if error.isPermanentForMessage || rd_kafka_event_error_is_fatal(event) != 0 { context.delivery.record(error) }
                default:
                    break
                }
            }
            return nil
        }, context)
        guard started == 0 else {
            Unmanaged<Context>.fromOpaque(context).release()
            return false
        }
        reportThread = thread
        return true
    }

    private func topic(_ name: String) throws(KafkaError) -> OpaquePointer {
        if let known = topics[name] { return known }
        guard let made = rd_kafka_topic_new(handle, name, nil) else {
            throw KafkaError(code: rd_kafka_last_error(), message: "topic \(name): \(String(cString: rd_kafka_err2str(rd_kafka_last_error())))")
        }
        topics[name] = made
        return made
    }

    /// Queues one message (a nil value is a tombstone), partitioned by its key (murmur2, as the Java client); waits
    /// while librdkafka's queue is full, calling `whileWaiting` about every 100 ms.
    public func produce(
        topic name: String, key: [UInt8]?, value: [UInt8]?, whileWaiting: () -> Void = {}, shouldStop: () -> Bool = { false }
    ) throws(KafkaError) {
        let topic = try topic(name)
        // QUEUE_FULL seen with the queue empty before this attempt: only this thread produces, so the message can
        // never fit.
        var queueWasEmpty = false
        while true {
            let result = withPointer(value) { valuePointer, valueCount in
                withPointer(key) { keyPointer, keyCount in
                    rd_kafka_produce(
                        topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, UnsafeMutableRawPointer(mutating: valuePointer), valueCount, keyPointer,
                        keyCount, nil)
                }
            }
            if result == 0 { return }
            let code = rd_kafka_last_error()
            guard code == RD_KAFKA_RESP_ERR__QUEUE_FULL else { throw KafkaError(code: code, message: "\(name): \(String(cString: rd_kafka_err2str(code)))") }
            // An empty queue without room: the value is larger than the whole queue, and no waiting helps (the
            // queue may have emptied just now: one more attempt first).
            if queueWasEmpty {
                throw KafkaError(
                    code: RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                    message: "\(name): a message value of \(value?.count ?? 0) bytes is too large for the producer's whole queue (queue.buffering.max.kbytes)")
            }
            if outstanding == 0 {
                queueWasEmpty = true
                continue
            }
            // Room comes as the brokers acknowledge.
            _ = waitForReports(below: max(1, outstanding / 2), milliseconds: 100)
            whileWaiting()
            if shouldStop() { throw KafkaError(message: "stopped while waiting for the brokers to take \(name)'s messages") }
        }
    }

    private func withPointer<Result>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> Result) -> Result {
        guard let bytes else { return body(nil, 0) }
        return bytes.withUnsafeBytes { body($0.baseAddress, $0.count) }
    }

    /// Waits up to `milliseconds` for every queued message to be delivered (or refused), sending them without
    /// waiting for `linger.ms`; true when none is left. The reports are the report thread's to serve: a failure is
    /// recorded by the time that thread has served them (`takeDeliveryFailure` after the reports are in).
    public func flush(milliseconds: Int32) -> Bool {
        rd_kafka_flush(handle, milliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR && waitForReports(below: 1, milliseconds: milliseconds)
    }

    /// Waits until fewer than `count` messages or unserved reports are in librdkafka's out queue, up to
    /// `milliseconds` (in 0.5 ms sleeps; none when there are fewer already).
    private func waitForReports(below count: Int, milliseconds: Int32) -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(milliseconds))
        repeat {
            if outstanding < count { return true }
            usleep(500)
        } while ContinuousClock.now < deadline
        return outstanding < count
    }

    /// Messages not yet acknowledged by the brokers.
    public var outstanding: Int { Int(rd_kafka_outq_len(handle)) }

    /// The first message the brokers refused (the report thread saw it), once.
    public func takeDeliveryFailure() -> KafkaError? {
        delivery.firstFailure.withLock { failure in
            defer { failure = nil }
            return failure
        }
    }

    // MARK: Topics

    /// What the brokers' metadata says of a topic.
    public enum TopicStatus {
        /// Known, or to be created automatically.
        case writable
        /// Not authorised, an invalid name, …: a producer only learns of some of these when its messages time out.
        case refused(KafkaError)
        case noAnswer
    }

    /// What the brokers' metadata says of `topic`, asked with a wait of up to `milliseconds`.
    public func topicStatus(_ topic: String, milliseconds: Int32) -> TopicStatus {
        switch topicMetadata(handle, topic, milliseconds: milliseconds) {
        case .success(let found)? where found.error != RD_KAFKA_RESP_ERR_NO_ERROR:
            return .refused(KafkaError(code: found.error, message: "\(topic): \(String(cString: rd_kafka_err2str(found.error)))"))
        case .success?, nil:
            return .writable
        case .failure:
            return .noAnswer
        }
    }

    /// Creates `topic` with `partitions` partitions (the brokers' default replication) and `settings`; a topic that
    /// exists already is fine. Brokers that cannot create topics (old ones, librdkafka's mock) answer with an error.
    public func createTopic(_ topic: String, partitions: Int32, settings: [(String, String)], milliseconds: Int32) throws(KafkaError) {
        var error = [CChar](repeating: 0, count: 512)
        guard let newTopic = rd_kafka_NewTopic_new(topic, partitions, -1, &error, error.count) else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG, message: "topic \(topic): \(cText(error))")
        }
        defer { rd_kafka_NewTopic_destroy(newTopic) }
        for (key, value) in settings { _ = rd_kafka_NewTopic_set_config(newTopic, key, value) }
        guard let queue = rd_kafka_queue_new(handle) else { throw KafkaError(message: "cannot allocate a librdkafka queue") }
        defer { rd_kafka_queue_destroy(queue) }
        var topics: [OpaquePointer?] = [newTopic]
        rd_kafka_CreateTopics(handle, &topics, 1, nil, queue)
        guard let event = rd_kafka_queue_poll(queue, milliseconds) else { throw KafkaError(code: RD_KAFKA_RESP_ERR__TIMED_OUT, message: "creating \(topic): no answer") }
        defer { rd_kafka_event_destroy(event) }
        if rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: rd_kafka_event_error(event), message: "creating \(topic): \(String(cString: rd_kafka_event_error_string(event)))")
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else { return }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count), count > 0, let first = results[0] else { return }
        let code = rd_kafka_topic_result_error(first)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR, code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
            let text = rd_kafka_topic_result_error_string(first).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(code))
            throw KafkaError(code: code, message: "creating \(topic): \(text)")
        }
    }

    // MARK: Transactions

    public func initTransactions(milliseconds: Int32) throws(KafkaError) {
        if let error = rd_kafka_init_transactions(handle, milliseconds) { throw KafkaError(consuming: error) }
    }

    public func beginTransaction() throws(KafkaError) {
        if let error = rd_kafka_begin_transaction(handle) { throw KafkaError(consuming: error) }
    }

    /// Flushes the transaction's messages and commits it.
    public func commitTransaction(milliseconds: Int32) throws(KafkaError) {
        if let error = rd_kafka_commit_transaction(handle, milliseconds) { throw KafkaError(consuming: error) }
    }

    public func abortTransaction(milliseconds: Int32) throws(KafkaError) {
        if let error = rd_kafka_abort_transaction(handle, milliseconds) { throw KafkaError(consuming: error) }
    }
}
