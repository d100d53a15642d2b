import Locking
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A swift-log handler that writes one line per event to standard error: text for people, or one JSON object per
/// line for machines.
///
/// ```swift
/// let output = LogOutput(format: .json)
/// LoggingSystem.bootstrap { label in LineLogHandler(label: label, output: output, level: .info) }
/// Logger(label: "schema-registry").info("request", metadata: ["status": .stringConvertible(200)])
/// // {"time":"2025-01-01T12:00:00.000Z","level":"info","logger":"schema-registry","message":"request","status":200}
/// ```
///
/// Text: `2025-01-01T12:00:00.000Z info request status=200 path=/subjects`; a value with a space, a quote, `=`, a
/// backslash or a control character is quoted and escaped, so one event is always one line.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let output: LogOutput

    /// A handler for the logger `label`, writing through `output` (shared by every handler of the process).
    public init(label: String, output: LogOutput, level: Logger.Level, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.output = output
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Merged only when there is something to merge (a request line has its own metadata alone).
        var merged: Logger.Metadata
        if metadata.isEmpty, metadataProvider == nil, event.error == nil {
            merged = event.metadata ?? [:]
        } else {
            merged = metadata
            if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
            if let given = event.metadata { merged.merge(given) { $1 } }
            if let error = event.error { merged["error"] = .string(String(describing: error)) }
        }
        output.write(LogLine.render(format: output.format, level: event.level, label: label, message: event.message.description, metadata: merged))
    }
}

/// Where log lines go: standard error, whole lines only, so lines from concurrent threads never interleave.
///
/// Batched (the server): lines are gathered in memory and written by a flusher thread every 5 ms, so a busy server
/// makes a few hundred write(2) calls a second rather than one per request (one per request cost fetch-by-id a
/// quarter of its throughput, bench/http_fetch.sh). A request thread never waits for the descriptor: when nobody
/// reads standard error (a full pipe), the flusher blocks, lines beyond 1 MiB are dropped and counted, and the
/// server keeps answering; a line saying how many were dropped is written once the output drains. `flush()` at
/// shutdown waits at most a second. A crash can lose the last 5 ms of lines.
public final class LogOutput: Sendable {
    /// How a line is written.
    public enum Format: String, Sendable, CaseIterable {
        case text
        case json
    }

    struct Pending {
        var bytes: [UInt8] = []
        var dropped = 0
        /// The flusher is writing a chunk it took.
        var writing = false
    }

    public let format: Format
    private let descriptor: Int32
    private let batched: Bool
    private let pending = Locked(Pending())
    /// Serialises unbatched writes.
    private let writeLock = Locked(())
    static let capacity = 1 << 20
    private static let flushMicroseconds: useconds_t = 5_000

    /// Writes to `descriptor` (standard error by default); with `batched` (the server's choice) through the
    /// flusher thread, otherwise each line at once.
    public init(format: Format, descriptor: Int32 = 2, batched: Bool = false) {
        self.format = format
        self.descriptor = descriptor
        self.batched = batched
        if batched { startFlusher() }
    }

    func write(_ line: [UInt8]) {
        guard batched else {
            writeLock.withLock { _ in writeAll(line) }
            return
        }
        pending.withLock { state in
            if state.bytes.count + line.count > Self.capacity {
                state.dropped += 1
            } else {
                state.bytes.append(contentsOf: line)
            }
        }
    }

    /// Waits (at most a second) until the flusher has written every gathered line; for shutdown.
    public func flush() {
        guard batched else { return }
        for _ in 0..<200 {
            if pending.withLock({ $0.bytes.isEmpty && $0.dropped == 0 && !$0.writing }) { return }
            usleep(Self.flushMicroseconds)
        }
    }

