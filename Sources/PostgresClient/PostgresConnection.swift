import CPostgres

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A PostgreSQL failure: the server's SQLSTATE when there is one, and the message, copied from libpq at once.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// The five-character SQLSTATE (`42P01` for an unknown table); nil for connection, client and protocol errors.
    public let sqlState: String?
    /// What went wrong, without libpq's trailing newline.
    public let message: String
    /// The statement or replication command that failed, when there was one.
    public let statement: String?
    /// Whether the replication stream itself could not be read (a malformed or unknown message): it
    /// would come again at the same position, so waiting does not help.
    public var isMalformedStream = false

    /// Creates an error.
    public init(sqlState: String? = nil, message: String, statement: String? = nil, isMalformedStream: Bool = false) {
        self.sqlState = sqlState
        self.message = message
        self.statement = statement
        self.isMalformedStream = isMalformedStream
    }

    /// `PostgreSQL error 42P01: relation "x" does not exist (in: SELECT * FROM x)`.
    public var description: String {
        var text = sqlState.map { "PostgreSQL error \($0): \(message)" } ?? "PostgreSQL error: \(message)"
        if let statement { text += " (in: \(statement))" }
        return text
    }
}

/// A position in the write-ahead log, printed and parsed the way PostgreSQL does: `16/B374D848`
/// (the high and low 32 bits in hexadecimal).
///
/// ```swift
/// let lsn = LSN("16/B374D848")   // LSN(0x16_B374_D848)
/// print(lsn!)                    // 16/B374D848
/// ```
public struct LSN: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// The 64-bit byte position.
    public var value: UInt64

    /// `0/0`, which PostgreSQL reads as "no position": START_REPLICATION then resumes at the slot's
    /// confirmed position.
    public static let zero = LSN(0)

    /// Wraps a 64-bit position.
    public init(_ value: UInt64) {
        self.value = value
    }

    /// Parses `X/Y`, each half one to eight hexadecimal digits; nil for anything else.
    public init?(_ text: some StringProtocol) {
        let halves = text.split(separator: "/", omittingEmptySubsequences: false)
        guard halves.count == 2, let high = LSN.parseHalf(halves[0]), let low = LSN.parseHalf(halves[1]) else {
            return nil
        }
        value = UInt64(high) << 32 | UInt64(low)
    }

    private static func parseHalf(_ half: some StringProtocol) -> UInt32? {
        // UInt32(_:radix:) would also accept a sign; PostgreSQL's pg_lsn input accepts hex digits only.
        guard (1...8).contains(half.utf8.count), half.allSatisfy(\.isHexDigit) else { return nil }
        return UInt32(half, radix: 16)
    }

    /// `16/B374D848`.
    public var description: String {
        "\(String(value >> 32, radix: 16, uppercase: true))/\(String(value & 0xFFFF_FFFF, radix: 16, uppercase: true))"
    }

    /// Orders by position in the log.
    public static func < (lhs: LSN, rhs: LSN) -> Bool { lhs.value < rhs.value }
}

/// One CopyData message of a logical replication stream (the "Streaming Replication Protocol" section of
/// the PostgreSQL manual), or the end of the stream.
public enum ReplicationMessage: Sendable, Equatable {
    /// 'w' XLogData: WAL from `walStart`, the server's WAL end at sending time, and the decoded pgoutput message.
    case xlogData(walStart: LSN, walEnd: LSN, message: PgOutputMessage)
    /// 'k' primary keepalive: the server's WAL end; when `replyRequested`, send a standby status update
    /// now or the server disconnects after `wal_sender_timeout`.
    case keepalive(walEnd: LSN, replyRequested: Bool)
    /// The server ended the COPY cleanly (after `endReplication()`, or on server shutdown). The connection
    /// is idle again; no more messages follow.
    case endOfStream

    /// Decodes the payload of one CopyData message: an XLogData ('w') or a primary keepalive ('k').
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(PostgresError) -> ReplicationMessage {
        var reader = WireReader(bytes, context: "replication CopyData message")
        let tag = try reader.readUInt8()
        switch tag {
        case UInt8(ascii: "w"):
            reader.context = "XLogData message"
            let walStart = LSN(try reader.readUInt64())
            let walEnd = LSN(try reader.readUInt64())
            _ = try reader.readInt64()  // send time
            let message = try PgOutputMessage.decode(reader.readRest())
            return .xlogData(walStart: walStart, walEnd: walEnd, message: message)
        case UInt8(ascii: "k"):
            reader.context = "primary keepalive message"
            let walEnd = LSN(try reader.readUInt64())
            _ = try reader.readInt64()  // send time
            let replyRequested = try reader.readUInt8()
            try reader.expectEnd()
            return .keepalive(walEnd: walEnd, replyRequested: replyRequested != 0)
        default:
            throw PostgresError(message: "unknown replication CopyData message type \(WireReader.describe(tag))", isMalformedStream: true)
        }
    }

