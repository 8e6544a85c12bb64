import Foundation
import HummingbirdBcrypt
import LatchkeyCore
import LatchkeyStore
import Logging
import NIOCore

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
    /// Set once a shutdown signal arrives (`DrainService`): `/readyz` then answers 503.
    public let draining = DrainState()
    /// What `/metrics` shows (see `AppMetrics`); audit events are counted once committed.
    public let metrics = AppMetrics()
    /// The sessions marked seen in the last minute (`SessionService.markSeen`).
    let seenMarks = SeenMarks()
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
        let metrics = self.metrics
        database.auditSetup.observe { metrics.record($0) }
    }

    /// Opens and migrates the configured database, loads the server key and checks it is the database's (see
    /// `checkKey`). `readOnly` (audit verify, audit export, backup): never migrates — the schema must be current — and never
    /// creates or records a key; without one it works under a throwaway key it never writes or uses to open a
    /// secret.
    public static func start(
        config: AppConfig, clock: Clock = .system, logger: Logger, readOnly: Bool = false, rotating: Bool = false
    ) async throws -> AppServices {
        if !readOnly, !config.productionProblems.isEmpty {
            throw LatchkeyError.badRequest(
                "production_refused",
                "LATCHKEY_ENV=production refuses to start: " + config.productionProblems.joined(separator: "; ") + ".")
        }
        if readOnly, case .sqlite(let path) = config.database, !FileManager.default.fileExists(atPath: path) {
            throw LatchkeyError.schemaNotCurrent("No database at \(path).")
        }
        let database = try LatchkeyDatabase(
            location: config.database, logger: logger, poolSize: config.databasePoolSize,
            poolTimeout: .seconds(Int64(config.databasePoolTimeoutSeconds)))
        do {
            if readOnly { try await database.requireCurrentSchema() } else { try await database.migrate() }
            if !rotating, !readOnly, let target = try await database.store.instance.rotationTarget() {
                throw LatchkeyError(
                    .conflict, "rotation_under_way",
                    "A key rotation to the key with fingerprint \(target) is under way: finish it with `latchkey "
                        + "key rotate` (the same two keys), then start with the new key.")
            }
            let recorded = try await database.store.instance.keyFingerprint()
            var serverKey: ServerKey
            if readOnly, !config.hasServerKey {
                serverKey = try ServerKey(material: RandomSource.system.bytes(32))
            } else {
                // Before fingerprints, a stored secret names the key; a key is made only for a database with neither.
                let sample = recorded == nil ? try await database.store.instance.sampleSealedSecret() : nil
                serverKey = try config.loadServerKey(
                    create: recorded == nil && sample == nil && !readOnly, expected: recorded)
                try await checkKey(
                    serverKey, recorded: recorded, sample: sample, store: database.store, record: !readOnly)
                serverKey = try await DatabaseKeys.load(into: serverKey, database: database, record: !readOnly)
            }
            return AppServices(config: config, database: database, clock: clock, serverKey: serverKey, logger: logger)
        } catch {
            await database.shutdown()
            throw error
        }
    }

    /// The key must be the one the database's secrets are sealed with: the fingerprint recorded at first use, or —
    /// for a database from before fingerprints — one that opens a stored TOTP secret. Another key stops the start,
    /// naming both fingerprints, instead of every TOTP sign-in failing.
    static func checkKey(
        _ key: ServerKey, recorded: String?, sample: (memberID: UUID, ciphertext: String)?, store: Store, record: Bool
    ) async throws {
        if let recorded {
            guard recorded == key.fingerprint else {
                throw keyMismatch(
                    "The server key (fingerprint \(key.fingerprint)) is not the key this database's secrets are sealed "
                        + "with (fingerprint \(recorded)).")
            }
            return
        }
        if let sample, (try? key.open(sample.ciphertext, context: sample.memberID.uuidString)) == nil {
            throw keyMismatch(
                "The server key (fingerprint \(key.fingerprint)) does not open this database's TOTP secrets: they were "
                    + "sealed with another key.")
        }
        guard record else { return }
        let stored = try await store.instance.recordKeyFingerprint(key.fingerprint)
        // Another instance started first with another key.
        if stored != key.fingerprint {
            try await checkKey(key, recorded: stored, sample: nil, store: store, record: false)
        }
    }

    private static func keyMismatch(_ what: String) -> LatchkeyError {
        LatchkeyError(
            .conflict, "key_mismatch",
            what + " Start with that key, in LATCHKEY_SECRET_KEY or secret.key in the data directory.")
    }

    /// The repositories, on the connection pool.
    public var store: Store { database.store }
    public var now: Date { clock.now() }

    var auth: AuthService { AuthService(services: self) }
    var sessions: SessionService { SessionService(services: self) }
    var tokens: TokenService { TokenService(services: self) }
}
