import ArgumentParser
import AvroCodec
import ChangeEvents
import Foundation
import RegistryClient
import RegistryCommandLine

/// wal-consume: prints the events of a WAL source's change-log file as JSON lines.
@main
struct WALConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal-consume",
        abstract: "Print the change events of a wal-source log file, one JSON object per line.",
        discussion: """
            Each line is {"op", "lsn", "schema_id", "key", "before", "after"}, rows as plain JSON (no \
            union wrappers). Writer schemas are fetched from the registry by id. With --reader, every \
            value envelope is read with that schema (fields it lacks are dropped, fields the writer lacks \
            take its defaults), e.g. a version fetched with \
            GET /subjects/PREFIX.SCHEMA.TABLE-value/versions/1/schema. Without --follow, stops at the end \
            of the file. Exit 2 for a bad file or record, 3 when the registry is unreachable.

            Example:
              wal-consume --file out/cdc.public.items.log --registry http://127.0.0.1:8081 --reader items-v1.avsc
            """
    )

    @Option(help: "The change-log file (DIR/PREFIX.SCHEMA.TABLE.log).")
    var file: String

    @Option(help: "Registry URL (default: $SCHEMA_REGISTRY_URL, else http://127.0.0.1:8081).")
    var registry: String?

    @OptionGroup var connection: RegistryConnectionOptions

    @Option(help: "Reader schema for the value envelope (.avsc).")
    var reader: String?

    @Flag(help: "At the end of the file, wait for more events (until interrupted).")
    var follow = false

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
        let consumer: ChangeEventConsumer
        do {
            consumer = try ChangeEventConsumer(path: file, registry: CachingRegistryClient(RegistryClient(baseURL: url, transport: connection.transport)), reader: readerSchema)
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

    func fail(_ message: String, status: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("wal-consume: \(message)\n".utf8))
        return ExitCode(status)
    }
}
