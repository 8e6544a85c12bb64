import Foundation
import HummingbirdBcrypt
import LatchkeyCore
import LatchkeyStore
import Logging

/// The shared dependencies of every handler and command: configuration, database, clock, randomness and
/// keys. Tests build one with a controlled clock.
public struct AppServices: Sendable {
    public let config: AppConfig
    public let database: LatchkeyDatabase
    public let clock: Clock
    public let random: RandomSource
    public let serverKey: ServerKey
    public let passwords: PasswordHasher
    public let logger: Logger
    public let totp = TOTP.standard
    /// A bcrypt hash of a random password at the configured cost, checked for unknown emails so they take
    /// as long as known ones.
    let dummyPasswordHash: String

    public init(
        config: AppConfig, database: LatchkeyDatabase, clock: Clock = .system, random: RandomSource = .system,
        serverKey: ServerKey, logger: Logger
    ) {
        self.config = config
        self.database = database
        self.clock = clock
        self.random = random
        self.serverKey = serverKey
        self.passwords = PasswordHasher(cost: config.bcryptCost)
        self.logger = logger
        self.dummyPasswordHash = Bcrypt.hash(random.token(), cost: config.bcryptCost)
    }

    /// Opens and migrates the configured database and loads the server key.
    public static func start(config: AppConfig, clock: Clock = .system, logger: Logger) async throws -> AppServices {
        let serverKey = try config.loadServerKey()
        let database = try LatchkeyDatabase(location: config.database, logger: logger)
        do {
            try await database.migrate()
        } catch {
            await database.shutdown()
            throw error
        }
        return AppServices(config: config, database: database, clock: clock, serverKey: serverKey, logger: logger)
    }

    /// The repositories, on the connection pool.
    public var store: Store { database.store }
    public var now: Date { clock.now() }

    var auth: AuthService { AuthService(services: self) }
    var sessions: SessionService { SessionService(services: self) }
    var tokens: TokenService { TokenService(services: self) }
}
