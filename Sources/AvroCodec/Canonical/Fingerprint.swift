import CNettle

/// Fingerprints of a schema's Parsing Canonical Form.
public enum SchemaFingerprint {
    /// CRC-64-AVRO (the Rabin fingerprint the specification defines) of `bytes`.
    public static func rabin<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var fingerprint = emptyFingerprint
        for byte in bytes {
            fingerprint = (fingerprint >> 8) ^ table[Int((fingerprint ^ UInt64(byte)) & 0xFF)]
        }
        return fingerprint
    }

    /// The fingerprint of no bytes, and the polynomial the table is built from.
    public static let emptyFingerprint: UInt64 = 0xC15D_213A_A4D7_A795

    private static let table: [UInt64] = (0..<256).map { index in
        var fingerprint = UInt64(index)
        for _ in 0..<8 {
            fingerprint = (fingerprint >> 1) ^ (emptyFingerprint & (0 &- (fingerprint & 1)))
        }
        return fingerprint
    }

    /// MD5 of `bytes`, as 16 bytes.
    public static func md5(_ bytes: [UInt8]) -> [UInt8] {
        digest(bytes, context: md5_ctx(), size: MD5_DIGEST_SIZE, begin: nettle_md5_init, add: nettle_md5_update, end: nettle_md5_digest)
    }

    /// SHA-256 of `bytes`, as 32 bytes.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        digest(
            bytes, context: sha256_ctx(), size: SHA256_DIGEST_SIZE, begin: nettle_sha256_init, add: nettle_sha256_update,
            end: nettle_sha256_digest)
    }

    /// One Nettle digest of `bytes`: its context type, size and three functions.
    private static func digest<Context>(
        _ bytes: [UInt8], context: Context, size: Int32,
        begin: (UnsafeMutablePointer<Context>) -> Void,
        add: (UnsafeMutablePointer<Context>, Int, UnsafePointer<UInt8>?) -> Void,
        end: (UnsafeMutablePointer<Context>, Int, UnsafeMutablePointer<UInt8>?) -> Void
    ) -> [UInt8] {
        var context = context
        begin(&context)
        bytes.withUnsafeBufferPointer { add(&context, $0.count, $0.baseAddress) }
        return [UInt8](unsafeUninitializedCapacity: Int(size)) { buffer, initialized in
            end(&context, Int(size), buffer.baseAddress)
            initialized = Int(size)
        }
    }

    /// Lower-case hexadecimal text of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A 64-bit fingerprint as 16 lower-case hex digits.
    public static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}

extension AvroSchema {
    /// CRC-64-AVRO (Rabin) fingerprint of the Parsing Canonical Form.
    public var rabinFingerprint: UInt64 {
        SchemaFingerprint.rabin(canonicalForm.utf8)
    }

    /// MD5 of the Parsing Canonical Form.
    public var md5Fingerprint: [UInt8] {
        SchemaFingerprint.md5(Array(canonicalForm.utf8))
    }

    /// SHA-256 of the Parsing Canonical Form.
    public var sha256Fingerprint: [UInt8] {
        SchemaFingerprint.sha256(Array(canonicalForm.utf8))
    }
}
