import Locking

/// Rendered answers for schema ids (`GET /schemas/ids/{id}` bodies), bounded by bytes.
///
/// A hit takes only this cache's own lock, not the registry's state lock, so fetches by id do not wait
/// for registrations. A schema id never changes meaning while it exists; the one change is a permanent
/// delete, which runs `invalidate()` under the state lock: it drops every body and bumps the
/// generation. A reader reads the schema and the generation together under the state lock, renders
/// outside any lock, and stores the body only if the generation is still the same, so a body rendered
/// from a read that raced a delete is never kept. Lock order: the state lock, then this one.
final class RenderedBodyCache: Sendable {
    private struct Content {
        var bodies: [Int: [UInt8]] = [:]
        var bytes = 0
        var generation = 0
    }

    private let content = Locked(Content())
    private let byteLimit: Int

    init(byteLimit: Int) {
        self.byteLimit = byteLimit
    }

    /// The cached body for `id`, if any.
    func body(_ id: Int) -> [UInt8]? {
        content.withLock { $0.bodies[id] }
    }

    /// The current generation; read it under the state lock together with the schema it renders.
    var generation: Int { content.withLock { $0.generation } }

    /// Bytes held now.
    var bytes: Int { content.withLock { $0.bytes } }

    /// Keeps `body` unless a permanent delete happened since `generation` was read, or it does not fit.
    func store(_ body: [UInt8], id: Int, generation: Int) {
        guard body.count <= byteLimit else { return }
        content.withLock { content in
            guard content.generation == generation else { return }
            if content.bytes + body.count > byteLimit {
                content.bodies.removeAll(keepingCapacity: true)
                content.bytes = 0
            }
            if let previous = content.bodies.updateValue(body, forKey: id) { content.bytes -= previous.count }
            content.bytes += body.count
        }
    }

    /// Drops every body and moves to a new generation (a permanent delete may have removed an id).
    func invalidate() {
        content.withLock { content in
            content.generation += 1
            content.bodies.removeAll(keepingCapacity: true)
            content.bytes = 0
        }
    }
}
