import AvroCodec
import RegistryClient

/// One change event as a consumer sees it, in the consumer's reader shape.
public struct ConsumedChangeEvent: Sendable {
    public let operation: ChangeOperation
    public let eventLSN: UInt64
    public let commitLSN: UInt64
    /// The id of the schema the value was written with.
    public let schemaID: UInt32
    /// The key record (writer's shape), nil for events without a key (truncates, keyless tables).
    public let key: AvroDeserializer.Decoded?
    /// The value envelope in the reader's shape (the writer's without a reader).
    public let value: AvroDeserializer.Decoded

    /// The envelope's `before` and `after` rows, its `source`, and the key, as plain JSON (no union
    /// wrappers).
    public var json: JSONValue {
        let envelope = AvroJSON.json(value.value, schema: value.schema, style: .plain)
        let keyJSON = key.map { AvroJSON.json($0.value, schema: $0.schema, style: .plain) } ?? .null
        return .object([
            ("op", .string(operation.rawValue)),
            ("lsn", .integer(Int64(bitPattern: eventLSN))),
            ("schema_id", .integer(Int64(schemaID))),
            ("key", keyJSON),
            ("before", envelope["before"] ?? .null),
            ("after", envelope["after"] ?? .null),
            ("source", envelope["source"] ?? .null),
        ])
    }
}

/// Decodes one event's framed key and value (writer schemas fetched by id once, a resolution plan compiled once per
/// writer id), the value in the consumer's reader shape: for events read from Kafka, where the operation and the
/// LSN come from the envelope itself (`op`, `source.lsn`).
public final class ChangeEventDecoder {
    private let values: AvroDeserializer
    private let keys: AvroDeserializer

    public init(registry: CachingRegistryClient, reader readerSchema: AvroSchema?) {
        values = AvroDeserializer(registry: registry, reader: readerSchema)
        keys = AvroDeserializer(registry: registry)
    }

    /// The event; `operation`/`eventLSN`/`commitLSN` when known (a change-log entry has them), else from the
    /// envelope. `part` of a failure: "key" or "value".
    public func decode(
        key keyBytes: [UInt8]?, value valueBytes: [UInt8], operation known: ChangeOperation? = nil, eventLSN: UInt64? = nil, commitLSN: UInt64 = 0
    ) async throws(DecodeFailure) -> ConsumedChangeEvent {
        var key: AvroDeserializer.Decoded?
        if let keyBytes {
            do {
                key = try await keys.deserialize(keyBytes)
            } catch {
                throw DecodeFailure(part: "key", error: error)
            }
        }
        let value: AvroDeserializer.Decoded
        do {
            value = try await values.deserialize(valueBytes)
        } catch {
            throw DecodeFailure(part: "value", error: error)
        }
        let envelope = AvroJSON.json(value.value, schema: value.schema, style: .plain)
        let operation = known ?? envelope["op"]?.stringValue.flatMap(ChangeOperation.init(rawValue:)) ?? .read
        var lsn = eventLSN ?? 0
        if eventLSN == nil, case .integer(let fromSource)? = envelope["source"]?["lsn"] { lsn = UInt64(bitPattern: fromSource) }
        return ConsumedChangeEvent(operation: operation, eventLSN: lsn, commitLSN: commitLSN, schemaID: value.schemaID, key: key, value: value)
    }

    public struct DecodeFailure: Error {
        public let part: String
        public let error: SerdeError
    }
}

/// Reads a change-log file written by the WAL source and decodes each event with the consumer's
/// own reader schema for the value envelope (permissive evolution: fields the writer added are
/// dropped, fields the writer lacks take the reader's defaults). Writer schemas are fetched by id
/// once; a resolution plan is compiled once per writer id.
///
/// ```swift
/// let consumer = try ChangeEventConsumer(path: "out/cdc.public.items.log", registry: registry, reader: v1)
/// while let event = try await consumer.next() { print(event.operation, event.json) }
/// ```
public final class ChangeEventConsumer {
    private let reader: ChangeLogReader
    private let decoder: ChangeEventDecoder

    public init(path: String, registry: CachingRegistryClient, reader readerSchema: AvroSchema?) throws(ChangeLogError) {
        reader = try ChangeLogReader(path: path)
        decoder = ChangeEventDecoder(registry: registry, reader: readerSchema)
    }

    /// Why an event could not be consumed.
    public enum Failure: Error, CustomStringConvertible {
        case log(ChangeLogError)
        case decode(entry: Int, part: String, SerdeError)

        public var description: String {
            switch self {
            case .log(let error): return error.description
            case .decode(let entry, let part, let error): return "event \(entry) (\(part)): \(error.description)"
            }
        }
    }

    private var count = 0

    /// The next event, or nil at the end of the file.
    public func next() async throws(Failure) -> ConsumedChangeEvent? {
        let entry: ChangeLogEntry
        do {
            guard let next = try reader.next() else { return nil }
            entry = next
        } catch {
            throw .log(error)
        }
        count += 1
        do {
            return try await decoder.decode(
                key: entry.key, value: entry.value, operation: entry.operation, eventLSN: entry.eventLSN, commitLSN: entry.commitLSN)
        } catch {
            throw .decode(entry: count, part: error.part, error.error)
        }
    }
}
