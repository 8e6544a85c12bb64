import Foundation
import LatchkeyCore
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

    /// The plan PostgreSQL keeps for `query` once planned for any binds (the reads' `force_generic_plan`), run with
    /// `arguments` (SQL literals, in the order of the binds).
    static func genericPlan(_ query: SQLQueryString, _ arguments: String, reads: PostgresPreparedReads) async throws
        -> [String]
    {
        let shape = try #require(reads.prepare(query)).shape
        return try await reads.postgres.withConnection { connection in
            connection.eventLoop.makeFutureWithTask {
                let logger = Logger(label: "test")
                _ = try await connection.query("SET plan_cache_mode = force_generic_plan", logger: logger)
                _ = try await connection.query(
                    PostgresQuery(unsafeSQL: "PREPARE plan_test AS \(shape.sql)"), logger: logger)
                var lines: [String] = []
                let explained = PostgresQuery(unsafeSQL: "EXPLAIN EXECUTE plan_test(\(arguments))")
                for try await line in try await connection.query(explained, logger: logger).decode(String.self) {
                    lines.append(line)
                }
                _ = try await connection.query("DEALLOCATE plan_test", logger: logger)
                return lines
            }
        }.get()
    }

    /// `query`'s binds as SQL literals, in order (the types the page's statement binds).
    static func literals(_ query: SQLQueryString, reads: PostgresPreparedReads) -> String {
        reads.serialize(query).binds.map { bind -> String in
            switch bind {
            case let value as String: "'\(value.replacingOccurrences(of: "'", with: "''"))'"
            case let value as UUID: "'\(value.uuidString)'"
            case let value as Int: "\(value)"
            case let value as Int64: "\(value)"
            default: "NULL"
            }
        }.joined(separator: ", ")
    }

    /// `count` Acme members named "`name` i" (email "`name`i@acme.test", lowercased), inserted in chunks of 1,000;
    /// then `table`'s statistics are taken.
    static func insertMembers(
        _ h: Harness, _ count: Int, named name: String, analyze table: String,
        mfa: (Int) -> MFAStatus = { _ in .enabled }
    ) async throws -> [NewMember] {
        let members = (0..<count).map { index in
            NewMember(
                organizationID: h.acme.organizationID, roleID: h.acme.roles[.member]!,
                email: "\(name.lowercased())\(index)@acme.test", name: "\(name) \(index)", passwordHash: "x",
                mfaStatus: mfa(index), createdAt: h.clock.now)
        }
        for chunk in members.chunked(1_000) { try await h.services.store.members.insert(Array(chunk)) }
        try await h.sql.raw("ANALYZE \(unsafeRaw: table)").run()
        return members
    }

    /// The generic plan of Acme's first Members page for `filter`.
    static func firstPagePlan(_ h: Harness, _ filter: MemberDirectory.Filter, reads: PostgresPreparedReads)
        async throws -> [String]
    {
        let statement = try h.services.store.directory.pageStatement(
            organizationID: h.acme.organizationID, filter: filter, cursor: nil, backwards: false, now: h.clock.now)
        return try await genericPlan(statement, literals(statement, reads: reads), reads: reads)
    }

    /// Runs `body` with the app on PostgreSQL and its prepared reads (nothing on SQLite).
    static func withPostgresReads(_ body: @escaping @Sendable (Harness, PostgresPreparedReads) async throws -> Void)
        async throws
    {
        try await Harness.withApp { h, _ in
            guard TestDatabase.isPostgres else { return }
            try await body(h, try #require(h.services.database.store.reads as? PostgresPreparedReads))
        }
    }

    /// Expects `plan` to read `index` and never to filter its rows on `column` (a filter steps over every row
    /// the index holds before the page's).
    static func expect(
        _ plan: [String], reads index: String, neverFiltering column: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(
            plan.contains { $0.contains("using \(index)") }
                && !plan.contains { $0.contains("Filter:") && $0.contains(column) },
            "\(plan.joined(separator: "\n"))", sourceLocation: sourceLocation)
    }

    @Test(
        "the page of a mid-sized organization reads its 51 members in name order from the name index, not the whole table"
    )
    func unfilteredPagePlan() async throws {
        try await Self.withPostgresReads { h, reads in
            #expect(
                try await reads.raw("SHOW random_page_cost").first()?.decode(
                    column: "random_page_cost", as: String.self)
                    == "1.1")
            let org = h.acme.organizationID
            _ = try await Self.insertMembers(h, 5_000, named: "Join", analyze: "members")
            let filter = try MemberDirectory.Filter(query: nil, role: nil, mfa: nil, sort: nil, limit: nil)
            let directory = h.services.store.directory
            let plan = try await Self.firstPagePlan(h, filter, reads: reads)
            // Planned as for a disk (random_page_cost 4), 51 lookups looked dearer than sorting all 5,000 rows.
            #expect(
                plan.contains { $0.contains("Index Scan using members_org_name on members") }
                    && !plan.contains { $0.contains("Seq Scan on members") || $0.contains("Sort") },
                "\(plan.joined(separator: "\n"))")
            let page = try await directory.page(
                organizationID: org, filter: filter, after: nil, before: nil, now: h.clock.now)
            let expected = try await h.sql.raw(
                "SELECT id FROM members WHERE organization_id = \(bind: org) ORDER BY name, id LIMIT 50"
            ).all().map { try $0.decode(column: "id", as: UUID.self) }
            #expect(page.rows.map(\.id) == expected)
        }
    }

    @Test("a page filtered by a rare status finds its ids in the status index, not by filtering the name index")
    func rareStatusPlan() async throws {
        try await Self.withPostgresReads { h, reads in
            let org = h.acme.organizationID
            // Not vacuumed, so no index can be read alone (with autovacuum the plan depended on its timing).
            try await h.sql.raw("ALTER TABLE members SET (autovacuum_enabled = false)").run()
            let members = try await Self.insertMembers(h, 5_000, named: "Rare", analyze: "members")
            // Three suspended after the statistics were taken: to the generic plan every member is active.
            let suspended = members.sorted { $0.name < $1.name }.suffix(3).map(\.id)
            try await h.sql.update("members").set("status", to: AccountStatus.suspended.rawValue)
                .where("id", .in, SQLBind.group(suspended)).run()
            let filter = try MemberDirectory.Filter(
                query: nil, role: nil, mfa: nil, status: "suspended", sort: nil, limit: nil)
            let plan = try await Self.firstPagePlan(h, filter, reads: reads)
            // Read whole from the name index, the 3 were found after filtering every other member's row.
            Self.expect(plan, reads: "members_org_status_name", neverFiltering: "status")
            let page = try await h.services.store.directory.page(
                organizationID: org, filter: filter, after: nil, before: nil, now: h.clock.now)
            #expect(Set(page.rows.map(\.id)) == Set(suspended) && page.total == 3)
        }
    }

    @Test("a search with the MFA filter reads its page and its count from the MFA index, stepping over no other rows")
    func searchWithMFAPlan() async throws {
        try await Self.withPostgresReads { h, reads in
            let org = h.acme.organizationID
            let members = try await Self.insertMembers(
                h, 4_000, named: "Mfaplan", analyze: "member_search_prefixes",
                mfa: { $0 < 3_000 ? .notSetUp : .enabled })
            let filter = try MemberDirectory.Filter(
                query: "mfaplan", role: nil, mfa: "enabled", sort: nil, limit: nil)
            let directory = h.services.store.directory
            let plan = try await Self.firstPagePlan(h, filter, reads: reads)
            // The 3,000 members without MFA come first by name: keyed by name alone, the page stepped over them.
            Self.expect(plan, reads: "search_prefixes_mfa", neverFiltering: "mfa_status")
            // The page and its count are the members with MFA, in name order.
            let page = try await directory.page(
                organizationID: org, filter: filter, after: nil, before: nil, now: h.clock.now)
            let expected = members.filter { $0.mfaStatus == .enabled }.map(\.name).sorted().prefix(filter.limit)
            #expect(page.rows.map(\.name) == Array(expected))
            #expect(page.total == 1_000)
        }
    }

    @Test("the SCIM page's statement, planned once for every offset, reads its page through the name index")
    func scimPagePlan() async throws {
        try await Self.withPostgresReads { h, reads in
            let org = h.acme.organizationID
            _ = try await Self.insertMembers(h, 5_000, named: "Plan", analyze: "members")
            func genericPlan(_ query: SQLQueryString, _ arguments: String) async throws -> [String] {
                try await Self.genericPlan(query, arguments, reads: reads)
            }
            let plan = try await genericPlan(
                ScimRepository.page(organizationID: org, condition: "", from: nil, offset: 2_000, limit: 100),
                "'\(org)', '\(org)', 2000")
            // The limit is part of the statement: the plan expects the page's 100 rows from the name index (with the
            // limit a bind, it planned for a tenth of the organization, and at 100,000 members read every row).
            let limit = plan.first { $0.contains("->  Limit") }
            #expect(limit?.contains(" rows=100 ") == true, "\(plan.joined(separator: "\n"))")
            #expect(plan.contains { $0.contains("Index Only Scan using members_org_name") })
            // From a remembered position the index is entered at the row value, not filtered from the start.
            let seek = DirectoryCounts.Seek(name: "Plan 2999", id: UUID(), inclusive: false)
            let seeking = try await genericPlan(
                ScimRepository.page(organizationID: org, condition: "", from: seek, offset: 0, limit: 100),
                "'\(org)', '\(org)', '\(seek.name)', '\(seek.id)', 0")
            #expect(
                seeking.contains {
                    $0.contains("Index Cond: ((organization_id = $2) AND (ROW(name, id) > ROW($3, $4)))")
                },
                "\(seeking.joined(separator: "\n"))")
            #expect(!seeking.contains { $0.contains("Filter:") })
            // And it answers the page an unprepared query answers.
            let expected = try await h.sql.raw(
                "SELECT id FROM members WHERE organization_id = \(bind: org) ORDER BY name, id LIMIT 100 OFFSET 2000"
            ).all().map { try $0.decode(column: "id", as: UUID.self) }
            let found = try await h.services.store.scim.users(
                organizationID: org, filter: nil, offset: 2_000, limit: 100)
            let all = try await h.sql.raw("SELECT COUNT(*) AS n FROM members WHERE organization_id = \(bind: org)")
                .first()?.decode(column: "n", as: Int.self)
            #expect(found.users.map(\.id) == expected && found.total == all && all ?? 0 >= 5_000)
        }
    }
}
