extension SchemaRegistry {
    /// Soft-deletes a subject (every live version), or with `permanent` removes a soft-deleted one.
    /// Returns the versions deleted.
    public func deleteSubject(_ subject: String, permanent: Bool) throws(RegistryError) -> [Int] {
        try SchemaRegistry.validateSubject(subject)
        return try state.withLock { (state) throws(RegistryError) -> [Int] in
            guard let versions = state.subjects[subject], !versions.isEmpty else { throw .subjectNotFound(subject) }
            if state.effectiveMode(subject).refusesWrites { throw .operationNotPermitted(state.readOnlyMessage(subject)) }
            let live = versions.filter { !$0.isDeleted }
            if permanent {
                guard live.isEmpty else { throw .subjectNotSoftDeleted(subject) }
                try state.refuseIfReferenced(subject: subject, versions: versions.map(\.version), countingDeleted: true)
                try state.write { (database) throws(StorageError) in
                    try database.run("DELETE FROM versions WHERE subject = ?", [.text(subject)])
                    try database.run("DELETE FROM config WHERE scope = ?", [.text(subject)])
                    try database.run("DELETE FROM mode WHERE scope = ?", [.text(subject)])
                }
                state.subjects[subject] = nil
                state.configs[subject] = nil
                state.modes[subject] = nil
                state.forgetUnusedHashes(versions.map(\.id))
                return versions.map(\.version)
            }
            guard !live.isEmpty else { throw .subjectSoftDeleted(subject) }
            try state.refuseIfReferenced(subject: subject, versions: live.map(\.version), countingDeleted: false)
            try state.write { (database) throws(StorageError) in
                try database.run("UPDATE versions SET deleted = 1 WHERE subject = ?", [.text(subject)])
            }
            state.subjects[subject] = versions.map { SubjectVersion(version: $0.version, id: $0.id, isDeleted: true, timestamp: $0.timestamp) }
            return live.map(\.version)
        }
    }

    /// Soft-deletes one version, or with `permanent` removes a soft-deleted one. Returns its number.
    public func deleteVersion(subject: String, _ selector: VersionSelector, permanent: Bool) throws(RegistryError) -> Int {
        try SchemaRegistry.validateSubject(subject)
        return try state.withLock { (state) throws(RegistryError) -> Int in
            guard let versions = state.subjects[subject], !versions.isEmpty else { throw .subjectNotFound(subject) }
            if state.effectiveMode(subject).refusesWrites { throw .operationNotPermitted(state.readOnlyMessage(subject)) }
            let index: Int?
            switch selector {
            case .latest: index = versions.lastIndex { !$0.isDeleted }
            case .number(let number): index = versions.firstIndex { $0.version == number }
            }
            guard let index else { throw .versionNotFound(selector.text) }
            let entry = versions[index]
            if permanent {
                guard entry.isDeleted else { throw .versionNotSoftDeleted(subject: subject, version: entry.version) }
                try state.refuseIfReferenced(subject: subject, versions: [entry.version], countingDeleted: true)
                // Removing the last version drops the subject's config and mode too, in the same transaction.
                let removesSubject = versions.count == 1
                try state.write { (database) throws(StorageError) in
                    try database.run("DELETE FROM versions WHERE subject = ? AND version = ?", [.text(subject), .integer(Int64(entry.version))])
                    if removesSubject {
                        try database.run("DELETE FROM config WHERE scope = ?", [.text(subject)])
                        try database.run("DELETE FROM mode WHERE scope = ?", [.text(subject)])
                    }
                }
                if removesSubject {
                    state.subjects[subject] = nil
                    state.configs[subject] = nil
                    state.modes[subject] = nil
                } else {
                    state.subjects[subject]?.remove(at: index)
                }
                state.forgetUnusedHashes([entry.id])
                return entry.version
            }
            guard !entry.isDeleted else { throw .versionSoftDeleted(subject: subject, version: entry.version) }
            try state.refuseIfReferenced(subject: subject, versions: [entry.version], countingDeleted: false)
            try state.write { (database) throws(StorageError) in
                try database.run("UPDATE versions SET deleted = 1 WHERE subject = ? AND version = ?", [.text(subject), .integer(Int64(entry.version))])
            }
            state.subjects[subject]?[index].isDeleted = true
            return entry.version
        }
    }
}
