import AvroCodec
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import Registry

/// A compatibility check of a large subject runs outside the registry's state lock: reads of other
/// subjects do not wait for it (issue 12: reads waited up to 103 ms behind one).
struct LockHoldTests {
    /// A record of `count` fields, each after the first `base` optional with a default.
    static func wide(_ count: Int, base: Int = 200) -> String {
        var fields = (0..<base).map { "{\"name\":\"f\($0)\",\"type\":\"string\"}" }
        fields += (base..<count).map { "{\"name\":\"f\($0)\",\"type\":[\"null\",\"long\"],\"default\":null}" }
        return "{\"type\":\"record\",\"name\":\"Wide\",\"fields\":[" + fields.joined(separator: ",") + "]}"
    }

    @Test func readsOfOtherSubjectsDoNotWaitForACompatibilityCheck() throws {
        let (directory, path) = try SchemaRegistryTests.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SchemaRegistry(databasePath: path)
        // 150 versions of 300 to 450 fields, registered without checks, then checked transitively.
        try registry.setLevel(.none, subject: "heavy")
        for version in 0..<150 { _ = try registry.register(subject: "heavy", schema: Self.wide(300 + version, base: 300)) }
        try registry.setLevel(.fullTransitive, subject: "heavy")
        _ = try registry.register(subject: "light", schema: "\"string\"")
        let candidate = Self.wide(450, base: 300)

        // How long one check takes here.
        var started = ContinuousClock.now
        #expect(try registry.checkCompatibility(subject: "heavy", schema: candidate).isCompatible)
        let checkTime = ContinuousClock.now - started
        #expect(checkTime > .milliseconds(20), "the check is too quick to tell anything: \(checkTime)")

        // Checks (and registrations, which check too) run on other threads while this one reads.
        let stop = Atomic<Bool>(false)
        let group = DispatchGroup()
        for worker in 0..<2 {
            DispatchQueue.global().async(group: group) {
                var round = 0
                while !stop.load(ordering: .relaxed) {
                    round += 1
                    if worker == 0 {
                        _ = try? registry.checkCompatibility(subject: "heavy", schema: candidate)
                    } else {
                        _ = try? registry.register(subject: "heavy", schema: Self.wide(450 + round, base: 300))
                    }
                }
            }
        }
        var waits: [Duration] = []
        let until = ContinuousClock.now + max(checkTime * 16, .milliseconds(600))
        while ContinuousClock.now < until {
            started = ContinuousClock.now
            _ = try registry.version(subject: "light", .latest)
            waits.append(ContinuousClock.now - started)
        }
        stop.store(true, ordering: .relaxed)
        group.wait()
        // Behind the lock, a read arriving during a check waits for the rest of it: about one read per check
        // (16 or so here) waits that long. Outside it, none does; two are allowed for a thread the
        // scheduler set aside on a busy machine.
        let long = waits.filter { $0 > checkTime / 2 }
        #expect(long.count <= 2, "\(long.count) of \(waits.count) reads of another subject waited over half a check (\(checkTime)): \(long.prefix(5))")
    }
}