    /// Encodes a standby status update ('r'): three positions and the client clock, all big-endian.
    static func standbyStatusUpdate(
        written: LSN, flushed: LSN, applied: LSN, clock: Int64, replyRequested: Bool
    ) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(ascii: "r")]
        bytes.reserveCapacity(34)
        for value in [written.value, flushed.value, applied.value, UInt64(bitPattern: clock)] {
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
        bytes.append(replyRequested ? 1 : 0)
        return bytes
    }
}

/// One libpq connection to PostgreSQL, either a normal one (simple queries) or a logical replication one
/// (`replication=database`: replication commands, then a COPY BOTH stream of pgoutput messages).
/// Owns the `PGconn*` and closes it in `deinit`.
///
/// ```swift
/// let connection = try PostgresConnection(conninfo: "host=127.0.0.1 dbname=app", replication: true)
/// try connection.startReplication(slot: "wal_source", publication: "wal_source", startLSN: .zero)
/// while true {
///     switch try connection.readReplicationMessage(timeout: .seconds(10)) {
///     case .xlogData(_, _, .commit(let commit)): try connection.sendStandbyStatus(
///         written: commit.endLSN, flushed: commit.endLSN, applied: commit.endLSN)
///     case .keepalive(let end, true): try connection.sendStandbyStatus(written: end, flushed: end, applied: end)
///     default: break
///     }
/// }
/// ```
///
/// `@unchecked Sendable`: a libpq connection must not be used by two threads at once, and nothing here
/// locks it. It may move between threads (created on one, read on another), but its owner must use it
/// from one thread at a time — the WAL source has one reader task per connection.
public final class PostgresConnection: @unchecked Sendable {
    private let connection: OpaquePointer

    /// Connects. `conninfo` is a libpq connection string (`host=… dbname=…`) or URI (`postgresql://…`);
    /// with `replication`, the connection is opened with `replication=database` (overriding any
    /// `replication` setting in `conninfo`) so that it accepts replication commands.
    /// `options` (e.g. `-c TimeZone=UTC`) become the session's server options, whatever form
    /// `conninfo` has.
    /// `settings` are further libpq connection keywords (`connect_timeout`, `tcp_user_timeout`, …); a
    /// keyword the conninfo already names keeps the conninfo's value.
    public init(conninfo: String, replication: Bool, options: String? = nil, settings: [(String, String)] = []) throws(PostgresError) {
        // PQconnectdbParams with expand_dbname instead of appending to the string: the conninfo may be a
        // URI, where " replication=database" would not parse, and later keywords override earlier ones.
        // Defaults go first, so the conninfo (expanded from `dbname`) overrides them.
        var keywords = settings.map(\.0)
        var values = settings.map(\.1)
        keywords += replication ? ["dbname", "replication"] : ["dbname"]
        values += replication ? [conninfo, "database"] : [conninfo]
        if let options {
            keywords.append("options")
            values.append(options)
        }
        let connection = PostgresConnection.withCStringArray(keywords) { keywordPointers in
            PostgresConnection.withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else { throw PostgresError(message: "libpq could not allocate a connection") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let error = PostgresError(message: PostgresConnection.trimmed(PQerrorMessage(connection)))
            PQfinish(connection)
            throw error
        }
        self.connection = connection
    }

    deinit {
        PQfinish(connection)
    }

    /// Whether the connection is gone (the server closed it, or the network failed).
    public var isBroken: Bool { PQstatus(connection) != CONNECTION_OK }

    /// The server's version as a number (150004 for 15.4).
    public var serverVersion: Int { Int(PQserverVersion(connection)) }

    // MARK: Simple queries

    /// Runs `sql` with the simple query protocol and returns the rows of the last statement as text,
    /// nil for SQL NULL (an empty array for commands). On a replication connection this also runs
    /// replication commands such as `IDENTIFY_SYSTEM` and `CREATE_REPLICATION_SLOT`.
    public func query(_ sql: String) throws(PostgresError) -> [[String?]] {
        guard !sql.utf8.contains(0) else { throw PostgresError(message: "statement contains a NUL byte", statement: sql) }
        guard let result = PQexec(connection, sql) else { throw connectionError(statement: sql) }
        defer { PQclear(result) }
        return try rows(of: result, statement: sql)
    }

    /// A result's rows as text (nil for SQL NULL; none for a command), or its error.
    private func rows(of result: OpaquePointer, statement: String) throws(PostgresError) -> [[String?]] {
        let status = PQresultStatus(result)
        if status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY { return [] }
        guard status == PGRES_TUPLES_OK else { throw resultError(result, statement: statement) }
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(Int(columnCount))
            for column in 0..<columnCount {
                values.append(PQgetisnull(result, row, column) != 0 ? nil : String(cString: PQgetvalue(result, row, column)))
            }
            rows.append(values)
        }
        return rows
    }

