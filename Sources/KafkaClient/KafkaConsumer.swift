import CRdKafka

/// One message read from a topic (a nil value is a tombstone).
public struct KafkaMessage: Sendable {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    public let key: [UInt8]?
    public let value: [UInt8]?
}

/// A librdkafka consumer: one `rd_kafka_t`, owned here. Reads assigned partitions (no group: from the beginning
/// or the end, nothing committed) or a subscription in a consumer group (offsets committed by librdkafka).
///
/// Not `Sendable`: one thread polls it.
public final class KafkaConsumer {
    private let handle: OpaquePointer
    private var subscribed = false

    /// `group`: join this consumer group (subscribe); nil: partitions are assigned by `assign`. `read_committed`
    /// isolation unless the settings say otherwise.
    public init(settings: KafkaSettings, group: String?) throws(KafkaError) {
        var all = KafkaSettings([("isolation.level", "read_committed"), ("enable.partition.eof", "true"), ("auto.offset.reset", "earliest")])
        if let group {
            all.pairs.append(("group.id", group))
        } else {
            all.pairs += [("group.id", "wal-source-reader"), ("enable.auto.commit", "false"), ("enable.auto.offset.store", "false")]
        }
        all.pairs += settings.pairs
        let configuration = try all.makeConfiguration()
        var error = [CChar](repeating: 0, count: 512)
        guard let made = rd_kafka_new(RD_KAFKA_CONSUMER, configuration, &error, error.count) else {
            rd_kafka_conf_destroy(configuration)
            throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG, message: "cannot create the Kafka consumer: \(cText(error))")
        }
        handle = made
        rd_kafka_poll_set_consumer(handle)
    }

    deinit {
        if subscribed { rd_kafka_consumer_close(handle) }
        rd_kafka_destroy(handle)
    }

    /// The partitions of `topic` (nil when the cluster does not know it within `milliseconds`).
    public func partitions(of topic: String, milliseconds: Int32) throws(KafkaError) -> [Int32]? {
        switch topicMetadata(handle, topic, milliseconds: milliseconds) {
        case .failure(let error)?: throw error
        case .success(let found)?:
            if found.error == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || found.partitions.isEmpty { return nil }
            if found.error != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(code: found.error, message: "\(topic): \(String(cString: rd_kafka_err2str(found.error)))")
            }
            return found.partitions
        case nil: return nil
        }
    }

    /// Reads `partitions` of `topic` from the beginning, or from their end.
    public func assign(topic: String, partitions: [Int32], fromBeginning: Bool) throws(KafkaError) {
        guard let list = rd_kafka_topic_partition_list_new(Int32(partitions.count)) else { throw KafkaError(message: "cannot allocate a partition list") }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in partitions {
            rd_kafka_topic_partition_list_add(list, topic, partition)?.pointee.offset = fromBeginning ? Int64(RD_KAFKA_OFFSET_BEGINNING) : Int64(RD_KAFKA_OFFSET_END)
        }
        let code = rd_kafka_assign(handle, list)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: code) }
    }

    /// Joins the group and reads `topics` (where the group left off, else from `auto.offset.reset`).
    public func subscribe(_ topics: [String]) throws(KafkaError) {
        guard let list = rd_kafka_topic_partition_list_new(Int32(topics.count)) else { throw KafkaError(message: "cannot allocate a partition list") }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
        let code = rd_kafka_subscribe(handle, list)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: code) }
        subscribed = true
    }

    /// The partitions of `topic` this consumer has now (a group member: its share).
    public func assignment(of topic: String) -> Set<Int32> {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        guard rd_kafka_assignment(handle, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        var found = Set<Int32>()
        for index in 0..<Int(list.pointee.cnt) {
            guard let element = list.pointee.elems?[index], String(cString: element.topic) == topic else { continue }
            found.insert(element.partition)
        }
        return found
    }

    /// What one poll brings: a message, the end of a partition (for now), or nothing within the time.
    public enum Polled {
        case message(KafkaMessage)
        case endOfPartition(topic: String, partition: Int32)
    }

    /// Waits up to `milliseconds` for the next message or partition end; a broker-level error is thrown.
    public func poll(milliseconds: Int32) throws(KafkaError) -> Polled? {
        guard let message = rd_kafka_consumer_poll(handle, milliseconds) else { return nil }
        defer { rd_kafka_message_destroy(message) }
        let record = message.pointee
        let topic = record.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        if record.err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return .endOfPartition(topic: topic, partition: record.partition) }
        guard record.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let text = record.payload.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: record.len), as: UTF8.self) }
            throw KafkaError(code: record.err, message: "\(topic): \(text ?? String(cString: rd_kafka_err2str(record.err)))")
        }
        let key = record.key.map { Array(UnsafeRawBufferPointer(start: $0, count: record.key_len)) }
        let value = record.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: record.len)) }
        return .message(KafkaMessage(topic: topic, partition: record.partition, offset: record.offset, key: key, value: value))
    }
}

/// One topic's metadata as the brokers give it (its error, its partitions' ids); nil when the cluster has no entry
/// for it, a failure when the request itself failed. Shared by the producer and the consumer.
func topicMetadata(
    _ handle: OpaquePointer, _ topic: String, milliseconds: Int32
) -> Result<(error: rd_kafka_resp_err_t, partitions: [Int32]), KafkaError>? {
    guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else { return .failure(KafkaError(code: rd_kafka_last_error())) }
    defer { rd_kafka_topic_destroy(topicHandle) }
    var metadata: UnsafePointer<rd_kafka_metadata>?
    let code = rd_kafka_metadata(handle, 0, topicHandle, &metadata, milliseconds)
    guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
        return .failure(KafkaError(code: code, message: "metadata of \(topic): \(String(cString: rd_kafka_err2str(code)))"))
    }
    defer { rd_kafka_metadata_destroy(metadata) }
    guard metadata.pointee.topic_cnt > 0, let entry = metadata.pointee.topics?.pointee else { return nil }
    return .success((entry.err, (0..<entry.partition_cnt).compactMap { entry.partitions?[Int($0)].id }))
}
