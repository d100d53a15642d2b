import CRdKafka

/// A librdkafka failure: its code, its text, and what it allows (retry, abort the transaction, nothing).
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public let message: String
    /// The producer is unusable (fenced, a fatal idempotence error): a new one must be made.
    public let isFatal: Bool
    /// The same call may succeed later (brokers down, a timeout).
    public let isRetriable: Bool
    /// The transaction must be aborted and its messages sent again in a new one.
    public let requiresAbort: Bool

    public var description: String { message }

    init(code: rd_kafka_resp_err_t, message: String? = nil) {
        self.code = code.rawValue
        self.message = message ?? String(cString: rd_kafka_err2str(code))
        isFatal = false
        isRetriable = false
        requiresAbort = false
    }

    public init(message: String) {
        code = RD_KAFKA_RESP_ERR__FAIL.rawValue
        self.message = message
        isFatal = false
        isRetriable = false
        requiresAbort = false
    }

    /// Takes ownership of `error` (a transactional API's result) and destroys it.
    init(consuming error: OpaquePointer) {
        code = rd_kafka_error_code(error).rawValue
        message = String(cString: rd_kafka_error_string(error))
        isFatal = rd_kafka_error_is_fatal(error) != 0
        isRetriable = rd_kafka_error_is_retriable(error) != 0
        requiresAbort = rd_kafka_error_txn_requires_abort(error) != 0
        rd_kafka_error_destroy(error)
    }

    /// The brokers do not do transactions (too old, or the feature is off).
    public var isTransactionsUnsupported: Bool {
        code == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION.rawValue || code == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE.rawValue
    }

    /// A setting librdkafka refused (an unknown key, a value out of range, settings that contradict each other).
    public var isConfiguration: Bool { code == RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue }

    /// Whether a message refused with this code can never be delivered as it is (too large, no permission, a
    /// topic that cannot exist): the source must stop rather than skip the event.
    public var isPermanentForMessage: Bool {
        let permanent: [rd_kafka_resp_err_t] = [
            RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
            RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR_INVALID_RECORD,
            RD_KAFKA_RESP_ERR__INVALID_ARG, RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT,
        ]
        return isFatal || permanent.contains { $0.rawValue == code }
    }
}

/// The text of a NUL-terminated C buffer librdkafka wrote into.
func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
