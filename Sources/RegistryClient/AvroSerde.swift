import AvroCodec
import Locking

/// Why a value could not be serialized or framed bytes deserialized.
public enum SerdeError: Error, Sendable, CustomStringConvertible {
    /// The bytes are not a Confluent wire-format record.
    case wireFormat(WireFormatError)
    /// The registry has no schema with the record's id.
    case unknownSchemaID(UInt32)
    /// The registry refused or could not be reached.
    case registry(RegistryClientError)
    /// The value does not fit the schema, or the payload is not a value of the writer's schema
    /// (the error's path says where).
    case coding(AvroCodingError)
    /// The schema given to a serializer does not parse.
    case invalidSchema(String)

    public var description: String {
        switch self {
        case .wireFormat(let error): return error.description
        case .unknownSchemaID(let id): return "schema id \(id) is not known to the registry"
        case .registry(let error): return error.description
        case .coding(let error): return error.description
        case .invalidSchema(let reason): return "invalid schema: \(reason)"
        }
    }
}

/// Turns values into Confluent-framed Avro bytes under a subject's schema: the schema's id is
/// obtained once (registered when `autoRegister`, else looked up), then every value is encoded and
/// framed with it.
///
/// ```swift
/// let serializer = try AvroSerializer(registry: registry, subject: "orders-value", schemaText: text)
/// let framed = try await serializer.serialize(value)
/// ```
public final class AvroSerializer: Sendable {
    public let registry: CachingRegistryClient
    public let subject: String
    public let schema: AvroSchema
    public let schemaText: String
    public let autoRegister: Bool

    public init(registry: CachingRegistryClient, subject: String, schemaText: String, autoRegister: Bool = true) throws(SerdeError) {
        do {
            schema = try AvroSchema(parsing: schemaText)
        } catch {
            throw .invalidSchema(error.description)
        }
        self.registry = registry
        self.subject = subject
        self.schemaText = schemaText
        self.autoRegister = autoRegister
    }

    /// The schema's id under the subject (from the registry once, then from its cache).
    public func schemaID() async throws(SerdeError) -> UInt32 {
        do throws(RegistryClientError) {
            let found: Int
            if autoRegister {
                found = try await registry.register(subject: subject, schema: schemaText)
            } else {
                guard let id = try await registry.lookup(subject: subject, schema: schemaText) else {
                    throw RegistryClientError.rejected(status: 404, errorCode: 40403, message: "the schema is not registered under subject \(subject)")
                }
                found = id
            }
            guard let id = UInt32(exactly: found) else { throw RegistryClientError.malformedResponse("schema id \(found) is not a 32-bit unsigned id") }
            return id
        } catch {
            throw .registry(error)
        }
    }

    /// `value` encoded under the schema and framed with its id.
    public func serialize(_ value: AvroValue) async throws(SerdeError) -> [UInt8] {
        let id = try await schemaID()
        return try frame(value, schemaID: id)
    }

    /// `value` encoded and framed with a known id (no registry call).
    public func frame(_ value: AvroValue, schemaID: UInt32) throws(SerdeError) -> [UInt8] {
        var bytes: [UInt8] = [ConfluentWireFormat.magicByte]
        bytes.reserveCapacity(64)
        withUnsafeBytes(of: schemaID.bigEndian) { bytes.append(contentsOf: $0) }
        do {
            try AvroBinary.encode(value, schema: schema, into: &bytes)
        } catch {
            throw .coding(error)
        }
        return bytes
    }
}

/// Turns Confluent-framed bytes written under any registered schema into values in the reader's
/// shape: the writer's schema is fetched by id once, and a resolution plan is compiled once per
/// writer id and reused. Without a reader schema, values come in the writer's own shape.
///
/// ```swift
/// let deserializer = AvroDeserializer(registry: registry, reader: myReaderSchema)
/// let decoded = try await deserializer.deserialize(framed)
/// print(decoded.schemaID, decoded.value)
/// ```
public final class AvroDeserializer: Sendable {
    public let registry: CachingRegistryClient
    /// The consumer's schema; nil: values keep the writer's shape.
    public let reader: AvroSchema?
    private let plans = Locked<[UInt32: ResolutionPlan]>([:])

    /// One decoded record.
    public struct Decoded: Sendable {
        public let schemaID: UInt32
        public let value: AvroValue
        /// The schema `value` follows: the reader's, or the writer's when there is no reader.
        public let schema: AvroSchema
    }

    public init(registry: CachingRegistryClient, reader: AvroSchema? = nil) {
        self.registry = registry
        self.reader = reader
    }

    /// The plan for records written under `schemaID`, fetched and compiled on first use.
    public func plan(for schemaID: UInt32) async throws(SerdeError) -> ResolutionPlan {
        if let plan = plans.withLock({ $0[schemaID] }) { return plan }
        let writer: ParsedRegistrySchema
        do {
            writer = try await registry.schema(id: Int(schemaID))
        } catch {
            if case .rejected(_, 40403, _) = error { throw .unknownSchemaID(schemaID) }
            throw .registry(error)
        }
        let plan = reader.map { ResolutionPlan(writer: writer.schema, reader: $0) } ?? ResolutionPlan(identity: writer.schema)
        plans.withLock { $0[schemaID] = plan }
        return plan
    }

    /// Decodes one framed record.
    public func deserialize(_ framed: ArraySlice<UInt8>) async throws(SerdeError) -> Decoded {
        let schemaID: UInt32
        let payload: ArraySlice<UInt8>
        do {
            (schemaID, payload) = try ConfluentWireFormat.unframe(framed)
        } catch {
            throw .wireFormat(error)
        }
        let plan = try await plan(for: schemaID)
        do {
            return Decoded(schemaID: schemaID, value: try plan.decode(payload), schema: plan.reader)
        } catch {
            throw .coding(error)
        }
    }

    /// Decodes one framed record.
    public func deserialize(_ framed: [UInt8]) async throws(SerdeError) -> Decoded {
        try await deserialize(framed[...])
    }
}
