import FluentKit
import FluentPostgresDriver
import Foundation
import LatchkeyCore
import Logging
import NIOCore
import NIOPosix
import SQLKit
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where the data lives.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    /// An SQLite file (created when absent).
    case sqlite(path: String)
    /// A PostgreSQL server; `searchPath` selects a schema (tests use one schema each).
    case postgres(url: String, searchPath: [String]? = nil)

    /// Parses `postgres://…`, `postgresql://…`, `sqlite://PATH` or a plain file path.
    public static func parse(_ text: String) throws -> DatabaseLocation {
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") { return .postgres(url: text) }
        if text.hasPrefix("sqlite://") { return .sqlite(path: String(text.dropFirst("sqlite://".count))) }
        if text.contains("://") {
            throw LatchkeyError.badRequest(
                "bad_database_url", "Unsupported database URL; use postgres:// or a file path.")
        }
        return .sqlite(path: text)
    }

    /// A description without credentials, safe to log.
    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url, _):
            if let parsed = URL(string: url) {
                "postgres://\(parsed.host ?? "localhost"):\(parsed.port ?? 5432)\(parsed.path)"
            } else {
                "postgres"
            }
        }
    }

    public var isPostgres: Bool {
        if case .postgres = self { return true }
        return false
    }
}

/// The database connection pool, its migrations and its shutdown.
public final class LatchkeyDatabase: Sendable {
    public let location: DatabaseLocation
    let databases: Databases
    let ownedEventLoopGroup: MultiThreadedEventLoopGroup?
    let logger: Logger
    /// The Manage Members counts this instance remembers (see `DirectoryCounts`).
    public let counts = DirectoryCounts()
    /// The audit chain key and who is told of committed audit events (see `AuditSetup`).
    public let auditSetup = AuditSetup()
    /// On SQLite, the read-only connections beside the writer (see `SQLiteReader`).
    let reader: SQLiteReader?
    /// On SQLite, the writer's handle (one for all: it holds no connection of its own, see `SQLiteWriteDatabase`).
    let writerDB: (any Database)?
    /// On SQLite, the writer itself (its use is in the metrics).
    let writer: SQLiteWriter?
    /// On PostgreSQL, the handles of both pools for each event loop, made once: making them through `Databases` on
    /// every use (a lock, the configuration looked up, the driver's wrappers made) was 6 % of a page's CPU.
    let postgresHandles: [ObjectIdentifier: PostgresHandles]

    struct PostgresHandles: Sendable {
        var writes: any Database
        var reads: (any PostgresDatabase & SQLDatabase)?
    }
    /// Connections each pool may open (PostgreSQL) — for the metrics.
    let poolCapacity: Int
    /// On PostgreSQL, this instance's connections are named `latchkey-<id>-writes` / `-reads` (`application_name`),
    /// so `pg_stat_activity` tells them from other instances' — in the metrics and for an operator.
    let instanceTag = String(UInt32.random(in: .min ... .max), radix: 16)
    /// On SQLite, checkpoints of the write-ahead log off the writer's path (see `SQLiteCheckpointer`), from the
    /// first migration on.
    let checkpointer = Mutex<SQLiteCheckpointer?>(nil)
    private let closed = Mutex<Bool>(false)

