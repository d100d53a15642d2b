import AvroCodec

extension SchemaRegistry {
    // MARK: Config

    /// The subject's configured config (with `defaultToGlobal`, over the registry's), or the
    /// registry's (nil subject), the level filled in with the default.
    public func config(subject: String?, defaultToGlobal: Bool) throws(RegistryError) -> SubjectConfig {
        if let subject { try SchemaRegistry.validateSubject(subject) }
        let config: SubjectConfig? = state.withLock { state in
            let global = state.configs[SchemaRegistry.globalScope] ?? SubjectConfig()
            guard let subject else { return global }
            if defaultToGlobal { return (state.configs[subject] ?? SubjectConfig()).over(global) }
            return state.configs[subject]
        }
        guard var config else { throw .subjectCompatibilityNotConfigured(subject ?? "") }
        if subject == nil || defaultToGlobal, config.level == nil { config.level = SchemaRegistry.defaultLevel }
        return config
    }

    /// The subject's configured level (or the global one, or the default, with `defaultToGlobal`).
    public func level(subject: String?, defaultToGlobal: Bool) throws(RegistryError) -> CompatibilityLevel {
        try config(subject: subject, defaultToGlobal: defaultToGlobal).level ?? SchemaRegistry.defaultLevel
    }

    /// Merges `update` into the global (nil) or a subject's config (fields it leaves unset keep their
    /// values, as Confluent's PUT does); returns the stored result.
    @discardableResult
    public func updateConfig(_ update: SubjectConfig, subject: String?) throws(RegistryError) -> SubjectConfig {
        if let subject { try SchemaRegistry.validateNewSubject(subject) }
        let scope = subject ?? SchemaRegistry.globalScope
        return try store.perform(
            Decision(subject: subject) { (state, _) throws(RegistryError) in
                if state.effectiveMode(subject).refusesWrites { throw .operationNotPermitted(state.readOnlyMessage(subject)) }
                let merged = update.over(state.configs[scope] ?? SubjectConfig())
                return (merged, [.setConfig(scope: scope, merged)])
            }, on: self)
    }

    /// Sets the global (nil) or a subject's level.
    public func setLevel(_ level: CompatibilityLevel, subject: String?) throws(RegistryError) {
        try updateConfig(SubjectConfig(level: level), subject: subject)
    }

    /// Removes the global (nil) or a subject's config; returns the one removed (for the registry,
    /// the default when none was set).
    public func deleteConfig(subject: String?) throws(RegistryError) -> SubjectConfig {
        if let subject { try SchemaRegistry.validateSubject(subject) }
        let scope = subject ?? SchemaRegistry.globalScope
        return try store.perform(
            Decision(subject: subject) { (state, _) throws(RegistryError) in
                if state.effectiveMode(subject).refusesWrites { throw .operationNotPermitted(state.readOnlyMessage(subject)) }
                guard var previous = state.configs[scope] else {
                    if let subject { throw .subjectNotFound(subject) }
                    return (SubjectConfig(level: SchemaRegistry.defaultLevel), [])
                }
                if subject == nil, previous.level == nil { previous.level = SchemaRegistry.defaultLevel }
                return (previous, [.setConfig(scope: scope, nil)])
            }, on: self)
    }

    /// Removes the global (nil) or a subject's level; returns the one removed.
    public func deleteLevel(subject: String?) throws(RegistryError) -> CompatibilityLevel {
        try deleteConfig(subject: subject).level ?? SchemaRegistry.defaultLevel
    }

    // MARK: Mode

    /// The subject's configured mode (or the global one with `defaultToGlobal`).
    public func mode(subject: String?, defaultToGlobal: Bool) throws(RegistryError) -> RegistryMode {
        if let subject { try SchemaRegistry.validateSubject(subject) }
        let scope = subject ?? SchemaRegistry.globalScope
        let mode: RegistryMode? = state.withLock { state in
            if let mode = state.modes[scope] { return mode }
            if subject == nil || defaultToGlobal { return state.modes[SchemaRegistry.globalScope] ?? .readWrite }
            return nil
        }
        guard let mode else { throw .subjectModeNotConfigured(subject ?? "") }
        return mode
    }

    /// Sets the global (nil) or a subject's mode. IMPORT needs an empty scope unless `force`.
    public func setMode(_ mode: RegistryMode, subject: String?, force: Bool) throws(RegistryError) {
        if let subject { try SchemaRegistry.validateNewSubject(subject) }
        let scope = subject ?? SchemaRegistry.globalScope
        try store.perform(
            Decision(subject: subject, readsAllSubjects: mode == .import && !force && subject == nil) { (state, _) throws(RegistryError) in
                if mode == .import, !force {
                    let hasLive = state.subjects.contains { name, versions in
                        (subject == nil || name == subject) && versions.contains { !$0.isDeleted }
                    }
                    if hasLive { throw .operationNotPermitted("Cannot import since found existing subjects") }
                }
                return ((), [.setMode(scope: scope, mode)])
            }, on: self)
    }

    /// Removes a subject's mode, or the global one (nil: the registry goes back to READWRITE);
    /// returns the one removed.
    public func deleteMode(subject: String?) throws(RegistryError) -> RegistryMode {
        if let subject { try SchemaRegistry.validateSubject(subject) }
        let scope = subject ?? SchemaRegistry.globalScope
        return try store.perform(
            Decision(subject: subject) { (state, _) throws(RegistryError) in
                guard let previous = state.modes[scope] else {
                    if let subject { throw .subjectNotFound(subject) }
                    return (RegistryMode.readWrite, [])
                }
                return (previous, [.setMode(scope: scope, nil)])
            }, on: self)
    }
}
