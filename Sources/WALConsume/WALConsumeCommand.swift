import ArgumentParser
import AvroCodec
import ChangeEvents
import Foundation
import KafkaClient
import RegistryClient
import RegistryCommandLine

/// wal-consume: prints the events of a WAL source's change-log file as JSON lines.
@main
struct WALConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal-consume",
        abstract: "Print the change events of a wal-source log file or Kafka topic, one JSON object per line.",
        discussion: """
            Each line is {"op", "lsn", "schema_id", "key", "before", "after"}, rows as plain JSON (no \
            union wrappers). Writer schemas are fetched from the registry by id. With --reader, every \
            value envelope is read with that schema (fields it lacks are dropped, fields the writer lacks \
            take its defaults), e.g. a version fetched with \
            GET /subjects/PREFIX.SCHEMA.TABLE-value/versions/1/schema. Without --follow, stops at the end \
            of the file. Exit 2 for a bad file or record, 3 when the registry is unreachable.

            From Kafka (--kafka-brokers … --topic T): the same lines, read with isolation.level=read_committed; \
            tombstones (a delete's null value, for compaction) are not printed. Without --group every partition is \
            read, from the end (--from-beginning: from the start), and nothing is committed; with --group the \
            group's position is used and committed. Without --follow, stops once every partition is read to its \
            end. Exit 1 when Kafka fails.

            Examples:
              wal-consume --file out/cdc.public.items.log --registry http://127.0.0.1:8081 --reader items-v1.avsc
              wal-consume --kafka-brokers 127.0.0.1:9092 --topic cdc.public.items --from-beginning
            """
    )

    @Option(help: "The change-log file (DIR/PREFIX.SCHEMA.TABLE.log).")
    var file: String?

    @Option(help: "Read from Kafka instead: bootstrap brokers HOST:PORT[,…].")
    var kafkaBrokers: String?

    @Option(help: "Kafka: the topic (PREFIX.SCHEMA.TABLE).")
    var topic: String?

    @Flag(help: "Kafka: start at the beginning of each partition (default: its end, or the group's position).")
    var fromBeginning = false

    @Option(help: "Kafka: consume in this consumer group (its position used and committed).")
    var group: String?

    @Option(name: .customLong("kafka-config"), help: "A librdkafka setting KEY=VALUE for the consumer (repeatable).")
    var kafkaConfig: [String] = []

    @Option(help: "Registry URL (default: $SCHEMA_REGISTRY_URL, else http://127.0.0.1:8081).")
    var registry: String?

    @OptionGroup var connection: RegistryConnectionOptions

    @Option(help: "Reader schema for the value envelope (.avsc).")
    var reader: String?

    @Flag(help: "At the end of the file, wait for more events (until interrupted).")
    var follow = false

    func validate() throws {
        guard (file == nil) != (kafkaBrokers == nil) else { throw ValidationError("give one of --file (a change-log file) or --kafka-brokers with --topic") }
        if kafkaBrokers != nil, topic == nil { throw ValidationError("--kafka-brokers needs --topic") }
        if kafkaBrokers == nil, topic != nil || group != nil || fromBeginning || !kafkaConfig.isEmpty {
            throw ValidationError("--topic, --group, --from-beginning and --kafka-config go with --kafka-brokers")
        }
        if case .failure(let error) = KafkaSettings.parse(kafkaConfig) { throw ValidationError(error.description) }
    }

    func run() async throws {
        let readerSchema: AvroSchema?
        if let reader {
            guard let data = FileManager.default.contents(atPath: reader) else { throw fail("cannot read \(reader)", status: 2) }
            do {
                readerSchema = try AvroSchema(parsing: [UInt8](data))
            } catch {
                throw fail("\(reader): \(error.description)", status: 2)
            }
        } else {
            readerSchema = nil
        }
        let url = RegistryClient.url(explicit: registry)
        let registryClient = CachingRegistryClient(RegistryClient(baseURL: url, transport: connection.transport))
        if let kafkaBrokers, let topic {
            try await consumeKafka(brokers: kafkaBrokers, topic: topic, decoder: ChangeEventDecoder(registry: registryClient, reader: readerSchema))
            return
        }
        let consumer: ChangeEventConsumer
        do {
            consumer = try ChangeEventConsumer(path: file ?? "", registry: registryClient, reader: readerSchema)
        } catch {
            throw fail(error.description, status: 2)
        }
        while true {
            do {
                while let event = try await consumer.next() {
                    print(event.json.compactText)
                }
            } catch {
                if case .decode(_, _, .registry(.unavailable)) = error { throw fail(error.description, status: 3) }
                throw fail(error.description, status: 2)
            }
            guard follow else { return }
            fflush(nil)
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Reads the topic (all its partitions, or the group's share) and prints each event; tombstones are skipped.
    private func consumeKafka(brokers: String, topic: String, decoder: ChangeEventDecoder) async throws {
        guard case .success(var settings) = KafkaSettings.parse(kafkaConfig) else { return }
        settings.pairs.insert(("bootstrap.servers", brokers), at: 0)
        if group != nil, fromBeginning { settings.pairs.insert(("auto.offset.reset", "earliest"), at: 1) }
        if group != nil, !fromBeginning { settings.pairs.insert(("auto.offset.reset", "latest"), at: 1) }
        do {
            let consumer = try KafkaConsumer(settings: settings, group: group)
            guard let partitions = try consumer.partitions(of: topic, milliseconds: 10_000) else { throw fail("topic \(topic) does not exist", status: 2) }
            if group != nil {
                try consumer.subscribe([topic])
            } else {
                try consumer.assign(topic: topic, partitions: partitions, fromBeginning: fromBeginning)
            }
            var atEnd = Set<Int32>()
            var count = 0
            // At the end of every partition read: all of them, or in a group this member's share (the others'
            // ends never come here).
            func finished() -> Bool {
                guard group != nil else { return atEnd.count >= partitions.count }
                let mine = consumer.assignment(of: topic)
                return !mine.isEmpty && mine.isSubset(of: atEnd)
            }
            while follow || !finished() {
                switch try consumer.poll(milliseconds: 200) {
                case .message(let message)?:
                    atEnd.remove(message.partition)
                    guard let value = message.value else { continue }  // a tombstone
                    count += 1
                    do {
                        print(try await decoder.decode(key: message.key, value: value).json.compactText)
                    } catch {
                        if case .registry(.unavailable) = error.error { throw fail("\(topic) offset \(message.offset): \(error.error.description)", status: 3) }
                        throw fail("\(topic) [\(message.partition)] offset \(message.offset) (\(error.part)): \(error.error.description)", status: 2)
                    }
                case .endOfPartition(_, let partition)?:
                    atEnd.insert(partition)
                    fflush(nil)
                case nil:
                    fflush(nil)
                }
            }
        } catch let error as KafkaError {
            throw fail("Kafka: \(error)", status: 1)
        }
    }

    func fail(_ message: String, status: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("wal-consume: \(message)\n".utf8))
        return ExitCode(status)
    }
}