    /// Opens (but does not migrate) the database. `poolSize`: PostgreSQL connections per event loop (one loop per
    /// core), for the writes and as many again for the hot reads; `poolTimeout`: how long a request waits for one
    /// of them before it fails.
    public init(
        location: DatabaseLocation, logger: Logger, poolSize: Int = 8, poolTimeout: TimeAmount = .seconds(30)
    ) throws {
        self.location = location
        // Drivers log every statement with its bind values at debug level: password hashes, token hashes
        // and sealed secrets must never reach the logs, whatever LOG_LEVEL says.
        var logger = logger
        if logger.logLevel < .info { logger.logLevel = .info }
        self.logger = logger
        switch location {
        case .sqlite(let path):
            // One writing connection on a thread of its own (`SQLiteWriter`): SQLite has one writer, and a single
            // connection never meets SQLITE_BUSY upgrading a read transaction.
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            ownedEventLoopGroup = group
            databases = Databases(threadPool: NIOThreadPool.singleton, on: group)
            poolCapacity = 1
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let writer = SQLiteWriter(path: path, loop: group.next())
            self.writer = writer
            databases.use(SQLiteWriterConfiguration(writer: writer), as: .sqlite)
            // Opened at first use: the writer creates the file.
            reader = SQLiteReader(path: path, eventLoop: group.any(), logger: logger)
            writerDB = databases.database(.sqlite, logger: logger, on: group.next())
            postgresHandles = [:]
        case .postgres(let url, let searchPath):
            ownedEventLoopGroup = nil
            reader = nil
            writerDB = nil
            writer = nil
            databases = Databases(threadPool: NIOThreadPool.singleton, on: MultiThreadedEventLoopGroup.singleton)
            poolCapacity = poolSize * System.coreCount
            var configuration = try SQLPostgresConfiguration(url: url)
            configuration.searchPath = searchPath
            var writes = configuration
            writes.coreConfiguration.options.additionalStartupParameters.append(
                ("application_name", "latchkey-\(instanceTag)-writes"))
            databases.use(
                .postgres(
                    configuration: writes, maxConnectionsPerEventLoop: poolSize, connectionPoolTimeout: poolTimeout),
                as: .psql)
            // The hot reads (`PostgresPreparedReads`) have a pool of their own, whose statements are planned for
            // any values, so that a prepared read is planned once per connection. Left to choose, PostgreSQL
            // planned the Manage Members search again for its values on every request (a "custom plan": +27 %
            // requests per second without). Reads only: the same setting on the writes' pool doubled the bulk
            // reset's and role change's time, whose statements it planned without their values.
            //
            // Their random page cost is an in-memory one (1.1, the usual setting for SSDs and cached data, against
            // the default 4, a spinning disk's): planned with 4, the page of a 10,000-member organization joined its
            // 51 members back through a hash of the whole table (3 ms in the backend) instead of 51 index lookups
            // (0.2 ms), as the lookups looked dearer than reading every row.
            var reads = configuration
            reads.coreConfiguration.options.additionalStartupParameters.append(
                ("plan_cache_mode", "force_generic_plan"))
            reads.coreConfiguration.options.additionalStartupParameters.append(("random_page_cost", "1.1"))
            reads.coreConfiguration.options.additionalStartupParameters.append(
                ("application_name", "latchkey-\(instanceTag)-reads"))
            databases.use(
                .postgres(
                    configuration: reads, maxConnectionsPerEventLoop: poolSize, connectionPoolTimeout: poolTimeout),
                as: .psqlReads, isDefault: false)
            var handles: [ObjectIdentifier: PostgresHandles] = [:]
            for loop in databases.eventLoopGroup.makeIterator() {
                handles[ObjectIdentifier(loop)] = PostgresHandles(
                    writes: databases.database(logger: logger, on: loop)!,
                    reads: databases.database(.psqlReads, logger: logger, on: loop)
                        as? any PostgresDatabase & SQLDatabase)
            }
            postgresHandles = handles
        }
    }

    /// On PostgreSQL, the pool of the hot reads outside a transaction (see `PostgresPreparedReads`).
    var postgresReads: (any PostgresDatabase & SQLDatabase)? {
        guard location.isPostgres else { return nil }
        let loop = databases.eventLoopGroup.any()
        if let handles = postgresHandles[ObjectIdentifier(loop)] { return handles.reads }
        return databases.database(.psqlReads, logger: logger, on: loop) as? any PostgresDatabase & SQLDatabase
    }

