import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// A member as SCIM shows them (an RFC 7643 User): every row of the organization, invitations included.
public struct ScimUserRow: Sendable, Equatable {
    public var id: UUID
    public var email: String
    public var name: String
    public var externalID: String?
    public var status: AccountStatus
    public var roleID: UUID
    public var roleName: String
    public var createdAt: Date
}

/// What SCIM reads and writes of members beyond the other repositories: pages of users by the filters identity
/// providers send, the members of a role (a Group), and a member's profile (email, name, external id).
public struct ScimRepository: Sendable {
    let db: any Database
    let reads: any SQLDatabase
    let counts: DirectoryCounts?

    init(_ db: any Database, reads: any SQLDatabase, counts: DirectoryCounts?) {
        self.db = db
        self.reads = reads
        self.counts = counts
    }

    var sql: any SQLDatabase { db as! any SQLDatabase }

    /// The filters Latchkey serves (`attribute eq value`), each on an index.
    public enum Filter: Sendable, Equatable {
        /// `userName eq` or `emails.value eq`: the email, already lower-cased.
        case email(String)
        case externalID(String)
        /// `active eq`: true for active and invited members, false for suspended ones.
        case active(Bool)
        case id(UUID)
    }

    static let columns: SQLQueryString =
        "m.id, m.email, m.name, m.external_id, m.status, m.role_id, r.name AS role_name, m.created_at"

    static func condition(_ filter: Filter?) -> SQLQueryString {
        switch filter {
        case nil: ""
        case .email(let email): " AND m.email = \(bind: email)"
        case .externalID(let id): " AND m.external_id = \(bind: id)"
        case .active(true): " AND m.status IN ('active', 'invited')"
        case .active(false): " AND m.status = 'suspended'"
        case .id(let id): " AND m.id = \(bind: id)"
        }
    }

    static func decode(_ row: any SQLRow, _ ids: UUIDColumns) throws -> ScimUserRow {
        let row = row.columns(ids)
        return ScimUserRow(
            id: try row.uuid("id"), email: try row.string("email"), name: try row.string("name"),
            externalID: try row.optionalString("external_id"),
            status: AccountStatus(rawValue: try row.string("status")) ?? .active,
            roleID: try row.uuid("role_id"), roleName: try row.string("role_name"),
            createdAt: try row.date("created_at"))
    }

    /// One page (`offset`, `limit`; a limit of 0 counts only) of the organization's users by name, with how many
    /// match. The page's ids are found in the `(organization, name, id)` index alone, then only those rows are
    /// read. A page of the whole organization or of its active or suspended members starts from the nearest
    /// position remembered at the same directory version (M020; `DirectoryCounts.seek`), so the pages of a sync,
    /// each read where the last ended, seek their first row instead of stepping over every row before it; their
    /// counts are remembered the same way, like the Manage Members page's.
    public func users(organizationID: UUID, filter: Filter?, offset: Int, limit: Int) async throws -> (
        total: Int, users: [ScimUserRow]
    ) {
        let condition = Self.condition(filter)
        let remembered: String? =
            switch filter {
            case nil: "all"
            case .active(let active): active ? "active" : "suspended"
            default: nil
            }
        let key = DirectoryCounts.Key(
            organizationID: organizationID, search: .none, roleID: nil, mfa: nil, status: nil, cap: 0,
            scim: remembered)
        var users: [ScimUserRow] = []
        var version: Int64?
        if limit > 0 {
            let ids = UUIDColumns(reads)
            func read(_ query: SQLQueryString) async throws -> ([ScimUserRow], Int64?) {
                let rows = try await reads.raw(query).all()
                return (
                    try rows.map { try Self.decode($0, ids) },
                    try rows.first?.columns(ids).optionalInt64("directory_version")
                )
            }
            // From a remembered position: kept only if the rows were read at the version the position holds for.
            if remembered != nil, offset > 0, let known = counts?.seek(for: key, atOrBefore: offset) {
                let query = Self.page(
                    organizationID: organizationID, condition: condition, from: known.seek,
                    offset: offset - known.position, limit: limit)
                (users, version) = try await read(query)
                if version != known.version { version = nil }
            }
            if version == nil {
                (users, version) = try await read(
                    Self.page(
                        organizationID: organizationID, condition: condition, from: nil, offset: offset, limit: limit))
            }
            if remembered != nil, let version, let first = users.first, let last = users.last {
                counts?.remember(
                    .init(name: first.name, id: first.id, inclusive: true), at: offset, for: key, version: version)
                counts?.remember(
                    .init(name: last.name, id: last.id, inclusive: false), at: offset + users.count, for: key,
                    version: version)
            }
        }
        // A first page with room to spare holds every match (a lookup by userName, say): nothing left to count.
        if offset == 0, limit > 0, users.count < limit { return (users.count, users) }
        if remembered != nil, let version, let total = counts?.count(for: key, version: version) {
            return (total, users)
        }
        let counted: SQLQueryString =
            "SELECT COUNT(*) AS n, \(MemberDirectory.version(organizationID)) AS version FROM members m"
            + " WHERE m.organization_id = \(bind: organizationID)" + condition
        guard let row = try await reads.raw(counted).first() else { return (0, users) }
        let total = try row.decode(column: "n", as: Int.self)
        if remembered != nil, let version = try row.decode(column: "version", as: Int64?.self) {
            counts?.remember(total, for: key, version: version)
        }
        return (total, users)
    }

