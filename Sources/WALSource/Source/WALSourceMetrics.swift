import PostgresClient
import Locking

/// What the source reports for alerting, in Prometheus' text format (`--metrics-listen`), updated by
/// the replication loop at each status tick and read by the metrics endpoint's threads.
public final class WALSourceMetrics: Sendable {
    public static let shared = WALSourceMetrics()

    struct Values {
        var events = 0
        var receivedLSN: UInt64 = 0
        var acknowledgedLSN: UInt64 = 0
        /// Server side: pg_current_wal_lsn() minus the slot's confirmed_flush_lsn, read periodically.
        var serverLagBytes: Int64?
        /// Now minus the commit time of the last event made durable.
        var lagMilliseconds: Int64?
        var reconnects = 0
        var streaming = false
        /// With Kafka: messages not yet acknowledged by the brokers, and whether the source waits for them.
        var kafkaQueued: Int?
        var kafkaWaiting = false
    }

    private let values = Locked(Values())

    func update(_ change: (inout Values) -> Void) {
        values.withLock { change(&$0) }
    }

    /// The metrics as Prometheus text exposition format.
    public func prometheusText() -> String {
        let current = values.withLock { $0 }
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ value: String?) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            if let value { lines.append("\(name) \(value)") }
        }
        metric("wal_source_events_total", "counter", "Change events written since the process started.", String(current.events))
        metric("wal_source_received_lsn", "gauge", "The last WAL position received from the server.", String(current.receivedLSN))
        metric("wal_source_acknowledged_lsn", "gauge", "The last WAL position made durable and acknowledged.", String(current.acknowledgedLSN))
        metric(
            "wal_source_lag_bytes", "gauge", "WAL the slot holds: the server's current position minus the slot's confirmed position.",
            current.serverLagBytes.map(String.init))
        metric(
            "wal_source_lag_milliseconds", "gauge", "Now minus the commit time of the last event made durable.",
            current.lagMilliseconds.map(String.init))
        metric("wal_source_reconnects_total", "counter", "Times the source ran again after a transient failure.", String(current.reconnects))
        metric("wal_source_streaming", "gauge", "1 while the source streams, 0 while it sets up or waits to reconnect.", current.streaming ? "1" : "0")
        if let queued = current.kafkaQueued {
            metric("wal_source_kafka_queued_messages", "gauge", "Messages handed to librdkafka and not yet acknowledged by the brokers.", String(queued))
            metric(
                "wal_source_kafka_waiting", "gauge", "1 while the source waits for the brokers (nothing more is acknowledged to the slot).",
                current.kafkaWaiting ? "1" : "0")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
