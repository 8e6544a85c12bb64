import Foundation
import Logging
import PostgresNIO
import SQLKit
import Testing

@testable import LatchkeyApp
@testable import LatchkeyStore

/// On PostgreSQL the hot reads outside a transaction are named prepared statements (`PostgresPreparedReads`):
/// prepared once per connection, answering what the pool answers. (On SQLite those reads go to `SQLiteReader`,
/// tested in `SQLiteReaderTests`: here the suite checks only that they do.)
@Suite("PostgreSQL prepared reads")
struct PostgresPreparedReadsTests {
    /// Runs `prepared` three times on one connection; the `t` column of each row, and the connection's prepared
    /// statements by name.
    static func runThrice(_ prepared: PostgresPreparedReads.Prepared, on connection: PostgresConnection) async throws
        -> ([String], [String: String])
    {
        let logger = Logger(label: "test")
        var texts: [String] = []
        for _ in 0..<3 {
            try await prepared.run(on: connection, logger: logger) { row in
                texts.append((try? row.decode(column: "t", as: String.self)) ?? "?")
            }
        }
        var statements: [String: String] = [:]
        let rows = try await connection.query("SELECT name, statement FROM pg_prepared_statements", logger: logger)
        for try await (name, sql) in rows.decode((String, String).self) { statements[name] = sql }
        return (texts, statements)
    }

    @Test("on PostgreSQL a read is prepared once per connection under its shape's name, answering as the pool does")
    func preparedOncePerConnection() async throws {
        try await Harness.withApp { h, _ in
            guard TestDatabase.isPostgres else {
                #expect(h.services.database.store.reads is SQLiteReadDatabase)
                return
            }
            let reads = try #require(h.services.database.store.reads as? PostgresPreparedReads)
            let id = UUID()
            let when = Date(timeIntervalSince1970: 1_790_000_000.25)
            let query: SQLQueryString = """
                SELECT \(bind: "Zoë O'Brien") AS t, \(bind: id) AS u, \(bind: 42) AS i, \(bind: true) AS b, \
                \(bind: when) AS d
                """
            let prepared = try #require(reads.prepare(query))
            #expect(prepared.shape.name.hasPrefix("lk_") && prepared.shape.name.count == 27)
            #expect(prepared.shape.types == [.text, .uuid, .int8, .bool, .timestamptz])
            let found: ([String], [String: String]) = try await reads.postgres.withConnection {
                connection -> EventLoopFuture<([String], [String: String])> in
                connection.eventLoop.makeFutureWithTask { try await Self.runThrice(prepared, on: connection) }
            }.get()
            let (texts, statements) = found
            #expect(texts == Array(repeating: "Zoë O'Brien", count: 3))
            #expect(statements[prepared.shape.name] == prepared.shape.sql)
            #expect(statements.keys.filter { $0 == prepared.shape.name }.count == 1)
            // Through the store's reads (any connection), every column decodes as through the pool.
            let pooled = try #require(try await h.sql.raw(query).first())
            let read = try #require(try await reads.raw(query).first())
            #expect(try read.decode(column: "u", as: UUID.self) == pooled.decode(column: "u", as: UUID.self))
            #expect(try read.decode(column: "u", as: UUID.self) == id)
            #expect(try read.decode(column: "i", as: Int.self) == 42)
            #expect(try read.decode(column: "b", as: Bool.self))
            #expect(try read.decode(column: "d", as: Date.self) == pooled.decode(column: "d", as: Date.self))
            // `RowColumns`, the hot decoders' path, reads through PostgresNIO's own decoders what `decode` reads.
            let mixed: SQLQueryString = """
                SELECT \(bind: "Zoë") AS t, NULL::text AS n, \(bind: id) AS u, \(bind: 42) AS i, \(bind: true) AS b, \
                \(bind: when) AS d, NULL::timestamptz AS nd, \(bind: Int64(7)) AS big, NULL::bigint AS nbig
                """
            let fastRow = try #require(try await reads.raw(mixed).first())
            let generalRow = try #require(try await h.sql.raw(mixed).first())
            #expect(fastRow is PostgresReadRow && !(generalRow is PostgresReadRow))
            let expectedDate = try generalRow.decode(column: "d", as: Date.self)
            for columns in [fastRow.columns(.native), generalRow.columns(.native)] {
                #expect(try columns.string("t") == "Zoë" && columns.optionalString("t") == "Zoë")
                #expect(try columns.optionalString("n") == nil)
                #expect(try columns.uuid("u") == id && columns.int("i") == 42 && columns.bool("b"))
                #expect(try columns.date("d") == expectedDate && columns.optionalDate("d") == expectedDate)
                #expect(try columns.optionalDate("nd") == nil)
                #expect(try columns.optionalInt64("big") == 7 && columns.optionalInt64("nbig") == nil)
                #expect(throws: (any Error).self) { try columns.string("missing") }
            }
            // The reads' pool plans for any values; the writes' pool leaves PostgreSQL to choose.
            #expect(
                try await reads.raw("SHOW plan_cache_mode").first()?.decode(column: "plan_cache_mode", as: String.self)
                    == "force_generic_plan")
            #expect(
                try await h.sql.raw("SHOW plan_cache_mode").first()?.decode(column: "plan_cache_mode", as: String.self)
                    == "auto")
            // Another shape (other SQL or other bind types) has another name.
            func name(_ query: SQLQueryString) -> String? { reads.prepare(query)?.shape.name }
            #expect(name("SELECT \(bind: "x") AS t") != prepared.shape.name)
            #expect(name("SELECT \(bind: 1) AS t") != name("SELECT \(bind: "1") AS t"))
            #expect(name("SELECT \(bind: 1) AS t") == name("SELECT \(bind: 2) AS t"))
            // A bind of another type runs unprepared, with the same answer.
            #expect(name("SELECT \(bind: 1.5) AS f") == nil)
            #expect(
                try await reads.raw("SELECT \(bind: 1.5) AS f").first()?.decode(column: "f", as: Double.self) == 1.5)
        }
    }
}
