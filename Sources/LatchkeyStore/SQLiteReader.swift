// `sqlite3_db_config`, which Swift cannot call (variadic).
import CLatchkeySQLite
import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import SQLiteNIO
import Synchronization
// The C library SQLiteNIO itself links (its symbols carry the `sqlite_nio_` prefix). It must be the same copy:
// two copies of SQLite in one process do not see each other's POSIX locks and can corrupt the file.
import VaporCSQLite

/// Read-only connections to the SQLite file, beside the pool's single writer, for the hot reads of every request
/// (the session, the Manage Members page and its count, the roles).
///
/// In write-ahead-log mode readers never wait for the writer nor for each other, and each statement sees the
/// last committed transaction. Statements are prepared once per connection and kept, and rows are decoded
/// without the general `Decodable` path: through the writer's pool every query was prepared anew, and the two
/// together were a fifth of a page's CPU.
///
/// Reads run on threads of their own, never on the writer's (a long write does not hold a page up) nor on the
/// caller's: run inline on Swift's cooperative threads they were cheaper still, but starved the other requests'
/// tasks — at 16 clients p50 fell to 9.5 ms and p99 rose to 60 ms; on their own threads p99 is 15 ms.
///
/// Only for reads outside a transaction: code in a transaction must read through the transaction to see its
/// own writes (`Store.transaction` gives its repositories no reader).
final class SQLiteReader: Sendable {
    let path: String
    let logger: Logger
    let eventLoop: any EventLoop
    /// Where the reads run: one thread per core.
    let threads: NIOThreadPool
    private let idle = Mutex<[Connection]>([])
    /// Connections handed out now (for the metrics).
    private let busy = Atomic<Int>(0)
    /// Connections kept open while idle (a caller of `withConnection` who finds none idle opens one of its own,
    /// closed after if `keep` are idle by then).
    let keep: Int

    init(path: String, eventLoop: any EventLoop, logger: Logger) {
        self.path = path
        self.eventLoop = eventLoop
        self.logger = logger
        threads = NIOThreadPool(numberOfThreads: System.coreCount)
        // One per reader thread, and one per core for the reads that run on their caller's thread.
        keep = 2 * System.coreCount
        threads.start()
    }

    /// Runs `body` with a connection of its own.
    func withConnection<T>(_ body: (Connection) throws -> T) throws -> T {
        let connection = try idle.withLock { $0.popLast() } ?? Connection(path: path)
        busy.add(1, ordering: .relaxed)
        defer {
            busy.subtract(1, ordering: .relaxed)
            let closing = idle.withLock { idle -> Connection? in
                guard idle.count < keep else { return connection }
                idle.append(connection)
                return nil
            }
            closing?.close()
        }
        return try body(connection)
    }

    /// Connections in use and kept idle now.
    var use: (inUse: Int, idle: Int) {
        (busy.load(ordering: .relaxed), idle.withLock { $0.count })
    }

    /// Stops the threads and closes the connections (at shutdown).
    func close() async {
        try? await threads.shutdownGracefully()
        for connection in idle.withLock({ idle in
            defer { idle = [] }; return idle
        }) { connection.close() }
    }

    /// An error of the SQLite library, with its message.
    struct Failure: Error, CustomStringConvertible {
        var code: Int32
        var message: String
        var description: String { "SQLite error \(code): \(message)" }
    }

    /// One connection and its prepared statements: read-only for a reader, read-write for `SQLiteWriter`. Used by
    /// one thread at a time (the reader hands it out to one caller; the writer uses it on its own thread only).
    final class Connection: @unchecked Sendable {
        private var handle: OpaquePointer?
        private var statements: [String: OpaquePointer] = [:]
        /// The column names of each kept statement's rows (fixed once it is prepared), read at its first row.
        private var columnNames: [String: ColumnNames] = [:]
        /// How many statements are kept prepared at most: the writer's bulk statements, whose text varies with the
        /// number of their rows, are prepared for one run and finalized after it once the cache is full.
        static let keptStatements = 256

