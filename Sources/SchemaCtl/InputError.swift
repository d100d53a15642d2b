#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file that cannot be read or is not a valid schema. Exits with `ExitStatus.invalidInput`.
struct InputError: Error, CustomStringConvertible {
    let description: String
}

/// Writes a line (or, without `newline`, the text alone) to standard error.
func printError(_ text: String, newline: Bool = true) {
    var line = text
    if newline { line.append("\n") }
    // Swift 6 forbids touching the C global `stderr`; write to descriptor 2 directly.
    _ = line.withCString { write(2, $0, strlen($0)) }
}
