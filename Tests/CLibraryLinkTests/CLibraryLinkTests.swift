import CAvro
import CGnuTLS
import CMicroHTTPD
import CSQLite
import Testing

/// The C libraries link and answer: the system-library targets are wired correctly.
struct CLibraryLinkTests {
    @Test func sqliteReportsItsVersion() {
        let version = String(cString: sqlite3_libversion())
        #expect(version.hasPrefix("3."))
        #expect(sqlite3_threadsafe() != 0)
    }

    @Test func microhttpdReportsItsVersion() {
        let version = String(cString: MHD_get_version())
        #expect(version.hasPrefix("0.") || version.hasPrefix("1."))
    }

    @Test func gnutlsReportsItsVersion() {
        let version = String(cString: gnutls_check_version(nil))
        #expect(version.hasPrefix("3."))
    }

    @Test func avroParsesACanonicalSchema() {
        var schema: avro_schema_t?
        let text = #"{"name":"R","type":"record","fields":[{"name":"a","type":"long"}]}"#
        let result = text.withCString { avro_schema_from_json_length($0, strlen($0), &schema) }
        #expect(result == 0)
        #expect(schema != nil)
        if let schema {
            #expect(String(cString: avro_schema_type_name(schema)) == "R")
            avro_schema_decref(schema)
        }
    }
}
