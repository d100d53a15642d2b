// Placeholder until the codec branch lands: replaced by the real writers.
extension AvroSchema {
    public var canonicalText: String { normalizedForm }
    public var resolvedText: String { normalizedForm }
    public var normalizedText: String { normalizedForm }
}
