import HummingbirdBcrypt
import NIOCore
import NIOPosix

/// bcrypt, run on a thread pool of its own: never on an event loop, and never in the way of the database
/// driver's blocking work (SQLite runs on `NIOThreadPool.singleton`), so a burst of sign-ins slows other
/// sign-ins, not every page.
public struct PasswordHasher: Sendable {
    public var cost: UInt8

    public init(cost: UInt8) { self.cost = cost }

    /// Lives as long as the process, like `NIOThreadPool.singleton`.
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(1, System.coreCount))
        pool.start()
        return pool
    }()

    public func hash(_ password: String) async throws -> String {
        let cost = cost
        return try await Self.pool.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        try await Self.pool.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}
