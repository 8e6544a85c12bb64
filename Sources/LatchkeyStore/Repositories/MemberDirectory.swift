import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// The Manage Members query: search, filters, sort and keyset pagination within one organization.
public struct MemberDirectory: Sendable {
    /// Read-only: the store's reader outside a transaction, the transaction inside one.
    let sql: any SQLDatabase
    /// nil in a transaction: nothing remembered, nothing answered from memory.
    let counts: DirectoryCounts?

    init(_ sql: any SQLDatabase, counts: DirectoryCounts?) {
        self.sql = sql
        self.counts = counts
    }

    public enum Sort: String, Sendable, CaseIterable {
        case name, nameDesc = "-name", email, emailDesc = "-email"
        public var column: String { self == .name || self == .nameDesc ? "name" : "email" }
        public var descending: Bool { self == .nameDesc || self == .emailDesc }
    }

    /// A member's sign-in status, for the table's Status filter.
    public enum Status: String, Sendable, CaseIterable {
        /// A sign-in throttle of the member is waiting or at its hard stop.
        case locked
        /// Suspended by an administrator: cannot sign in until reactivated.
        case suspended
        /// Invited and not yet accepted.
        case invited

        public var label: String {
            switch self {
            case .locked: "Locked"
            case .suspended: "Suspended"
            case .invited: "Invited"
            }
        }
    }

    /// What the caller asked for, validated.
    public struct Filter: Sendable, Hashable {
        public var query: String = ""
        public var roleID: UUID?
        public var mfa: MFAStatus?
        public var status: Status?
        public var sort: Sort = .name
        public var limit: Int = BulkLimits.defaultPageSize

        /// Parses query parameters, refusing anything malformed with a clear 400.
        public init(query: String?, role: String?, mfa: String?, status: String? = nil, sort: String?, limit: String?)
            throws
        {
            let trimmed = (query ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard trimmed.count <= 100 else {
                throw LatchkeyError.badRequest("invalid_query", "Search at most 100 characters.")
            }
            self.query = trimmed
            if let role, !role.isEmpty {
                guard let id = UUID(uuidString: role) else {
                    throw LatchkeyError.badRequest("invalid_role", "Unknown role filter.")
                }
                roleID = id
            }
            if let mfa, !mfa.isEmpty {
                guard let status = MFAStatus(rawValue: mfa) else {
                    throw LatchkeyError.badRequest("invalid_mfa", "MFA filter is enabled, not_set_up or reset_pending.")
                }
                self.mfa = status
            }
            if let status, !status.isEmpty {
                guard let value = Status(rawValue: status) else {
                    throw LatchkeyError.badRequest("invalid_status", "Status filter is locked, suspended or invited.")
                }
                self.status = value
            }
            if let sort, !sort.isEmpty {
                guard let value = Sort(rawValue: sort) else {
                    throw LatchkeyError.badRequest("invalid_sort", "Unknown sort.")
                }
                self.sort = value
            }
            if let limit, !limit.isEmpty {
                guard let value = Int(limit), (1...100).contains(value) else {
                    throw LatchkeyError.badRequest("invalid_limit", "limit must be between 1 and 100.")
                }
                self.limit = value
            }
        }

        /// The same, from query parameters or form fields named `query`, `role`, `mfa`, `status`, `sort` and
        /// `limit`.
        public init(_ value: (String) -> String?) throws {
            try self.init(
                query: value("query"), role: value("role"), mfa: value("mfa"), status: value("status"),
                sort: value("sort"), limit: value("limit"))
        }

        public init() {}
    }

    /// One row of the table.
    public struct Row: Sendable {
        public var id: UUID
        public var name: String
        public var email: String
        public var roleID: UUID
        public var roleName: String
        public var mfaStatus: MFAStatus
        public var status: AccountStatus
        public var lastSignInAt: Date?
        /// Until when sign-in is locked (`Date.distantFuture`: until an administrator unlocks it); nil when
        /// it is not.
        public var lockedUntil: Date?

        public init(_ member: Member, lockedUntil: Date?) {
            id = member.id
            name = member.name
            email = member.email
            roleID = member.roleID
            roleName = member.roleName
            mfaStatus = member.mfaStatus
            status = member.status
            lastSignInAt = member.lastSignInAt
            self.lockedUntil = lockedUntil
        }
    }

