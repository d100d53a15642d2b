import Testing

@testable import AvroCodec

struct NormalizedFormTests {
    static let variants = [
        #"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"tags","type":{"type":"array","items":"string"},"default":[]}]}"#,
        // whitespace and key order
        """
        {
          "fields": [ { "type": "long", "name": "id" },
                      { "default": [], "name": "tags", "type": {"items": "string", "type": "array"} } ],
          "namespace": "com.acme",
          "name": "User",
          "type": "record"
        }
        """,
        // a full name instead of a namespace, and a redundant namespace on a nested type
        #"{"type":"record","name":"com.acme.User","doc":"people","fields":[{"name":"id","type":{"type":"long"},"doc":"key"},{"name":"tags","type":{"type":"array","items":{"type":"string"}},"default":[]}]}"#,
    ]

    @Test func textualVariantsNormalizeToTheSameText() throws {
        let forms = try Self.variants.map { try AvroSchema(parsing: $0).normalizedForm }
        #expect(Set(forms).count == 1, "\(forms)")
        #expect(
            forms[0]
                == #"{"name":"com.acme.User","type":"record","fields":[{"name":"id","type":"long"},{"name":"tags","type":{"type":"array","items":"string"},"default":[]}]}"#
        )
    }

    @Test func keepsWhatMattersToResolutionAndDropsDoc() throws {
        let schema = try AvroSchema(
            parsing: #"""
                {"type":"record","name":"R","namespace":"n","doc":"gone","aliases":["Old"],"connect.name":"n.R",
                 "fields":[{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":0},"aliases":["amt"],"order":"ignore","doc":"gone"},
                           {"name":"color","type":{"type":"enum","name":"Color","symbols":["RED","BLUE"],"default":"RED","doc":"gone"},"default":"BLUE"}]}
                """#)
        #expect(
            schema.normalizedForm
                == #"{"name":"n.R","type":"record","aliases":["n.Old"],"fields":[{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9},"aliases":["amt"],"order":"ignore"},{"name":"color","type":{"name":"n.Color","type":"enum","symbols":["RED","BLUE"],"default":"RED"},"default":"BLUE"}],"connect.name":"n.R"}"#
        )
    }

    @Test func differentDefaultsNormalizeDifferently() throws {
        let a = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"x","type":"int","default":1}]}"#)
        let b = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"x","type":"int","default":2}]}"#)
        #expect(a.normalizedForm != b.normalizedForm)
        #expect(a.canonicalForm == b.canonicalForm)
    }
}
