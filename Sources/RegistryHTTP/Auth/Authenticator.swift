import AvroCodec
import CNettle
import Locking

/// Someone whose credentials were verified, with the rules they were verified under. Lives in the REST layer
/// only: the registry domain never sees who asks.
public struct Principal: Sendable {
    public let name: String
    let rules: AccessRules

    /// Whether this user may perform `operation` on `resource`.
    func may(_ operation: Operation, _ resource: String) -> Bool {
        rules.allows(name, operation, resource)
    }
}

/// HTTP Basic authentication against the current `AccessRules`. Password hashing is deliberately slow, so a
/// verified `Authorization` value is remembered — keyed by an HMAC of it under a key made at start, never the
/// value itself — for a minute, at most 10,000 of them, all dropped when the rules are replaced. A wrong
/// password and an unknown user cost the same hash and compare the same way (in constant time).
public final class Authenticator: Sendable {
    struct Remembered {
        let principal: Principal
        let expires: Int64
    }

    static let rememberNanoseconds: Int64 = 60_000_000_000
    static let maximumRemembered = 10_000
    /// Longer `Authorization` values are refused unread.
    static let maximumHeaderBytes = 4_096

    private let current: Locked<AccessRules>
    private let remembered = Locked<[[UInt8]: Remembered]>([:])
    private let rememberKey: [UInt8]
    /// The HMAC context under `rememberKey`, keyed once (copied for each header).
    private let rememberContext: hmac_sha256_ctx

    public init(rules: AccessRules) {
        current = Locked(rules)
        var generator = SystemRandomNumberGenerator()
        rememberKey = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        rememberContext = PasswordHash.keyedHMACSHA256(key: rememberKey)
    }

    /// The rules in force.
    public var rules: AccessRules { current.withLock { $0 } }

    /// Puts new rules in force and forgets every remembered credential.
    public func replace(with rules: AccessRules) {
        current.withLock { $0 = rules }
        remembered.withLock { $0.removeAll() }
    }

    /// The user an `Authorization` header value proves, or nil (missing, malformed, unknown user, wrong password).
    public func authenticate(authorization: String?) -> Principal? {
        guard let authorization, authorization.utf8.count <= Authenticator.maximumHeaderBytes else { return nil }
        let rules = self.rules
        let key = PasswordHash.hmacSHA256(keyed: rememberContext, authorization.utf8)
        let now = MonotonicClock.nanoseconds
        if let known = remembered.withLock({ $0[key] }), known.expires > now, known.principal.rules === rules { return known.principal }

        guard let (name, password) = Authenticator.basicCredentials(authorization) else { return nil }
        let user = rules.users[name]
        // An unknown name is checked against a stand-in: a real user's entry, the same one for a name every time
        // (chosen by a keyed hash of it), so its cost follows the file's own mix of algorithms and timing does
        // not tell known names from unknown ones.
        let checked = user ?? standIn(for: name, among: rules.usersByName)
        let derived = checked.algorithm.derive(password: password, salt: checked.salt)
        let matches = PasswordHash.constantTimeEqual(derived, user?.hash ?? derived.map { ~$0 })
        guard let user, matches else { return nil }
        let principal = Principal(name: user.name, rules: rules)
        remembered.withLock { remembered in
            if remembered.count >= Authenticator.maximumRemembered { remembered.removeAll(keepingCapacity: true) }
            remembered[key] = Remembered(principal: principal, expires: now + Authenticator.rememberNanoseconds)
        }
        return principal
    }

    private func standIn(for name: String, among users: [AccessRules.User]) -> AccessRules.User {
        guard !users.isEmpty else { return AccessRules.User(name: "", algorithm: .sha256, salt: Array("stand-in".utf8), hash: []) }
        let digest = PasswordHash.hmacSHA256(key: rememberKey, Array(name.utf8))
        let number = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return users[Int(number % UInt64(users.count))]
    }

    /// "Basic base64(user:password)" → (user, password bytes); the user must be UTF-8.
    static func basicCredentials(_ header: String) -> (String, [UInt8])? {
        let trimmed = header.trimming(" \t")
        guard let space = trimmed.firstIndex(of: " "), trimmed[..<space].lowercased() == "basic" else { return nil }
        guard let decoded = Base64.decode(trimmed[trimmed.index(after: space)...].trimming(" \t")),
            let colon = decoded.firstIndex(of: UInt8(ascii: ":")),
            let name = String(validating: decoded[..<colon], as: UTF8.self)
        else { return nil }
        return (name, Array(decoded[(colon + 1)...]))
    }
}