    /// One page of rows, the number of matches (capped) and the cursors around it.
    public struct Page: Sendable {
        public var rows: [Row]
        public var total: Int
        public var nextCursor: String?
        public var previousCursor: String?
        /// The organization's directory version the rows were read at (M020; nil when the page is empty): the
        /// roles read before at the same version are still the roles (`OrganizationRepository.roles`).
        public var version: Int64? = nil

        /// The same page at `now`: a row whose lock has ended since it was read is shown unlocked (a lock set,
        /// moved or lifted by a write moves the directory's activity, M032; one that runs out writes nothing).
        func unlocking(at now: Date) -> Page {
            var page = self
            for index in page.rows.indices where page.rows[index].lockedUntil.map({ $0 <= now }) ?? false {
                page.rows[index].lockedUntil = nil
            }
            return page
        }

        /// No rows.
        public static let empty = Page(rows: [], total: 0, nextCursor: nil, previousCursor: nil)
    }

    /// An opaque position: the sort value and id of a row.
    struct Cursor: Codable, Equatable {
        var v: String
        var id: UUID

        /// The same text for the same position: the id's 36 characters, then the sort value, in base64url.
        var encoded: String {
            var bytes = Array(id.upperCasedString.utf8)
            bytes.append(contentsOf: v.utf8)
            return Base64URL.encode(bytes)
        }

        /// A cursor this server wrote (or, as earlier versions wrote it, the JSON `{"id":…,"v":…}`), or a 400.
        static func decode(_ text: String) throws -> Cursor {
            guard text.utf8.count <= 512, let bytes = Base64URL.decode(text), let cursor = parse(bytes) else {
                throw LatchkeyError.badRequest("invalid_cursor", "The page cursor is not valid.")
            }
            return cursor
        }

        private static func parse(_ bytes: [UInt8]) -> Cursor? {
            if bytes.first == UInt8(ascii: "{") { return try? JSONDecoder().decode(Cursor.self, from: Data(bytes)) }
            guard bytes.count >= 36, let id = UUID(hyphenated: String(decoding: bytes[..<36], as: UTF8.self)) else {
                return nil
            }
            return Cursor(v: String(decoding: bytes[36...], as: UTF8.self), id: id)
        }
    }

    /// Where a query's rows come from: the search index when the query has words (its rows carry what the
    /// filters need, in name order), otherwise `members` (an email-like query is a range of its email index).
    private struct Source {
        /// The table's alias in the statement.
        var table: String
        /// The member id and the name, qualified by `table`.
        var id: String
        var name: String
        var search: SearchTerms.Query
        /// No words and no filter (the table's first view): the page's rows are read whole where `members`' name or
        /// email index finds them; joining 51 ids back by primary key cost each row a second index descent
        /// (PostgreSQL: 0.40 → 0.30 ms a page). Not with a filter: with the status bound, PostgreSQL's generic plan
        /// read the suspended members by filtering the name index row by row (100,000 members: 523 ms, against
        /// 1 ms for 51 ids found in the status index first); a filtered page finds its ids in the filter's index.
        var wholeOrganization: Bool

        init(_ filter: Filter) {
            search = SearchTerms.query(filter.query)
            if case .none = search {
                wholeOrganization = filter.status == nil && filter.roleID == nil && filter.mfa == nil
            } else {
                wholeOrganization = false
            }
            if case .words = search {
                table = "p"
                id = "p.member_id"
            } else {
                table = "members"
                id = "members.id"
            }
            name = "\(table).name"
        }

        var isIndex: Bool { table == "p" }

        /// The FROM clause.
        var from: String { isIndex ? "member_search_prefixes p" : "members" }

        /// The column a sort orders by (an email sort of a word search reads it from `members`, joined).
        func column(_ sort: Sort) -> String {
            sort.column == "name" ? name : "members.email"
        }
    }

