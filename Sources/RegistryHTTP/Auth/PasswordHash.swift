import CNettle

/// The password hashes of Karapace's auth file: PBKDF2-HMAC-SHA1/256/512 with 5,000 rounds (the digest's own
/// length), or scrypt with N=16384, r=8, p=1 (64 bytes) — each over the password's UTF-8 bytes with the salt's
/// UTF-8 text as the salt (Karapace never decodes the salt).
public enum PasswordAlgorithm: String, Sendable, CaseIterable {
    case sha1, sha256, sha512, scrypt

    static let pbkdf2Rounds: UInt32 = 5_000

    /// The derived key of `password` with `salt`.
    public func derive(password: [UInt8], salt: [UInt8]) -> [UInt8] {
        switch self {
        case .sha1: return PasswordHash.pbkdf2(password, salt, rounds: Self.pbkdf2Rounds, length: 20, nettle_pbkdf2_hmac_sha1)
        case .sha256: return PasswordHash.pbkdf2(password, salt, rounds: Self.pbkdf2Rounds, length: 32, nettle_pbkdf2_hmac_sha256)
        case .sha512: return PasswordHash.pbkdf2(password, salt, rounds: Self.pbkdf2Rounds, length: 64, nettle_pbkdf2_hmac_sha512)
        case .scrypt: return PasswordHash.scrypt(password: password, salt: salt, costExponent: 14, blockSize: 8, length: 64)
        }
    }
}

enum PasswordHash {
    typealias PBKDF2 = (Int, UnsafePointer<UInt8>?, UInt32, Int, UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<UInt8>?) -> Void

