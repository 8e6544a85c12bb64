import FluentKit
import Foundation
import LatchkeyCore
import Logging
import SQLKit
import Synchronization
import Testing

@testable import LatchkeyApp
@testable import LatchkeyStore

/// The Manage Members queries read the search index (M019) and the members indexes; these tests hold them to
/// an oracle that reads nothing but `members` in the database's own order and applies the search rules in Swift:
/// the same rows, in the same order, on every page forwards and backwards, with the same count — on both engines.
@Suite("Member directory queries return what the plain members table says")
struct DirectoryQueryTests {
    static let firstNames = ["Ana", "Anabel", "anastasia", "Jane", "Seán", "Zoë", "李", "Mary-Jane", "O'Brien", "Jan"]
    static let lastNames = ["Doe", "Ruiz", "de la Cruz", "Andersen", "Berg"]

    /// A second instance on the harness's database, with its own memory of counts and pages.
    static func secondInstance(_ h: Harness) throws -> LatchkeyDatabase {
        var logger = Logger(label: "second")
        logger.logLevel = .warning
        return try LatchkeyDatabase(location: h.services.database.location, logger: logger)
    }

    /// Fills acme with 240 members of every status, MFA state and built-in role, half of them sharing 50 names (ties
    /// broken by id, across page boundaries), some locked; globex gets the same names, which must never show.
    static func seed(_ h: Harness) async throws -> [UUID] {
        var members: [NewMember] = []
        for organization in [h.acme, h.globex] {
            for index in 0..<240 {
                let first = firstNames[index % firstNames.count]
                let last = lastNames[(index / 3) % lastNames.count]
                let roles: [BuiltInRole] = [.member, .member, .admin, .owner]
                var member = NewMember(
                    organizationID: organization.organizationID,
                    roleID: organization.roles[roles[index % roles.count]]!,
                    email:
                        "\(first.lowercased().filter(\.isLetter)).\(index)@\(organization.organizationID == h.acme.organizationID ? "acme" : "globex").test",
                    name: index % 2 == 0 ? "\(first) \(last)" : "\(first) \(last) \(index % 11)",
                    passwordHash: "x", mfaStatus: [.enabled, .notSetUp, .resetPending][index % 3],
                    createdAt: h.clock.now)
                member.status = ([.active, .active, .active, .suspended, .invited] as [AccountStatus])[index % 5]
                members.append(member)
            }
        }
        try await h.services.store.members.insert(members)
        let acme = members.filter { $0.organizationID == h.acme.organizationID }.map(\.id)
        // Changes made after insert must reach the index: role, status and MFA by plain UPDATEs (the triggers),
        // a name by accepting an invitation.
        let sql = h.sql
        try await sql.update("members").set("mfa_status", to: MFAStatus.enabled.rawValue)
            .where("id", .in, SQLBind.group(Array(acme[0..<40]))).run()
        try await sql.update("members").set("role_id", to: SQLBind(h.acme.roles[.admin]!))
            .where("id", .in, SQLBind.group(Array(acme[40..<50]))).run()
        try await sql.update("members").set("status", to: AccountStatus.suspended.rawValue)
            .where("id", .equal, SQLBind(acme[51])).run()
        for (offset, id) in acme.enumerated() where offset % 5 == 4 && offset < 30 {
            #expect(
                try await h.services.store.members.acceptInvitation(
                    id, name: "Renamed Anders \(offset)", passwordHash: "y"))
        }
        for id in acme[60..<66] {
            try await h.setThrottle(
                .secondFactor(memberID: id), email: "x", memberID: id, failures: 60, lockedUntil: 9_000_000_000_000)
        }
        try await h.setThrottle(
            .secondFactor(memberID: acme[66]), email: "x", memberID: acme[66], failures: 6, lockedUntil: 1)  // lapsed
        return acme
    }

    struct Plain {
        var id: UUID
        var name: String
        var email: String
        var roleID: UUID
        var status: String
        var mfa: String
    }

    /// Every member of the organization in the order `sort` asks for, as the database orders a plain query.
    static func oracleOrder(_ h: Harness, sort: MemberDirectory.Sort) async throws -> [Plain] {
        let direction: SQLDirection = sort.descending ? .descending : .ascending
        return try await h.sql.select().columns("id", "name", "email", "role_id", "status", "mfa_status")
            .from("members").where("organization_id", .equal, SQLBind(h.acme.organizationID))
            .orderBy(SQLOrderBy(expression: SQLColumn(sort.column), direction: direction))
            .orderBy(SQLOrderBy(expression: SQLColumn("id"), direction: direction)).all()
            .map {
                Plain(
                    id: try $0.decode(column: "id", as: UUID.self),
                    name: try $0.decode(column: "name", as: String.self),
                    email: try $0.decode(column: "email", as: String.self),
                    roleID: try $0.decode(column: "role_id", as: UUID.self),
                    status: try $0.decode(column: "status", as: String.self),
                    mfa: try $0.decode(column: "mfa_status", as: String.self))
            }
    }

    /// The search and filter rules, applied in Swift.
    static func matches(_ m: Plain, _ filter: MemberDirectory.Filter, locked: Set<UUID>) -> Bool {
        switch SearchTerms.query(filter.query) {
        case .none: break
        case .email(let prefix): guard m.email.hasPrefix(prefix) else { return false }
        case .words(let words):
            let own = SearchTerms.words(name: m.name, email: m.email)
            guard words.allSatisfy({ word in own.contains { $0.hasPrefix(word) } }) else { return false }
        }
        if let role = filter.roleID, m.roleID != role { return false }
        if let mfa = filter.mfa, m.mfa != mfa.rawValue { return false }
        switch filter.status {
        case .locked: return locked.contains(m.id)
        case .suspended: return m.status == "suspended"
        case .invited: return m.status == "invited"
        case nil: return true
        }
    }

    /// Equal lists; a difference is shown by where it starts, not by printing hundreds of ids.
    static func same(_ got: [UUID], _ expected: [UUID]) -> Bool {
        guard got != expected else { return true }
        let at =
            (0..<min(got.count, expected.count)).first { got[$0] != expected[$0] } ?? min(got.count, expected.count)
        Issue.record("\(got.count) rows, expected \(expected.count); first difference at \(at)")
        return false
    }

    @Test("search, filters, sorts and pages give the oracle's rows in its order, and its counts")
    func sameRowsOrderAndCounts() async throws {
        try await Harness.withApp { h, _ in
            let acme = try await Self.seed(h)
            let locked = Set(acme[60..<66])
            let directory = h.services.store.directory
            let queries = [
                "", "a", "an", "ANA", "jane doe", "doe jane", "mary jane", "o'b", "seán", "zoë", "李", "de la",
                "renamed", "anders", "3", "jane.3@", "ana.", "@acme", "nobody", "an d r",
            ]
            let filters: [(String?, String?, String?)] = [
                (nil, nil, nil), ("enabled", nil, nil), ("not_set_up", nil, nil), (nil, "locked", nil),
                (nil, "suspended", nil), (nil, "invited", nil), ("enabled", nil, h.acme.roles[.admin]!.uuidString),
                (nil, nil, h.acme.roles[.owner]!.uuidString), ("reset_pending", "suspended", nil),
            ]
            var checked = 0
            var nonEmpty = 0
            for sort in MemberDirectory.Sort.allCases {
                let ordered = try await Self.oracleOrder(h, sort: sort)
                for query in queries {
                    for (mfa, status, role) in filters {
                        let limit = query.isEmpty ? 50 : 3
                        let filter = try MemberDirectory.Filter(
                            query: query, role: role, mfa: mfa, status: status, sort: sort.rawValue,
                            limit: String(limit))
                        let expected = ordered.filter { Self.matches($0, filter, locked: locked) }.map(\.id)
                        // Forwards through every page.
                        var seen: [UUID] = []
                        var after: String?
                        var pages: [MemberDirectory.Page] = []
                        repeat {
                            let page = try await directory.page(
                                organizationID: h.acme.organizationID, filter: filter, after: after, before: nil,
                                now: h.clock.now)
                            #expect(page.total == expected.count, "count for \(query)/\(filter)")
                            seen += page.rows.map(\.id)
                            pages.append(page)
                            after = page.nextCursor
                        } while after != nil && pages.count < 100
                        let label = "\(sort) '\(query)' \(mfa ?? "-") \(status ?? "-") \(role ?? "-")"
                        #expect(Self.same(seen, expected), "forwards: \(label)")
                        // Backwards from the last page, through the previous-page cursors.
                        if pages.count > 1, var before = pages.last?.previousCursor {
                            var back: [UUID] = pages.last!.rows.map(\.id)
                            while true {
                                let page = try await directory.page(
                                    organizationID: h.acme.organizationID, filter: filter, after: nil, before: before,
                                    now: h.clock.now)
                                back = page.rows.map(\.id) + back
                                guard let previous = page.previousCursor else { break }
                                before = previous
                            }
                            #expect(Self.same(back, expected), "backwards: \(label)")
                        }
                        if sort == .name {
                            let all = try await directory.allIDs(
                                organizationID: h.acme.organizationID, filter: filter, now: h.clock.now)
                            #expect(Self.same(all, expected), "select all: \(label)")
                        }
                        // Locks shown on the rows are the oracle's.
                        for row in pages.flatMap(\.rows) {
                            #expect((row.lockedUntil != nil) == locked.contains(row.id))
                        }
                        checked += 1
                        if !expected.isEmpty { nonEmpty += 1 }
                    }
                }
            }
            #expect(checked == 4 * 20 * 9)
            #expect(nonEmpty > 300)  // the combinations are not vacuous
        }
    }

    @Test("a member leaves the index with their row; a renamed member is found by the new name only")
    func indexFollowsRows() async throws {
        try await Harness.withApp { h, _ in
            let (id, _) = try await h.member("kim.lee@acme.test", name: "Kim Lee", totp: false)
            func prefixes() async throws -> Int {
                try await h.sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
                    .from("member_search_prefixes").where("member_id", .equal, SQLBind(id)).first()!
                    .decode(column: "n", as: Int.self)
            }
            // k ki kim, l le lee (name and local part share them): six.
            #expect(try await prefixes() == 6)
            try await h.sql.update("members").set("status", to: AccountStatus.invited.rawValue)
                .where("id", .equal, SQLBind(id)).run()
            #expect(try await h.services.store.members.acceptInvitation(id, name: "Robin Park", passwordHash: "y"))
            let directory = h.services.store.directory
            let byOld = try await directory.count(
                organizationID: h.acme.organizationID,
                filter: try MemberDirectory.Filter(query: "kim", role: nil, mfa: nil, sort: nil, limit: nil),
                now: h.clock.now)
            // The email's local part still says kim.
            #expect(byOld == 1)
            let byNew = try await directory.page(
                organizationID: h.acme.organizationID,
                filter: try MemberDirectory.Filter(query: "robin", role: nil, mfa: nil, sort: nil, limit: nil),
                after: nil, before: nil, now: h.clock.now)
            #expect(byNew.rows.map(\.name) == ["Robin Park"])
            #expect(byNew.rows.first?.status == .active)
            try await h.sql.delete(from: "members").where("id", .equal, SQLBind(id)).run()
            #expect(try await prefixes() == 0)
        }
    }

    @Test("pages missing the same count at once share one read, unless it may hold for an earlier version")
    func sharedCountReads() async throws {
        let counts = DirectoryCounts()
        let key = DirectoryCounts.Key(organizationID: UUID(), search: .none, roleID: nil, mfa: nil, status: nil, cap: 9)
        let reads = GatedReads()
        /// Waits until `n` callers have joined a read in flight.
        func joined(_ n: Int) async throws {
            for _ in 0..<2_000 where counts.sharedReads < n { try await Task.sleep(for: .milliseconds(5)) }
            #expect(counts.sharedReads == n)
        }
        // Sixteen pages at version 5 find no count: one reads, fifteen wait for its answer.
        let pages = (0..<16).map { _ in
            Task { try await counts.count(for: key, atLeast: 5, read: reads.read(42, at: 5)) }
        }
        try await joined(15)
        reads.open()
        for page in pages { #expect(try await page.value == 42) }
        #expect(reads.started == 1)
        #expect(counts.count(for: key, version: 5) == 42)  // and it is remembered at its version
        // A page that read version 7 joins a count begun at version 6 (before the change it saw): it reads again.
        let early = Task { try await counts.count(for: key, atLeast: 6, read: reads.read(43, at: 6)) }
        for _ in 0..<2_000 where reads.started < 2 { try await Task.sleep(for: .milliseconds(5)) }
        let late = Task { try await counts.count(for: key, atLeast: 7, read: reads.read(44, at: 7)) }
        try await joined(16)
        reads.open()
        #expect(try await early.value == 43)
        reads.open()
        #expect(try await late.value == 44)
        #expect(reads.started == 3)
        #expect(counts.count(for: key, version: 7) == 44)
    }

    @Test("pages missing at one stamp at once share one read; another stamp reads its own; a failed read is read alone")
    func sharedPageReads() async throws {
        let counts = DirectoryCounts()
        let key = DirectoryCounts.PageKey(
            organizationID: UUID(),
            filter: try MemberDirectory.Filter(query: "ana", role: nil, mfa: nil, sort: nil, limit: nil), after: nil,
            before: nil)
        let page = { @Sendable (total: Int) in
            MemberDirectory.Page(rows: [], total: total, nextCursor: nil, previousCursor: nil, version: 5)
        }
        let (s1, s2, s3) = (
            DirectoryStamp(version: 5, activity: 1), DirectoryStamp(version: 5, activity: 2),
            DirectoryStamp(version: 6, activity: 2)
        )
        let reads = GatedReads()
        func joined(_ n: Int) async throws {
            for _ in 0..<2_000 where counts.sharedPageReads < n { try await Task.sleep(for: .milliseconds(5)) }
            #expect(counts.sharedPageReads == n)
        }
        func started(_ n: Int) async throws {
            for _ in 0..<2_000 where reads.started < n { try await Task.sleep(for: .milliseconds(5)) }
            #expect(reads.started == n)
        }
        // Sixteen requests at stamp s1 find no page: one reads, fifteen wait for its page.
        let waiting = (0..<16).map { _ in
            Task { try await counts.page(for: key, stamp: s1, read: reads.gated((page(42), s1))).total }
        }
        try await joined(15)
        reads.open()
        for _ in 1..<max(1, reads.started) { reads.open() }  // (each that read alone answers: no test hangs)
        for request in waiting { #expect(try await request.value == 42) }
        #expect(reads.started == 1)
        #expect(counts.page(for: key, stamp: s1)?.total == 42)  // remembered at the stamp read with its rows
        // A request that saw s3 does not join a read begun at s2: it reads its own.
        let early = Task { try await counts.page(for: key, stamp: s2, read: reads.gated((page(43), s2))).total }
        try await started(2)
        let late = Task { try await counts.page(for: key, stamp: s3, read: reads.gated((page(44), s3))).total }
        try await started(3)
        #expect(counts.sharedPageReads == 15)
        reads.open()
        reads.open()
        #expect(Set([try await early.value, try await late.value]) == [43, 44])
        #expect(counts.page(for: key, stamp: s3)?.total == 44)
        // The read the others joined fails: each of them reads alone.
        let s4 = DirectoryStamp(version: 7, activity: 2)
        let failed = Task {
            try await counts.page(
                for: key, stamp: s4, read: reads.failing(as: (MemberDirectory.Page, DirectoryStamp?).self))
        }
        try await started(4)
        let alone = (0..<3).map { index in
            Task { try await counts.page(for: key, stamp: s4) { (page(50 + index), s4) }.total }
        }
        try await joined(18)
        reads.open()
        await #expect(throws: CancellationError.self) { try await failed.value }
        var totals: Set<Int> = []
        for request in alone { totals.insert(try await request.value) }
        #expect(totals == [50, 51, 52])
    }

    @Test(
        "a remembered count is used while nothing changed and never once anything it depends on changed, on any instance"
    )
    func countsFollowChanges() async throws {
        try await Harness.withApp { h, _ in
            let acme = try await Self.seed(h)
            let org = h.acme.organizationID
            let other = try Self.secondInstance(h)
            defer { Task { await other.shutdown() } }
            let filters: [MemberDirectory.Filter] = try [
                ("", nil, nil), ("an", "enabled", nil), ("jane", nil, nil), ("", nil, "suspended"),
                ("", "not_set_up", nil), ("", nil, "invited"), ("@acme", nil, nil), ("", nil, "locked"),
            ].map { try MemberDirectory.Filter(query: $0.0, role: nil, mfa: $0.1, status: $0.2, sort: nil, limit: "5") }
            func totals(_ db: LatchkeyDatabase) async throws -> [Int] {
                var totals: [Int] = []
                for filter in filters {
                    totals.append(
                        try await db.store.directory.page(
                            organizationID: org, filter: filter, after: nil, before: nil, now: h.clock.now
                        ).total)
                }
                return totals
            }
            /// What a store that remembers nothing counts.
            func truth() async throws -> [Int] {
                var totals: [Int] = []
                for filter in filters {
                    totals.append(
                        try await Store(h.db).directory.count(organizationID: org, filter: filter, now: h.clock.now))
                }
                return totals
            }
            let first = try await totals(other)
            #expect(first == (try await truth()))
            let before = other.counts.statistics
            #expect(try await totals(other) == first)
            // Nothing changed: every count of a page with rows came from memory, but the Locked one (never
            // remembered; an empty first page needs no count: it is 0).
            let remembered = zip(filters, first).filter { $0.0.status != .locked && $0.1 > 0 }.count
            #expect(remembered == 6)
            #expect(other.counts.statistics.hits - before.hits == remembered)

            let changes: [(String, @Sendable () async throws -> Void)] = [
                (
                    "sign-in time (not a directory change)",
                    {
                        try await h.sql.update("members").set("last_sign_in_at", to: SQLBind(h.clock.now))
                            .where("id", .equal, SQLBind(acme[1])).run()
                    }
                ),
                (
                    "MFA",
                    {
                        try await h.sql.update("members").set("mfa_status", to: MFAStatus.notSetUp.rawValue)
                            .where("id", .in, SQLBind.group(Array(acme[0..<3]))).run()
                    }
                ),
                (
                    "status",
                    {
                        try await h.sql.update("members").set("status", to: AccountStatus.suspended.rawValue)
                            .where("id", .equal, SQLBind(acme[7])).run()
                    }
                ),
                (
                    "name",
                    {
                        _ = try await h.services.store.members.acceptInvitation(
                            acme[34], name: "Jane Newcomer", passwordHash: "y")
                    }
                ),
                ("a new member", { _ = try await h.member("jane.q@acme.test", name: "Jane Q", totp: false) }),
                (
                    "a member removed",
                    {
                        try await h.sql.delete(from: "members").where("id", .equal, SQLBind(acme[3])).run()
                    }
                ),
                (
                    "a lock",
                    {
                        try await h.setThrottle(
                            .secondFactor(memberID: acme[9]), email: "x", memberID: acme[9], failures: 60,
                            lockedUntil: 9_000_000_000_000)
                    }
                ),
            ]
            for (what, change) in changes {
                let was = try await totals(other)
                try await change()
                let now = try await truth()
                #expect(try await totals(other) == now, "after a change of \(what)")
                #expect(try await totals(h.services.database) == now, "after a change of \(what), first instance")
                if what.hasPrefix("sign-in") {
                    #expect(now == was)
                } else {
                    #expect(now != was, "\(what) changed a count")
                }
            }
        }
    }

    @Test(
        "a page is answered from memory while its directory stamp holds, and read again once anything it shows changed, on any instance"
    )
    func pagesFollowChanges() async throws {
        try await Harness.withApp { h, _ in
            _ = try await Self.seed(h)
            let org = h.acme.organizationID
            let other = try Self.secondInstance(h)
            defer { Task { await other.shutdown() } }
            // The stamp as a request has it: read with its session.
            let viewer = "pages.viewer@acme.test"
            try await h.member(viewer, role: .owner, totp: false)
            let opened = try await h.services.auth.login(
                email: viewer, password: Harness.password,
                meta: RequestMeta(requestID: "t", ip: "192.0.2.45", userAgent: "test"))
            func stamp() async throws -> DirectoryStamp {
                try #require(try await h.services.sessions.load(token: opened.token)?.directoryStamp)
            }
            // Pages of every shape: the first view, a search with a filter, a status, an email range, a sort, the page
            // after the first, and the Locked filter (never remembered).
            var asked: [(MemberDirectory.Filter, after: String?)] = try [
                ("", nil, nil, nil), ("an", "enabled", nil, nil), ("", nil, "suspended", nil), ("@acme", nil, nil, nil),
                ("jane", nil, nil, "-name"), ("", nil, "locked", nil),
            ].map {
                (
                    try MemberDirectory.Filter(query: $0.0, role: nil, mfa: $0.1, status: $0.2, sort: $0.3, limit: "5"),
                    nil
                )
            }
            let second = try await Store(h.db).directory.page(
                organizationID: org, filter: asked[0].0, after: nil, before: nil, now: h.clock.now)
            let cursor: String = try #require(second.nextCursor)
            asked.append((asked[0].0, cursor))
            /// What the table shows, row by row, with the total and the cursors.
            func shown(_ page: MemberDirectory.Page) -> [String] {
                page.rows.map {
                    "\($0.id) \($0.name) \($0.email) \($0.roleName) \($0.mfaStatus) \($0.status) \(String(describing: $0.lastSignInAt)) \(String(describing: $0.lockedUntil))"
                } + ["\(page.total) \(page.nextCursor ?? "-") \(page.previousCursor ?? "-")"]
            }
            func pages(_ db: LatchkeyDatabase, at stamp: DirectoryStamp) async throws -> [[String]] {
                var pages: [[String]] = []
                for (filter, after) in asked {
                    pages.append(
                        shown(
                            try await db.store.directory.page(
                                organizationID: org, filter: filter, after: after, before: nil, now: h.clock.now,
                                stamp: stamp)))
                }
                return pages
            }
            /// What a store that remembers nothing reads.
            func truth() async throws -> [[String]] {
                var pages: [[String]] = []
                for (filter, after) in asked {
                    pages.append(
                        shown(
                            try await Store(h.db).directory.page(
                                organizationID: org, filter: filter, after: after, before: nil, now: h.clock.now)))
                }
                return pages
            }
            let s1 = try await stamp()
            let first = try await pages(other, at: s1)
            #expect(first == (try await truth()))
            let before = other.counts.pageStatistics
            #expect(try await pages(other, at: s1) == first)
            // Nothing changed: every page came from memory but the Locked filter's and an empty one's (no rows, no
            // stamp read with them: nothing to remember).
            let remembered = zip(asked, first).filter { $0.0.0.status != .locked && $0.1.count > 1 }.count
            #expect(remembered == asked.count - 2)
            #expect(other.counts.pageStatistics.hits - before.hits == remembered)
            #expect(other.counts.pageStatistics.misses - before.misses == 1)

            let shownID = try #require(
                try await Store(h.db).directory.page(
                    organizationID: org, filter: asked[0].0, after: nil, before: nil, now: h.clock.now
                ).rows.first?.id)
            let admin = try #require(h.acme.roles[.admin])
            let bucket = SignInBucket.secondFactor(memberID: shownID)
            let changes: [(String, @Sendable () async throws -> Void)] = [
                (
                    "a sign-in",
                    {
                        try await h.sql.update("members").set("last_sign_in_at", to: SQLBind(h.clock.now))
                            .where("id", .equal, SQLBind(shownID)).run()
                    }
                ),
                (
                    "a lock",
                    {
                        try await h.setThrottle(
                            bucket, email: "x", memberID: shownID, failures: 6,
                            lockedUntil: Int64(h.clock.now.timeIntervalSince1970 * 1000) + 60_000)
                    }
                ),
                (
                    "a lock moved",
                    {
                        try await h.sql.update("sign_in_throttles").set("locked_until", to: SQLBind(9_000_000_000_000))
                            .where("key", .equal, SQLBind(bucket.key)).run()
                    }
                ),
                (
                    "a lock lifted",
                    {
                        try await h.sql.delete(from: "sign_in_throttles").where("key", .equal, SQLBind(bucket.key))
                            .run()
                    }
                ),
                (
                    "a name",
                    {
                        try await h.sql.update("members").set("name", to: "Aaron Aardvark")
                            .where("id", .equal, SQLBind(shownID)).run()
                    }
                ),
                (
                    "a role's name",
                    {
                        try await h.services.store.organizations.updateRole(
                            admin, organizationID: org, name: "Admins", permissions: Set(Permission.allCases))
                    }
                ),
            ]
            var last = s1
            for (what, change) in changes {
                let was = try await truth()
                try await change()
                let now = try await truth()
                #expect(now != was, "\(what) changed a page")
                let moved = try await stamp()
                #expect(moved != last, "\(what) moved the stamp")
                last = moved
                #expect(try await pages(other, at: moved) == now, "after \(what)")
                #expect(try await pages(h.services.database, at: moved) == now, "after \(what), first instance")
            }

            // A lock that runs out writes nothing: the remembered row is shown unlocked once it has.
            try await h.setThrottle(
                bucket, email: "x", memberID: shownID, failures: 6,
                lockedUntil: Int64(h.clock.now.timeIntervalSince1970 * 1000) + 60_000)
            let locked = try await stamp()
            let lockedPages = try await pages(other, at: locked)
            #expect(
                lockedPages[0][0].hasSuffix(
                    "Optional(\(SignInThrottles.date(fromMillis: Int64(h.clock.now.timeIntervalSince1970 * 1000) + 60_000)))"
                ))
            h.clock.advance(120)
            let hits = other.counts.pageStatistics.hits
            #expect(try await pages(other, at: locked) == (try await truth()))
            #expect(other.counts.pageStatistics.hits - hits == remembered)
            #expect(try await pages(other, at: locked) != lockedPages)

            // Proof the memory answers: a name changed behind its back, the stamp put back as it was.
            try await h.sql.update("members").set("name", to: "Aaron Behind").where("id", .equal, SQLBind(shownID))
                .run()
            try await h.sql.update("directory_versions").set("version", to: SQLBind(locked.version))
                .set("activity", to: SQLBind(locked.activity)).where("organization_id", .equal, SQLBind(org)).run()
            #expect(try await stamp() == locked)
            #expect(try await pages(other, at: locked)[0][0].contains("Aaron Aardvark"))
            #expect(try await truth()[0][0].contains("Aaron Behind"))
        }
    }

    @Test("roles are remembered at the page's directory version and read again once a role changes, on any instance")
    func rolesFollowChanges() async throws {
        try await Harness.withApp { h, _ in
            _ = try await Self.seed(h)
            let org = h.acme.organizationID
            let other = try Self.secondInstance(h)
            defer { Task { await other.shutdown() } }
            func version() async throws -> Int64 {
                let page = try await other.store.directory.page(
                    organizationID: org, filter: MemberDirectory.Filter(), after: nil, before: nil, now: h.clock.now)
                return try #require(page.version)
            }
            func names(_ db: LatchkeyDatabase, at version: Int64) async throws -> [String] {
                try await db.store.organizations.roles(organizationID: org, directoryVersion: version).map(\.name)
            }
            let truth = { try await Store(h.db).organizations.roles(organizationID: org).map(\.name) }
            let v1 = try await version()
            #expect(try await names(other, at: v1) == (try await truth()))
            // Proof the memory answers: rename a role behind its back and put the version back as it was.
            let admin = try #require(h.acme.roles[.admin])
            try await h.sql.update("roles").set("name", to: "Administrators").where("id", .equal, SQLBind(admin)).run()
            try await h.sql.update("directory_versions").set("version", to: SQLBind(v1))
                .where("organization_id", .equal, SQLBind(org)).run()
            #expect(try await names(other, at: v1).contains("Admin"))
            #expect(try await truth().contains("Administrators"))
            // A role's change moves the version (M021): both instances read the roles again.
            try await h.services.store.organizations.updateRole(
                admin, organizationID: org, name: "Admins", permissions: Set(Permission.allCases))
            let v2 = try await version()
            #expect(v2 != v1)
            #expect(try await names(other, at: v2) == (try await truth()))
            #expect(try await names(other, at: v2).contains("Admins"))
            #expect(try await names(h.services.database, at: v2).contains("Admins"))
            let created = try await h.services.store.organizations.createRole(
                organizationID: org, name: "Auditors", permissions: [], createdAt: h.clock.now)
            let v3 = try await version()
            #expect(v3 != v2)
            #expect(try await names(other, at: v3).contains("Auditors"))
            try await h.sql.delete(from: "roles").where("id", .equal, SQLBind(created)).run()
            let v4 = try await version()
            #expect(v4 != v3)
            #expect(try await names(other, at: v4) == (try await truth()))
            // Read inside a transaction, nothing is remembered (it may see writes that never commit).
            #expect(try await h.services.store.transaction { tx in tx.counts == nil })
        }
    }
}

/// Count reads that wait for `open()`, and how many began.
final class GatedReads: Sendable {
    private let begun = Mutex(0)
    private let gate: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (gate, continuation) = AsyncStream<Void>.makeStream() }

    var started: Int { begun.withLock { $0 } }

    /// Lets one waiting read answer.
    func open() { continuation.yield() }

    /// A read that waits for `open()`, answering `count` at `version`.
    func read(_ count: Int, at version: Int64) -> @Sendable () async throws -> DirectoryCounts.Read {
        gated(.init(count: count, version: version))
    }

    /// A read that waits for `open()`, answering `value`.
    func gated<T: Sendable>(_ value: T) -> @Sendable () async throws -> T {
        { [self] in
            begun.withLock { $0 += 1 }
            for await _ in gate { break }
            return value
        }
    }

    /// A read that waits for `open()`, then fails.
    func failing<T: Sendable>(as: T.Type) -> @Sendable () async throws -> T {
        { [self] in
            begun.withLock { $0 += 1 }
            for await _ in gate { break }
            throw CancellationError()
        }
    }
}
