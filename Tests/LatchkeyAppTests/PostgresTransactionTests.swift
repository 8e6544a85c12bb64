import FluentKit
import Foundation
import PostgresNIO
import SQLKit
import Testing

@testable import LatchkeyApp
@testable import LatchkeyStore

/// `Store.transaction` on both engines, and on PostgreSQL through `PostgresTransaction`: statements with the binds
/// it knows go straight to the connection, others through Fluent's handle of the same connection, and all of them
/// commit or vanish together.
@Suite("Transactions")
struct PostgresTransactionTests {
    struct Failure: Error {}

    static func create(_ sql: any SQLDatabase) async throws {
        try await sql.raw(
            "CREATE TABLE tx_probe (id TEXT PRIMARY KEY, n BIGINT NOT NULL, x DOUBLE PRECISION, note TEXT)"
        )
        .run()
    }

    static func rows(_ sql: any SQLDatabase) async throws -> [String: Int] {
        var found: [String: Int] = [:]
        for row in try await sql.raw("SELECT id, n FROM tx_probe").all() {
            found[try row.decode(column: "id", as: String.self)] = try row.decode(column: "n", as: Int.self)
        }
        return found
    }

    @Test(
        "a transaction sees its own writes however they were sent, commits them together, and keeps none after a throw")
    func commitAndRollback() async throws {
        try await Harness.withApp { h, _ in
            let store = h.services.database.store
            try await Self.create(h.sql)
            let seen = try await store.transaction { tx -> [String: Int] in
                #expect((tx.db is PostgresTransaction) == TestDatabase.isPostgres)
                // On PostgreSQL the body runs on its connection's event loop (a task executor preference).
                if let postgres = tx.db as? PostgresTransaction { #expect(postgres.connection.eventLoop.inEventLoop) }
                let sql = tx.sql
                let none: String? = nil
                // Binds of the known types (on PostgreSQL sent straight to the connection), a nil among them…
                try await sql.raw("INSERT INTO tx_probe (id, n, note) VALUES (\(bind: "a"), \(bind: 1), \(bind: none))")
                    .run()
                // …a Double (on PostgreSQL through Fluent's handle of the same connection)…
                try await sql.raw("INSERT INTO tx_probe (id, n, x) VALUES (\(bind: "b"), \(bind: 2), \(bind: 0.5))")
                    .run()
                // …and a nested transaction, which joins this one.
                try await tx.transaction { inner in
                    try await inner.sql.raw("UPDATE tx_probe SET n = n + 10 WHERE id = \(bind: "a")").run()
                }
                if let postgres = tx.db as? PostgresTransaction { #expect(postgres.connection.eventLoop.inEventLoop) }
                let nulls = try await sql.raw("SELECT COUNT(*) AS n FROM tx_probe WHERE note IS NULL").first()
                #expect(try nulls?.decode(column: "n", as: Int.self) == 2)
                return try await Self.rows(sql)
            }
            #expect(seen == ["a": 11, "b": 2])
            #expect(try await Self.rows(h.sql) == ["a": 11, "b": 2])

            await #expect(throws: Failure.self) {
                try await store.transaction { tx in
                    try await tx.sql.raw("INSERT INTO tx_probe (id, n) VALUES (\(bind: "c"), \(bind: 3))").run()
                    try await tx.sql.raw(
                        "INSERT INTO tx_probe (id, n, x) VALUES (\(bind: "d"), \(bind: 4), \(bind: 1.5))"
                    )
                    .run()
                    try await tx.sql.raw("DELETE FROM tx_probe WHERE id = \(bind: "a")").run()
                    throw Failure()
                }
            }
            #expect(try await Self.rows(h.sql) == ["a": 11, "b": 2])
        }
    }

    @Test(
        "a failed statement rolls the whole transaction back with the database's own error, and leaves no connection in it"
    )
    func failedStatement() async throws {
        try await Harness.withApp { h, _ in
            let store = h.services.database.store
            try await Self.create(h.sql)
            try await h.sql.raw("INSERT INTO tx_probe (id, n) VALUES ('a', 1)").run()
            for _ in 0..<20 {
                do {
                    try await store.transaction { tx in
                        try await tx.sql.raw("UPDATE tx_probe SET n = n + 1 WHERE id = \(bind: "a")").run()
                        try await tx.sql.raw("INSERT INTO tx_probe (id, n) VALUES (\(bind: "a"), \(bind: 5))").run()
                    }
                    Issue.record("a duplicate key was accepted")
                } catch {
                    #expect(Store.isConflict(error))
                }
            }
            #expect(try await Self.rows(h.sql) == ["a": 1])
            // Every connection went back to the pool outside a transaction: the next ones commit.
            for index in 0..<20 {
                try await store.transaction { tx in
                    try await tx.sql.raw("UPDATE tx_probe SET n = n + 1 WHERE id = \(bind: "a")").run()
                    try await tx.sql.raw("INSERT INTO tx_probe (id, n) VALUES (\(bind: "k\(index)"), \(bind: index))")
                        .run()
                }
            }
            let after = try await Self.rows(h.sql)
            #expect(after["a"] == 21 && after.count == 21)
            if TestDatabase.isPostgres {
                // This app's connections only: the tests running beside it share the database, and one of theirs
                // between two statements of a transaction is rightly "idle in transaction".
                let tag = h.services.database.instanceTag
                let stuck = try await h.sql.raw(
                    """
                    SELECT COUNT(*) AS n FROM pg_stat_activity WHERE application_name LIKE \(bind: "latchkey-\(tag)-%") \
                    AND state LIKE 'idle in transaction%'
                    """
                ).first()
                #expect(try stuck?.decode(column: "n", as: Int.self) == 0)
            }
        }
    }
}
