extension SchemaRegistry {
    /// Soft-deletes a subject (every live version), or with `permanent` removes a soft-deleted one.
    /// Returns the versions deleted.
    public func deleteSubject(_ subject: String, permanent: Bool) throws(RegistryError) -> [Int] {
        try SchemaRegistry.validateSubject(subject)
        return try store.perform(
            Decision(subject: subject, readsReferrers: true) { (state, _) throws(RegistryError) in try state.deleteSubject(subject, permanent: permanent) }, on: self)
    }

    /// Soft-deletes one version, or with `permanent` removes a soft-deleted one. Returns its number.
    public func deleteVersion(subject: String, _ selector: VersionSelector, permanent: Bool) throws(RegistryError) -> Int {
        try SchemaRegistry.validateSubject(subject)
        return try store.perform(
            Decision(subject: subject, readsReferrers: true) { (state, _) throws(RegistryError) in try state.deleteVersion(subject: subject, selector, permanent: permanent) },
            on: self)
    }
}

extension SchemaRegistry.State {
    /// The subject-delete rule.
    func deleteSubject(_ subject: String, permanent: Bool) throws(RegistryError) -> ([Int], [RegistryChange]) {
        guard let versions = subjects[subject], !versions.isEmpty else { throw .subjectNotFound(subject) }
        if effectiveMode(subject).refusesWrites { throw .operationNotPermitted(readOnlyMessage(subject)) }
        let live = versions.filter { !$0.isDeleted }
        if permanent {
            guard live.isEmpty else { throw .subjectNotSoftDeleted(subject) }
            try refuseIfReferenced(subject: subject, versions: versions.map(\.version), countingDeleted: true)
            return (versions.map(\.version), [.removeVersions(subject: subject, versions: versions.map(\.version), dropsSubject: true)])
        }
        guard !live.isEmpty else { throw .subjectSoftDeleted(subject) }
        try refuseIfReferenced(subject: subject, versions: live.map(\.version), countingDeleted: false)
        return (live.map(\.version), [.softDelete(subject: subject, versions: live.map(\.version))])
    }

    /// The version-delete rule.
    func deleteVersion(subject: String, _ selector: VersionSelector, permanent: Bool) throws(RegistryError) -> (Int, [RegistryChange]) {
        guard let versions = subjects[subject], !versions.isEmpty else { throw .subjectNotFound(subject) }
        if effectiveMode(subject).refusesWrites { throw .operationNotPermitted(readOnlyMessage(subject)) }
        let found: SchemaRegistry.SubjectVersion?
        switch selector {
        case .latest: found = versions.last { !$0.isDeleted }
        case .number(let number): found = versions.first { $0.version == number }
        }
        guard let entry = found else { throw .versionNotFound(selector.text) }
        if permanent {
            guard entry.isDeleted else { throw .versionNotSoftDeleted(subject: subject, version: entry.version) }
            try refuseIfReferenced(subject: subject, versions: [entry.version], countingDeleted: true)
            // Removing the last version drops the subject's config and mode too, in the same transaction.
            return (entry.version, [.removeVersions(subject: subject, versions: [entry.version], dropsSubject: versions.count == 1)])
        }
        guard !entry.isDeleted else { throw .versionSoftDeleted(subject: subject, version: entry.version) }
        try refuseIfReferenced(subject: subject, versions: [entry.version], countingDeleted: false)
        return (entry.version, [.softDelete(subject: subject, versions: [entry.version])])
    }
}
