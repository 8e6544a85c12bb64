import Crypto
import Foundation

/// The HMAC algorithms RFC 6238 allows.
public enum OTPAlgorithm: String, Sendable, CaseIterable {
    case sha1 = "SHA1"
    case sha256 = "SHA256"
    case sha512 = "SHA512"
}

/// RFC 4226 HOTP over raw key bytes.
public enum HOTP {
    /// The HOTP value for `counter`, as a zero-padded decimal string of `digits` digits.
    public static func code(
        secret: [UInt8], counter: UInt64, digits: Int = 6, algorithm: OTPAlgorithm = .sha1
    ) -> String {
        precondition((1...10).contains(digits), "digits must be between 1 and 10")
        var bigEndian = counter.bigEndian
        let message = withUnsafeBytes(of: &bigEndian) { Data($0) }
        let key = SymmetricKey(data: secret)
        let mac: [UInt8]
        switch algorithm {
        case .sha1: mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: key))
        case .sha256: mac = Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
        case .sha512: mac = Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
        }
        // Dynamic truncation (RFC 4226 §5.3).
        let offset = Int(mac[mac.count - 1] & 0x0f)
        let binary =
            (UInt64(mac[offset] & 0x7f) << 24) | (UInt64(mac[offset + 1]) << 16)
            | (UInt64(mac[offset + 2]) << 8) | UInt64(mac[offset + 3])
        var modulus: UInt64 = 1
        for _ in 0..<digits { modulus *= 10 }
        let value = String(binary % modulus)
        return String(repeating: "0", count: digits - value.count) + value
    }
}

/// RFC 6238 TOTP with the parameters Latchkey uses by default: SHA-1, 6 digits, 30 s steps, T0 = 0.
public struct TOTP: Sendable {
    /// Length of a time step in seconds.
    public var period: Int64
    /// Number of digits in a code.
    public var digits: Int
    /// HMAC algorithm.
    public var algorithm: OTPAlgorithm
    /// How many steps before and after the current one are accepted.
    public var window: Int64

    /// The configuration every Latchkey authenticator uses.
    public static let standard = TOTP(period: 30, digits: 6, algorithm: .sha1, window: 1)

    public init(period: Int64 = 30, digits: Int = 6, algorithm: OTPAlgorithm = .sha1, window: Int64 = 1) {
        self.period = period
        self.digits = digits
        self.algorithm = algorithm
        self.window = window
    }

    /// The time step that contains `unixTime`.
    public func step(at unixTime: Int64) -> Int64 {
        unixTime >= 0 ? unixTime / period : (unixTime - period + 1) / period
    }

    /// The code for the step containing `unixTime`.
    public func code(secret: [UInt8], at unixTime: Int64) -> String {
        HOTP.code(secret: secret, counter: UInt64(max(0, step(at: unixTime))), digits: digits, algorithm: algorithm)
    }

    /// Finds the step within the window whose code equals `code`, comparing every candidate in constant
    /// time. Steps at or before `after` (the last step already used) never match, so a code is accepted
    /// once. Returns the matching step, or nil.
    public func matchingStep(code: String, secret: [UInt8], at unixTime: Int64, after lastUsedStep: Int64?) -> Int64? {
        let given = Array(code.utf8)
        let current = step(at: unixTime)
        var found: Int64?
        for offset in -window...window {
            let candidate = current + offset
            guard candidate >= 0 else { continue }
            let expected = Array(
                HOTP.code(secret: secret, counter: UInt64(candidate), digits: digits, algorithm: algorithm).utf8)
            // Evaluate every candidate so the time taken does not depend on which (if any) matched.
            if constantTimeEquals(expected, given), found == nil {
                found = candidate
            }
        }
        guard let found else { return nil }
        if let lastUsedStep, found <= lastUsedStep { return nil }
        return found
    }

    /// Whether the code matches any step in the window, ignoring replay; used to tell a reused code from
    /// a wrong one.
    public func matchesIgnoringReplay(code: String, secret: [UInt8], at unixTime: Int64) -> Bool {
        matchingStep(code: code, secret: secret, at: unixTime, after: nil) != nil
    }
}

/// Compares two byte strings without an early exit.
public func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in 0..<lhs.count { difference |= lhs[index] ^ rhs[index] }
    return difference == 0
}

/// Validation of user-typed one-time codes.
public enum OTPCodeFormat {
    /// True when `code` is exactly six ASCII digits.
    public static func isSixDigits(_ code: String) -> Bool {
        let bytes = Array(code.utf8)
        return bytes.count == 6 && bytes.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
}
