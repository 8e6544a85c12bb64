import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// The Manage Members query: search, filters, sort and keyset pagination within one organization.
public struct MemberDirectory: Sendable {
    let db: any Database

    init(_ db: any Database) { self.db = db }

    var sql: any SQLDatabase { db as! any SQLDatabase }

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

        /// No rows.
        public static let empty = Page(rows: [], total: 0, nextCursor: nil, previousCursor: nil)
    }

    /// An opaque position: the sort value and id of a row.
    struct Cursor: Codable, Equatable {
        var v: String
        var id: UUID

        var encoded: String { Base64URL.encode(Array((try? JSONEncoder().encode(self)) ?? Data())) }

        static func decode(_ text: String) throws -> Cursor {
            guard text.utf8.count <= 512, let data = Base64URL.decode(text),
                let cursor = try? JSONDecoder().decode(Cursor.self, from: Data(data))
            else { throw LatchkeyError.badRequest("invalid_cursor", "The page cursor is not valid.") }
            return cursor
        }
    }

    /// Applies the organization and filter predicates (shared by the page, the count and "select all").
    private func applyFilter<B: SQLPredicateBuilder>(_ builder: B, organizationID: UUID, filter: Filter, now: Date)
        -> B
    {
        var builder = builder.where(SQLColumn("organization_id", table: "members"), .equal, SQLBind(organizationID))
        switch filter.status {
        case .locked:
            builder = builder.where(
                SQLColumn("id", table: "members"), .in,
                SignInThrottles.lockedMembers(organizationID: organizationID, now: now))
        case .suspended:
            builder = builder.where(
                SQLColumn("status", table: "members"), .equal, SQLBind(AccountStatus.suspended.rawValue))
        case .invited:
            builder = builder.where(
                SQLColumn("status", table: "members"), .equal, SQLBind(AccountStatus.invited.rawValue))
        case nil: break
        }
        if let roleID = filter.roleID {
            builder = builder.where(SQLColumn("role_id", table: "members"), .equal, SQLBind(roleID))
        }
        if let mfa = filter.mfa {
            builder = builder.where(SQLColumn("mfa_status", table: "members"), .equal, SQLBind(mfa.rawValue))
        }
        // Further query words must each start one of the member's terms too (the first one drives, see `source`).
        for word in SearchTerms.queryTerms(filter.query).prefix(5).dropFirst() {
            builder = builder.where(
                SQLColumn("id", table: "members"), .in, Self.matching(word, organizationID: organizationID))
        }
        return builder
    }

    /// The ids whose terms start with `word` (an index range scan on `member_search_terms`).
    static func matching(_ word: String, organizationID: UUID) -> some SQLExpression {
        SQLSubquery.select {
            $0.distinct().column("member_id").from("member_search_terms")
                .where("organization_id", .equal, SQLBind(organizationID))
                .where("term", .greaterThanOrEqual, SQLBind(word))
                .where("term", .lessThan, SQLBind(SearchTerms.upperBound(word)))
        }
    }

    /// Where the rows come from: with a search, the members whose terms match the first query word (so the
    /// database starts from the few matches, not from every member); otherwise the members table.
    private func source<B: SQLJoinBuilder & SQLPredicateBuilder>(_ builder: B, organizationID: UUID, filter: Filter)
        -> B
    {
        guard let first = SearchTerms.queryTerms(filter.query).first else { return builder }
        return builder.join(
            SQLAlias(Self.matching(first, organizationID: organizationID), as: SQLIdentifier("hits")),
            method: SQLJoinMethod.inner,
            on: SQLColumn("member_id", table: "hits"), .equal, SQLColumn("id", table: "members"))
    }

    /// One page after (or before) a cursor; `now` decides who is locked.
    public func page(organizationID: UUID, filter: Filter, after: String?, before: String?, now: Date) async throws
        -> Page
    {
        let column = SQLColumn(filter.sort.column, table: "members")
        let idColumn = SQLColumn("id", table: "members")
        let backwards = before != nil
        let ascending = filter.sort.descending == backwards
        var query = MemberRepository.columns(of: sql.select()).from("members")
        query = source(query, organizationID: organizationID, filter: filter)
            .join("roles", on: SQLColumn("role_id", table: "members"), .equal, SQLColumn("id", table: "roles"))
        query = applyFilter(query, organizationID: organizationID, filter: filter, now: now)
        if let text = after ?? before {
            let cursor = try Cursor.decode(text)
            let op: SQLBinaryOperator = ascending ? .greaterThan : .lessThan
            query = query.where { group in
                group.where(column, op, SQLBind(cursor.v))
                    .orWhere { tie in
                        tie.where(column, .equal, SQLBind(cursor.v)).where(idColumn, op, SQLBind(cursor.id))
                    }
            }
        }
        let direction: SQLDirection = ascending ? .ascending : .descending
        query = query.orderBy(SQLOrderBy(expression: column, direction: direction))
            .orderBy(SQLOrderBy(expression: idColumn, direction: direction))
            .limit(filter.limit + 1)
        let members = try await query.all().map(MemberRepository.member)
        let locks = try await SignInThrottles(db).lockedUntil(memberIDs: members.map(\.id), now: now)
        var rows = members.map { Row($0, lockedUntil: locks[$0.id]) }
        let hasMore = rows.count > filter.limit
        if hasMore { rows.removeLast() }
        if backwards { rows.reverse() }
        let cursorOf = { (row: Row) in
            Cursor(v: filter.sort.column == "name" ? row.name : row.email, id: row.id).encoded
        }
        let next = (backwards || hasMore) ? rows.last.map(cursorOf) : nil
        let previous = ((!backwards && (after != nil)) || (backwards && hasMore)) ? rows.first.map(cursorOf) : nil
        return Page(
            rows: rows, total: try await count(organizationID: organizationID, filter: filter, now: now),
            nextCursor: next,
            previousCursor: previous)
    }

    /// How many members match, counting at most `cap` (past the most one bulk request may reset, the exact
    /// number does not change what the page offers, and counting stays cheap on large organizations).
    public func count(organizationID: UUID, filter: Filter, now: Date, cap: Int = BulkLimits.maximumPerRequest + 1)
        async throws -> Int
    {
        let matching = applyFilter(
            source(
                sql.select().column(SQLLiteral.numeric("1"), as: "one").from("members"),
                organizationID: organizationID, filter: filter),
            organizationID: organizationID, filter: filter, now: now
        ).limit(cap)
        let query = sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from(SQLAlias(SQLGroupExpression(matching.query), as: SQLIdentifier("matching")))
        return try await query.first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Every matching member id, for "select all N matching" (the server evaluates the filter itself). More
    /// matches than one request may reset are refused, not cut short.
    public func allIDs(organizationID: UUID, filter: Filter, now: Date) async throws -> [UUID] {
        let limit = BulkLimits.maximumPerRequest
        let query = applyFilter(
            source(
                sql.select().column(SQLColumn("id", table: "members"), as: "id").from("members"),
                organizationID: organizationID, filter: filter),
            organizationID: organizationID, filter: filter, now: now)
        let ids = try await query.orderBy(SQLColumn("name", table: "members"))
            .orderBy(SQLColumn("id", table: "members"))
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

    /// The organization's roles, for the filter.
    public func roles(organizationID: UUID) async throws -> [Role] {
        try await OrganizationRepository(db).roles(organizationID: organizationID)
    }
}
