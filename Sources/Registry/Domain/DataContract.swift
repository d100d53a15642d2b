import AvroCodec

/// A schema's data-contract metadata, as Confluent 7.4+ stores it: tags by path, free-form
/// properties and the names of sensitive properties. Kept sorted, so two requests that differ only in
/// key order are the same metadata (and give the same identity).
public struct SchemaMetadata: Sendable, Hashable {
    /// Tags by schema path (`"Order.customer"` → `["PII"]`), each set sorted.
    public var tags: [String: [String]] = [:]
    /// Free-form properties (`owner`, `confluent:version`, a `compatibilityGroup` key, …).
    public var properties: [String: String] = [:]
    /// Names of properties whose values are sensitive, sorted.
    public var sensitive: [String] = []

    public init(tags: [String: [String]] = [:], properties: [String: String] = [:], sensitive: [String] = []) {
        self.tags = tags.mapValues { Array(Set($0)).sorted() }
        self.properties = properties
        self.sensitive = Array(Set(sensitive)).sorted()
    }

    /// Whether nothing is set: the same as no metadata.
    public var isEmpty: Bool { tags.isEmpty && properties.isEmpty && sensitive.isEmpty }

    /// Reads a request's `metadata` object; `null` is no metadata. Unknown members are ignored, as
    /// Confluent's entities do. `paths` is accepted as the older name of `tags`.
    public init(json: JSONValue) throws(DataContractError) {
        guard case .object(let object) = json else {
            if case .null = json {
                self.init()
                return
            }
            throw DataContractError(field: "metadata", reason: "must be an object, not \(json.kindDescription)")
        }
        var tags: [String: [String]] = [:]
        for key in ["paths", "tags"] {
            guard let value = object[key], value != .null else { continue }
            guard case .object(let map) = value else { throw DataContractError(field: "metadata.\(key)", reason: "must be an object of string arrays") }
            for member in map.members {
                tags[member.key] = try DataContractError.strings(member.value, field: "metadata.\(key).\(member.key)")
            }
        }
        var properties: [String: String] = [:]
        if let value = object["properties"], value != .null {
            guard case .object(let map) = value else { throw DataContractError(field: "metadata.properties", reason: "must be an object of strings") }
            for member in map.members {
                guard case .string(let text) = member.value else {
                    throw DataContractError(field: "metadata.properties.\(member.key)", reason: "must be a string, not \(member.value.kindDescription)")
                }
                properties[member.key] = text
            }
        }
        let sensitive = try object["sensitive"].map { (value) throws(DataContractError) in try DataContractError.strings(value, field: "metadata.sensitive") } ?? []
        self.init(tags: tags, properties: properties, sensitive: sensitive)
    }

    /// Confluent's JSON: keys in alphabetical order, empty members left out.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = []
        if !properties.isEmpty {
            members.append(("properties", .object(properties.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })))
        }
        if !sensitive.isEmpty { members.append(("sensitive", .array(sensitive.map(JSONValue.string)))) }
        if !tags.isEmpty {
            members.append(("tags", .object(tags.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.array($0.value.map(JSONValue.string))) })))
        }
        return .object(members)
    }

    /// Confluent's `mergeMetadata`: maps merged key by key (`other` wins), sets united.
    public func merged(with other: SchemaMetadata) -> SchemaMetadata {
        SchemaMetadata(
            tags: tags.merging(other.tags) { $1 }, properties: properties.merging(other.properties) { $1 },
            sensitive: sensitive + other.sensitive)
    }
}

/// A data-contract rule. The registry stores rules; clients execute them.
public struct SchemaRule: Sendable, Hashable {
    /// Whether the rule transforms a value or checks a condition.
    public enum Kind: String, Sendable, CaseIterable {
        case transform = "TRANSFORM"
        case condition = "CONDITION"
    }

    /// When the rule applies.
    public enum Mode: String, Sendable, CaseIterable {
        case upgrade = "UPGRADE"
        case downgrade = "DOWNGRADE"
        case upDown = "UPDOWN"
        case read = "READ"
        case write = "WRITE"
        case writeRead = "WRITEREAD"

        var isMigration: Bool { self == .upgrade || self == .downgrade || self == .upDown }
        var isDomain: Bool { self == .read || self == .write || self == .writeRead }
    }

    public var name: String
    public var doc: String?
    public var kind: Kind
    public var mode: Mode
    public var type: String
    public var tags: [String]
    public var params: [String: String]
    public var expr: String?
    public var onSuccess: String?
    public var onFailure: String?
    public var isDisabled: Bool