    /// The organization, search and filter predicates (shared by the page, the count and "select all"), written
    /// as one query string: the page is read on every request, and SQLKit's expression tree cost more to
    /// serialize than the statement took to run. Every `unsafeRaw` fragment here and in `page` is one of this
    /// file's own table or column names, a sort direction or a comparison; every value is bound.
    private func predicate(_ source: Source, organizationID: UUID, filter: Filter, now: Date) -> SQLQueryString {
        let t = source.table
        var predicate: SQLQueryString = "\(unsafeRaw: t).organization_id = \(bind: organizationID)"
        switch source.search {
        case .none: break
        case .email(let prefix):
            predicate +=
                " AND \(unsafeRaw: t).email >= \(bind: prefix) AND \(unsafeRaw: t).email < \(bind: SearchTerms.upperBound(prefix))"
        case .words(let words):
            predicate += " AND p.prefix = \(bind: words[0])"
            // Every further word must be a prefix of the same member: one lookup of the index's key each.
            for word in words.dropFirst() {
                predicate += """
                     AND EXISTS (SELECT 1 FROM member_search_prefixes w WHERE w.organization_id = p.organization_id \
                    AND w.prefix = \(bind: word) AND w.name = p.name AND w.member_id = p.member_id)
                    """
            }
        }
        switch filter.status {
        case .locked:
            predicate +=
                " AND \(unsafeRaw: source.id) IN \(SignInThrottles.lockedMembers(organizationID: organizationID, now: now))"
        // A status or MFA state is written into the statement, not bound: there are three of each, so three
        // prepared shapes, and PostgreSQL plans each knowing the value. With a bound value its generic plan,
        // which saw almost every member active, read the few suspended by filtering the whole name index.
        case .suspended: predicate += " AND \(unsafeRaw: t).status = \(literal: AccountStatus.suspended.rawValue)"
        case .invited: predicate += " AND \(unsafeRaw: t).status = \(literal: AccountStatus.invited.rawValue)"
        case nil: break
        }
        if let roleID = filter.roleID { predicate += " AND \(unsafeRaw: t).role_id = \(bind: roleID)" }
        if let mfa = filter.mfa { predicate += " AND \(unsafeRaw: t).mfa_status = \(literal: mfa.rawValue)" }
        return predicate
    }

    /// One page after (or before) a cursor; `now` decides who is locked. The page is found in the index (or the
    /// members table) first — 51 rows in key order for a name-sorted search — and only those are read whole.
    ///
    /// `stamp`: the organization's directory stamp as the request's session read it (M032). A page this instance
    /// read at the same stamp is answered from memory (`DirectoryCounts.page`), without a statement: nothing it
    /// shows has changed since, whichever instance would have changed it. Never the Locked filter's pages (who
    /// is locked depends on the clock), nor anything read inside a transaction.
    public func page(
        organizationID: UUID, filter: Filter, after: String?, before: String?, now: Date,
        stamp: DirectoryStamp? = nil
    ) async throws -> Page {
        // An empty cursor is no cursor (`?cursor=` from a client that always sends the parameter).
        let after = after.flatMap { $0.isEmpty ? nil : $0 }
        let before = before.flatMap { $0.isEmpty ? nil : $0 }
        let pages = filter.status == .locked ? nil : counts
        let key = DirectoryCounts.PageKey(organizationID: organizationID, filter: filter, after: after, before: before)
        guard let pages else {
            return try await read(
                organizationID: organizationID, filter: filter, after: after, before: before, now: now
            )
            .page
        }
        return try await pages.page(for: key, stamp: stamp) {
            try await read(organizationID: organizationID, filter: filter, after: after, before: before, now: now)
        }.unlocking(at: now)
    }