        /// Opens a read-only connection (a reader's): an 8 MiB page cache of its own, and no memory-mapped reads.
        /// In write-ahead-log mode a connection drops its map of the file at the first read after any commit by
        /// another connection (and its page cache with it), so a mapped reader unmapped and mapped 50 MB again,
        /// and faulted its pages back in, after nearly every write — a tenth of a TOTP sign-in's CPU — while read
        /// through its cache and the system's the Manage Members page costs the same CPU as mapped.
        convenience init(path: String) throws {
            try self.init(
                path: path, flags: SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE,
                plannerStability: true,
                pragmas: ["PRAGMA mmap_size = 0", "PRAGMA cache_size = -8192", "PRAGMA query_only = 1"])
        }

        /// Opens a connection with `flags`, then runs `pragmas`. `plannerStability`: plans that do not depend on
        /// bound values (see below).
        init(path: String, flags: Int32, plannerStability: Bool, busyTimeout: Int32 = 5000, pragmas: [String]) throws {
            var handle: OpaquePointer?
            let status = sqlite_nio_sqlite3_open_v2(path, &handle, flags, nil)
            guard status == SQLITE_OK, let handle else {
                let message = handle.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "cannot open"
                sqlite_nio_sqlite3_close_v2(handle)
                throw Failure(code: status, message: message)
            }
            self.handle = handle
            sqlite_nio_sqlite3_busy_timeout(handle, busyTimeout)
            // Errors say which constraint failed (`SQLITE_CONSTRAINT_UNIQUE`, …), as SQLiteNIO's connections do.
            sqlite_nio_sqlite3_extended_result_codes(handle, 1)
            // Plans that do not depend on bound values. SQLite's planner may look at the values bound to a
            // statement, and then marks the statement to be prepared again whenever a new value is bound: for a
            // join or an ORDER BY … LIMIT — the session's lookup and every page — that was every run, a tenth of a
            // page's CPU spent preparing statements kept so as not to prepare them.
            if plannerStability {
                let qpsg = latchkey_sqlite3_enable_qpsg(UnsafeMutableRawPointer(handle))
                guard qpsg == SQLITE_OK else {
                    sqlite_nio_sqlite3_close_v2(handle)
                    throw Failure(code: qpsg, message: "cannot turn on the query planner stability guarantee")
                }
            }
            for pragma in pragmas { try query(pragma, []) { _ in } }
        }

        func close() {
            for statement in statements.values { sqlite_nio_sqlite3_finalize(statement) }
            statements = [:]
            columnNames = [:]
            sqlite_nio_sqlite3_close_v2(handle)
            handle = nil
        }

        deinit { close() }

        private func failure(_ status: Int32) -> Failure {
            Failure(code: status, message: handle.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "closed")
        }

        /// The statement for `sql`, and whether it is kept (else the caller finalizes it after its run).
        private func prepared(_ sql: String) throws -> (statement: OpaquePointer, kept: Bool) {
            if let statement = statements[sql] { return (statement, true) }
            let keep = statements.count < Self.keptStatements
            var statement: OpaquePointer?
            let status = sqlite_nio_sqlite3_prepare_v3(
                handle, sql, -1, keep ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0, &statement, nil)
            guard status == SQLITE_OK, let statement else {
                sqlite_nio_sqlite3_finalize(statement)
                throw failure(status)
            }
            if keep { statements[sql] = statement }
            return (statement, keep)
        }

        /// How many times the kept statement for `sql` was prepared again since it was first prepared (0 when it
        /// was never run here).
        func timesPreparedAgain(_ sql: String) -> Int32 {
            statements[sql].map { sqlite_nio_sqlite3_stmt_status($0, SQLITE_STMTSTATUS_REPREPARE, 0) } ?? 0
        }