    /// Reads one rule; kind defaults to TRANSFORM and mode to WRITEREAD, as in Confluent.
    init(json: JSONValue, field: String) throws(DataContractError) {
        guard case .object(let object) = json else { throw DataContractError(field: field, reason: "must be an object") }
        func text(_ key: String) throws(DataContractError) -> String? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let value)?: return value
            case let other?: throw DataContractError(field: "\(field).\(key)", reason: "must be a string, not \(other.kindDescription)")
            }
        }
        name = try text("name") ?? ""
        doc = try text("doc")
        let kindText = try text("kind")
        guard let kind = kindText.map({ Kind(rawValue: $0.uppercased()) }) ?? .transform else {
            throw DataContractError(field: "\(field).kind", reason: "must be TRANSFORM or CONDITION")
        }
        self.kind = kind
        let modeText = try text("mode")
        guard let mode = modeText.map({ Mode(rawValue: $0.uppercased()) }) ?? .writeRead else {
            throw DataContractError(field: "\(field).mode", reason: "must be one of UPGRADE, DOWNGRADE, UPDOWN, READ, WRITE, WRITEREAD")
        }
        self.mode = mode
        type = try text("type") ?? ""
        tags = try Array(Set(object["tags"].map { (value) throws(DataContractError) in try DataContractError.strings(value, field: "\(field).tags") } ?? [])).sorted()
        var params: [String: String] = [:]
        if let value = object["params"], value != .null {
            guard case .object(let map) = value else { throw DataContractError(field: "\(field).params", reason: "must be an object of strings") }
            for member in map.members {
                guard case .string(let parameter) = member.value else { throw DataContractError(field: "\(field).params.\(member.key)", reason: "must be a string") }
                params[member.key] = parameter
            }
        }
        self.params = params
        expr = try text("expr")
        onSuccess = try text("onSuccess")
        onFailure = try text("onFailure")
        switch object["disabled"] {
        case nil, .null?: isDisabled = false
        case .bool(let flag)?: isDisabled = flag
        case let other?: throw DataContractError(field: "\(field).disabled", reason: "must be a boolean, not \(other.kindDescription)")
        }
        try validate(field: field)
    }

    /// Confluent's `Rule.validate`: a name that starts with a letter or `_` and goes on with letters,
    /// digits and `_`; a type.
    private func validate(field: String) throws(DataContractError) {
        guard let first = name.first else { throw DataContractError(field: "\(field).name", reason: "Missing rule name") }
        guard first.isLetter || first == "_" else { throw DataContractError(field: "\(field).name", reason: "Illegal initial character in rule name: \(name)") }
        guard name.dropFirst().allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw DataContractError(field: "\(field).name", reason: "Illegal character in rule name: \(name)")
        }
        guard !type.isEmpty else { throw DataContractError(field: "\(field).type", reason: "Missing rule type") }
    }

    /// Confluent's JSON for a rule (declaration order, empty members left out, `disabled` always).
    var json: JSONValue {
        var members: [(String, JSONValue)] = [("name", .string(name))]
        if let doc, !doc.isEmpty { members.append(("doc", .string(doc))) }
        members.append(("kind", .string(kind.rawValue)))
        members.append(("mode", .string(mode.rawValue)))
        members.append(("type", .string(type)))
        if !tags.isEmpty { members.append(("tags", .array(tags.map(JSONValue.string)))) }
        if !params.isEmpty { members.append(("params", .object(params.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) }))) }
        if let expr, !expr.isEmpty { members.append(("expr", .string(expr))) }
        if let onSuccess, !onSuccess.isEmpty { members.append(("onSuccess", .string(onSuccess))) }
        if let onFailure, !onFailure.isEmpty { members.append(("onFailure", .string(onFailure))) }
        members.append(("disabled", .bool(isDisabled)))
        return .object(members)
    }
}

/// A schema's rule set: migration, domain and encoding rules.
public struct SchemaRuleSet: Sendable, Hashable {
    public var migrationRules: [SchemaRule] = []
    public var domainRules: [SchemaRule] = []
    public var encodingRules: [SchemaRule] = []

    public init() {}

    /// Whether there is no rule: the same as no rule set.
    public var isEmpty: Bool { migrationRules.isEmpty && domainRules.isEmpty && encodingRules.isEmpty }

    /// Reads and validates a request's `ruleSet` (Confluent's `RuleSet.validate`: unique names per
    /// list, migration rules UPGRADE/DOWNGRADE/UPDOWN, domain and encoding rules WRITE/READ/WRITEREAD).
    public init(json: JSONValue) throws(DataContractError) {
        guard case .object(let object) = json else {
            if case .null = json { return }
            throw DataContractError(field: "ruleSet", reason: "must be an object, not \(json.kindDescription)")
        }
        migrationRules = try Self.rules(object["migrationRules"], field: "migrationRules", allowed: \.isMigration, modes: "UPGRADE, DOWNGRADE, UPDOWN", what: "Migration")
        domainRules = try Self.rules(object["domainRules"], field: "domainRules", allowed: \.isDomain, modes: "WRITE, READ, WRITEREAD", what: "Domain")
        encodingRules = try Self.rules(object["encodingRules"], field: "encodingRules", allowed: \.isDomain, modes: "WRITE, READ, WRITEREAD", what: "Encoding")
    }