    /// A page read from the database, and the directory stamp read with its rows (nil when it has none).
    private func read(organizationID: UUID, filter: Filter, after: String?, before: String?, now: Date) async throws
        -> (page: Page, stamp: DirectoryStamp?)
    {
        let backwards = before != nil
        let query = try pageStatement(
            organizationID: organizationID, filter: filter, cursor: after ?? before,
            backwards: backwards, now: now)
        let found = try await sql.raw(query).all()
        let uuids = UUIDColumns(sql)
        var rows = try found.map { found in
            let row = found.columns(uuids)
            return Row(
                try MemberRepository.member(row),
                lockedUntil: try row.optionalInt64("locked_until").map(SignInThrottles.date(fromMillis:)))
        }
        let read =
            try found.first.map {
                try DirectoryStamp($0.columns(uuids), version: "directory_version", activity: "directory_activity")
            } ?? nil
        let version = read?.version
        let hasMore = rows.count > filter.limit
        if hasMore { rows.removeLast() }
        if backwards { rows.reverse() }
        let cursorOf = { (row: Row) in
            Cursor(v: filter.sort.column == "name" ? row.name : row.email, id: row.id).encoded
        }
        let next = (backwards || hasMore) ? rows.last.map(cursorOf) : nil
        let previous = ((!backwards && (after != nil)) || (backwards && hasMore)) ? rows.first.map(cursorOf) : nil
        // An empty first page is the whole answer: nothing matches, so there is nothing to count (and no
        // version came back with the rows to find a remembered count by).
        let total =
            rows.isEmpty && after == nil && before == nil
            ? 0
            : try await count(
                Source(filter), organizationID: organizationID, filter: filter, now: now,
                cap: BulkLimits.maximumPerRequest + 1, knownVersion: version)
        return (Page(rows: rows, total: total, nextCursor: next, previousCursor: previous, version: version), read)
    }

    /// The page's statement: its 51 rows found in the search index (or the members table's own indexes) in key order
    /// after (or before, `backwards`) the cursor, read whole with their lock and the directory version. Without
    /// search or filter they are read whole where they are found.
    func pageStatement(organizationID: UUID, filter: Filter, cursor: String?, backwards: Bool, now: Date) throws
        -> SQLQueryString
    {
        let source = Source(filter)
        let column = source.column(filter.sort)
        let ascending = filter.sort.descending == backwards
        let direction = ascending ? "ASC" : "DESC"
        let columns: SQLQueryString = """
            SELECT \(unsafeRaw: MemberRepository.columnList), \
            \(SignInThrottles.lockedUntil(ofMemberColumn: "members.id", organizationID: organizationID, now: now)) AS locked_until, \
            \(Self.version(organizationID)) AS directory_version, \(Self.version(organizationID, "activity")) AS directory_activity
            """
        // Where the rows are found, after the cursor, in key order.
        var range = " WHERE " + predicate(source, organizationID: organizationID, filter: filter, now: now)
        if let text = cursor {
            let cursor = try Cursor.decode(text)
            let op = ascending ? ">" : "<"
            // A row value, not `column > v OR (column = v AND id > id)`: PostgreSQL seeks the index to a row value,
            // but reads an OR as a filter over every entry before the cursor (a page 48,000 members in: 13.5 ms,
            // against 0.08).
            range += """
                 AND (\(unsafeRaw: column), \(unsafeRaw: source.id)) \(unsafeRaw: op) (\(bind: cursor.v), \(bind: cursor.id))
                """
        }
        range += """
             ORDER BY \(unsafeRaw: column) \(unsafeRaw: direction), \(unsafeRaw: source.id) \(unsafeRaw: direction) \
            LIMIT \(literal: filter.limit + 1)
            """
        let roles: SQLQueryString = " JOIN roles ON members.role_id = roles.id"
        if source.wholeOrganization { return columns + " FROM members" + roles + range }
        var hits: SQLQueryString =
            "SELECT \(unsafeRaw: column) AS sort_value, \(unsafeRaw: source.id) AS sort_id FROM \(unsafeRaw: source.from)"
        if source.isIndex && filter.sort.column == "email" { hits += " JOIN members ON members.id = p.member_id" }
        hits += range
        return columns + """
             FROM (\(hits)) AS hits JOIN members ON members.id = hits.sort_id\(roles) \
            ORDER BY hits.sort_value \(unsafeRaw: direction), hits.sort_id \(unsafeRaw: direction)
            """
    }

    /// The organization's directory version (M020), or with `"activity"` its activity (M032), as a scalar
    /// subquery: read in the same statement as the rows or the count it vouches for.
    static func version(_ organizationID: UUID, _ column: StaticString = "version") -> SQLQueryString {
        "(SELECT \(unsafeRaw: "\(column)") FROM directory_versions WHERE organization_id = \(bind: organizationID))"
    }

    /// How many members match, counting at most `cap` (past the most one bulk request may reset, the exact
    /// number does not change what the page offers). A word search counts one range of the index's key.
    ///
    /// A count read before at the directory version the caller saw (`knownVersion`, read with the page) is
    /// answered from `DirectoryCounts`; otherwise the count is read together with the version it holds for.
    public func count(
        organizationID: UUID, filter: Filter, now: Date, cap: Int = BulkLimits.maximumPerRequest + 1
    ) async throws -> Int {
        try await count(
            Source(filter), organizationID: organizationID, filter: filter, now: now, cap: cap, knownVersion: nil)
    }

