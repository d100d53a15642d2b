/// A subject's compatibility level, with Confluent's meaning.
public enum CompatibilityLevel: String, Sendable, Hashable, CaseIterable, Codable {
    case none = "NONE"
    case backward = "BACKWARD"
    case backwardTransitive = "BACKWARD_TRANSITIVE"
    case forward = "FORWARD"
    case forwardTransitive = "FORWARD_TRANSITIVE"
    case full = "FULL"
    case fullTransitive = "FULL_TRANSITIVE"

    /// Whether the new schema must read data written with existing versions.
    public var checksBackward: Bool {
        switch self {
        case .backward, .backwardTransitive, .full, .fullTransitive: return true
        default: return false
        }
    }

    /// Whether existing versions must read data written with the new schema.
    public var checksForward: Bool {
        switch self {
        case .forward, .forwardTransitive, .full, .fullTransitive: return true
        default: return false
        }
    }

    /// Whether every existing version is compared, not only the latest.
    public var isTransitive: Bool {
        switch self {
        case .backwardTransitive, .forwardTransitive, .fullTransitive: return true
        default: return false
        }
    }
}

/// Which way data flows in a comparison.
public enum CompatibilityDirection: String, Sendable, Hashable, Codable {
    /// The new schema reads data written with an existing version.
    case backward
    /// An existing version reads data written with the new schema.
    case forward
}

/// One incompatibility between a new schema and an existing version, with what to do about it.
public struct Incompatibility: Sendable, Equatable {
    public let type: IncompatibilityType
    /// JSON Pointer in the new schema ("/fields/3/type").
    public let path: String
    /// The location as Confluent reports it (in the reader schema; "/" for the root).
    public let location: String
    /// The existing version this conflicts with.
    public let version: Int
    public let direction: CompatibilityDirection
    /// One sentence, in Confluent's wording with "new"/"old" labels.
    public let message: String
    /// Avro's detail text, as Confluent's `additionalInfo`.
    public let additionalInfo: String
    /// A concrete change to the new schema that removes the problem.
    public let fix: String
}

/// The outcome of checking a new schema against existing versions at a level.
public struct CompatibilityReport: Sendable {
    public let level: CompatibilityLevel
    /// The versions compared, newest first.
    public let comparedVersions: [Int]
    /// Every problem found, grouped by version (newest first), forward problems before backward ones
    /// for each version, as Confluent orders them.
    public let incompatibilities: [Incompatibility]

    /// Whether the new schema may be registered.
    public var isCompatible: Bool { incompatibilities.isEmpty }
}

/// An existing version of a subject, already parsed (as the registry holds them).
public struct ExistingSchemaVersion: Sendable {
    public let version: Int
    public let schema: AvroSchema

    public init(version: Int, schema: AvroSchema) {
        self.version = version
        self.schema = schema
    }
}

/// Decides whether a new schema may follow existing versions at a compatibility level.
///
/// ```swift
/// let report = CompatibilityChecker.check(new, against: [ExistingSchemaVersion(version: 1, schema: old)], level: .backward)
/// for problem in report.incompatibilities { print(problem.type, problem.path, problem.fix) }
/// ```
public enum CompatibilityChecker {
    /// Checks `new` against `existing` (oldest first). Non-transitive levels compare with the latest
    /// version only; transitive levels with every version.
    public static func check(_ new: AvroSchema, against existing: [ExistingSchemaVersion], level: CompatibilityLevel) -> CompatibilityReport {
        guard level != .none, let latest = existing.last else {
            return CompatibilityReport(level: level, comparedVersions: [], incompatibilities: [])
        }
        let compared = level.isTransitive ? Array(existing.reversed()) : [latest]
        var incompatibilities: [Incompatibility] = []
        for old in compared {
            incompatibilities += problems(of: new, against: old, level: level)
        }
        return CompatibilityReport(level: level, comparedVersions: compared.map(\.version), incompatibilities: incompatibilities)
    }

