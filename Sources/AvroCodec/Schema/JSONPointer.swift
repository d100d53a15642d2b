/// A location inside a JSON document, kept as a stack of segments while walking and rendered as a
/// JSON Pointer (RFC 6901) only when something has to be reported. Walking a 1,000-field schema thus
/// builds no strings at all.
struct JSONPointer: Sendable {
    /// Keys are the schema vocabulary's literals, so a segment is a trivial value: pushing and popping
    /// costs no reference counting.
    enum Segment: Sendable {
        case key(StaticString)
        case index(Int)
    }

    private(set) var segments: [Segment] = []

    init() {
        segments.reserveCapacity(16)
    }

    mutating func push(_ key: StaticString) { segments.append(.key(key)) }
    mutating func push(_ index: Int) { segments.append(.index(index)) }
    mutating func pop() { segments.removeLast() }

    /// "/fields/0/type"; the root is "".
    var rendered: String {
        var text = ""
        for segment in segments {
            text.append("/")
            switch segment {
            case .key(let key):
                text.append(key.description.replacingTilde())
            case .index(let index):
                text.append(String(index))
            }
        }
        return text
    }

    /// `rendered` with a further key appended.
    func rendered(appending key: String) -> String {
        rendered + "/" + key.replacingTilde()
    }

    /// `rendered` with a further index appended.
    func rendered(appending index: Int) -> String {
        rendered + "/" + String(index)
    }
}

extension String {
    /// JSON Pointer escaping: `~` → `~0`, `/` → `~1`.
    fileprivate func replacingTilde() -> String {
        // Byte tests: with Foundation imported, `contains("~")` is Foundation's substring search.
        guard utf8.contains(UInt8(ascii: "~")) || utf8.contains(UInt8(ascii: "/")) else { return self }
        var out = ""
        for character in self {
            switch character {
            case "~": out.append("~0")
            case "/": out.append("~1")
            default: out.append(character)
            }
        }
        return out
    }
}
