import FluentKit
import FluentSQL
import Logging
import NIOCore
import SQLKit
import SQLiteKit
import SQLiteNIO
import VaporCSQLite

/// The one read-write connection to the SQLite file, on a thread of its own, and the Fluent database over it.
///
/// SQLite has one writer at a time; Latchkey keeps one writing connection per process, so no write ever waits on
/// a lock held by another of its own connections. Statements run on the writer's thread (an event loop of its own)
/// and stay prepared. A transaction's body runs on that thread too (a task executor preference), so each of its
/// statements runs where the body is, without a hand-over to another thread and back: through SQLiteNIO's pool a
/// statement cost three thread wake-ups, and a TOTP sign-in's dozen statements most of its CPU.
///
/// While a transaction is open, statements from outside it wait in order, and so does the next transaction; each
/// waits at most `waitLimit` (a body that used another store inside its transaction would otherwise wait forever).
final class SQLiteWriter: @unchecked Sendable {
    /// The writer's thread. Everything below that is not `let` is touched on it only.
    let loop: any EventLoop
    let executor: LoopExecutor
    private let path: String
    private var connection: SQLiteReader.Connection?
    /// The open transaction, if any.
    private var owner: UInt64?
    private var lastTransaction: UInt64 = 0
    private var waiting: [Waiting] = []
    private var lastWaiting: UInt64 = 0
    static let waitLimit = TimeAmount.seconds(30)

    /// Work queued behind an open transaction.
    private struct Waiting {
        var id: UInt64
        var run: @Sendable () -> Void
        var fail: @Sendable (any Error) -> Void
        var timeout: Scheduled<Void>?
    }

    init(path: String, loop: any EventLoop) {
        self.path = path
        self.loop = loop
        executor = LoopExecutor(loop: loop)
    }

    /// The connection, opened at first use (the writer creates the file).
    private func open() throws -> SQLiteReader.Connection {
        loop.preconditionInEventLoop()
        if let connection { return connection }
        let opened = try SQLiteReader.Connection(
            path: path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
            plannerStability: false, busyTimeout: 30_000, pragmas: ["PRAGMA foreign_keys = ON"])
        connection = opened
        return opened
    }

    /// Closes the connection (at shutdown).
    func close() async {
        try? await loop.submit {
            self.connection?.close()
            self.connection = nil
        }.get()
    }

    // MARK: Running work in order

    /// Runs `work` with the connection on the writer's thread: at once when the connection is free for it (no
    /// transaction open, or `transaction` is the one open), else after the work queued before it.
    func run<T: Sendable>(in transaction: UInt64?, _ work: @escaping @Sendable (SQLiteReader.Connection) throws -> T)
        -> EventLoopFuture<T>
    {
        let promise = loop.makePromise(of: T.self)
        submit(in: transaction, run: { promise.completeWith(Result { try work(try self.open()) }) }, fail: promise.fail)
        return promise.futureResult
    }

    /// Runs `work` at once when called on the writer's thread with the connection free for it; nil otherwise.
    func runNow<T>(in transaction: UInt64?, _ work: (SQLiteReader.Connection) throws -> T) throws -> T? {
        guard loop.inEventLoop, isFree(for: transaction) else { return nil }
        return try work(try open())
    }

    private func isFree(for transaction: UInt64?) -> Bool {
        if let owner { return transaction == owner }
        return transaction == nil && waiting.isEmpty
    }

    /// Runs `run` on the writer's thread when the connection is free for `transaction`, or queues it (failed with
    /// `Busy` after `waitLimit`).
    private func submit(
        in transaction: UInt64?, run: @escaping @Sendable () -> Void, fail: @escaping @Sendable (any Error) -> Void
    ) {
        guard loop.inEventLoop else {
            return loop.execute { self.submit(in: transaction, run: run, fail: fail) }
        }
        if isFree(for: transaction) { return run() }
        lastWaiting += 1
        let id = lastWaiting
        let timeout = loop.scheduleTask(in: Self.waitLimit) {
            guard let index = self.waiting.firstIndex(where: { $0.id == id }) else { return }
            self.waiting.remove(at: index).fail(Busy())
        }
        waiting.append(Waiting(id: id, run: run, fail: fail, timeout: timeout))
    }

    /// Whether a transaction holds the connection, and how much work waits for it (for the metrics).
    func use() async -> (busy: Bool, waiting: Int) {
        (try? await loop.submit { (self.owner != nil, self.waiting.count) }.get()) ?? (false, 0)
    }

