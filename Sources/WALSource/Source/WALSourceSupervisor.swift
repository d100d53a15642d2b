/// Runs the source, and runs it again after what a restart fixes: PostgreSQL restarting or failing
/// over, a dropped connection, the registry being unreachable. Each attempt is a fresh engine that
/// resumes from the durable position (nothing acknowledged is lost, nothing durable is written twice);
/// waits grow from 1 s to 30 s and start again from 1 s once an attempt reached streaming. It returns
/// on a stop signal and throws what a restart cannot fix (configuration, an incompatible schema, a
/// failing disk, a value that has no Avro form).
public enum WALSourceSupervisor {
    public static func run(configuration: WALSourceConfiguration) async throws(WALSourceError) {
        var delay: Duration = .seconds(1)
        var outageStarted: ContinuousClock.Instant?
        var eventsSoFar = 0
        while true {
            // The engine lives only in this iteration: its connections (a walsender among them) and
            // files are closed before the wait below.
            let engine = WALSourceEngine(configuration: configuration)
            engine.eventsBeforeThisRun = eventsSoFar
            // Logged through the static writer: a closure holding the engine would keep it (its
            // connections, a walsender, and its files) alive for ever.
            if let outageStarted {
                engine.onStreaming = { WALSourceEngine.writeStandardError("wal-source: recovered after \(seconds(ContinuousClock.now - outageStarted)) s\n") }
            }
            do {
                try await engine.run()
                return
            } catch {
                eventsSoFar += engine.events
                WALSourceMetrics.shared.update { $0.streaming = false }
                // A stop signal during an outage is a stop, not a failure.
                if stopRequested.load(ordering: .relaxed) && error.isTransient { return }
                guard error.isTransient else { throw error }
                WALSourceMetrics.shared.update { $0.reconnects += 1 }
                if engine.reachedStreaming {
                    delay = .seconds(1)
                    outageStarted = ContinuousClock.now
                } else if outageStarted == nil {
                    outageStarted = ContinuousClock.now
                }
                engine.log("\(error.description); trying again in \(seconds(delay)) s")
            }
            if await sleepUnlessStopped(delay) { return }
            delay = min(delay * 2, .seconds(30))
        }
    }

    /// Sleeps `duration` in short steps; true when a stop signal arrived meanwhile.
    static func sleepUnlessStopped(_ duration: Duration) async -> Bool {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline {
            if stopRequested.load(ordering: .relaxed) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return stopRequested.load(ordering: .relaxed)
    }

    static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return value < 10 ? String(Double(Int(value * 10)) / 10) : String(Int(value))
    }
}

extension WALSourceError {
    /// Whether running again may fix it: the server or the registry was away, or a connection broke.
    public var isTransient: Bool {
        switch self {
        case .postgres(let error):
            guard let state = error.sqlState else {
                // Without a SQLSTATE: a connection failure, or the server's refusal while connecting.
                // A refusal (bad password, no such database or role, pg_hba, no REPLICATION attribute)
                // does not go away by waiting; the server starting up or shutting down, or full, does.
                // A malformed replication message would come again at the same position.
                if error.isMalformedStream { return false }
                guard error.message.contains("FATAL") else { return true }
                return ["starting up", "shutting down", "in recovery mode", "too many clients", "remaining connection slots"]
                    .contains { error.message.contains($0) }
            }
            // Connection exceptions, operator intervention (shutdown, crash, cannot connect now), too
            // many connections, a slot still active for a previous connection.
            // 57P04 (database dropped) and 53400 (configured limits) do not pass by themselves.
            if state == "57P04" || state == "53400" { return false }
            return state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53") || state == "55006"
        case .registry(.unavailable): return true
        // The brokers away, a transaction timed out or fenced: a new engine resumes from the last commit.
        case .kafka(let error): return !error.isPermanentForMessage
        default: return false
        }
    }
}
