import Foundation
import LatchkeyCore
import LatchkeyStore

/// Input rules shared by the web and JSON reset routes.
enum ResetInput {
    /// The optional reason or ticket reference: trimmed, at most 500 characters (Unicode code points, as the API
    /// document counts them), no control characters.
    static func ticket(_ raw: String?) throws -> String {
        let text = (raw ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.unicodeScalars.count <= BulkLimits.maximumReasonLength else {
            throw LatchkeyError.badRequest(
                "reason_too_long",
                "The reason or ticket can be at most \(BulkLimits.maximumReasonLength) characters.")
        }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw LatchkeyError.badRequest("invalid_reason", "The reason or ticket cannot contain control characters.")
        }
        return text
    }

    /// Member ids as sent (JSON array or repeated form field); any malformed one refuses the request.
    static func memberIDs(_ raw: [String]) throws -> [UUID] {
        try raw.map {
            guard let id = UUID(uuidString: $0) else {
                throw LatchkeyError.badRequest("invalid_member_id", "\"\($0.prefix(40))\" is not a valid member id.")
            }
            return id
        }
    }

    static func idempotencyKey(_ raw: String?) throws -> String? {
        guard let raw else { return nil }
        guard (1...200).contains(raw.utf8.count), raw.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 })
        else {
            throw LatchkeyError.badRequest(
                "invalid_idempotency_key", "Idempotency-Key must be 1–200 visible ASCII characters.")
        }
        return raw
    }

    /// The error a refused single reset answers with; another organization's member is "not found". Nil
    /// for a reset or a member without MFA.
    static func error(for result: ResetResult) -> LatchkeyError? {
        let reason = result.reason ?? ""
        switch result.code {
        // A single reset is never cancelled: it runs in its request.
        case .reset, .noMFA, .cancelled: return nil
        case .notFound: return .notFound("Member not found.")
        case .selfAction: return .forbidden("cannot_reset_self", reason + ".")
        case .notPermitted: return .forbidden(.forbidden, "Your role cannot reset MFA.")
        case .notPermittedRole:
            return .forbidden(
                .insufficientPrivilege, "You can't reset the MFA of a member with more access than you (\(reason)).")
        }
    }
}