    /// Runs the queued work in order until a transaction opens.
    private func drain() {
        while owner == nil, !waiting.isEmpty {
            let next = waiting.removeFirst()
            next.timeout?.cancel()
            next.run()
        }
    }

    /// The database stayed busy: a transaction held the connection longer than `waitLimit`.
    struct Busy: Error, CustomStringConvertible {
        var description: String {
            "The SQLite writer stayed busy for \(SQLiteWriter.waitLimit.nanoseconds / 1_000_000_000) seconds."
        }
    }

    // MARK: Transactions

    /// Opens a transaction (once the connection is free): `BEGIN IMMEDIATE`, so that it holds the file's write
    /// lock from its start and never has to upgrade a read lock another process's writer could be waiting on.
    private func begin() -> EventLoopFuture<UInt64> {
        let promise = loop.makePromise(of: UInt64.self)
        let start: @Sendable () -> Void = {
            self.loop.preconditionInEventLoop()
            self.lastTransaction += 1
            let id = self.lastTransaction
            do {
                try self.open().query("BEGIN IMMEDIATE", []) { _ in }
                self.owner = id
                promise.succeed(id)
            } catch {
                promise.fail(error)
                self.drain()
            }
        }
        submit(in: nil, run: start, fail: promise.fail)
        return promise.futureResult
    }

    /// Commits (or rolls back) transaction `id` and hands the connection to the work waiting for it.
    private func end(_ id: UInt64, commit: Bool) -> EventLoopFuture<Void> {
        let finish: @Sendable () throws -> Void = {
            precondition(self.owner == id, "ending a transaction that is not open")
            defer {
                self.owner = nil
                self.drain()
            }
            let connection = try self.open()
            guard commit else { return try connection.query("ROLLBACK", []) { _ in } }
            do {
                try connection.query("COMMIT", []) { _ in }
            } catch {
                try? connection.query("ROLLBACK", []) { _ in }
                throw error
            }
        }
        return loop.inEventLoop ? loop.makeCompletedFuture(withResultOf: finish) : loop.submit(finish)
    }

    /// Runs `body` in one transaction, on the writer's thread.
    func transaction<T: Sendable>(
        context: DatabaseContext, _ body: @escaping @Sendable (any Database) async throws -> T
    ) async throws -> T {
        try await withTaskExecutorPreference(executor) {
            let id = try await self.begin().get()
            let tx = SQLiteWriteDatabase(writer: self, context: context, transaction: id)
            let value: T
            do {
                value = try await body(tx)
            } catch {
                try? await self.end(id, commit: false).get()
                throw error
            }
            try await self.end(id, commit: true).get()
            return value
        }
    }
}

/// A failed SQLite call, as Fluent classifies errors (a unique key taken is a constraint failure).
extension SQLiteReader.Failure: DatabaseError {
    var isSyntaxError: Bool { code & 0xff == SQLITE_ERROR }
    var isConstraintFailure: Bool { code & 0xff == SQLITE_CONSTRAINT }
    var isConnectionClosed: Bool { code & 0xff == SQLITE_MISUSE || code & 0xff == SQLITE_CANTOPEN }
}

/// The writer as a Fluent and SQLKit database: the pool's handle (`transaction` nil) or one transaction's.
struct SQLiteWriteDatabase: Database, SQLDatabase {
    let writer: SQLiteWriter
    let context: DatabaseContext
    let transaction: UInt64?

    var inTransaction: Bool { transaction != nil }

    // MARK: SQLKit

    var logger: Logger { context.logger }
    var eventLoop: any EventLoop { writer.loop }
    var dialect: any SQLDialect { SQLiteDialect() }
    var version: (any SQLDatabaseReportedVersion)? { nil }
    var queryLogLevel: Logger.Level? { nil }

    private func statement(_ query: any SQLExpression) throws -> (String, [SQLiteData]) {
        let (sql, binds) = serialize(query)
        return (sql, try binds.map(SQLiteBinds.data))
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void)
        -> EventLoopFuture<Void>
    {
        do {
            let (sql, binds) = try statement(query)
            return writer.run(in: transaction) { try $0.query(sql, binds) { onRow($0) } }
        } catch {
            return writer.loop.makeFailedFuture(error)
        }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        let (sql, binds) = try statement(query)
        // On the writer's thread with the connection free for it (a transaction's own statement): run it here.
        if try writer.runNow(in: transaction, { try $0.query(sql, binds) { onRow($0) } }) != nil { return }
        try await writer.run(in: transaction) { try $0.query(sql, binds) { onRow($0) } }.get()
    }

