import HTTPTypes

/// Header names HTTPTypes does not predefine.
extension HTTPField.Name {
    static let frameOptions = Self("X-Frame-Options")!
    static let referrer = Self("Referrer-Policy")!
    static let permissionsPolicy = Self("Permissions-Policy")!
    static let openerPolicy = Self("Cross-Origin-Opener-Policy")!
    static let requestID = Self("X-Request-Id")!
    static let forwarded = Self("Forwarded")!
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let csrfToken = Self("X-CSRF-Token")!
    static let idempotencyKey = Self("Idempotency-Key")!
    static let rateLimitLimit = Self("RateLimit-Limit")!
    static let rateLimitRemaining = Self("RateLimit-Remaining")!
    static let rateLimitReset = Self("RateLimit-Reset")!
}
