import AvroCodec

/// Confluent's verbose compatibility messages, rendered from a `CompatibilityFailure`: the problems
/// against the failing version, `{oldSchemaVersion: n}` and `{oldSchema: '…'}`, then our fix for
/// each problem, how many other versions fail too, and `{validateFields…, compatibility…}`. The
/// domain hands failures around as values; this is the one place that turns them into text (for
/// the 409 message and the `messages` of a verbose check).
public enum VerboseCompatibilityMessages {
    /// Every answer stays below this many bytes of messages; problems past it are counted, not listed.
    static let byteBudget = 900_000

    /// The messages for a failure, in Confluent's order, our entries after Confluent's.
    public static func render(_ failure: CompatibilityFailure) -> [String] {
        var messages: [String] = []
        var used = 0
        var shown = 0
        for problem in failure.problems {
            let text = "{errorType:'\(problem.type.rawValue)', description:'\(problem.message)', additionalInfo:'\(problem.additionalInfo)'}"
            guard used + text.utf8.count <= byteBudget / 2 else { break }
            used += text.utf8.count
            messages.append(text)
            shown += 1
        }
        messages.append("{oldSchemaVersion: \(failure.version)}")
        let old = failure.oldSchema
        messages.append(old.utf8.count > 10_240 ? "{oldSchema: <truncated> '\(String(decoding: old.utf8.prefix(10_240), as: UTF8.self))...'}" : "{oldSchema: '\(old)'}")
        for problem in failure.problems.prefix(shown) {
            let text = "{fix:'\(problem.fix)', errorType:'\(problem.type.rawValue)', path:'\(problem.path.isEmpty ? "/" : problem.path)', oldSchemaVersion: \(problem.version)}"
            guard used + text.utf8.count <= byteBudget else { break }
            used += text.utf8.count
            messages.append(text)
        }
        if shown < failure.problems.count {
            messages.append("{truncated: '\(failure.problems.count - shown) more problems against version \(failure.version) are not listed'}")
        }
        if !failure.alsoFailing.isEmpty {
            let listed = failure.alsoFailing.prefix(20).map(String.init).joined(separator: ", ")
            let more = failure.alsoFailing.count > 20 ? ", …" : ""
            messages.append("{moreIncompatibleVersions: \(failure.alsoFailing.count), versions: '\(listed)\(more)'}")
        }
        messages.append("{validateFields: 'false', compatibility: '\(failure.level.rawValue)'}")
        return messages
    }
}