    /// Takes what is gathered (and a note of dropped lines) and writes it; only the flusher thread calls it.
    private func writeGathered() {
        let (chunk, dropped) = pending.withLock { state in
            let taken = (state.bytes, state.dropped)
            state.bytes.removeAll(keepingCapacity: true)
            state.dropped = 0
            state.writing = !taken.0.isEmpty || taken.1 > 0
            return taken
        }
        guard !chunk.isEmpty || dropped > 0 else { return }
        writeAll(chunk)
        if dropped > 0 {
            let message = "\(dropped) log lines dropped: standard error was not read fast enough"
            writeAll(LogLine.render(format: format, level: .warning, label: "schema-registry", message: message, metadata: [:]))
        }
        pending.withLock { $0.writing = false }
    }

    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            var written = 0
            // One write(2) as a rule; the loop only finishes a short write or one interrupted by a signal.
            while written < bytes.count {
                let count = systemWrite(descriptor, base + written, bytes.count - written)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return }  // a closed descriptor (EPIPE: SIGPIPE is ignored) loses the lines
                written += count
            }
        }
    }

    /// A detached thread that writes every 5 ms for the life of the process (the output is never released:
    /// the thread holds it).
    private func startFlusher() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { context in
            let output = Unmanaged<LogOutput>.fromOpaque(context!).takeUnretainedValue()
            while true {
                usleep(LogOutput.flushMicroseconds)
                output.writeGathered()
            }
        }, context)
        if started == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<LogOutput>.fromOpaque(context).release()
        }
    }
}

