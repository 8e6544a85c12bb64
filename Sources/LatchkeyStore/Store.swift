import FluentKit
import Foundation
import PostgresNIO
import SQLKit

/// The one door to the data: every read and write of Latchkey goes through a repository reached from a
/// `Store`. A store is bound to a database handle — the pool, or a transaction — so code that runs inside
/// `transaction` reaches the very same repositories, and whatever they write commits or vanishes together.
///
/// Repositories return plain values (`Member`, `Organization`, `ResetBatch`, …), never Fluent models: the
/// application above holds the rules, the views render values, and neither imports FluentKit or SQLKit.
public struct Store: Sendable {
    let db: any Database
    /// The Manage Members counts and roles remembered by this instance (shared by every store of one database);
    /// nil inside a transaction, whose reads may see writes that are not committed yet (and may never be).
    let counts: DirectoryCounts?
    /// Where the hot reads outside a transaction run: on SQLite the read-only connections of `SQLiteReader`, on
    /// PostgreSQL the pool with each statement prepared (`PostgresPreparedReads`); nil: on `db`.
    let reads: (any SQLDatabase)?
    /// Where the one-row reads by key outside a transaction run (the session of every request, the authenticator a
    /// second factor checks): on SQLite a reader's connection on the caller's own thread; nil: on `reads`.
    let pointReads: (any SQLDatabase)?
    /// The audit chain key, and who is told of audit events once committed (see `AuditSetup`).
    let setup: AuditSetup?
    /// Inside a transaction: the events it appended, told to `setup`'s observer when it commits.
    let pending: PendingAuditEvents?

    public init(_ db: any Database, counts: DirectoryCounts = DirectoryCounts()) {
        self.init(db, counts: counts, reads: nil, pointReads: nil, setup: nil, pending: nil)
    }

    init(
        _ db: any Database, counts: DirectoryCounts?, reads: (any SQLDatabase)?, pointReads: (any SQLDatabase)?,
        setup: AuditSetup?, pending: PendingAuditEvents?
    ) {
        self.db = db
        self.counts = counts
        self.reads = reads
        self.pointReads = pointReads
        self.setup = setup
        self.pending = pending
    }

    /// Runs `body` in one transaction (joining the caller's when there is one) with repositories bound to it —
    /// every read too, so that it sees the transaction's own writes.
    ///
    /// On SQLite there is one connection: never use another `Store` inside `body`, it would wait for the
    /// connection this transaction holds.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (Store) async throws -> T) async throws -> T {
        // A transaction inside another joins it, and its events are told when the outer one commits.
        let pending = self.pending ?? PendingAuditEvents()
        let result = try await db.atomically { tx in
            try await body(
                Store(tx, counts: nil, reads: nil, pointReads: nil, setup: setup, pending: pending))
        }
        if self.pending == nil { setup?.report(pending.take()) }
        return result
    }

    public var members: MemberRepository { .init(db) }
    public var directory: MemberDirectory { .init(reads ?? sql, counts: counts) }
    public var organizations: OrganizationRepository { .init(db, reads: reads ?? sql, counts: counts) }
    public var sessions: SessionRepository { .init(db, reads: pointReads ?? reads ?? sql) }
    public var credentials: CredentialRepository { .init(db, reads: pointReads ?? reads ?? sql) }
    public var resets: ResetRepository { .init(db, reads: reads ?? sql) }
    public var audit: AuditStore { .init(db, setup: setup, pending: pending) }
    public var outbox: OutboxRepository { .init(db) }
    public var rateLimits: RateLimiter { .init(db) }
    public var throttles: SignInThrottles { .init(db) }
    public var knownAddresses: KnownAddresses { .init(db) }
    public var tokens: MemberTokenRepository { .init(db) }
    public var apiTokens: APITokenRepository { .init(db, reads: pointReads ?? reads ?? sql) }
    public var scim: ScimRepository { .init(db, reads: reads ?? sql, counts: counts) }
    public var webhooks: WebhookRepository { .init(db, reads: reads ?? sql) }
    public var instance: InstanceRepository { .init(db) }

    /// A trivial query, for readiness checks.
    public func ping() async throws {
        _ = try await sql.raw("SELECT 1 AS ok").all()
    }

    var sql: any SQLDatabase { db as! any SQLDatabase }

    /// True for a unique-constraint violation (e.g. two requests racing with one `Idempotency-Key`).
    public static func isConflict(_ error: any Error) -> Bool {
        (error as? any DatabaseError)?.isConstraintFailure == true
    }
}

extension LatchkeyDatabase {
    /// Repositories on the connection pool.
    public var store: Store {
        let reads: (any SQLDatabase)? =
            if let reader { SQLiteReadDatabase(reader: reader) } else { postgresReads.map(PostgresPreparedReads.init) }
        return Store(
            db, counts: counts, reads: reads, pointReads: reader.map { SQLiteReadDatabase(reader: $0, inline: true) },
            setup: auditSetup, pending: nil)
    }
}

extension Database {
    /// Runs `body` in a transaction: the caller's when it is in one, else a new one — on SQLite on the writer's
    /// thread (`SQLiteWriter`), without the task Fluent's own `transaction` starts for it; on PostgreSQL as a
    /// `PostgresTransaction`.
    func atomically<T: Sendable>(_ body: @escaping @Sendable (any Database) async throws -> T) async throws -> T {
        if inTransaction { return try await body(self) }
        if let writer = self as? SQLiteWriteDatabase {
            return try await writer.writer.transaction(context: writer.context, body)
        }
        if let postgres = self as? any Database & PostgresDatabase {
            return try await PostgresTransaction.run(on: postgres, body)
        }
        return try await transaction(body)
    }
}