    /// How this instance's database connections are used now, per pool (for the metrics). SQLite: the one writing
    /// connection (busy while a transaction holds it, with the work queued behind it) and the read-only
    /// connections; PostgreSQL: each pool's connections as `pg_stat_activity` sees them (this query's own
    /// connection not counted).
    public func poolUse() async throws -> [PoolUse] {
        if let writer, let reader {
            let (busy, waiting) = await writer.use()
            let reads = reader.use
            return [
                PoolUse(pool: "writes", inUse: busy ? 1 : 0, idle: busy ? 0 : 1, capacity: 1, waiting: waiting),
                PoolUse(pool: "reads", inUse: reads.inUse, idle: reads.idle, capacity: reader.keep, waiting: 0),
            ]
        }
        let rows = try await sql.raw(
            """
            SELECT application_name AS name, count(*) FILTER (WHERE state = 'active') AS busy, count(*) AS open
            FROM pg_stat_activity WHERE application_name LIKE \(bind: "latchkey-\(instanceTag)-%") GROUP BY 1
            """
        ).all()
        var use = ["writes": (0, 0), "reads": (0, 0)]
        for row in rows {
            let name = try row.decode(column: "name", as: String.self)
            let pool = name.hasSuffix("-reads") ? "reads" : "writes"
            use[pool] = (try row.decode(column: "busy", as: Int.self), try row.decode(column: "open", as: Int.self))
        }
        // This query runs on one of the writes' connections.
        let writes = use["writes"]!, reads = use["reads"]!
        return [
            PoolUse(
                pool: "writes", inUse: max(0, writes.0 - 1), idle: writes.1 - max(0, writes.0 - 1),
                capacity: poolCapacity,
                waiting: 0),
            PoolUse(pool: "reads", inUse: reads.0, idle: reads.1 - reads.0, capacity: poolCapacity, waiting: 0),
        ]
    }

    /// A handle for queries.
    public var db: any Database {
        if let writerDB { return writerDB }
        let loop = databases.eventLoopGroup.any()
        return postgresHandles[ObjectIdentifier(loop)]?.writes ?? databases.database(logger: logger, on: loop)!
    }

    /// The same handle as an SQLKit database, for set-based statements.
    public var sql: any SQLDatabase { db as! any SQLDatabase }

    /// Applies every pending migration (and, on SQLite, switches the file to write-ahead logging: one
    /// fsync per transaction at the log instead of several at the database).
    public func migrate() async throws {
        let migrations = Migrations()
        migrations.add(LatchkeyMigrations.all)
        let migrator = Migrator(
            databases: databases, migrations: migrations, logger: logger, on: databases.eventLoopGroup.any())
        let sql = self.sql
        let sqlite = !location.isPostgres
        // Several instances starting at once: one migrates, the others wait for it and then find nothing to do.
        try await exclusively {
            if sqlite {
                // Under the lock too: processes switching a new file to WAL at once can meet SQLITE_BUSY whatever
                // their busy timeout (20 rounds in 300 of 16 processes did), as each needs the file to itself.
                _ = try await sql.raw("PRAGMA journal_mode = WAL").all()
                try await sql.raw("PRAGMA synchronous = NORMAL").run()
                // A 64 MiB page cache and memory-mapped reads (the default cache is 2 MiB).
                try await sql.raw("PRAGMA cache_size = -65536").run()
                _ = try await sql.raw("PRAGMA mmap_size = 268435456").all()
                // Commits leave the log's checkpoints to `SQLiteCheckpointer` (the writer's own is a safety net),
                // and a log that grew past the limit is cut back once it has been copied.
                _ = try await sql.raw("PRAGMA wal_autocheckpoint = \(literal: SQLiteCheckpointer.safetyNetPages)")
                    .all()
                _ = try await sql.raw("PRAGMA journal_size_limit = 67108864").all()
            }
            try await migrator.setupIfNeeded().get()
            try await migrator.prepareBatch().get()
        }
        if case .sqlite(let path) = location {
            try checkpointer.withLock { current in
                if current == nil { current = try SQLiteCheckpointer(path: path, logger: logger) }
            }
        }
    }