        /// Runs `sql` with `binds`, handing each row to `onRow`. The statement is reset afterwards, which ends
        /// its read transaction (a reader left open would hold back the log's checkpoints).
        func query(_ sql: String, _ binds: [SQLiteData], _ onRow: (Row) throws -> Void) throws {
            let (statement, kept) = try prepared(sql)
            defer {
                if kept {
                    sqlite_nio_sqlite3_reset(statement)
                    sqlite_nio_sqlite3_clear_bindings(statement)
                } else {
                    sqlite_nio_sqlite3_finalize(statement)
                }
            }
            for (offset, bind) in binds.enumerated() {
                let index = Int32(offset + 1)
                let status: Int32
                switch bind {
                case .integer(let value): status = sqlite_nio_sqlite3_bind_int64(statement, index, Int64(value))
                case .float(let value): status = sqlite_nio_sqlite3_bind_double(statement, index, value)
                case .null: status = sqlite_nio_sqlite3_bind_null(statement, index)
                case .text(let value):
                    status = sqlite_nio_sqlite3_bind_text64(
                        statement, index, value, UInt64(value.utf8.count), transient, UInt8(SQLITE_UTF8))
                case .blob(let value):
                    status = value.withUnsafeReadableBytes {
                        sqlite_nio_sqlite3_bind_blob64(statement, index, $0.baseAddress, UInt64($0.count), transient)
                    }
                }
                guard status == SQLITE_OK else { throw failure(status) }
            }
            let count = sqlite_nio_sqlite3_column_count(statement)
            var names = columnNames[sql]
            while true {
                let status = sqlite_nio_sqlite3_step(statement)
                if status == SQLITE_DONE { return }
                guard status == SQLITE_ROW else { throw failure(status) }
                if names == nil || names!.names.count != count {  // (a schema change re-prepares it)
                    names = ColumnNames(
                        (0..<count).map { String(cString: sqlite_nio_sqlite3_column_name(statement, $0)) })
                    if kept { columnNames[sql] = names }
                }
                var values: [SQLiteData] = []
                values.reserveCapacity(Int(count))
                for column in 0..<count { values.append(value(statement, column)) }
                try onRow(Row(names: names!, values: values))
            }
        }

        private func value(_ statement: OpaquePointer, _ column: Int32) -> SQLiteData {
            switch sqlite_nio_sqlite3_column_type(statement, column) {
            case SQLITE_INTEGER: return .integer(Int(sqlite_nio_sqlite3_column_int64(statement, column)))
            case SQLITE_FLOAT: return .float(sqlite_nio_sqlite3_column_double(statement, column))
            case SQLITE_TEXT:
                guard let text = sqlite_nio_sqlite3_column_text(statement, column) else { return .text("") }
                let length = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
                return .text(String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self))
            case SQLITE_BLOB:
                let length = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
                var buffer = ByteBufferAllocator().buffer(capacity: length)
                if let bytes = sqlite_nio_sqlite3_column_blob(statement, column) {
                    buffer.writeBytes(UnsafeRawBufferPointer(start: bytes, count: length))
                }
                return .blob(buffer)
            default: return .null
            }
        }
    }

    /// A row read by a reader. The hot decoders read it through `RowColumns` (below), straight from the stored
    /// values; `decode` goes through SQLiteKit's decoder, as a row of the writer's pool does.
    struct Row: SQLRow {
        let names: ColumnNames
        let values: [SQLiteData]

        var allColumns: [String] { names.names }

        func contains(column: String) -> Bool { names.offset(of: column) != nil }

        fileprivate func value(_ column: String) throws -> SQLiteData { values[try names.require(column)] }

        func decodeNil(column: String) throws -> Bool { try value(column) == .null }

        func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
            try SQLiteDataDecoder().decode(D.self, from: try value(column))
        }
    }
}

extension SQLiteReader.Row: RowColumns {
    // Each reads the stored form Latchkey writes (text, integers, dates as floats) directly and hands any other
    // form to SQLiteKit's decoder, which converts or refuses it as `decode` would.