    /// Runs one statement with `$1`, `$2`, … bound to `parameters` (text; nil is SQL NULL), with the
    /// extended protocol: values are never spliced into the SQL. Returns the rows as text.
    public func query(_ sql: String, _ parameters: [String?]) throws(PostgresError) -> [[String?]] {
        guard !sql.utf8.contains(0) else { throw PostgresError(message: "statement contains a NUL byte", statement: sql) }
        for parameter in parameters where parameter?.utf8.contains(0) == true {
            throw PostgresError(sqlState: "22021", message: "a value contains a NUL byte, which PostgreSQL text cannot hold", statement: sql)
        }
        let copies = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { $0.map { UnsafePointer($0) } }
        let result = pointers.withUnsafeBufferPointer { buffer in
            PQexecParams(connection, sql, Int32(parameters.count), nil, buffer.baseAddress, nil, nil, 0)
        }
        guard let result else { throw connectionError(statement: sql) }
        defer { PQclear(result) }
        return try rows(of: result, statement: sql)
    }

    /// Sends `sql` — several statements separated by `;` — in one round trip (the simple query protocol)
    /// and returns each statement's rows, in order (an empty array for commands). Values must already be
    /// literals (`quoteLiteral`). When a statement fails, PostgreSQL skips the rest; the first error is
    /// thrown after every result has been read, so the connection stays usable.
    public func batch(_ sql: String) throws(PostgresError) -> [[[String?]]] {
        guard !sql.utf8.contains(0) else { throw PostgresError(message: "statement contains a NUL byte", statement: sql) }
        guard PQsendQuery(connection, sql) == 1 else { throw connectionError(statement: sql) }
        var results: [[[String?]]] = []
        var failure: PostgresError?
        while let result = PQgetResult(connection) {
            defer { PQclear(result) }
            do {
                results.append(try rows(of: result, statement: sql))
            } catch {
                if failure == nil { failure = error }
            }
        }
        if let failure { throw failure }
        if isBroken { throw connectionError(statement: sql) }
        return results
    }

    // MARK: Notifications

    /// One `NOTIFY` received on a channel this connection listens on.
    public struct Notification: Sendable, Equatable {
        public let channel: String
        public let payload: String
        /// The backend process that sent it.
        public let senderPID: Int32
    }

    /// Waits up to `timeout` for notifications (after `LISTEN channel` on this connection) and
    /// returns every one that has arrived (none on timeout). Throws when the connection is lost.
    public func notifications(timeout: Duration) throws(PostgresError) -> [Notification] {
        var received = takeNotifications()
        if !received.isEmpty { return received }
        guard try waitForInput(milliseconds: PostgresConnection.milliseconds(roundingUp: timeout)) else { return [] }
        guard PQconsumeInput(connection) == 1 else { throw connectionError() }
        received = takeNotifications()
        return received
    }

    private func takeNotifications() -> [Notification] {
        var received: [Notification] = []
        while let notice = PQnotifies(connection) {
            let item = notice.pointee
            received.append(Notification(channel: String(cString: item.relname), payload: String(cString: item.extra), senderPID: item.be_pid))
            PQfreemem(notice)
        }
        return received
    }

    /// The server process serving this connection (what `Notification.senderPID` names).
    public var backendPID: Int32 { PQbackendPID(connection) }

    /// Runs one or more commands whose rows, if any, are not needed.
    public func execute(_ sql: String) throws(PostgresError) {
        _ = try query(sql)
    }

