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
    private let values: AvroDeserializer
    private let keys: AvroDeserializer

    public init(path: String, registry: CachingRegistryClient, reader readerSchema: AvroSchema?) throws(ChangeLogError) {
        reader = try ChangeLogReader(path: path)
        values = AvroDeserializer(registry: registry, reader: readerSchema)
        keys = AvroDeserializer(registry: registry)
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
        var key: AvroDeserializer.Decoded?
        if let keyBytes = entry.key {
            do {
                key = try await keys.deserialize(keyBytes)
            } catch {
                throw .decode(entry: count, part: "key", error)
            }
        }
        let value: AvroDeserializer.Decoded
        do {
            value = try await values.deserialize(entry.value)
        } catch {
            throw .decode(entry: count, part: "value", error)
        }
        return ConsumedChangeEvent(
            operation: entry.operation, eventLSN: entry.eventLSN, commitLSN: entry.commitLSN, schemaID: value.schemaID, key: key, value: value)
    }
}
