/// A stable, machine-readable error code (`invalid_code`, `step_up_required`, …). Codes are open-ended: a
/// feature declares its own as `static let` in an extension, and callers compare against those constants,
/// never against the human message.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, ExpressibleByStringInterpolation,
    CustomStringConvertible
{
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }

    public var description: String { rawValue }
}

extension ErrorCode {
    /// No session: sign in first.
    public static let notSignedIn: ErrorCode = "not_signed_in"
    /// The session waits for its second factor.
    public static let mfaRequired: ErrorCode = "mfa_required"
    /// The organization requires MFA and the member has none yet.
    public static let enrollmentRequired: ErrorCode = "enrollment_required"
    /// New recovery codes were shown and must be acknowledged.
    public static let recoveryCodesPending: ErrorCode = "recovery_codes_pending"
    /// The member's last MFA is older than the organization's step-up window.
    public static let stepUpRequired: ErrorCode = "step_up_required"
    /// The member's role lacks a permission the route needs.
    public static let forbidden: ErrorCode = "forbidden"
    /// The target's role holds a permission the actor's lacks.
    public static let insufficientPrivilege: ErrorCode = "insufficient_privilege"
    /// The administrator path refuses acting on oneself.
    public static let cannotActOnSelf: ErrorCode = "cannot_act_on_self"
    public static let notFound: ErrorCode = "not_found"
    public static let methodNotAllowed: ErrorCode = "method_not_allowed"
    public static let internalError: ErrorCode = "internal_error"
    /// A background job that has ended (or is already stopping) cannot be cancelled.
    public static let jobNotRunning: ErrorCode = "job_not_running"
}

/// The one error type the domain raises. It carries everything the HTTP boundary needs — its status (from
/// `kind`), a machine `code` and a human `message` without internals — so no handler has to ask the
/// boundary what an error means.
public struct LatchkeyError: Error, Sendable, Equatable {
    /// Broad class of failure, which decides the HTTP status.
    public enum Kind: Sendable, Equatable {
        case badRequest, unauthorized, forbidden, notFound, conflict, unprocessable, payloadTooLarge,
            unsupportedMediaType, tooManyRequests(retryAfterSeconds: Int), methodNotAllowed, internalError

        /// The HTTP status code.
        public var status: Int {
            switch self {
            case .badRequest: 400
            case .unauthorized: 401
            case .forbidden: 403
            case .notFound: 404
            case .methodNotAllowed: 405
            case .conflict: 409
            case .payloadTooLarge: 413
            case .unsupportedMediaType: 415
            case .unprocessable: 422
            case .tooManyRequests: 429
            case .internalError: 500
            }
        }
    }

    public var kind: Kind
    /// Machine-readable code, e.g. `invalid_code`.
    public var code: ErrorCode
    /// Human-readable message, safe to show.
    public var message: String

    public init(_ kind: Kind, _ code: ErrorCode, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    /// The HTTP status code.
    public var status: Int { kind.status }

    /// Seconds to wait before trying again, for a throttled request.
    public var retryAfter: Int? {
        if case .tooManyRequests(let seconds) = kind { return seconds }
        return nil
    }

    public static func badRequest(_ code: ErrorCode, _ message: String) -> Self { .init(.badRequest, code, message) }
    public static func unauthorized(_ code: ErrorCode, _ message: String) -> Self {
        .init(.unauthorized, code, message)
    }
    public static func forbidden(_ code: ErrorCode, _ message: String) -> Self { .init(.forbidden, code, message) }
    public static func notFound(_ message: String = "Not found.") -> Self { .init(.notFound, .notFound, message) }

    /// The same answer for an unknown email and a wrong password.
    public static let invalidCredentials = LatchkeyError.unauthorized(
        "invalid_credentials", "Email or password is incorrect.")
}

extension LatchkeyError: CustomStringConvertible {
    /// The human message: what a command line prints when it stops on one (never a dump of the struct).
    public var description: String { message }
}
