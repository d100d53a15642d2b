import Foundation

@testable import AvroCodec

/// Access to the repository's `fixtures/` folder, parsed with our own JSON parser.
enum Fixtures {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures")

    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    static func bytes(_ relative: String) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: url(relative).path) else { return [] }
        return [UInt8](data)
    }

    static func text(_ relative: String) -> String { String(decoding: bytes(relative), as: UTF8.self) }

    /// A fixture file as JSON; an unreadable or invalid file yields `.null`, which the tests then fail on.
    static func json(_ relative: String) -> JSONValue {
        (try? JSONParser.parse(bytes: bytes(relative))) ?? .null
    }

    /// The `.json` or `.avsc` files of a fixture folder, sorted.
    static func files(in folder: String, ending suffix: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url(folder).path)) ?? []
        return names.filter { $0.hasSuffix(suffix) }.sorted().map { folder + "/" + $0 }
    }

    /// Elements of a JSON array fixture.
    static func array(_ relative: String) -> [JSONValue] {
        if case .array(let elements) = json(relative) { return elements }
        return []
    }
}

extension JSONValue {
    var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    var arrayValue: [JSONValue] {
        if case .array(let elements) = self { return elements }
        return []
    }
}
