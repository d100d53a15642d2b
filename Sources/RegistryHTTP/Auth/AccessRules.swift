import AvroCodec
import Locking

/// What a user may do: read, or write (which implies read).
public enum Operation: String, Sendable {
    case read = "Read"
    case write = "Write"
}

/// The users and permissions of an auth file — Karapace's format, so an existing Karapace deployment's file
/// works unchanged:
///
/// ```json
/// {"users": [{"username": "ci", "algorithm": "scrypt", "salt": "…", "password_hash": "<base64>"}],
///  "permissions": [{"username": "ci", "operation": "Write", "resource": "Subject:orders-.*"}]}
/// ```
///
/// A `resource` is a regular expression matched from the start of `Config:` or `Subject:<name>`.
/// Immutable once parsed; a reload makes a new value. Decisions are remembered per user, operation and resource
/// (the expressions are the slow part), a bounded number of them.
public final class AccessRules: Sendable {
    struct User: Sendable {
        let name: String
        let algorithm: PasswordAlgorithm
        let salt: [UInt8]
        let hash: [UInt8]
    }

    struct Permission: @unchecked Sendable {  // Regex is immutable; it is only matched, never changed
        let operation: Operation
        let pattern: String
        let expression: Regex<AnyRegexOutput>
    }

    struct DecisionKey: Hashable {
        let user: String
        let operation: Operation
        let resource: String
    }

    static let maximumRememberedDecisions = 65_536
    static let maximumRememberedResourceBytes = 256

    let users: [String: User]
    /// The users in name order (the stand-ins for unknown names are chosen among them).
    let usersByName: [User]
    let permissions: [String: [Permission]]
    private let decisions = Locked<[DecisionKey: Bool]>([:])

    /// Parses an auth file; the error says what is wrong and where (never a password hash).
    public init(parsing bytes: [UInt8]) throws(AuthFileError) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes: bytes)
        } catch {
            throw AuthFileError("not JSON: \(error.description)")
        }
        guard case .object(let top) = value else { throw AuthFileError("the file must hold a JSON object with 'users' and 'permissions'") }
        guard case .array(let userEntries)? = top["users"] else { throw AuthFileError("'users' must be an array") }
        var users: [String: User] = [:]
        for (index, entry) in userEntries.enumerated() {
            let place = "users[\(index)]"
            guard case .object(let fields) = entry else { throw AuthFileError("\(place) must be an object") }
            func text(_ key: String) throws(AuthFileError) -> String {
                guard case .string(let value)? = fields[key] else { throw AuthFileError("\(place).\(key) must be a string") }
                return value
            }
            let name = try text("username")
            let algorithmName = try text("algorithm")
            guard let algorithm = PasswordAlgorithm(rawValue: algorithmName) else {
                throw AuthFileError("\(place).algorithm '\(algorithmName)' is not one of sha1, sha256, sha512, scrypt")
            }
            let salt = try text("salt")
            guard let hash = Base64.decode(try text("password_hash")), !hash.isEmpty else {
                throw AuthFileError("\(place).password_hash is not base64")
            }
            guard users[name] == nil else { throw AuthFileError("\(place): user '\(name)' appears twice") }
            users[name] = User(name: name, algorithm: algorithm, salt: Array(salt.utf8), hash: hash)
        }
        var permissions: [String: [Permission]] = [:]
        if let entries = top["permissions"] {
            guard case .array(let permissionEntries) = entries else { throw AuthFileError("'permissions' must be an array") }
            for (index, entry) in permissionEntries.enumerated() {
                let place = "permissions[\(index)]"
                guard case .object(let fields) = entry, case .string(let user)? = fields["username"], case .string(let operationName)? = fields["operation"],
                    case .string(let pattern)? = fields["resource"]
                else { throw AuthFileError("\(place) must be an object with string 'username', 'operation' and 'resource'") }
                guard let operation = Operation(rawValue: operationName) else { throw AuthFileError("\(place).operation must be Read or Write") }
                guard users[user] != nil else { throw AuthFileError("\(place) names user '\(user)', who is not in 'users'") }
                let expression: Regex<AnyRegexOutput>
                do {
                    // Code points, as Python's `re` (Karapace) matches, not grapheme clusters.
                    expression = try Regex(pattern).matchingSemantics(.unicodeScalar)
                } catch {
                    throw AuthFileError("\(place).resource '\(pattern)' is not a regular expression: \(error)")
                }
                permissions[user, default: []].append(Permission(operation: operation, pattern: pattern, expression: expression))
            }
        }
        self.users = users
        self.usersByName = users.values.sorted { $0.name < $1.name }
        self.permissions = permissions
    }

    /// Whether `user` may perform `operation` on `resource` (`Config:` or `Subject:<name>`).
    public func allows(_ user: String, _ operation: Operation, _ resource: String) -> Bool {
        let key = DecisionKey(user: user, operation: operation, resource: resource)
        if let known = decisions.withLock({ $0[key] }) { return known }
        let allowed = (permissions[user] ?? []).contains { permission in
            (permission.operation == .write || operation == .read) && (try? permission.expression.prefixMatch(in: resource)) != nil
        }
        // Long names (a client can send any) are decided each time rather than fill the memory.
        guard resource.utf8.count <= AccessRules.maximumRememberedResourceBytes else { return allowed }
        decisions.withLock { decisions in
            if decisions.count >= AccessRules.maximumRememberedDecisions { decisions.removeAll(keepingCapacity: true) }
            decisions[key] = allowed
        }
        return allowed
    }

    /// The resource name of a subject.
    public static func subjectResource(_ subject: String) -> String { "Subject:" + subject }
    public static let configResource = "Config:"
}

/// Why an auth file was refused.
public struct AuthFileError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}

extension AuthFileError {
    /// An error with this text (for callers outside the module: an unreadable file).
    public init(description: String) {
        self.init(description)
    }
}

extension AccessRules {
    public var userCount: Int { users.count }
    public var permissionCount: Int { permissions.values.reduce(0) { $0 + $1.count } }
}
