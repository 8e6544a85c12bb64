import FluentKit
import Foundation
import Logging
import NIOCore
import PostgresKit
import PostgresNIO
import SQLKit

/// A transaction on PostgreSQL: one connection of the writes' pool, between `BEGIN` and `COMMIT` (or `ROLLBACK`
/// when the body throws, or the commit fails).
///
/// Fluent's own transaction runs every SQLKit statement through PostgresKit: futures chained per statement, each
/// bind encoded through `Encodable`, each row decoded through `Decodable`. A TOTP sign-in runs a dozen statements
/// in its transaction, and that machinery was most of its CPU. Here a statement whose binds are all of the types
/// `PostgresPreparedReads.append` knows goes straight to the connection's async `query`, and its rows come back as
/// `PostgresReadRow`s (read through PostgresNIO's own decoders). Statements are not prepared by name: PostgresNIO
/// remembers a failed preparation on its connection for good, and inside a transaction a preparation fails
/// whenever an earlier statement did.
///
/// Fluent's model queries, schema changes and statements with other binds run on Fluent's handle of the same
/// connection, inside the same transaction. (`alone` runs a body whose one statement is its own transaction on the
/// same direct path, without `BEGIN` and `COMMIT`: `SecondFactorAcceptance`.)
///
/// The body runs on the connection's event loop (`LoopExecutor`, as the SQLite writer's transactions do): each
/// statement's answer arrives on that thread and the body goes on there, instead of waking a thread of the shared
/// pool for every statement. TOTP on PostgreSQL: 2.47 → 2.17 ms of CPU a verification.
struct PostgresTransaction: Database, SQLDatabase {
    /// Fluent's handle bound to `connection`.
    let fluent: any Database
    let connection: PostgresConnection

    /// Runs `body` in a transaction on a connection of `database`'s pool.
    static func run<T: Sendable>(
        on database: any Database & PostgresDatabase,
        _ body: @escaping @Sendable (any Database) async throws -> T
    ) async throws -> T {
        try await connected(to: database) { try await $0.run(body) }
    }

    /// Runs `body`, whose one statement is its own transaction, on a connection of `database`'s pool: the same
    /// direct path without `BEGIN` and `COMMIT`.
    static func alone<T: Sendable>(
        on database: any Database & PostgresDatabase,
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> T
    ) async throws -> T {
        try await connected(to: database) { try await body($0) }
    }

    /// Runs `body` with a connection of `database`'s pool, on that connection's event loop.
    private static func connected<T: Sendable>(
        to database: any Database & PostgresDatabase,
        _ body: @escaping @Sendable (PostgresTransaction) async throws -> T
    ) async throws -> T {
        try await database.withConnection { (bound: any Database) -> EventLoopFuture<T> in
            guard let postgres = bound as? any PostgresDatabase else {
                return bound.eventLoop.makeFailedFuture(PostgresTransactionError.notPostgres)
            }
            return postgres.withConnection { (connection: PostgresConnection) -> EventLoopFuture<T> in
                connection.eventLoop.makeFutureWithTask {
                    try await withTaskExecutorPreference(LoopExecutor(loop: connection.eventLoop)) {
                        try await body(PostgresTransaction(fluent: bound, connection: connection))
                    }
                }
            }
        }.get()
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable (any Database) async throws -> T) async throws -> T {
        try await connection.query("BEGIN", logger: logger)
        let result: T
        do {
            result = try await body(self)
            try await connection.query("COMMIT", logger: logger)
        } catch {
            // A failed commit has ended the transaction already; ROLLBACK then only warns.
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
        return result
    }

    // MARK: Database

    var context: DatabaseContext { fluent.context }
    var inTransaction: Bool { true }

    func execute(query: DatabaseQuery, onOutput: @escaping @Sendable (any DatabaseOutput) -> Void)
        -> EventLoopFuture<Void>
    {
        fluent.execute(query: query, onOutput: onOutput)
    }

    func execute(schema: DatabaseSchema) -> EventLoopFuture<Void> { fluent.execute(schema: schema) }
    func execute(enum: DatabaseEnum) -> EventLoopFuture<Void> { fluent.execute(enum: `enum`) }

    func transaction<T>(_ closure: @escaping @Sendable (any Database) -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        closure(self)
    }

    func withConnection<T>(_ closure: @escaping @Sendable (any Database) -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        closure(self)
    }

    // MARK: SQLDatabase

    var logger: Logger { fluent.context.logger }
    var eventLoop: any EventLoop { connection.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { (fluent as? any SQLDatabase)?.version }
    var dialect: any SQLDialect { PostgresDialect() }
    var queryLogLevel: Logger.Level? { nil }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void)
        -> EventLoopFuture<Void>
    {
        eventLoop.makeFutureWithTask { try await self.execute(sql: query, onRow) }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        let (sql, binds) = serialize(query)
        guard let (bindings, _) = PostgresPreparedReads.bind(binds) else {
            guard let fluent = fluent as? any SQLDatabase else { throw PostgresTransactionError.notPostgres }
            return try await fluent.execute(sql: query, onRow)
        }
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        try await PostgresReadRow.each(of: rows, onRow)
    }
}

enum PostgresTransactionError: Error {
    /// Fluent's handle of a PostgreSQL connection was not PostgresKit's (a FluentPostgresDriver this code does not
    /// know).
    case notPostgres
}
