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
    public struct Filter: Sendable, Equatable {
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

        /// No rows.
        public static let empty = Page(rows: [], total: 0, nextCursor: nil, previousCursor: nil)
    }

    /// An opaque position: the sort value and id of a row.
    struct Cursor: Codable, Equatable {
        var v: String
        var id: UUID

        /// The same text for the same position (keys sorted: the encoder's own order changes from run to run).
        var encoded: String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return Base64URL.encode(Array((try? encoder.encode(self)) ?? Data()))
        }

        static func decode(_ text: String) throws -> Cursor {
            guard text.utf8.count <= 512, let data = Base64URL.decode(text),
                let cursor = try? JSONDecoder().decode(Cursor.self, from: Data(data))
            else { throw LatchkeyError.badRequest("invalid_cursor", "The page cursor is not valid.") }
            return cursor
        }
    }

    /// Where a query's rows come from: the search index when the query has words (its rows carry what the
    /// filters need, in name order), otherwise `members` (an email-like query is a range of its email index).
    private struct Source {
        /// The table's alias in the statement.
        var table: String
        var id: SQLColumn
        var name: SQLColumn
        var search: SearchTerms.Query

        init(_ filter: Filter) {
            search = SearchTerms.query(filter.query)
            if case .words = search {
                table = "p"
                id = SQLColumn("member_id", table: "p")
            } else {
                table = "members"
                id = SQLColumn("id", table: "members")
            }
            name = SQLColumn("name", table: table)
        }

        var isIndex: Bool { table == "p" }

        /// The FROM clause.
        var from: any SQLExpression {
            isIndex
                ? SQLAlias(SQLIdentifier("member_search_prefixes"), as: SQLIdentifier("p"))
                : SQLIdentifier("members")
        }

        /// The column a sort orders by (an email sort of a word search reads it from `members`, joined).
        func column(_ sort: Sort) -> SQLColumn {
            sort.column == "name" ? name : SQLColumn("email", table: "members")
        }
    }

    /// Applies the organization, search and filter predicates (shared by the page, the count and "select all").
    private func applyFilter<B: SQLPredicateBuilder>(
        _ builder: B, source: Source, organizationID: UUID, filter: Filter, now: Date
    ) -> B {
        let t = source.table
        var builder = builder.where(SQLColumn("organization_id", table: t), .equal, SQLBind(organizationID))
        switch source.search {
        case .none: break
        case .email(let prefix):
            builder = builder.where(SQLColumn("email", table: t), .greaterThanOrEqual, SQLBind(prefix))
                .where(SQLColumn("email", table: t), .lessThan, SQLBind(SearchTerms.upperBound(prefix)))
        case .words(let words):
            builder = builder.where(SQLColumn("prefix", table: t), .equal, SQLBind(words[0]))
            // Every further word must be a prefix of the same member: one lookup of the index's key each.
            for word in words.dropFirst() {
                builder = builder.where(
                    SQLQueryString(
                        """
                        EXISTS (SELECT 1 FROM member_search_prefixes w WHERE w.organization_id = p.organization_id \
                        AND w.prefix = \(bind: word) AND w.name = p.name AND w.member_id = p.member_id)
                        """))
            }
        }
        switch filter.status {
        case .locked:
            builder = builder.where(
                source.id, .in, SignInThrottles.lockedMembers(organizationID: organizationID, now: now))
        case .suspended:
            builder = builder.where(SQLColumn("status", table: t), .equal, SQLBind(AccountStatus.suspended.rawValue))
        case .invited:
            builder = builder.where(SQLColumn("status", table: t), .equal, SQLBind(AccountStatus.invited.rawValue))
        case nil: break
        }
        if let roleID = filter.roleID {
            builder = builder.where(SQLColumn("role_id", table: t), .equal, SQLBind(roleID))
        }
        if let mfa = filter.mfa {
            builder = builder.where(SQLColumn("mfa_status", table: t), .equal, SQLBind(mfa.rawValue))
        }
        return builder
    }

    /// The matching rows' sort values and ids, from `source`, before the page's members are read.
    private func matching(_ source: Source, sort: Sort, organizationID: UUID, filter: Filter, now: Date)
        -> SQLSelectBuilder
    {
        var query = sql.select().column(source.column(sort), as: "sort_value").column(source.id, as: "sort_id")
            .from(source.from)
        if source.isIndex && sort.column == "email" {
            query = query.join("members", on: SQLColumn("id", table: "members"), .equal, source.id)
        }
        return applyFilter(query, source: source, organizationID: organizationID, filter: filter, now: now)
    }

    /// One page after (or before) a cursor; `now` decides who is locked. The page is found in the index (or the
    /// members table) first — 51 rows in key order for a name-sorted search — and only those are read whole.
    public func page(organizationID: UUID, filter: Filter, after: String?, before: String?, now: Date) async throws
        -> Page
    {
        let source = Source(filter)
        let column = source.column(filter.sort)
        let backwards = before != nil
        let ascending = filter.sort.descending == backwards
        var hits = matching(source, sort: filter.sort, organizationID: organizationID, filter: filter, now: now)
        if let text = after ?? before {
            let cursor = try Cursor.decode(text)
            let op: SQLBinaryOperator = ascending ? .greaterThan : .lessThan
            hits = hits.where { group in
                group.where(column, op, SQLBind(cursor.v))
                    .orWhere { tie in
                        tie.where(column, .equal, SQLBind(cursor.v)).where(source.id, op, SQLBind(cursor.id))
                    }
            }
        }
        let direction: SQLDirection = ascending ? .ascending : .descending
        hits = hits.orderBy(SQLOrderBy(expression: column, direction: direction))
            .orderBy(SQLOrderBy(expression: source.id, direction: direction))
            .limit(filter.limit + 1)
        let query = MemberRepository.columns(of: sql.select())
            .column(
                SignInThrottles.lockedUntil(ofMember: SQLColumn("id", table: "members"), now: now), as: "locked_until"
            )
            .column(Self.version(organizationID), as: "directory_version")
            .from(SQLAlias(SQLGroupExpression(hits.query), as: SQLIdentifier("hits")))
            .join("members", on: SQLColumn("id", table: "members"), .equal, SQLColumn("sort_id", table: "hits"))
            .join("roles", on: SQLColumn("role_id", table: "members"), .equal, SQLColumn("id", table: "roles"))
            .orderBy(SQLOrderBy(expression: SQLColumn("sort_value", table: "hits"), direction: direction))
            .orderBy(SQLOrderBy(expression: SQLColumn("sort_id", table: "hits"), direction: direction))
        let found = try await query.all()
        let uuids = UUIDColumns(sql)
        var rows = try found.map { row in
            Row(
                try MemberRepository.member(row, uuids),
                lockedUntil: try row.decode(column: "locked_until", as: Int64?.self).map(
                    SignInThrottles.date(fromMillis:)))
        }
        let version = try found.first?.decode(column: "directory_version", as: Int64?.self)
        let hasMore = rows.count > filter.limit
        if hasMore { rows.removeLast() }
        if backwards { rows.reverse() }
        let cursorOf = { (row: Row) in
            Cursor(v: filter.sort.column == "name" ? row.name : row.email, id: row.id).encoded
        }
        let next = (backwards || hasMore) ? rows.last.map(cursorOf) : nil
        let previous = ((!backwards && (after != nil)) || (backwards && hasMore)) ? rows.first.map(cursorOf) : nil
        return Page(
            rows: rows,
            total: try await count(
                source, organizationID: organizationID, filter: filter, now: now,
                cap: BulkLimits.maximumPerRequest + 1, knownVersion: version),
            nextCursor: next,
            previousCursor: previous,
            version: version)
    }

    /// The organization's directory version (M020), as a scalar subquery: read in the same statement as the rows
    /// or the count it vouches for.
    static func version(_ organizationID: UUID) -> some SQLExpression {
        SQLSubquery.select {
            $0.column("version").from("directory_versions").where("organization_id", .equal, SQLBind(organizationID))
        }
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
        let remembered = filter.status != .locked
        if remembered, let knownVersion, let count = counts?.count(for: key, version: knownVersion) { return count }
        let matching = applyFilter(
            sql.select().column(SQLLiteral.numeric("1"), as: "one").from(source.from), source: source,
            organizationID: organizationID, filter: filter, now: now
        ).limit(cap)
        let counted = sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from(SQLAlias(SQLGroupExpression(matching.query), as: SQLIdentifier("matching")))
        guard
            let row = try await sql.select().column(SQLGroupExpression(counted.query), as: "n")
                .column(Self.version(organizationID), as: "version").first()
        else { return 0 }
        let count = try row.decode(column: "n", as: Int.self)
        if remembered, let version = try row.decode(column: "version", as: Int64?.self) {
            counts?.remember(count, for: key, version: version)
        }
        return count
    }

    /// Every matching member id, for "select all N matching" (the server evaluates the filter itself). More
    /// matches than one request may reset are refused, not cut short.
    public func allIDs(organizationID: UUID, filter: Filter, now: Date) async throws -> [UUID] {
        let limit = BulkLimits.maximumPerRequest
        let source = Source(filter)
        let query = applyFilter(
            sql.select().column(source.id, as: "id").from(source.from), source: source,
            organizationID: organizationID, filter: filter, now: now)
        let ids = try await query.orderBy(source.name).orderBy(source.id)
            .limit(limit + 1).all().map { try $0.decode(column: "id", as: UUID.self) }
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