/// The formatting of one event, apart from the handler so the hot path (one request line) builds bytes directly.
enum LogLine {
    static func render(format: LogOutput.Format, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(320)
        // A request line's fields come as one value (see `RequestLogFields`) and are written as top-level keys.
        var request: RequestLogFields?
        var keys: [String] = []
        for (key, value) in metadata {
            if key == RequestLogFields.metadataKey, case .stringConvertible(let convertible) = value, let fields = convertible as? RequestLogFields {
                request = fields
            } else {
                keys.append(key)
            }
        }
        // A request line's own fields come in order through `RequestLogFields`; any other keys follow, sorted.
        keys.sort()
        switch format {
        case .json:
            line.append(contentsOf: #"{"time":""#.utf8)
            appendTimestamp(&line)
            line.append(contentsOf: #"","level":""#.utf8)
            line.append(contentsOf: level.rawValue.utf8)
            line.append(contentsOf: #"","logger":"#.utf8)
            appendJSONString(label, to: &line)
            line.append(contentsOf: #","message":"#.utf8)
            appendJSONString(message, to: &line)
            request?.forEach { key, value, isNumber in
                line.append(UInt8(ascii: ","))
                line.append(UInt8(ascii: "\""))
                key.withUTF8Buffer { line.append(contentsOf: $0) }
                line.append(contentsOf: #"":"#.utf8)
                if isNumber { line.append(contentsOf: value.utf8) } else { appendJSONString(value, to: &line) }
            }
            for key in keys {
                guard let value = metadata[key] else { continue }
                line.append(UInt8(ascii: ","))
                appendJSONString(key, to: &line)
                line.append(UInt8(ascii: ":"))
                appendJSONValue(value, to: &line)
            }
            line.append(contentsOf: "}\n".utf8)
        case .text:
            appendTimestamp(&line)
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: level.rawValue.utf8)
            line.append(UInt8(ascii: " "))
            appendEscaped(message, to: &line, quoting: false)
            request?.forEach { key, value, _ in
                line.append(UInt8(ascii: " "))
                key.withUTF8Buffer { line.append(contentsOf: $0) }
                line.append(UInt8(ascii: "="))
                appendEscaped(value, to: &line, quoting: true)
            }
            for key in keys {
                guard let value = metadata[key] else { continue }
                line.append(UInt8(ascii: " "))
                appendEscaped(key, to: &line, quoting: false)
                line.append(UInt8(ascii: "="))
                appendEscaped(flatText(value), to: &line, quoting: true)
            }
            line.append(UInt8(ascii: "\n"))
        }
        return line
    }

    // MARK: JSON

    private static func appendJSONValue(_ value: Logger.MetadataValue, to line: inout [UInt8]) {
        switch value {
        case .string(let text):
            appendJSONString(text, to: &line)
        case .stringConvertible(let convertible):
            if let number = jsonNumber(convertible) {
                line += Array(number.utf8)
            } else if let flag = convertible as? Bool {
                line += Array((flag ? "true" : "false").utf8)
            } else {
                appendJSONString(convertible.description, to: &line)
            }
        case .array(let values):
            line.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                appendJSONValue(element, to: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let values):
            line.append(UInt8(ascii: "{"))
            for (index, key) in values.keys.sorted().enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                appendJSONString(key, to: &line)
                line.append(UInt8(ascii: ":"))
                if let element = values[key] { appendJSONValue(element, to: &line) }
            }
            line.append(UInt8(ascii: "}"))
        }
    }

    /// The JSON text of an integer, a finite floating-point number or a `LogDuration`; nil for anything else (a
    /// NaN or an infinity is not a JSON number, so it goes as a string).
    private static func jsonNumber(_ value: any CustomStringConvertible & Sendable) -> String? {
        switch value {
        case let number as Int: return String(number)
        case let number as Int64: return String(number)
        case let number as UInt64: return String(number)
        case let number as Int32: return String(number)
        case let duration as LogDuration: return duration.description
        case let number as Double: return number.isFinite ? String(number) : nil
        default: return nil
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped; other text as UTF-8.
    static func appendJSONString(_ text: String, to line: inout [UInt8]) {
        line.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): line.append(UInt8(ascii: "\\")); line.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): line.append(UInt8(ascii: "\\")); line.append(UInt8(ascii: "\\"))
            case 0x0A: line.append(UInt8(ascii: "\\")); line.append(UInt8(ascii: "n"))
            case 0x0D: line.append(UInt8(ascii: "\\")); line.append(UInt8(ascii: "r"))
            case 0x09: line.append(UInt8(ascii: "\\")); line.append(UInt8(ascii: "t"))
            case 0..<0x20, 0x7F: appendUnicodeEscape(byte, to: &line)
            default: line.append(byte)
            }
        }
        line.append(UInt8(ascii: "\""))
    }

    // MARK: Text

    private static func flatText(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): return text
        case .stringConvertible(let convertible): return convertible.description
        case .array(let values): return "[" + values.map(flatText).joined(separator: ",") + "]"
        case .dictionary(let values): return "{" + values.keys.sorted().map { "\($0):\(values[$0].map(flatText) ?? "")" }.joined(separator: ",") + "}"
        }
    }

    /// Text on one line: control characters escaped (`\n`, `\u001b`, …); with `quoting`, a value that is empty or
    /// holds a space, `"`, `=` or `\` is put in quotes, so `key=value` pairs always split back apart.
    static func appendEscaped(_ text: String, to line: inout [UInt8], quoting: Bool) {
        let needsQuotes = quoting && (text.isEmpty || text.utf8.contains { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\\") })
        if needsQuotes { line.append(UInt8(ascii: "\"")) }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\"") where needsQuotes: line += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\") where needsQuotes: line += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: line += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: line += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: line += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20, 0x7F: appendUnicodeEscape(byte, to: &line)
            default: line.append(byte)
            }
        }
        if needsQuotes { line.append(UInt8(ascii: "\"")) }
    }

    private static func appendUnicodeEscape(_ byte: UInt8, to line: inout [UInt8]) {
        let digits = Array("0123456789abcdef".utf8)
        line += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
    }

    // MARK: Time

    /// Now, in UTC with milliseconds: `2025-01-01T12:00:00.000Z`. The date is computed here (days to civil date,
    /// Howard Hinnant's algorithm) rather than with `gmtime_r`, which takes glibc's time-zone lock on every call.
    static func appendTimestamp(_ line: inout [UInt8]) {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        let seconds = Int(spec.tv_sec)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        appendDigits(year, 4, &line)
        line.append(UInt8(ascii: "-"))
        appendDigits(month, 2, &line)
        line.append(UInt8(ascii: "-"))
        appendDigits(day, 2, &line)
        line.append(UInt8(ascii: "T"))
        appendDigits(secondOfDay / 3600, 2, &line)
        line.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay / 60 % 60, 2, &line)
        line.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay % 60, 2, &line)
        line.append(UInt8(ascii: "."))
        appendDigits(Int(spec.tv_nsec) / 1_000_000, 3, &line)
        line.append(UInt8(ascii: "Z"))
    }

    private static func appendDigits(_ value: Int, _ width: Int, _ line: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = max(0, value)
        while divisor > 0 {
            line.append(UInt8(ascii: "0") + UInt8((rest / divisor) % 10))
            rest %= divisor
            divisor /= 10
        }
    }
}

/// A duration shown in milliseconds with three decimals (`12.345`); a JSON number in JSON lines.
public struct LogDuration: CustomStringConvertible, Sendable {
    public let nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = max(0, nanoseconds) }

    public var description: String {
        let microseconds = nanoseconds / 1000
        let fraction = String(microseconds % 1000)
        return "\(microseconds / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}

/// write(2), named apart from `LogOutput.write`.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.write(descriptor, bytes, count)
    #else
        Darwin.write(descriptor, bytes, count)
    #endif
}
