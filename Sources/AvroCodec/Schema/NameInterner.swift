import Synchronization

/// Gives every distinct field name seen by this process a small integer id, so that resolution can
/// match reader and writer fields by comparing integers. Ids are process-local and never reused; the
/// table holds each distinct name once (bounded by the schemas the process has parsed).
final class NameInterner: Sendable {
    static let shared = NameInterner()

    private let table = Mutex<[String: Int32]>([:])

    /// The id of `name`, assigning the next one on first sight.
    func id(for name: String) -> Int32 {
        table.withLock { table in
            if let id = table[name] { return id }
            let id = Int32(truncatingIfNeeded: table.count)
            table[name] = id
            return id
        }
    }

    /// The id of `name` if it has one (nothing is assigned).
    func existingID(for name: String) -> Int32? {
        table.withLock { $0[name] }
    }

    /// The ids of the fields' names, in field order, under one lock acquisition (records are interned
    /// whole, and files are parsed on several threads at once).
    func ids(for fields: [Field]) -> [Int32] {
        table.withLock { table in
            fields.map { field in
                if let id = table[field.name] { return id }
                let id = Int32(truncatingIfNeeded: table.count)
                table[field.name] = id
                return id
            }
        }
    }
}
