#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Progress of a long run on stderr: a bar redrawn in place on a terminal, otherwise a plain line at every
/// tenth (only for runs of 100 items or more, so short runs and logs stay quiet).
final class Progress {
    let label: String
    private let isTerminal = isatty(2) == 1
    private var total = 0
    private var done = 0
    private var lastTenth = 0
    private var lastDraw: Int64 = 0

    init(label: String) {
        self.label = label
    }

    func start(total: Int) {
        self.total = total
        done = 0
        lastTenth = 0
    }

    func advance(by count: Int = 1) {
        done += count
        guard total > 0 else { return }
        if isTerminal {
            let now = Progress.milliseconds
            if now - lastDraw >= 100 || done == total {
                lastDraw = now
                let width = 30
                let filled = min(width, done * width / total)
                printError("\r\(label) [" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] \(done)/\(total)", newline: false)
            }
        } else if total >= 100 {
            let tenth = done * 10 / total
            if tenth > lastTenth {
                lastTenth = tenth
                printError("\(label): \(done)/\(total) (\(tenth * 10)%)")
            }
        }
    }

    func finish() {
        if isTerminal, total > 0 { printError("") }
        total = 0
    }

    static var milliseconds: Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

/// SIGINT and SIGTERM, once installed, only set a flag: a migration stops between two writes and puts the
/// target's mode back.
enum StopSignal {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0

    static func install() {
        signal(SIGINT) { _ in StopSignal.flag = 1 }
        signal(SIGTERM) { _ in StopSignal.flag = 1 }
    }

    static var requested: Bool { flag != 0 }
}