    private static func rules(
        _ value: JSONValue?, field: String, allowed: (SchemaRule.Mode) -> Bool, modes: String, what: String
    ) throws(DataContractError) -> [SchemaRule] {
        guard let value, value != .null else { return [] }
        guard case .array(let items) = value else { throw DataContractError(field: "ruleSet.\(field)", reason: "must be an array of rules") }
        var names: Set<String> = []
        var rules: [SchemaRule] = []
        for (index, item) in items.enumerated() {
            let rule = try SchemaRule(json: item, field: "ruleSet.\(field)[\(index)]")
            guard names.insert(rule.name).inserted else {
                throw DataContractError(field: "ruleSet.\(field)[\(index)]", reason: "Found rule with duplicate name '\(rule.name)'")
            }
            guard allowed(rule.mode) else { throw DataContractError(field: "ruleSet.\(field)[\(index)]", reason: "\(what) rules can only be \(modes)") }
            rules.append(rule)
        }
        return rules
    }

    /// Confluent's JSON: the three lists in this order, empty ones left out.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = []
        if !migrationRules.isEmpty { members.append(("migrationRules", .array(migrationRules.map(\.json)))) }
        if !domainRules.isEmpty { members.append(("domainRules", .array(domainRules.map(\.json)))) }
        if !encodingRules.isEmpty { members.append(("encodingRules", .array(encodingRules.map(\.json)))) }
        return .object(members)
    }

    /// Confluent's `mergeRuleSets`: per list, `other`'s rules replace same-named ones and follow the rest.
    public func merged(with other: SchemaRuleSet) -> SchemaRuleSet {
        func merge(_ old: [SchemaRule], _ new: [SchemaRule]) -> [SchemaRule] {
            let names = Set(new.map(\.name))
            return old.filter { !names.contains($0.name) } + new
        }
        var result = SchemaRuleSet()
        result.migrationRules = merge(migrationRules, other.migrationRules)
        result.domainRules = merge(domainRules, other.domainRules)
        result.encodingRules = merge(encodingRules, other.encodingRules)
        return result
    }
}

/// A metadata or rule-set member that does not have the shape Confluent defines.
public struct DataContractError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where in the request (`ruleSet.domainRules[0].name`).
    public let field: String
    public let reason: String

    public var description: String { "\(field): \(reason)" }

    static func strings(_ value: JSONValue, field: String) throws(DataContractError) -> [String] {
        if case .null = value { return [] }
        guard case .array(let items) = value else { throw DataContractError(field: field, reason: "must be an array of strings") }
        var strings: [String] = []
        for item in items {
            guard case .string(let text) = item else { throw DataContractError(field: field, reason: "must contain only strings") }
            strings.append(text)
        }
        return strings
    }
}

/// The data contract of one schema: metadata and rule set, both optional.
public struct DataContract: Sendable, Hashable {
    public var metadata: SchemaMetadata?
    public var ruleSet: SchemaRuleSet?

    public init(metadata: SchemaMetadata? = nil, ruleSet: SchemaRuleSet? = nil) {
        self.metadata = metadata.flatMap { $0.isEmpty ? nil : $0 }
        self.ruleSet = ruleSet.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// No metadata and no rules.
    public static let none = DataContract()

    public var isEmpty: Bool { metadata == nil && ruleSet == nil }

    /// The stored form: `{"metadata":…,"ruleSet":…}` compact, empty text when there is neither.
    var storedText: String {
        guard !isEmpty else { return "" }
        var members: [(String, JSONValue)] = []
        if let metadata { members.append(("metadata", metadata.json)) }
        if let ruleSet { members.append(("ruleSet", ruleSet.json)) }
        return JSONValue.object(members).compactText
    }

    /// Reads the stored form back (written by `storedText`, so it parses; anything else is none).
    init(storedText: String) {
        guard !storedText.isEmpty, let value = try? JSONParser.parse(bytes: Array(storedText.utf8)) else {
            self.init()
            return
        }
        self.init(metadata: value["metadata"].flatMap { try? SchemaMetadata(json: $0) }, ruleSet: value["ruleSet"].flatMap { try? SchemaRuleSet(json: $0) })
    }
}