    static func pbkdf2(_ password: [UInt8], _ salt: [UInt8], rounds: UInt32, length: Int, _ function: PBKDF2) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        password.withUnsafeBufferPointer { key in
            salt.withUnsafeBufferPointer { salt in
                out.withUnsafeMutableBufferPointer { out in
                    function(key.count, key.baseAddress, rounds, salt.count, salt.baseAddress, length, out.baseAddress)
                }
            }
        }
        return out
    }

    /// An HMAC-SHA256 context with its key already set (two of the four or five SHA-256 blocks a short message
    /// costs): `hmacSHA256(keyed:_:)` copies it for each message.
    static func keyedHMACSHA256(key: [UInt8]) -> hmac_sha256_ctx {
        var context = hmac_sha256_ctx()
        key.withUnsafeBufferPointer { nettle_hmac_sha256_set_key(&context, $0.count, $0.baseAddress) }
        return context
    }

    static func hmacSHA256(keyed template: hmac_sha256_ctx, _ message: some Collection<UInt8>) -> [UInt8] {
        var context = template
        var out = [UInt8](repeating: 0, count: 32)
        if message.withContiguousStorageIfAvailable({ nettle_hmac_sha256_update(&context, $0.count, $0.baseAddress) }) == nil {
            let bytes = Array(message)
            bytes.withUnsafeBufferPointer { nettle_hmac_sha256_update(&context, $0.count, $0.baseAddress) }
        }
        out.withUnsafeMutableBufferPointer { nettle_hmac_sha256_digest(&context, 32, $0.baseAddress) }
        return out
    }

    /// HMAC-SHA-256 of `message` under `key`.
    static func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var context = hmac_sha256_ctx()
        var out = [UInt8](repeating: 0, count: 32)
        key.withUnsafeBufferPointer { nettle_hmac_sha256_set_key(&context, $0.count, $0.baseAddress) }
        message.withUnsafeBufferPointer { nettle_hmac_sha256_update(&context, $0.count, $0.baseAddress) }
        out.withUnsafeMutableBufferPointer { nettle_hmac_sha256_digest(&context, 32, $0.baseAddress) }
        return out
    }

    /// scrypt (RFC 7914) with p = 1: N = 2^costExponent, r = blockSize.
    static func scrypt(password: [UInt8], salt: [UInt8], costExponent: Int, blockSize r: Int, length: Int) -> [UInt8] {
        let blockBytes = 128 * r
        var block = pbkdf2(password, salt, rounds: 1, length: blockBytes, nettle_pbkdf2_hmac_sha256)
        let words = 32 * r
        let n = 1 << costExponent
        var x = [UInt32](repeating: 0, count: words)
        for index in 0..<words {
            x[index] = UInt32(block[4 * index]) | UInt32(block[4 * index + 1]) << 8 | UInt32(block[4 * index + 2]) << 16 | UInt32(block[4 * index + 3]) << 24
        }
        var table = [UInt32](repeating: 0, count: words * n)
        var scratch = [UInt32](repeating: 0, count: words)
        x.withUnsafeMutableBufferPointer { x in
            table.withUnsafeMutableBufferPointer { table in
                scratch.withUnsafeMutableBufferPointer { scratch in
                    for step in 0..<n {
                        _ = UnsafeMutableBufferPointer(rebasing: table[(step * words)..<((step + 1) * words)]).update(fromContentsOf: x)
                        blockMix(x, scratch, r)
                    }
                    for _ in 0..<n {
                        let j = Int(x[(2 * r - 1) * 16] & UInt32(n - 1))
                        for index in 0..<words { x[index] ^= table[j * words + index] }
                        blockMix(x, scratch, r)
                    }
                }
            }
        }
        for index in 0..<words {
            for byte in 0..<4 { block[4 * index + byte] = UInt8(truncatingIfNeeded: x[index] >> (8 * UInt32(byte))) }
        }
        return pbkdf2(password, block, rounds: 1, length: length, nettle_pbkdf2_hmac_sha256)
    }

    /// scryptBlockMix over `b` (2r blocks of 16 words), in place; `y` is scratch of the same size.
    private static func blockMix(_ b: UnsafeMutableBufferPointer<UInt32>, _ y: UnsafeMutableBufferPointer<UInt32>, _ r: Int) {
        var x = (0..<16).map { b[(2 * r - 1) * 16 + $0] }
        x.withUnsafeMutableBufferPointer { x in
            for block in 0..<(2 * r) {
                for index in 0..<16 { x[index] ^= b[block * 16 + index] }
                salsa20_8(x)
                // Even blocks go to the first half of the output, odd ones to the second.
                let target = (block % 2 == 0 ? block / 2 : r + block / 2) * 16
                for index in 0..<16 { y[target + index] = x[index] }
            }
        }
        _ = b.update(fromContentsOf: y)
    }

    private static func salsa20_8(_ b: UnsafeMutableBufferPointer<UInt32>) {
        var x = (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
        @inline(__always) func rotate(_ value: UInt32, _ count: UInt32) -> UInt32 { (value << count) | (value >> (32 - count)) }
        for _ in 0..<4 {
            x.4 ^= rotate(x.0 &+ x.12, 7); x.8 ^= rotate(x.4 &+ x.0, 9); x.12 ^= rotate(x.8 &+ x.4, 13); x.0 ^= rotate(x.12 &+ x.8, 18)
            x.9 ^= rotate(x.5 &+ x.1, 7); x.13 ^= rotate(x.9 &+ x.5, 9); x.1 ^= rotate(x.13 &+ x.9, 13); x.5 ^= rotate(x.1 &+ x.13, 18)
            x.14 ^= rotate(x.10 &+ x.6, 7); x.2 ^= rotate(x.14 &+ x.10, 9); x.6 ^= rotate(x.2 &+ x.14, 13); x.10 ^= rotate(x.6 &+ x.2, 18)
            x.3 ^= rotate(x.15 &+ x.11, 7); x.7 ^= rotate(x.3 &+ x.15, 9); x.11 ^= rotate(x.7 &+ x.3, 13); x.15 ^= rotate(x.11 &+ x.7, 18)
            x.1 ^= rotate(x.0 &+ x.3, 7); x.2 ^= rotate(x.1 &+ x.0, 9); x.3 ^= rotate(x.2 &+ x.1, 13); x.0 ^= rotate(x.3 &+ x.2, 18)
            x.6 ^= rotate(x.5 &+ x.4, 7); x.7 ^= rotate(x.6 &+ x.5, 9); x.4 ^= rotate(x.7 &+ x.6, 13); x.5 ^= rotate(x.4 &+ x.7, 18)
            x.11 ^= rotate(x.10 &+ x.9, 7); x.8 ^= rotate(x.11 &+ x.10, 9); x.9 ^= rotate(x.8 &+ x.11, 13); x.10 ^= rotate(x.9 &+ x.8, 18)
            x.12 ^= rotate(x.15 &+ x.14, 7); x.13 ^= rotate(x.12 &+ x.15, 9); x.14 ^= rotate(x.13 &+ x.12, 13); x.15 ^= rotate(x.14 &+ x.13, 18)
        }
        b[0] &+= x.0; b[1] &+= x.1; b[2] &+= x.2; b[3] &+= x.3; b[4] &+= x.4; b[5] &+= x.5; b[6] &+= x.6; b[7] &+= x.7
        b[8] &+= x.8; b[9] &+= x.9; b[10] &+= x.10; b[11] &+= x.11; b[12] &+= x.12; b[13] &+= x.13; b[14] &+= x.14; b[15] &+= x.15
    }

    /// Whether two byte strings are equal, in time that depends only on their lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
