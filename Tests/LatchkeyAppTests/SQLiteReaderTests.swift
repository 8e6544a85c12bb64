import Foundation
import Logging
import SQLKit
import SQLiteNIO
import Testing

@testable import LatchkeyStore

/// The read-only SQLite connections beside the writer (`SQLiteReader`): they see every committed write, decode
/// what the writer's pool decodes, cannot write, hold under concurrent reads and writes, and are not used inside
/// a transaction. (SQLite only, whichever engine the rest of the suite runs on: the reader exists only there.)
@Suite("SQLite read-only connections")
struct SQLiteReaderTests {
    static func withDatabase(_ body: (LatchkeyDatabase, any SQLDatabase) async throws -> Void) async throws {
        try await SQLiteFile.withMigrated("reader") { database in
            try await database.sql.raw(
                "CREATE TABLE probe (id INTEGER PRIMARY KEY, t TEXT, n TEXT, i INTEGER, d REAL, b INTEGER, u TEXT)"
            ).run()
            try await body(database, try #require(database.store.reads))
        }
    }

    struct Probe: Equatable {
        var t: String
        var n: String?
        var i: Int
        var i64: Int64?
        var d: Date
        var dOptional: Date?
        var b: Bool
        var u: UUID
        var missingDate: Date?

        init(_ row: any SQLRow) throws {
            t = try row.decode(column: "t", as: String.self)
            n = try row.decode(column: "n", as: String?.self)
            i = try row.decode(column: "i", as: Int.self)
            i64 = try row.decode(column: "i", as: Int64?.self)
            d = try row.decode(column: "d", as: Date.self)
            dOptional = try row.decode(column: "d", as: Date?.self)
            b = try row.decode(column: "b", as: Bool.self)
            u = try row.decode(column: "u", as: UUID.self)
            missingDate = try row.decode(column: "n", as: Date?.self)
        }

        /// The same columns through `RowColumns` (on a reader's row, read straight from the stored values).
        init(columns row: any RowColumns) throws {
            t = try row.string("t")
            n = try row.optionalString("n")
            i = try row.int("i")
            i64 = try row.optionalInt64("i")
            d = try row.date("d")
            dOptional = try row.optionalDate("d")
            b = try row.bool("b")
            u = try row.uuid("u")
            missingDate = try row.optionalDate("n")
        }
    }

    @Test("a committed write is read at once, and every column decodes as through the writer's pool")
    func readsWhatTheWriterCommitted() async throws {
        try await Self.withDatabase { database, reads in
            let when = Date(timeIntervalSince1970: 1_790_000_000.123456)
            let id = UUID()
            try await database.sql.raw(
                """
                INSERT INTO probe (id, t, n, i, d, b, u) VALUES (1, \(bind: "Zoë O'Brien 李"), NULL, \(bind: 42), \
                \(bind: when), \(bind: true), \(bind: id))
                """
            ).run()
            let query: SQLQueryString = "SELECT * FROM probe WHERE id = \(bind: 1)"
            let throughWriter = try Probe(try #require(try await database.sql.raw(query).first()))
            let throughReader = try Probe(try #require(try await reads.raw(query).first()))
            #expect(throughReader == throughWriter)
            // `RowColumns`, the hot decoders' path: the reader's own and the general one agree with `decode`.
            let readerRow = try #require(try await reads.raw(query).first())
            #expect(readerRow is SQLiteReader.Row)
            #expect(try Probe(columns: readerRow.columns(.text)) == throughWriter)
            let writerRow = try #require(try await database.sql.raw(query).first())
            #expect(try Probe(columns: writerRow.columns(.text)) == throughWriter)
            // Columns read out of order, twice, and a name used twice (the first wins, as with `decode`).
            let twice = try #require(
                try await reads.raw("SELECT t AS x, i AS x, t, i FROM probe WHERE id = \(bind: 1)").first())
            let columns = twice.columns(.text)
            for _ in 0..<2 {
                #expect(try columns.int("i") == 42 && columns.string("t") == "Zoë O'Brien 李")
                #expect(try columns.string("x") == "Zoë O'Brien 李" && columns.string("t") == "Zoë O'Brien 李")
                #expect(try twice.decode(column: "x", as: String.self) == "Zoë O'Brien 李")
            }
            #expect(throws: (any Error).self) { try columns.string("nope") }
            #expect(throughReader.t == "Zoë O'Brien 李" && throughReader.n == nil && throughReader.i == 42)
            #expect(throughReader.d == when && throughReader.b && throughReader.u == id)
            // The same statement again (now prepared and kept) sees the next commit.
            try await database.sql.raw("UPDATE probe SET i = 43").run()
            #expect(try await reads.raw(query).first()?.decode(column: "i", as: Int.self) == 43)
        }
    }

    @Test("a kept statement is not prepared again when new values are bound (plans do not depend on them)")
    func keptStatementsStayPrepared() async throws {
        try await Self.withDatabase { database, reads in
            let reader = try #require(database.reader)
            // A join and an ORDER BY … LIMIT, as the session's lookup and a page are: without the planner's
            // stability guarantee SQLite prepared each of them again on every run with a new value.
            for sql in [
                "SELECT s.id FROM sessions s JOIN members m ON m.id = s.member_id WHERE s.token_hash = ?1",
                "SELECT id FROM members WHERE organization_id = ?1 ORDER BY name LIMIT 5",
            ] {
                let preparedAgain = try reader.withConnection { connection -> Int32 in
                    for value in ["a", "b", "c"] { try connection.query(sql, [.text(value)]) { _ in } }
                    return connection.timesPreparedAgain(sql)
                }
                #expect(preparedAgain == 0, "\(sql)")
            }
        }
    }

    @Test("the reader cannot write")
    func refusesWrites() async throws {
        try await Self.withDatabase { database, reads in
            await #expect(throws: (any Error).self) {
                try await reads.raw("INSERT INTO probe (id, t, i, d, b, u) VALUES (9, 'x', 1, 0, 0, 'u')").run()
            }
            let n = try await database.sql.raw("SELECT COUNT(*) AS n FROM probe").first()?.decode(
                column: "n", as: Int.self)
            #expect(n == 0)
        }
    }

    @Test("100 concurrent reads beside 50 writes: none fails, and the last read sees every write")
    func concurrentReadsAndWrites() async throws {
        try await Self.withDatabase { database, reads in
            let seen = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<50 {
                    group.addTask {
                        try await database.sql.raw(
                            "INSERT INTO probe (id, t, i, d, b, u) VALUES (\(bind: i), 'w', \(bind: i), 0, 0, 'u')"
                        ).run()
                        return -1
                    }
                }
                for _ in 0..<100 {
                    group.addTask {
                        try await reads.raw("SELECT COUNT(*) AS n FROM probe").first()!.decode(
                            column: "n", as: Int.self)
                    }
                }
                var counts: [Int] = []
                for try await n in group where n >= 0 { counts.append(n) }
                return counts
            }
            #expect(seen.count == 100)
            #expect(seen.allSatisfy { (0...50).contains($0) })
            let total = try await reads.raw("SELECT COUNT(*) AS n, SUM(i) AS s FROM probe").first()!
            #expect(try total.decode(column: "n", as: Int.self) == 50)
            #expect(try total.decode(column: "s", as: Int.self) == (0..<50).reduce(0, +))
        }
    }

