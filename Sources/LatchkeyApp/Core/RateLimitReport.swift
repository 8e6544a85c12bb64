import HTTPTypes
import LatchkeyStore
import Synchronization

/// The rate-limit windows an API request was counted against, gathered while it runs so its answer can carry
/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` for the one closest to refusing.
/// `SessionMiddleware` opens one per `/api/v1` and `/scim/v2` request; a service that counts a request against a
/// limit records its windows with `RateLimitReport.record`.
final class RateLimitReport: Sendable {
    @TaskLocal static var current: RateLimitReport?

    private let windows = Mutex<[RateLimiter.Window]>([])

    /// Adds windows to the request's report, if the request keeps one.
    static func record(_ windows: [RateLimiter.Window]) {
        guard let report = current else { return }
        report.windows.withLock { $0 += windows }
    }

    /// Sets the three headers from the tightest window; leaves them off when no limit applied.
    func apply(to headers: inout HTTPFields) {
        guard let window = windows.withLock({ $0.tightest }) else { return }
        headers[.rateLimitLimit] = String(window.limit)
        headers[.rateLimitRemaining] = String(window.remaining)
        headers[.rateLimitReset] = String(window.resetSeconds)
    }
}