    func string(_ column: String) throws -> String {
        let data = try value(column)
        if case .text(let text) = data { return text }
        return try SQLiteDataDecoder().decode(String.self, from: data)
    }

    func optionalString(_ column: String) throws -> String? {
        let data = try value(column)
        switch data {
        case .text(let text): return text
        case .null: return nil
        default: return try SQLiteDataDecoder().decode(String.self, from: data)
        }
    }

    func optionalInt64(_ column: String) throws -> Int64? {
        let data = try value(column)
        switch data {
        case .integer(let value): return Int64(value)
        case .null: return nil
        default: return try SQLiteDataDecoder().decode(Int64.self, from: data)
        }
    }

    func int(_ column: String) throws -> Int {
        let data = try value(column)
        if case .integer(let value) = data { return value }
        return try SQLiteDataDecoder().decode(Int.self, from: data)
    }

    func bool(_ column: String) throws -> Bool {
        let data = try value(column)
        if case .integer(let value) = data { return value != 0 }
        return try SQLiteDataDecoder().decode(Bool.self, from: data)
    }

    func date(_ column: String) throws -> Date {
        let data = try value(column)
        if case .float = data, let date = Date(sqliteData: data) { return date }
        return try SQLiteDataDecoder().decode(Date.self, from: data)
    }

    func optionalDate(_ column: String) throws -> Date? {
        let data = try value(column)
        if case .null = data { return nil }
        if case .float = data, let date = Date(sqliteData: data) { return date }
        return try SQLiteDataDecoder().decode(Date.self, from: data)
    }

    func uuid(_ column: String) throws -> UUID {
        let data = try value(column)
        if case .text(let text) = data, let id = UUID(hyphenated: text) { return id }
        return try SQLiteDataDecoder().decode(UUID.self, from: data)
    }
}

private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A reader as an SQLKit database, so the repositories' statements run on it unchanged.
struct SQLiteReadDatabase: SQLDatabase {
    let reader: SQLiteReader
    /// Runs each statement on the caller's thread rather than the reader's: for the one-row reads by key (tens of
    /// microseconds, less than the two thread hand-overs they would otherwise cost), never for a page.
    var inline = false

    var logger: Logger { reader.logger }
    var eventLoop: any EventLoop { reader.eventLoop }
    var dialect: any SQLDialect { SQLiteDialect() }
    var queryLogLevel: Logger.Level? { nil }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void)
        -> EventLoopFuture<Void>
    {
        reader.threads.runIfActive(eventLoop: eventLoop) { try run(query, onRow) }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        if inline { return try run(query, onRow) }
        try await reader.threads.runIfActive { try run(query, onRow) }
    }

    private func run(_ query: any SQLExpression, _ onRow: (any SQLRow) -> Void) throws {
        let (sql, binds) = serialize(query)
        let data = try binds.map(SQLiteBinds.data)
        try reader.withConnection { try $0.query(sql, data) { onRow($0) } }
    }
}

/// Bound values as SQLite stores them: the types Latchkey binds directly, anything else through SQLiteKit's encoder
/// (whose answer for each type here is the same; `FastPathTests` holds them equal). The encoder asks every value
/// for a protocol conformance at run time and encodes a UUID through a `Encoder` of its own: about a tenth of a
/// statement's cost on the writer's thread.
enum SQLiteBinds {
    static func data(_ bind: any Encodable & Sendable) throws -> SQLiteData {
        switch bind {
        case let value as String: .text(value)
        case let value as UUID: .text(value.uuidString)
        case let value as Int: .integer(value)
        case let value as Int64: .integer(Int(value))
        case let value as Bool: .integer(value ? 1 : 0)
        case let value as Date: .float(value.timeIntervalSince1970)
        case let value as Double: .float(value)
        default: try SQLiteDataEncoder().encode(bind)
        }
    }
}