    @Test("inside a transaction the repositories read through it and see its own writes")
    func transactionsReadTheirOwnWrites() async throws {
        try await Self.withDatabase { database, _ in
            let seen = try await database.store.transaction { tx in
                #expect(tx.reads == nil)
                try await tx.sql.raw("INSERT INTO probe (id, t, i, d, b, u) VALUES (1, 'tx', 1, 0, 0, 'u')").run()
                return try await tx.directory.sql.raw("SELECT COUNT(*) AS n FROM probe").first()!.decode(
                    column: "n", as: Int.self)
            }
            #expect(seen == 1)
        }
    }
}

/// The write-ahead log is copied back into the file by `SQLiteCheckpointer`, not by the commit that takes it past
/// the threshold: the writer's own automatic checkpoint is only a safety net far above it.
@Suite("SQLite checkpoints off the writer")
struct SQLiteCheckpointerTests {
    @Test("a log grown past the threshold is checkpointed in the background, and every row is still read")
    func checkpointsInTheBackground() async throws {
        try await SQLiteReaderTests.withDatabase { database, reads in
            let automatic = try await database.sql.raw("PRAGMA wal_autocheckpoint").first()?
                .decode(column: "wal_autocheckpoint", as: Int.self)
            #expect(automatic == SQLiteCheckpointer.safetyNetPages)
            // The checkpointer reads the log's size from its file, which keeps its size when SQLite starts writing
            // it from the top again: a log the setup grew (and a checkpoint emptied) would look past the threshold
            // at once. Start from an empty file, as a new database does.
            _ = try await database.sql.raw("PRAGMA wal_checkpoint(TRUNCATE)").all()
            let before = try #require(database.checkpoints)
            // About 6 MiB of rows in transactions of 1 MiB: more than the 1,000-page threshold (4 MiB), far less
            // than the safety net (64 MiB), so only the checkpointer can have copied them.
            let filler = String(repeating: "x", count: 4_000)
            for transaction in 0..<6 {
                try await database.store.transaction { tx in
                    let sql = tx.db as! any SQLDatabase
                    for row in 0..<256 {
                        try await sql.raw(
                            "INSERT INTO probe (id, t, i, d, b, u) VALUES (\(bind: transaction * 256 + row), \(bind: filler), 0, 0, 0, '')"
                        ).run()
                    }
                }
            }
            var after = try #require(database.checkpoints)
            let deadline = ContinuousClock.now + .seconds(10)
            while after.runs == before.runs && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                after = try #require(database.checkpoints)
            }
            #expect(after.runs > before.runs)
            #expect(after.largestLogFrames > Int32(SQLiteCheckpointer.thresholdPages))
            #expect(after.copiedFrames == after.logFrames)
            let count = try await reads.raw("SELECT COUNT(*) AS n FROM probe").first()?.decode(
                column: "n", as: Int.self)
            #expect(count == 6 * 256)
        }
    }
}
