import Foundation
import LatchkeyCore

/// Input checks shared by the web and JSON routes.
enum Validation {
    /// A name (a role's, a token's): trimmed, 1 to `most` characters counted as Unicode code points (as the API's
    /// document counts them), no control characters; else `error`.
    static func name(_ raw: String?, most: Int, error: LatchkeyError) throws -> String {
        let name = (raw ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...most).contains(name.unicodeScalars.count),
            !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { throw error }
        return name
    }

    static func sixDigits(_ code: String) throws {
        guard OTPCodeFormat.isSixDigits(code) else {
            throw LatchkeyError.badRequest("invalid_code_format", "Enter the 6-digit code from your authenticator app.")
        }
    }

    static func email(_ email: String) throws {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !email.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 })
        else {
            throw LatchkeyError.badRequest("invalid_email", "Enter a valid email address.")
        }
    }
}
