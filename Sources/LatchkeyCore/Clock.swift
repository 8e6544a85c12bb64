import Foundation

/// The current time, injected so tests control TOTP steps, lockouts and session expiry.
public struct Clock: Sendable {
    public var now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date) {
        self.now = now
    }

    /// Wall-clock time.
    public static let system = Clock { Date() }
}
