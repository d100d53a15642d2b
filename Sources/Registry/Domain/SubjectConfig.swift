import AvroCodec

/// The config of one scope (a subject, or the registry): Confluent's `Config` fields this registry
/// acts on. Every field is optional; an unset field falls back to the registry's, then to the default.
public struct SubjectConfig: Sendable, Equatable {
    public var level: CompatibilityLevel?
    /// Normalize every schema registered or looked up in this scope, as `normalize=true` does.
    public var normalize: Bool?
    /// A metadata property name: only versions with the same value of it are compared.
    public var compatibilityGroup: String?
    public var defaultMetadata: SchemaMetadata?
    public var overrideMetadata: SchemaMetadata?
    public var defaultRuleSet: SchemaRuleSet?
    public var overrideRuleSet: SchemaRuleSet?

    public init(
        level: CompatibilityLevel? = nil, normalize: Bool? = nil, compatibilityGroup: String? = nil, defaultMetadata: SchemaMetadata? = nil,
        overrideMetadata: SchemaMetadata? = nil, defaultRuleSet: SchemaRuleSet? = nil, overrideRuleSet: SchemaRuleSet? = nil
    ) {
        self.level = level
        self.normalize = normalize
        self.compatibilityGroup = compatibilityGroup
        self.defaultMetadata = defaultMetadata
        self.overrideMetadata = overrideMetadata
        self.defaultRuleSet = defaultRuleSet
        self.overrideRuleSet = overrideRuleSet
    }

    /// Whether no field is set.
    public var isEmpty: Bool { self == SubjectConfig() }

    /// `self`'s fields where set, `base`'s otherwise (a PUT merges into the previous config; a
    /// subject's config falls back to the registry's).
    public func over(_ base: SubjectConfig) -> SubjectConfig {
        SubjectConfig(
            level: level ?? base.level, normalize: normalize ?? base.normalize, compatibilityGroup: compatibilityGroup ?? base.compatibilityGroup,
            defaultMetadata: defaultMetadata ?? base.defaultMetadata, overrideMetadata: overrideMetadata ?? base.overrideMetadata,
            defaultRuleSet: defaultRuleSet ?? base.defaultRuleSet, overrideRuleSet: overrideRuleSet ?? base.overrideRuleSet)
    }

    /// The fields besides the level, as stored in the `settings` column (compact JSON, or empty).
    var storedSettings: String {
        var copy = self
        copy.level = nil
        guard !copy.isEmpty else { return "" }
        return JSONValue.object(copy.jsonMembers(levelKey: "compatibilityLevel")).compactText
    }

    /// Reads a stored row back.
    init(level: CompatibilityLevel?, storedSettings: String) {
        self.init(level: level)
        guard !storedSettings.isEmpty, let value = try? JSONParser.parse(bytes: Array(storedSettings.utf8)),
            let settings = try? SubjectConfig(json: value, levelKey: "compatibilityLevel")
        else { return }
        self = settings.over(self)
    }

    /// Reads a `PUT /config` body (`compatibility` is the level's key there) or a stored row.
    public init(json: JSONValue, levelKey: String = "compatibility") throws(RegistryError) {
        guard case .object(let object) = json else { throw .invalidCompatibilityLevel }
        self.init()
        switch object[levelKey] ?? object["compatibilityLevel"] {
        case nil, .null?: break
        case .string(let text)?:
            guard let level = CompatibilityLevel(rawValue: text.uppercased()) else { throw .invalidCompatibilityLevel }
            self.level = level
        default: throw .invalidCompatibilityLevel
        }
        switch object["normalize"] {
        case nil, .null?: break
        case .bool(let flag)?: normalize = flag
        default: throw .invalidSchema("config field normalize must be a boolean")
        }
        switch object["compatibilityGroup"] {
        case nil, .null?: break
        case .string(let text)?: compatibilityGroup = text
        default: throw .invalidSchema("config field compatibilityGroup must be a string")
        }
        do throws(DataContractError) {
            defaultMetadata = try object["defaultMetadata"].flatMap { (value) throws(DataContractError) in value == .null ? nil : try SchemaMetadata(json: value) }
            overrideMetadata = try object["overrideMetadata"].flatMap { (value) throws(DataContractError) in value == .null ? nil : try SchemaMetadata(json: value) }
        } catch {
            throw .invalidSchema("config \(error.description)")
        }
        do throws(DataContractError) {
            defaultRuleSet = try object["defaultRuleSet"].flatMap { (value) throws(DataContractError) in value == .null ? nil : try SchemaRuleSet(json: value) }
            overrideRuleSet = try object["overrideRuleSet"].flatMap { (value) throws(DataContractError) in value == .null ? nil : try SchemaRuleSet(json: value) }
        } catch {
            throw .invalidRuleSet(error.description)
        }
    }

    /// Confluent's JSON members, the level under `levelKey` (`compatibilityLevel` in GET answers,
    /// `compatibility` in PUT answers).
    public func jsonMembers(levelKey: String) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = []
        if let level { members.append((levelKey, .string(level.rawValue))) }
        if let normalize { members.append(("normalize", .bool(normalize))) }
        if let compatibilityGroup { members.append(("compatibilityGroup", .string(compatibilityGroup))) }
        if let defaultMetadata { members.append(("defaultMetadata", defaultMetadata.json)) }
        if let overrideMetadata { members.append(("overrideMetadata", overrideMetadata.json)) }
        if let defaultRuleSet { members.append(("defaultRuleSet", defaultRuleSet.json)) }
        if let overrideRuleSet { members.append(("overrideRuleSet", overrideRuleSet.json)) }
        return members
    }
}