    // MARK: Fluent

    func execute(query: DatabaseQuery, onOutput: @escaping @Sendable (any DatabaseOutput) -> Void)
        -> EventLoopFuture<Void>
    {
        var converted = SQLQueryConverter(delegate: SQLiteWriterConverterDelegate()).convert(query)
        // A created row returns its id (as FluentSQLiteDriver asks).
        if case .create = query.action, query.customIDKey != .some(.string("")) {
            converted = SQLKit.SQLList(
                [converted, SQLReturning(.init((query.customIDKey ?? .id).description))], separator: SQLRaw(" "))
        }
        return execute(sql: converted) { onOutput(SQLRowOutput(row: $0, schema: nil)) }
    }

    func execute(schema: DatabaseSchema) -> EventLoopFuture<Void> {
        var schema = schema
        if schema.action == .update {
            schema.updateFields = schema.updateFields.filter {
                if case .dataType(_, .enum) = $0 { return false }
                return true
            }
            guard schema.createConstraints.isEmpty, schema.updateFields.isEmpty, schema.deleteConstraints.isEmpty
            else {
                return writer.loop.makeFailedFuture(
                    SQLiteReader.Failure(code: SQLITE_ERROR, message: "SQLite only adds columns in ALTER TABLE."))
            }
            if schema.createFields.isEmpty, schema.deleteFields.isEmpty { return writer.loop.makeSucceededFuture(()) }
        }
        return execute(sql: SQLSchemaConverter(delegate: SQLiteWriterConverterDelegate()).convert(schema)) { _ in }
    }

    func execute(enum: DatabaseEnum) -> EventLoopFuture<Void> { writer.loop.makeSucceededFuture(()) }

    func transaction<T>(_ closure: @escaping @Sendable (any Database) -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        if inTransaction { return closure(self) }
        let promise = writer.loop.makePromise(of: UncheckedBox<T>.self)
        let box = UncheckedBox(closure)
        promise.completeWithTask { [context, writer] in
            try await writer.transaction(context: context) { tx in
                try await box.value(tx).map { UncheckedBox($0) }.get()
            }
        }
        return promise.futureResult.map { $0.value }
    }

    func withConnection<T>(_ closure: @escaping @Sendable (any Database) -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        closure(self)
    }
}

/// Carries a value the compiler cannot prove `Sendable` across a task boundary (Fluent's futures-based protocol
/// predates `Sendable` results).
private struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// SQLite's column types for Fluent's schema types (as FluentSQLiteDriver maps them).
private struct SQLiteWriterConverterDelegate: SQLConverterDelegate {
    func customDataType(_ dataType: DatabaseSchema.DataType) -> (any SQLExpression)? {
        switch dataType {
        case .string: SQLRaw("TEXT")
        case .datetime: SQLRaw("REAL")
        case .int64: SQLRaw("INTEGER")
        case .enum: SQLRaw("TEXT")
        default: nil
        }
    }
}

/// A row as Fluent reads a model from it (fields prefixed with the schema when asked).
private struct SQLRowOutput: DatabaseOutput {
    let row: any SQLRow
    let schema: String?

    var description: String { String(describing: row) }

    private func column(_ key: FieldKey) -> String {
        (schema.map { .prefix(.prefix(.string($0), "_"), key) } ?? key).description
    }

    func schema(_ schema: String) -> any DatabaseOutput { SQLRowOutput(row: row, schema: schema) }
    func contains(_ key: FieldKey) -> Bool { row.contains(column: column(key)) }
    func decodeNil(_ key: FieldKey) throws -> Bool { try row.decodeNil(column: column(key)) }
    func decode<T: Decodable>(_ key: FieldKey, as: T.Type) throws -> T {
        try row.decode(column: column(key), as: T.self)
    }
}

/// Fluent's configuration for the writer: `databases.use(SQLiteWriterConfiguration(writer:), as: .sqlite)`.
struct SQLiteWriterConfiguration: DatabaseConfiguration {
    let writer: SQLiteWriter
    var middleware: [any AnyModelMiddleware] = []

    func makeDriver(for databases: Databases) -> any DatabaseDriver { Driver(writer: writer) }

    struct Driver: DatabaseDriver {
        let writer: SQLiteWriter

        func makeDatabase(with context: DatabaseContext) -> any Database {
            SQLiteWriteDatabase(writer: writer, context: context, transaction: nil)
        }

        func shutdown() {}
        func shutdownAsync() async { await writer.close() }
    }
}