    private func count(
        _ source: Source, organizationID: UUID, filter: Filter, now: Date, cap: Int, knownVersion: Int64?
    ) async throws -> Int {
        let key = DirectoryCounts.Key(
            organizationID: organizationID, search: source.search, roleID: filter.roleID, mfa: filter.mfa,
            status: filter.status, cap: cap)
        let matching = predicate(source, organizationID: organizationID, filter: filter, now: now)
        let query: SQLQueryString = """
            SELECT (SELECT COUNT(*) FROM (SELECT 1 AS one FROM \(unsafeRaw: source.from) WHERE \(matching) \
            LIMIT \(literal: cap)) AS matching) AS n, \(Self.version(organizationID)) AS version
            """
        let sql = self.sql
        let read = { @Sendable () async throws -> DirectoryCounts.Read in
            guard let row = try await sql.raw(query).first()?.columns(UUIDColumns(sql)) else { return .init(count: 0) }
            return .init(count: try row.int("n"), version: try row.optionalInt64("version"))
        }
        // The Locked filter depends on the clock: never remembered.
        guard filter.status != .locked, let counts else { return try await read().count }
        if let knownVersion { return try await counts.count(for: key, atLeast: knownVersion, read: read) }
        return try await counts.readAndRemember(key, read).count
    }

    /// Every matching member id, for "select all N matching" (the server evaluates the filter itself). More
    /// matches than one request may reset are refused, not cut short.
    public func allIDs(organizationID: UUID, filter: Filter, now: Date) async throws -> [UUID] {
        let limit = BulkLimits.maximumPerRequest
        let source = Source(filter)
        let query: SQLQueryString = """
            SELECT \(unsafeRaw: source.id) AS id FROM \(unsafeRaw: source.from) \
            WHERE \(predicate(source, organizationID: organizationID, filter: filter, now: now)) \
            ORDER BY \(unsafeRaw: source.name), \(unsafeRaw: source.id) LIMIT \(literal: limit + 1)
            """
        let uuids = UUIDColumns(sql)
        let ids = try await sql.raw(query).all().map { try $0.columns(uuids).uuid("id") }
        guard ids.count <= limit else {
            throw LatchkeyError.badRequest(
                "too_many_members",
                "More than \(limit) members match; at most \(limit) can be reset in one request. Narrow the filter.")
        }
        return ids
    }

    /// How an organization's members stand: by MFA state (the three add up to `total`, the members who accepted),
    /// how many are suspended or locked at `now` (either MFA state), and how many invitations are pending.
    public struct Coverage: Sendable, Equatable {
        public var total = 0
        public var enabled = 0
        public var notSetUp = 0
        public var resetPending = 0
        public var suspended = 0
        public var locked = 0
        public var invited = 0
    }

    /// The Overview's figures, in three aggregate statements.
    public func coverage(organizationID: UUID, now: Date) async throws -> Coverage {
        var coverage = Coverage()
        let byState = try await sql.select().column("mfa_status").column(
            SQLFunction("COUNT", args: SQLLiteral.all), as: "n"
        )
        .from("members").where("organization_id", .equal, organizationID)
        .where("status", .notEqual, SQLBind(AccountStatus.invited.rawValue)).groupBy("mfa_status").all()
        for row in byState {
            let n = try row.decode(column: "n", as: Int.self)
            coverage.total += n
            switch MFAStatus(rawValue: try row.decode(column: "mfa_status", as: String.self)) {
            case .enabled: coverage.enabled += n
            case .resetPending: coverage.resetPending += n
            case .notSetUp, nil: coverage.notSetUp += n
            }
        }
        for (status, keyPath) in [
            (Status.suspended, \Coverage.suspended), (.locked, \Coverage.locked), (.invited, \Coverage.invited),
        ] {
            var filter = Filter()
            filter.status = status
            coverage[keyPath: keyPath] = try await count(organizationID: organizationID, filter: filter, now: now)
        }
        return coverage
    }
}
