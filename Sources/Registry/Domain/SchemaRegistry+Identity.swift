import AvroCodec
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension SchemaRegistry {
    // MARK: Validation, stored references, identity

    /// The longest subject name, in UTF-8 bytes: PostgreSQL's index entries hold at most about 2.7 KB,
    /// and both stores accept the same names.
    static let maximumSubjectBytes = 2048

    /// Refuses what Confluent refuses as a subject (control characters, the reserved scope names),
    /// the empty name (no route could reach it again) and context syntax (not supported here).
    static func validateSubject(_ subject: String) throws(RegistryError) {
        if subject.hasPrefix(":.") || subject.hasPrefix(":*:") { throw .contextNotSupported(subject) }
        if subject.isEmpty || subject == globalScope || subject == "__EMPTY"
            || subject.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        {
            throw .invalidSubject(subject)
        }
    }

    /// `validateSubject`, and for what creates a subject (a registration, a config or mode set) also at
    /// most `maximumSubjectBytes` (a longer name an older database holds stays readable and deletable).
    static func validateNewSubject(_ subject: String) throws(RegistryError) {
        try validateSubject(subject)
        if subject.utf8.count > maximumSubjectBytes { throw .invalidSubject(subject) }
    }

    /// Ids and versions are 1…2^31−1 wherever they enter.
    static func validateIdentifier(_ value: Int, what: String) throws(RegistryError) {
        guard value >= 1, value <= maximumIdentifier else {
            throw .invalidIdentifier("Invalid \(what) \(value): allowed values are between 1 and 2^31-1")
        }
    }

    static func encodeReferences(_ references: [SchemaReference]) -> String {
        references.map { "\($0.name)\u{1}\($0.subject)\u{1}\($0.version)" }.joined(separator: "\u{2}")
    }

    static func decodeReferences(_ text: String) -> [SchemaReference] {
        guard !text.isEmpty else { return [] }
        return text.split(separator: "\u{2}", omittingEmptySubsequences: false).compactMap { item in
            let parts = item.split(separator: "\u{1}", omittingEmptySubsequences: false)
            guard parts.count == 3, let version = Int(parts[2]) else { return nil }
            return SchemaReference(name: String(parts[0]), subject: String(parts[1]), version: version)
        }
    }

    /// The identity hash: MD5 over the stored text, the references and the data contract. Without a
    /// contract it is the hash earlier releases computed, so their rows keep matching.
    static func identity(_ text: String, _ references: [SchemaReference], _ contract: DataContract) -> String {
        var bytes = Array(text.utf8)
        for reference in references {
            bytes.append(0)
            bytes.append(contentsOf: "\(reference.name)\u{1}\(reference.subject)\u{1}\(reference.version)".utf8)
        }
        if !contract.isEmpty {
            bytes.append(3)
            bytes.append(contentsOf: contract.storedText.utf8)
        }
        return SchemaFingerprint.hex(SchemaFingerprint.md5(bytes))
    }

    /// A 32-digit hex hash as a UUID string (8-4-4-4-12).
    static func guid(_ hash: String) -> String {
        let digits = Array(hash)
        guard digits.count == 32 else { return hash }
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(digits[$0]) }.joined(separator: "-")
    }
}