    /// The versions of `existingVersions` (oldest first: 1, 2, …) that `level` compares a new schema
    /// with, newest first: every one for transitive levels, the latest for the others, none for NONE.
    public static func comparedVersions(of existingVersions: [Int], level: CompatibilityLevel) -> [Int] {
        guard level != .none, let latest = existingVersions.last else { return [] }
        return level.isTransitive ? existingVersions.reversed() : [latest]
    }

    /// The problems between `new` and one existing version at `level` (forward ones first, as
    /// `check` orders them), whether or not the level compares with that version. Versions are
    /// independent, so a caller may check them on several threads, each as soon as it is parsed,
    /// and assemble the report with `report(level:comparedVersions:problemsByVersion:)`.
    public static func problems(of new: AvroSchema, against old: ExistingSchemaVersion, level: CompatibilityLevel) -> [Incompatibility] {
        var incompatibilities: [Incompatibility] = []
        if level.checksForward {
            for problem in SchemaResolution.problems(reader: old.schema, writer: new) {
                incompatibilities.append(describe(problem, direction: .forward, version: old.version, new: new, old: old.schema))
            }
        }
        if level.checksBackward {
            for problem in SchemaResolution.problems(reader: new, writer: old.schema) {
                incompatibilities.append(describe(problem, direction: .backward, version: old.version, new: new, old: old.schema))
            }
        }
        return incompatibilities
    }

    /// The report `check` gives, from problems found version by version.
    /// - Parameter comparedVersions: newest first, as `comparedVersions(of:level:)` gives them.
    public static func report(
        level: CompatibilityLevel, comparedVersions: [Int], problemsByVersion: [Int: [Incompatibility]]
    ) -> CompatibilityReport {
        CompatibilityReport(
            level: level, comparedVersions: comparedVersions,
            incompatibilities: comparedVersions.flatMap { problemsByVersion[$0] ?? [] })
    }

    static func describe(
        _ problem: ResolutionProblem, direction: CompatibilityDirection, version: Int, new: AvroSchema, old: AvroSchema
    ) -> Incompatibility {
        let readerLabel = direction == .backward ? "new" : "old"
        let writerLabel = direction == .backward ? "old" : "new"
        let location = problem.location.isEmpty ? "/" : problem.location
        let message: String
        switch problem.type {
        case .readerFieldMissingDefaultValue:
            message = "The field '\(problem.additionalInfo)' at path '\(location)' in the \(readerLabel) schema has no default value and is missing in the \(writerLabel) schema"
        case .typeMismatch:
            message = "The type (path '\(location)') of a field in the \(readerLabel) schema does not match with the \(writerLabel) schema"
        case .nameMismatch:
            message = "The name of the schema has changed (path '\(location)')"
        case .fixedSizeMismatch:
            message = "The size of FIXED type field at path '\(location)' in the \(readerLabel) schema does not match with the \(writerLabel) schema"
        case .missingEnumSymbols:
            message = "The \(readerLabel) schema is missing enum symbols '\(problem.additionalInfo)' at path '\(location)' in the \(writerLabel) schema"
        case .missingUnionBranch:
            message = "The \(readerLabel) schema is missing a type inside a union field at path '\(location)' in the \(writerLabel) schema"
        case .logicalTypeMismatch:
            message = "The decimal precision or scale at path '\(location)' in the \(readerLabel) schema does not match the \(writerLabel) schema"
        }
        let reader = direction == .backward ? new : old
        let writer = direction == .backward ? old : new
        let fix = FixSuggestion.text(for: problem, direction: direction, reader: reader, writer: writer)
        return Incompatibility(
            type: problem.type, path: direction == .backward ? problem.readerPath : problem.writerPath, location: location,
            version: version, direction: direction, message: message, additionalInfo: problem.additionalInfo, fix: fix)
    }
}
