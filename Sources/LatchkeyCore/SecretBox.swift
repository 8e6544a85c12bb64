import Crypto
import Foundation

/// The server's master key and what is derived from it: AES-GCM sealing for TOTP secrets at rest and a
/// keyed hash for recovery codes. Sub-keys are derived with HKDF so one leak does not expose the other.
///
/// The recovery-code hashing key is the database's, not the server key's: a database's first key derives it
/// (`derivedRecoveryHashing`), and the database keeps it sealed under the server key (`instance_settings`), so that
/// `latchkey key rotate` can seal it again under a new key — recovery codes are only ever stored hashed, and a hash
/// cannot be recomputed under a new key without the code. `withRecoveryHashing` puts the database's in place.
public struct ServerKey: Sendable {
    // Stored as bytes: `SymmetricKey` is not `Sendable`.
    private let sealingBytes: [UInt8]
    private var hashingBytes: [UInt8]
    /// A name for the key that reveals nothing of it (64 bits of a sub-key, hex in groups of four): recorded in the
    /// database at first use, printed when a start is refused, so an operator can tell two keys apart.
    public let fingerprint: String
    private var sealingKey: SymmetricKey { SymmetricKey(data: sealingBytes) }
    private var hashingKey: SymmetricKey { SymmetricKey(data: hashingBytes) }

    /// Derives the sub-keys from 32 bytes of key material.
    public init(material: [UInt8]) throws {
        guard material.count == 32 else {
            throw LatchkeyError(.internalError, "bad_server_key", "The server key must be 32 bytes.")
        }
        let master = SymmetricKey(data: material)
        sealingBytes = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: master, info: Data("latchkey totp sealing v1".utf8), outputByteCount: 32
        ).withUnsafeBytes { Array($0) }
        hashingBytes = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: master, info: Data("latchkey recovery hashing v1".utf8), outputByteCount: 32
        ).withUnsafeBytes { Array($0) }
        derivedRecoveryHashing = hashingBytes
        let name = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: master, info: Data("latchkey key fingerprint v1".utf8), outputByteCount: 8
        ).withUnsafeBytes { hex(Array($0)) }
        fingerprint = stride(from: 0, to: 16, by: 4).map { offset in
            let start = name.index(name.startIndex, offsetBy: offset)
            return String(name[start..<name.index(start, offsetBy: 4)])
        }.joined(separator: "-")
    }

    /// The recovery-code hashing key this key derives: the one a database's recovery codes are hashed with when this
    /// was its first key.
    public let derivedRecoveryHashing: [UInt8]

    /// This key, hashing recovery codes with `bytes` (the database's hashing key, opened from its sealed copy).
    public func withRecoveryHashing(_ bytes: [UInt8]) -> ServerKey {
        var key = self
        key.hashingBytes = bytes
        return key
    }

    /// Parses key material given as 64 hex digits or as base64 of 32 bytes.
    public static func parse(_ text: String) -> [UInt8]? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.count == 64, let bytes = hexBytes(trimmed) { return bytes }
        if let data = Data(base64Encoded: trimmed), data.count == 32 { return Array(data) }
        return nil
    }

    /// Seals `plaintext`, binding it to `context` (e.g. the member id) so a sealed value cannot be moved
    /// to another row. Returns base64 of nonce ‖ ciphertext ‖ tag.
    public func seal(_ plaintext: [UInt8], context: String) throws -> String {
        let box = try AES.GCM.seal(plaintext, using: sealingKey, authenticating: Data(context.utf8))
        guard let combined = box.combined else {
            throw LatchkeyError(.internalError, "seal_failed", "Could not seal a secret.")
        }
        return combined.base64EncodedString()
    }

    /// Opens a value made by `seal` with the same context; throws if it was altered or moved.
    public func open(_ sealed: String, context: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: sealed) else {
            throw LatchkeyError(.internalError, "open_failed", "A stored secret is unreadable.")
        }
        let box = try AES.GCM.SealedBox(combined: data)
        return Array(try AES.GCM.open(box, using: sealingKey, authenticating: Data(context.utf8)))
    }

    /// Keyed hash (HMAC-SHA-256, hex) for recovery codes.
    public func hashRecoveryCode(_ normalized: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(normalized.utf8), using: hashingKey)
        return hex(Array(mac))
    }
}

/// Lower-case hex of bytes.
public func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}

func hexBytes(_ text: String) -> [UInt8]? {
    var bytes: [UInt8] = []
    var iterator = text.utf8.makeIterator()
    while let high = iterator.next() {
        guard let low = iterator.next(), let h = hexValue(high), let l = hexValue(low) else { return nil }
        bytes.append(h << 4 | l)
    }
    return bytes
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x61 + 10
    case 0x41...0x46: c - 0x41 + 10
    default: nil
    }
}

/// SHA-256 of a string, as hex; used for session token lookup and the audit chain.
public func sha256Hex(_ text: String) -> String {
    hex(Array(SHA256.hash(data: Data(text.utf8))))
}