    /// One page of users by name, `offset` rows on from the start or from `from`: ids from the
    /// `(organization, name, id)` index, then only their rows. The limit is written into the statement (at most
    /// `maxResults` shapes): the reads' prepared statements are planned once for any binds, and with the limit a
    /// bind PostgreSQL planned for a tenth of the organization, reading every member's row to keep 100 (16 ms at
    /// 100,000 members instead of 0.7).
    static func page(
        organizationID: UUID, condition: SQLQueryString, from seek: DirectoryCounts.Seek?, offset: Int, limit: Int
    ) -> SQLQueryString {
        var query: SQLQueryString = "SELECT "
        query += Self.columns
        query += ", \(MemberDirectory.version(organizationID)) AS directory_version"
        query += " FROM members m JOIN roles r ON r.id = m.role_id WHERE m.id IN (SELECT m.id FROM members m"
        query += " WHERE m.organization_id = \(bind: organizationID)" + condition
        if let seek {
            let op = seek.inclusive ? ">=" : ">"
            // A row value, which PostgreSQL seeks in the index (an OR it filters, entry by entry).
            query += " AND (m.name, m.id) \(unsafeRaw: op) (\(bind: seek.name), \(bind: seek.id))"
        }
        query += " ORDER BY m.name, m.id LIMIT \(literal: limit) OFFSET \(bind: offset)) ORDER BY m.name, m.id"
        return query
    }

    /// One user of the organization, read where this repository writes (inside a transaction: what it holds).
    public func user(_ id: UUID, organizationID: UUID) async throws -> ScimUserRow? {
        var query: SQLQueryString = "SELECT "
        query += Self.columns
        query +=
            " FROM members m JOIN roles r ON r.id = m.role_id WHERE m.organization_id = \(bind: organizationID) AND m.id = \(bind: id)"
        let ids = UUIDColumns(sql)
        return try await sql.raw(query).first().map { try Self.decode($0, ids) }
    }

    /// The members holding a role: id and name, by name.
    public func members(ofRole roleID: UUID, organizationID: UUID) async throws -> [(id: UUID, name: String)] {
        let ids = UUIDColumns(reads)
        return try await reads.raw(
            """
            SELECT id, name FROM members WHERE organization_id = \(bind: organizationID) AND role_id = \(bind: roleID)
            ORDER BY name, id
            """
        ).all().map { (try $0.uuid("id", ids), try $0.decode(column: "name", as: String.self)) }
    }

    /// Sets a member's email, name and external id (nil: none), and their search prefixes.
    public func setProfile(_ id: UUID, organizationID: UUID, email: String, name: String, externalID: String?)
        async throws
    {
        try await sql.raw(
            """
            UPDATE members SET email = \(bind: email), name = \(bind: name), external_id = \(bind: externalID)
            WHERE organization_id = \(bind: organizationID) AND id = \(bind: id)
            """
        ).run()
        guard let member = try await MemberRepository(db).find(id, organizationID: organizationID) else { return }
        try await SearchIndex.replace(
            SearchIndex.Entry(
                id: id, organizationID: organizationID, name: name, email: email, roleID: member.roleID,
                status: member.status, mfaStatus: member.mfaStatus), on: db)
    }
}
