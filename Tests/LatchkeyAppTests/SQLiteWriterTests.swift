import FluentKit
import Foundation
import Logging
import SQLKit
import Synchronization
import Testing

@testable import LatchkeyStore

/// The one SQLite writing connection (`SQLiteWriter`): a statement from outside an open transaction waits for it
/// and never becomes part of it, concurrent transactions neither lose nor double a write, and a failed
/// transaction leaves nothing behind. (SQLite only, whichever engine the rest of the suite runs on.)
@Suite("SQLite writer")
struct SQLiteWriterTests {
    static func withDatabase(_ body: (LatchkeyDatabase) async throws -> Void) async throws {
        try await SQLiteFile.withMigrated("writer") { database in
            try await database.sql.raw("CREATE TABLE probe (name TEXT PRIMARY KEY, n INTEGER NOT NULL)").run()
            try await body(database)
        }
    }

    struct Abort: Error {}

    final class Flag: Sendable {
        private let state = Mutex(false)
        func raise() { state.withLock { $0 = true } }
        var isRaised: Bool { state.withLock { $0 } }
    }

    static func names(_ database: LatchkeyDatabase) async throws -> [String] {
        try await database.sql.raw("SELECT name FROM probe ORDER BY name").all()
            .map { try $0.decode(column: "name", as: String.self) }
    }

    @Test("a write from outside an open transaction waits for it, and survives its rollback")
    func outsideWriteWaits() async throws {
        try await Self.withDatabase { database in
            let written = Flag()
            let outside = Task {
                // Issued while the transaction below is open (it waits for the signal first).
                while !written.isRaised { try await Task.sleep(for: .milliseconds(1)) }
                try await database.sql.raw("INSERT INTO probe (name, n) VALUES ('outside', 1)").run()
            }
            await #expect(throws: Abort.self) {
                try await database.db.atomically { tx in
                    let sql = tx as! any SQLDatabase
                    try await sql.raw("INSERT INTO probe (name, n) VALUES ('inside', 1)").run()
                    written.raise()
                    // The other task's insert is queued now; it must not run inside this transaction.
                    try await Task.sleep(for: .milliseconds(200))
                    let seen = try await sql.raw("SELECT name FROM probe ORDER BY name").all()
                        .map { try $0.decode(column: "name", as: String.self) }
                    #expect(seen == ["inside"], "the outside write ran inside the transaction")
                    throw Abort()
                }
            }
            try await outside.value
            #expect(try await Self.names(database) == ["outside"])
        }
    }

    @Test("100 concurrent transactions, each a read and a write, count exactly 100; a failed one changes nothing")
    func concurrentTransactions() async throws {
        try await Self.withDatabase { database in
            try await database.sql.raw("INSERT INTO probe (name, n) VALUES ('counter', 0)").run()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<100 {
                    group.addTask {
                        // A read, then a write that depends on it: a lost update would show in the total.
                        try await database.store.transaction { store in
                            let sql = store.db as! any SQLDatabase
                            let n = try await sql.raw("SELECT n FROM probe WHERE name = 'counter'").first()!
                                .decode(column: "n", as: Int.self)
                            try await sql.raw("UPDATE probe SET n = \(bind: n + 1) WHERE name = 'counter'").run()
                        }
                        // Interleaved autocommit writes from outside any transaction.
                        try await database.sql.raw("INSERT INTO probe (name, n) VALUES (\(bind: "row-\(index)"), 0)")
                            .run()
                    }
                }
                try await group.waitForAll()
            }
            await #expect(throws: (any Error).self) {
                try await database.store.transaction { store in
                    let sql = store.db as! any SQLDatabase
                    try await sql.raw("UPDATE probe SET n = n + 1000 WHERE name = 'counter'").run()
                    // A unique key taken: the statement fails, and the whole transaction with it.
                    try await sql.raw("INSERT INTO probe (name, n) VALUES ('row-1', 0)").run()
                }
            }
            let counter = try await database.sql.raw("SELECT n FROM probe WHERE name = 'counter'").first()!
                .decode(column: "n", as: Int.self)
            #expect(counter == 100)
            #expect(try await Self.names(database).count == 101)
        }
    }
}
