import ArgumentParser
import AvroCodec
import RegistryClient

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads standard input whole.
func readStandardInput() throws -> [UInt8] {
    try SchemaFile.readBytes("-")
}

/// Writes bytes to standard output as they are (after any text `print` buffered before them).
func writeStandardOutput(_ bytes: [UInt8]) throws {
    fflush(nil)  // what `print` buffered goes first (nil: every stream; Swift 6 forbids naming `stdout`)
    try bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(1, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw InputError(description: "cannot write to standard output: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }
}

struct EncodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode JSON values (one per line on stdin) as Avro binary under a schema.",
        discussion: """
            Each record is written as a 4-byte big-endian length followed by the record in the Confluent \
            wire format (magic byte 0, 4-byte schema id, Avro payload). The id is --id, or the id the \
            registry gives the schema under --subject (registering it if needed). With --no-frame, one \
            bare Avro payload is written (one input value). Values are plain JSON by default (unions \
            unwrapped, the first branch that fits is used); --avro-json reads the specification's JSON encoding.
            Errors name the record number and the field path; exit 2.

            Examples:
              echo '{"id": 1, "name": "Ada"}' | schemactl encode --schema user.avsc --id 7 > records.bin
              schemactl encode --schema user.avsc --subject users-value < users.jsonl > records.bin
              echo '"hello"' | schemactl encode --schema string.avsc --no-frame | xxd
            """
    )

    @Option(help: "The writer schema file (.avsc).")
    var schema: String

    @Option(help: "The schema id to frame records with.")
    var id: UInt32?

    @Option(help: "Register (or look up) the schema under this subject and frame with its id.")
    var subject: String?

    @Flag(help: "Write one bare Avro payload, without length prefix or wire-format header.")
    var noFrame = false

    @Flag(help: "Read the Avro specification's JSON encoding instead of plain JSON.")
    var avroJson = false

    @OptionGroup var options: RegistryOptions

    func validate() throws {
        if !noFrame && (id == nil) == (subject == nil) { throw ValidationError("give exactly one of --id or --subject (or --no-frame)") }
    }

    func run() async throws {
        let schemaFile = try SchemaFile(path: schema)
        let text = String(decoding: try SchemaFile.readBytes(schema), as: UTF8.self)
        var schemaID = id ?? 0
        if !noFrame, let subject {
            let serializer = try AvroSerializer(registry: CachingRegistryClient(options.client), subject: subject, schemaText: text)
            do {
                schemaID = try await serializer.schemaID()
            } catch {
                throw serdeFailure(error, record: nil)
            }
        }
        let lines = String(decoding: try readStandardInput(), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        var output: [UInt8] = []
        var payload: [UInt8] = []
        for (index, line) in lines.enumerated() {
            payload.removeAll(keepingCapacity: true)
            do {
                let json = try JSONParser.parse(String(line))
                let value = try AvroJSON.value(json, schema: schemaFile.schema, style: avroJson ? .avro : .plain)
                try AvroBinary.encode(value, schema: schemaFile.schema, into: &payload)
            } catch let error as JSONParseError {
                throw InputError(description: "record \(index + 1): \(error.description)")
            } catch let error as AvroCodingError {
                throw InputError(description: "record \(index + 1) \(error.description)")
            }
            if noFrame {
                output.append(contentsOf: payload)
                break
            }
            let framed = ConfluentWireFormat.frame(schemaID: schemaID, payload: payload)
            withUnsafeBytes(of: UInt32(framed.count).bigEndian) { output.append(contentsOf: $0) }
            output.append(contentsOf: framed)
        }
        try writeStandardOutput(output)
    }
}

/// A serializer's or deserializer's failure as schemactl reports it: the record number first, then
/// exit 3 for an outage and 2 for anything wrong with the input.
func serdeFailure(_ error: SerdeError, record: Int?) -> Error {
    let prefix = record.map { "record \($0)" } ?? ""
    switch error {
    case .registry(let registryError):
        printError("error: \(prefix.isEmpty ? "" : prefix + ": ")\(registryError.description)")
        switch registryError {
        case .unavailable, .malformedResponse: return ExitStatus.unavailable
        case .rejected: return ExitStatus.invalidInput
        }
    case .coding(let codingError):
        // "record 3 at /address/street: ..."
        return InputError(description: "\(prefix.isEmpty ? "" : prefix + " ")\(codingError.description)")
    default:
        return InputError(description: "\(prefix.isEmpty ? "" : prefix + ": ")\(error.description)")
    }
}

struct DecodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode length-prefixed Confluent-framed Avro records from stdin into JSON lines.",
        discussion: """
            Each record's writer schema is fetched from the registry by its id (once per id). With \
            --no-frame, stdin is one bare Avro payload written with --schema. Output is plain JSON by \
            default; --avro-json writes the specification's JSON encoding. With --reader, every record is \
            resolved into that schema's shape (unknown writer fields dropped, missing fields defaulted).

            Examples:
              schemactl decode < records.bin
              schemactl decode --reader user-v1.avsc < records.bin
              schemactl decode --no-frame --schema user.avsc < payload.bin
            """
    )

    @Option(help: "With --no-frame: the writer schema file.")
    var schema: String?

    @Option(help: "Read every record with this schema (schema resolution).")
    var reader: String?

    @Flag(help: "Read one bare Avro payload written with --schema.")
    var noFrame = false

    @Flag(help: "Write the Avro specification's JSON encoding instead of plain JSON.")
    var avroJson = false

    @OptionGroup var options: RegistryOptions

    func validate() throws {
        if noFrame && schema == nil { throw ValidationError("--no-frame needs --schema") }
    }

    func run() async throws {
        let input = try readStandardInput()
        let style: AvroJSON.Style = avroJson ? .avro : .plain
        let readerSchema = try reader.map { try SchemaFile(path: $0).schema }
        if noFrame, let schema {
            let writer = try SchemaFile(path: schema).schema
            let plan = readerSchema.map { ResolutionPlan(writer: writer, reader: $0) } ?? ResolutionPlan(identity: writer)
            do {
                print(AvroJSON.json(try plan.decode(input[...]), schema: plan.reader, style: style).compactText)
            } catch {
                throw InputError(description: "record 1 \(error.description)")
            }
            return
        }
        let deserializer = AvroDeserializer(registry: CachingRegistryClient(options.client), reader: readerSchema)
        var position = 0
        var record = 0
        while position < input.count {
            record += 1
            guard position + 4 <= input.count else { throw InputError(description: "record \(record): truncated length prefix") }
            let length = Int(input[position]) << 24 | Int(input[position + 1]) << 16 | Int(input[position + 2]) << 8 | Int(input[position + 3])
            position += 4
            guard length <= input.count - position else { throw InputError(description: "record \(record): length \(length) exceeds the input") }
            let framed = input[position..<(position + length)]
            position += length
            do {
                let decoded = try await deserializer.deserialize(framed)
                print(AvroJSON.json(decoded.value, schema: decoded.schema, style: style).compactText)
            } catch {
                throw serdeFailure(error, record: record)
            }
        }
    }
}
