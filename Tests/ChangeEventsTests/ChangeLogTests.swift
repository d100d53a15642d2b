import ChangeEvents
import Foundation
import Testing

/// The change-log file: append, read back, cut back to the confirmed LSN, torn tails.
struct ChangeLogTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("changelog-\(UUID().uuidString).log").path
    }

    static func entry(_ commit: UInt64, _ event: UInt64, key: [UInt8]? = [0, 0, 0, 0, 1, 2]) -> ChangeLogEntry {
        ChangeLogEntry(commitLSN: commit, eventLSN: event, operation: .create, key: key, value: [0, 0, 0, 0, 2] + Array(repeating: UInt8(event & 0xFF), count: Int(event % 50)))
    }

    static func readAll(_ path: String) throws -> [ChangeLogEntry] {
        let reader = try ChangeLogReader(path: path)
        var entries: [ChangeLogEntry] = []
        while let entry = try reader.next() { entries.append(entry) }
        return entries
    }

    @Test func entriesReadBackInOrder() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var written: [ChangeLogEntry] = []
        for index in 1...500 {
            let key: [UInt8]? = index % 7 == 0 ? nil : [0, 0, 0, 0, 1, UInt8(index % 256)]
            written.append(Self.entry(UInt64(index / 10 * 100 + 100), UInt64(index), key: key))
        }
        do {
            let (writer, cut) = try ChangeLogWriter.open(path: path, confirmedLSN: 0)
            #expect(cut == 0)
            for entry in written { try writer.append(entry) }
            try writer.sync()
        }
        #expect(try Self.readAll(path) == written)
    }

    @Test func reopeningCutsWhatTheSlotHasNotConfirmedAndATornTail() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let (writer, _) = try ChangeLogWriter.open(path: path, confirmedLSN: 0)
            for commit in [100, 100, 200, 300, 300, 300] as [UInt64] { try writer.append(Self.entry(commit, commit + 1)) }
            try writer.sync()
        }
        // A torn entry at the end (a crash mid-write).
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data([0, 0, 0, 90, 1, 2, 3]))
        try handle.close()
        // The slot confirmed up to the end of the transaction that committed at 200.
        let (writer, cut) = try ChangeLogWriter.open(path: path, confirmedLSN: 250)
        #expect(cut == 3)
        try writer.append(Self.entry(300, 301))
        try writer.sync()
        #expect(try Self.readAll(path).map(\.commitLSN) == [100, 100, 200, 300])
    }

    @Test func aReaderStopsAtATornEntryAndContinuesWhenItIsComplete() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (writer, _) = try ChangeLogWriter.open(path: path, confirmedLSN: 0)
        try writer.append(Self.entry(1, 1))
        try writer.sync()
        let reader = try ChangeLogReader(path: path)
        #expect(try reader.next() == Self.entry(1, 1))
        #expect(try reader.next() == nil)
        try writer.append(Self.entry(2, 2))
        try writer.sync()
        #expect(try reader.next() == Self.entry(2, 2))
    }

    @Test func aCorruptEntryIsAnErrorAndNothingIsCut() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let (writer, _) = try ChangeLogWriter.open(path: path, confirmedLSN: 0)
            try writer.append(Self.entry(10, 11))
            try writer.append(Self.entry(20, 21))
            try writer.sync()
        }
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[4 + 16] = UInt8(ascii: "?")  // the first entry's op byte
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect(throws: ChangeLogError.self) { try ChangeLogWriter.open(path: path, confirmedLSN: 1_000) }
        #expect(FileManager.default.contents(atPath: path)?.count == bytes.count)
    }

    @Test func everythingFromTheFirstCutEntryOnGoes() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let (writer, _) = try ChangeLogWriter.open(path: path, confirmedLSN: 0)
            for commit in [50, 100, 0] as [UInt64] { try writer.append(Self.entry(commit, commit + 1)) }
            try writer.sync()
        }
        let (_, cut) = try ChangeLogWriter.open(path: path, confirmedLSN: 100)
        #expect(cut == 2)
        #expect(try Self.readAll(path).map(\.commitLSN) == [50])
    }

    @Test func aReaderNoticesThatTheFileWasCutBehindIt() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (writer, _) = try ChangeLogWriter.open(path: path, confirmedLSN: 0)
        let before = writer.length
        try writer.append(Self.entry(5, 6))
        try writer.append(Self.entry(7, 8))
        try writer.sync()
        let reader = try ChangeLogReader(path: path)
        _ = try reader.next()
        _ = try reader.next()
        try writer.truncate(to: before)
        #expect(throws: ChangeLogError.self) { try reader.next() }
        #expect(try Self.readAll(path).isEmpty)
    }
}
