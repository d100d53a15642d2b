/// Every error the registry reports, each with its Confluent `error_code`, HTTP status and message
/// text — identical to Confluent's where clients or people compare them. Built here, never inline.
public enum RegistryError: Error, Sendable, Equatable {
    case subjectNotFound(String)
    case versionNotFound(String)
    case schemaNotFound(id: Int?)
    case subjectSoftDeleted(String)
    case subjectNotSoftDeleted(String)
    case versionSoftDeleted(subject: String, version: Int)
    case versionNotSoftDeleted(subject: String, version: Int)
    case subjectCompatibilityNotConfigured(String)
    case subjectModeNotConfigured(String)
    case incompatibleSchema(subject: String, failure: CompatibilityFailure)
    case invalidSchema(String)
    /// An id or version outside 1…2^31−1 (or an id space used up).
    case invalidIdentifier(String)
    case invalidRuleSet(String)
    /// A subject in Confluent's context syntax (`:.ctx:subject`), which this registry does not support.
    case contextNotSupported(String)
    case invalidVersion(String)
    case invalidCompatibilityLevel
    case invalidMode
    case operationNotPermitted(String)
    case referenceExists(String)
    case invalidSubject(String)
    case storage(String)
    /// A rule asked its store for a new id (`IDSource.onRequest`); the store answers it and runs the
    /// rule again, so it never reaches a client.
    case newIdentifierNeeded

    /// The HTTP status.
    public var httpStatus: Int {
        switch self {
        case .subjectNotFound, .versionNotFound, .schemaNotFound, .subjectSoftDeleted, .subjectNotSoftDeleted,
            .versionSoftDeleted, .versionNotSoftDeleted, .subjectCompatibilityNotConfigured, .subjectModeNotConfigured:
            return 404
        case .incompatibleSchema: return 409
        case .invalidSchema, .invalidVersion, .invalidCompatibilityLevel, .invalidMode, .operationNotPermitted,
            .referenceExists, .invalidSubject, .invalidIdentifier, .invalidRuleSet, .contextNotSupported:
            return 422
        case .storage, .newIdentifierNeeded: return 500
        }
    }

    /// Confluent's `error_code`.
    public var errorCode: Int {
        switch self {
        case .subjectNotFound: return 40401
        case .versionNotFound: return 40402
        case .schemaNotFound: return 40403
        case .subjectSoftDeleted: return 40404
        case .subjectNotSoftDeleted: return 40405
        case .versionSoftDeleted: return 40406
        case .versionNotSoftDeleted: return 40407
        case .subjectCompatibilityNotConfigured: return 40408
        case .subjectModeNotConfigured: return 40409
        case .incompatibleSchema: return 40901
        case .invalidSchema, .invalidIdentifier: return 42201
        case .invalidRuleSet: return 42210
        case .contextNotSupported: return 42208
        case .invalidVersion: return 42202
        case .invalidCompatibilityLevel: return 42203
        case .invalidMode: return 42204
        case .operationNotPermitted: return 42205
        case .referenceExists: return 42206
        case .invalidSubject: return 42208
        case .storage, .newIdentifierNeeded: return 50001
        }
    }

    /// Confluent's message text.
    public var message: String {
        switch self {
        case .subjectNotFound(let subject): return "Subject '\(subject)' not found."
        case .versionNotFound(let version): return "Version \(version) not found."
        case .schemaNotFound(let id): return id.map { "Schema \($0) not found" } ?? "Schema not found"
        case .subjectSoftDeleted(let subject):
            return "Subject '\(subject)' was soft deleted.Set permanent=true to delete permanently"
        case .subjectNotSoftDeleted(let subject):
            return "Subject '\(subject)' was not deleted first before being permanently deleted"
        case .versionSoftDeleted(let subject, let version):
            return "Subject '\(subject)' Version \(version) was soft deleted.Set permanent=true to delete permanently"
        case .versionNotSoftDeleted(let subject, let version):
            return "Subject '\(subject)' Version \(version) was not deleted first before being permanently deleted"
        case .subjectCompatibilityNotConfigured(let subject):
            return "Subject '\(subject)' does not have subject-level compatibility configured"
        case .subjectModeNotConfigured(let subject):
            return "Subject '\(subject)' does not have subject-level mode configured"
        case .incompatibleSchema(let subject, let failure):
            let details = VerboseCompatibilityMessages.render(failure).joined(separator: ", ")
            return "Schema being registered is incompatible with an earlier schema for subject \"\(subject)\", details: [\(details)]"
        case .invalidSchema(let reason): return "Invalid schema \(reason)"
        case .invalidIdentifier(let reason): return reason
        case .invalidRuleSet(let reason): return "Invalid rule set: \(reason)"
        case .contextNotSupported(let subject):
            return "The specified subject '\(subject)' is not a valid. It names a Confluent context (':.context:subject'), which this registry does not support"
        case .invalidVersion(let text):
            return "The specified version '\(text)' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
        case .invalidCompatibilityLevel:
            return "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"
        case .invalidMode: return "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT."
        case .operationNotPermitted(let reason): return reason
        case .referenceExists(let what): return "One or more references exist to the schema \(what)."
        case .invalidSubject(let subject): return "The specified subject '\(subject)' is not a valid."
        case .storage(let reason): return "Error in the backend data store: \(reason)"
        case .newIdentifierNeeded: return "Error in the backend data store: no schema id was reserved"
        }
    }
}
