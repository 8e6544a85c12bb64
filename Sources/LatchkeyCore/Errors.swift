/// The one error type the domain raises; the HTTP boundary maps `kind` to a status code and renders
/// `code` and `message` without internals.
public struct LatchkeyError: Error, Sendable, Equatable {
    /// Broad class of failure, which decides the HTTP status.
    public enum Kind: Sendable, Equatable {
        case badRequest, unauthorized, forbidden, notFound, conflict, unprocessable, payloadTooLarge,
            unsupportedMediaType, tooManyRequests(retryAfterSeconds: Int), methodNotAllowed, internalError
    }

    public var kind: Kind
    /// Machine-readable code, e.g. `invalid_code`.
    public var code: String
    /// Human-readable message, safe to show.
    public var message: String

    public init(_ kind: Kind, _ code: String, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public static func badRequest(_ code: String, _ message: String) -> Self { .init(.badRequest, code, message) }
    public static func unauthorized(_ code: String, _ message: String) -> Self { .init(.unauthorized, code, message) }
    public static func forbidden(_ code: String, _ message: String) -> Self { .init(.forbidden, code, message) }
    public static func notFound(_ message: String = "Not found.") -> Self { .init(.notFound, "not_found", message) }

    /// The same answer for an unknown email and a wrong password.
    public static let invalidCredentials = LatchkeyError.unauthorized(
        "invalid_credentials", "Email or password is incorrect.")
}