    // MARK: Logical replication

    /// Starts streaming `slot` with pgoutput protocol version 1 for `publication`, from `startLSN`
    /// (`.zero`: from the slot's confirmed position). The connection must have been opened with
    /// `replication: true`; afterwards it only reads messages, sends status updates and ends replication.
    /// With `messages`, logical decoding messages (`pg_logical_emit_message`) are sent too (PostgreSQL 14
    /// and later).
    public func startReplication(slot: String, publication: String, startLSN: LSN, messages: Bool = false) throws(PostgresError) {
        let publicationList = PostgresConnection.quoteIdentifier(publication)
        let command = "START_REPLICATION SLOT \(PostgresConnection.quoteIdentifier(slot)) LOGICAL \(startLSN) "
            + "(proto_version '1', publication_names \(PostgresConnection.quoteLiteral(publicationList))\(messages ? ", messages 'true'" : ""))"
        guard !command.utf8.contains(0) else {
            throw PostgresError(message: "slot or publication name contains a NUL byte", statement: command)
        }
        guard let result = PQexec(connection, command) else { throw connectionError(statement: command) }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COPY_BOTH else {
            if status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR || status == PGRES_BAD_RESPONSE {
                throw resultError(result, statement: command)
            }
            throw PostgresError(message: "expected COPY BOTH, got \(String(cString: PQresStatus(status)))", statement: command)
        }
    }

    /// Returns the next message of the replication stream, waiting up to `timeout` for one; nil when none
    /// arrived in time. Returns `.endOfStream` once when the server ends the stream cleanly; throws the
    /// server's error when it ends with one (slot dropped, publication missing, …) or the connection breaks.
    public func readReplicationMessage(timeout: Duration) throws(PostgresError) -> ReplicationMessage? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(connection, &buffer, 1)
            if length > 0 {
                guard let buffer else { throw PostgresError(message: "libpq returned copy data without a buffer") }
                defer { PQfreemem(buffer) }
                let bytes = UnsafeRawBufferPointer(start: buffer, count: Int(length))
                return try ReplicationMessage.decode(ArraySlice(bytes))
            }
            if length == -1 { return try finishCopy() }
            if length < -1 { throw connectionError() }

