extension StringProtocol {
    /// The text without leading and trailing characters from `characters` (the one trimmer of the
    /// project: the domain, the HTTP layer and schemactl's project-file reader share it, so none of
    /// them needs Foundation for it).
    public func trimming(_ characters: String = " \t") -> String {
        let set = Set(characters)
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text.removeFirst() }
        while let last = text.last, set.contains(last) { text.removeLast() }
        return String(text)
    }
}
