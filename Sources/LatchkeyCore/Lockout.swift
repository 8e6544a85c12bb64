import Foundation

/// Throttling of failed sign-in factors per account: free attempts, then exponential back-off, and a hard
/// stop well within NIST SP 800-63B's limit of 100 consecutive failures.
public struct LockoutPolicy: Sendable {
    /// Failures allowed before any back-off.
    public var freeAttempts: Int = 5
    /// First back-off delay.
    public var baseDelay: TimeInterval = 30
    /// Longest back-off delay.
    public var maxDelay: TimeInterval = 15 * 60
    /// After this many consecutive failures the account stays locked until an operator or administrator
    /// resets it (and its MFA).
    public var hardLimit: Int = 50

    public init() {}

    /// When the account may try again after `failures` consecutive failures, the last at `lastFailure`.
    /// Nil means no wait; `.distantFuture` means locked until reset.
    public func lockedUntil(failures: Int, lastFailure: Date) -> Date? {
        if failures >= hardLimit { return .distantFuture }
        guard failures >= freeAttempts else { return nil }
        let exponent = Double(failures - freeAttempts)
        return lastFailure.addingTimeInterval(min(maxDelay, baseDelay * pow(2, exponent)))
    }
}
