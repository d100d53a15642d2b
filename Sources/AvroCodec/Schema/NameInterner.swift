import Locking

/// Gives every distinct field name seen by this process a small integer id, so that resolution can
/// match reader and writer fields by comparing integers. Ids are process-local and never reused; the
/// table holds each distinct name once (bounded by the schemas the process has parsed).
///
/// The table is its own open-addressing hash over the names' UTF-8 bytes: a
/// `[String: Int32]` hashed every field name with SipHash and was 13% of parsing a wide schema (perf,
/// 101 files of a 1,000-field record). Names are attacker-chosen only in the sense that a schema may
/// hold many of them; a schema's names cost at most a probe sequence each, and the registry bounds
/// schema sizes.
final class NameInterner: Sendable {
    static let shared = NameInterner()

    private let table = Locked(Table())

    /// The id of `name`, assigning the next one on first sight.
    func id(for name: String) -> Int32 {
        table.withLock { $0.id(for: name, assigning: true) ?? 0 }
    }

    /// The id of `name` if it has one (nothing is assigned).
    func existingID(for name: String) -> Int32? {
        table.withLock { $0.id(for: name, assigning: false) }
    }

    /// The ids of the fields' names, in field order, under one lock acquisition (records are interned
    /// whole, and files are parsed on several threads at once).
    func ids(for fields: [Field]) -> [Int32] {
        table.withLock { table in
            fields.map { table.id(for: $0.name, assigning: true) ?? 0 }
        }
    }

    private struct Table {
        /// Slots of the hash table: an index into `names` plus one, or 0 when empty.
        private var slots = [Int32](repeating: 0, count: 1024)
        private var hashes = [UInt64](repeating: 0, count: 1024)
        /// The names by id.
        private var names: [String] = []

        mutating func id(for name: String, assigning: Bool) -> Int32? {
            var name = name
            let hash = name.withUTF8 { Table.hash($0) }
            let mask = slots.count - 1
            var slot = Int(truncatingIfNeeded: hash) & mask
            while slots[slot] != 0 {
                if hashes[slot] == hash {
                    let id = slots[slot] - 1
                    if names[Int(id)] == name { return id }
                }
                slot = (slot + 1) & mask
            }
            guard assigning else { return nil }
            let id = Int32(truncatingIfNeeded: names.count)
            names.append(name)
            slots[slot] = id + 1
            hashes[slot] = hash
            if names.count * 2 > slots.count { grow() }
            return id
        }

        private mutating func grow() {
            let oldSlots = slots
            let oldHashes = hashes
            slots = [Int32](repeating: 0, count: oldSlots.count * 2)
            hashes = [UInt64](repeating: 0, count: oldSlots.count * 2)
            let mask = slots.count - 1
            for index in oldSlots.indices where oldSlots[index] != 0 {
                var slot = Int(truncatingIfNeeded: oldHashes[index]) & mask
                while slots[slot] != 0 { slot = (slot + 1) & mask }
                slots[slot] = oldSlots[index]
                hashes[slot] = oldHashes[index]
            }
        }

        /// A multiply-mix hash over eight bytes at a time (a byte-at-a-time FNV-1a was a serial chain
        /// of a multiply per byte), with a final mix so the low bits (the slot) depend on every byte.
        private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
            var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
            guard let base = bytes.baseAddress else { return hash }
            var offset = 0
            while offset + 8 <= bytes.count {
                let word = UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self)
                hash = (hash ^ word) &* 0xBF58_476D_1CE4_E5B9
                hash ^= hash >> 31
                offset += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while offset < bytes.count {
                tail |= UInt64(bytes[offset]) << shift
                shift += 8
                offset += 1
            }
            hash = (hash ^ tail) &* 0x94D0_49BB_1331_11EB
            return hash ^ (hash >> 32)
        }
    }
}