    /// Runs `body` while no other process runs its own: on PostgreSQL under a session advisory lock held by one
    /// connection of the pool (the body uses others); on SQLite under an exclusive `flock` of `FILE-lock` beside
    /// the database (a lock on the database file itself would be released with SQLite's own when it closed).
    func exclusively(_ body: @escaping @Sendable () async throws -> Void) async throws {
        switch location {
        case .postgres:
            let key = Self.migrationLockKey
            try await db.withConnection { connection in
                connection.eventLoop.makeFutureWithTask {
                    let sql = connection as! any SQLDatabase
                    try await sql.raw("SELECT pg_advisory_lock(\(literal: key))").run()
                    var failure: (any Error)?
                    do { try await body() } catch { failure = error }
                    // Released whatever happened (and with the session, should this fail).
                    try? await sql.raw("SELECT pg_advisory_unlock(\(literal: key))").run()
                    if let failure { throw failure }
                }
            }.get()
        case .sqlite(let path):
            let descriptor = open(path + "-lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { return try await body() }
            defer { close(descriptor) }
            // Waiting here blocks this thread only while another process migrates, once, at start.
            _ = flock(descriptor, LOCK_EX)
            defer { _ = flock(descriptor, LOCK_UN) }
            try await body()
        }
    }

    /// Writes a consistent copy of an SQLite database to `path` while it serves (`VACUUM INTO`: one read
    /// transaction, so writers go on and the copy is the database as of one moment, compacted). A file already at
    /// `path` is refused, never overwritten; PostgreSQL has its own tool (`pg_dump`).
    public func backup(to path: String) async throws {
        guard case .sqlite = location else {
            throw LatchkeyError.badRequest(
                "backup_postgres", "Back up a PostgreSQL database with pg_dump; `latchkey backup` copies SQLite files.")
        }
        guard !FileManager.default.fileExists(atPath: path) else {
            throw LatchkeyError(
                .conflict, "backup_exists", "\(path) exists: choose a new file (a backup never overwrites one).")
        }
        try await sql.raw("VACUUM INTO \(bind: path)").run()
    }

    /// The advisory lock's key: "latchkey" in ASCII.
    static let migrationLockKey: Int64 = 0x6c61_7463_686b_6579

    /// Stops unless every migration this build knows has been applied: what a read-only command checks instead of
    /// migrating (it never writes, so it never changes the schema either).
    public func requireCurrentSchema() async throws {
        let applied: Set<String>
        do {
            applied = Set(
                try await sql.raw("SELECT name FROM _fluent_migrations").all().map {
                    try $0.decode(column: "name", as: String.self)
                })
        } catch {
            throw LatchkeyError.schemaNotCurrent(
                "\(location) holds no Latchkey database yet: `latchkey migrate` (or `serve`) creates it.")
        }
        let pending = LatchkeyMigrations.all.map(\.name).filter { !applied.contains($0) }
        guard pending.isEmpty else {
            throw LatchkeyError.schemaNotCurrent(
                "\(location) lacks \(pending.count) of this version's migrations: run `latchkey migrate` first.")
        }
    }

    /// What the SQLite checkpointer did so far (nil on PostgreSQL, or before the first migration).
    var checkpoints: SQLiteCheckpointer.Counts? { checkpointer.withLock { $0?.counts } }

    /// Closes every connection, once: later calls (a test that closed it early, then the server's own shutdown)
    /// do nothing.
    public func shutdown() async {
        guard
            !closed.withLock({ closed in
                defer { closed = true }; return closed
            })
        else { return }
        await reader?.close()
        await checkpointer.withLock({ current in
            defer { current = nil }
            return current
        })?.close()
        await databases.shutdownAsync()
        try? await ownedEventLoopGroup?.shutdownGracefully()
    }
}

extension DatabaseID {
    /// The SQLite writer (`SQLiteWriter`).
    static let sqlite = DatabaseID(string: "sqlite")

    /// The PostgreSQL pool of the hot reads.
    static let psqlReads = DatabaseID(string: "psql-reads")
}

extension LatchkeyError {
    /// A read-only command found no database, or one older than this build: it does not migrate.
    public static func schemaNotCurrent(_ message: String) -> LatchkeyError {
        LatchkeyError(.conflict, "schema_not_current", message)
    }
}

/// One pool's connections now (see `LatchkeyDatabase.poolUse`).
public struct PoolUse: Sendable, Equatable {
    public var pool: String
    public var inUse: Int
    public var idle: Int
    /// The most connections it may open.
    public var capacity: Int
    /// Work queued for a connection (the SQLite writer's queue; 0 where the pool does not tell).
    public var waiting: Int
}