            // Nothing buffered: wait for the socket, then let libpq read what arrived. With no time left,
            // the socket is still checked once without waiting (a zero timeout means "only what is there").
            let remaining = deadline - clock.now
            let waitMilliseconds = remaining > .zero ? PostgresConnection.milliseconds(roundingUp: remaining) : 0
            guard try waitForInput(milliseconds: waitMilliseconds) else { return nil }
            guard PQconsumeInput(connection) == 1 else { throw connectionError() }
            if remaining <= .zero {
                // One last look at what was just read, then give up.
                var buffer: UnsafeMutablePointer<CChar>?
                let length = PQgetCopyData(connection, &buffer, 1)
                if length > 0, let buffer {
                    defer { PQfreemem(buffer) }
                    return try ReplicationMessage.decode(ArraySlice(UnsafeRawBufferPointer(start: buffer, count: Int(length))))
                }
                if length == -1 { return try finishCopy() }
                if length < -1 { throw connectionError() }
                return nil
            }
        }
    }

    /// Tells the server how far the stream has been written, flushed and applied downstream. The server
    /// advances the slot's `confirmed_flush_lsn` to `flushed` and may then recycle WAL before it.
    public func sendStandbyStatus(written: LSN, flushed: LSN, applied: LSN, replyRequested: Bool = false) throws(PostgresError) {
        let message = ReplicationMessage.standbyStatusUpdate(
            written: written, flushed: flushed, applied: applied,
            clock: PostgresConnection.postgresClockMicros(), replyRequested: replyRequested
        )
        let sent = message.withUnsafeBytes { bytes in
            PQputCopyData(connection, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        }
        guard sent == 1 else { throw connectionError() }
        guard PQflush(connection) == 0 else { throw connectionError() }
    }

    /// Asks the server to end the stream (CopyDone). Best effort: errors are ignored, the server may already
    /// be gone. Keep reading until `.endOfStream` to take the connection back to idle.
    public func endReplication() {
        _ = PQputCopyEnd(connection, nil)
        _ = PQflush(connection)
    }

    // MARK: Helpers

    /// Collects the results that follow the end of the COPY and returns to idle.
    private func finishCopy() throws(PostgresError) -> ReplicationMessage {
        var failure: PostgresError?
        while let result = PQgetResult(connection) {
            let status = PQresultStatus(result)
            if status == PGRES_COPY_IN {
                // The server ended first: libpq still lets us send, and waits for our CopyDone.
                PQclear(result)
                guard PQputCopyEnd(connection, nil) == 1 else { throw connectionError() }
                continue
            }
            if status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH {
                // Cannot happen after PQgetCopyData returned -1; stop instead of looping on the same result.
                PQclear(result)
                throw PostgresError(message: "COPY still in progress after end of stream")
            }
            if failure == nil && status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK {
                failure = resultError(result, statement: nil)
            }
            PQclear(result)
        }
        if let failure { throw failure }
        return .endOfStream
    }

    /// Waits until the socket is readable; false on timeout.
    private func waitForInput(milliseconds: Int32) throws(PostgresError) -> Bool {
        let socket = PQsocket(connection)
        guard socket >= 0 else { throw connectionError() }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return true }
            if ready == 0 { return false }
            // An interrupted wait is retried with the full interval; the caller's deadline bounds the loop.
            if errno == EINTR { continue }
            throw PostgresError(message: "poll failed: \(String(cString: strerror(errno)))")
        }
    }

    /// The error libpq holds for the connection (no server result to read it from).
    private func connectionError(statement: String? = nil) -> PostgresError {
        PostgresError(message: PostgresConnection.trimmed(PQerrorMessage(connection)), statement: statement)
    }

    // PG_DIAG_SQLSTATE, PG_DIAG_MESSAGE_PRIMARY and PG_DIAG_MESSAGE_DETAIL are character-literal macros
    // ('C', 'M', 'D'), which Swift does not import.
    private static let sqlStateField = Int32(UInt8(ascii: "C"))
    private static let primaryMessageField = Int32(UInt8(ascii: "M"))
    private static let detailField = Int32(UInt8(ascii: "D"))

    /// The error of a failed result: SQLSTATE, primary message and detail.
    private func resultError(_ result: OpaquePointer, statement: String?) -> PostgresError {
        let sqlState = PQresultErrorField(result, PostgresConnection.sqlStateField).map { String(cString: $0) }
        var message: String
        if let primary = PQresultErrorField(result, PostgresConnection.primaryMessageField) {
            message = String(cString: primary)
            if let detail = PQresultErrorField(result, PostgresConnection.detailField) { message += " (\(String(cString: detail)))" }
        } else {
            message = PostgresConnection.trimmed(PQresultErrorMessage(result))
            if message.isEmpty { message = PostgresConnection.trimmed(PQerrorMessage(connection)) }
            if message.isEmpty { message = "unexpected result \(String(cString: PQresStatus(PQresultStatus(result))))" }
        }
        return PostgresError(sqlState: sqlState, message: message, statement: statement)
    }

    private static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        var string = String(cString: text)
        while let last = string.last, last.isWhitespace { string.removeLast() }
        return string
    }

    /// `"name"` with embedded quotes doubled: an identifier as the replication grammar reads it.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }

    /// `'text'` with embedded quotes doubled (the replication grammar has no backslash escapes).
    public static func quoteLiteral(_ text: String) -> String {
        "'" + text.replacingAll("'", with: "''") + "'"
    }

    private static func milliseconds(roundingUp duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        let partial = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return Int32.max }
        return Int32(clamping: scaled + partial)
    }

    /// The wall clock in microseconds since 2000-01-01 UTC, as the standby status update carries it.
    private static func postgresClockMicros() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let unixMicros = Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
        return unixMicros - PgOutputMessage.postgresEpochOffsetSeconds * 1_000_000
    }

    /// Calls `body` with a NULL-terminated array of C strings that live for the call.
    private static func withCStringArray<Result>(
        _ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> Result
    ) -> Result {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        return body(copies.map { $0.map { UnsafePointer($0) } } + [nil])
    }
}

extension String {
    /// Every occurrence of `target` replaced (Foundation-free). Compared per Unicode scalar, never per
    /// `Character`: a grapheme cluster can swallow a quote (U+0600 followed by `'` is one `Character`),
    /// which would let it through unescaped.
    fileprivate func replacingAll(_ target: Unicode.Scalar, with replacement: String) -> String {
        var result = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            if scalar == target { result.append(contentsOf: replacement.unicodeScalars) } else { result.append(scalar) }
        }
        return String(result)
    }
}
