import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// An API token as listed: never its text, which only its creator saw once.
public struct APIToken: Sendable, Equatable {
    public var id: UUID
    public var organizationID: UUID
    public var creatorID: UUID
    public var creatorName: String
    public var creatorEmail: String
    public var name: String
    /// The first characters of the token (`lk_` and eight more), to recognise it by.
    public var prefix: String
    /// What it was given (a subset of its creator's permissions then).
    public var permissions: Set<Permission>
    public var createdAt: Date
    public var expiresAt: Date
    public var lastUsedAt: Date?
    public var revokedAt: Date?

    public init(
        id: UUID, organizationID: UUID, creatorID: UUID, creatorName: String, creatorEmail: String, name: String,
        prefix: String, permissions: Set<Permission>, createdAt: Date, expiresAt: Date, lastUsedAt: Date? = nil,
        revokedAt: Date? = nil
    ) {
        (self.id, self.organizationID, self.creatorID) = (id, organizationID, creatorID)
        (self.creatorName, self.creatorEmail, self.name, self.prefix) = (creatorName, creatorEmail, name, prefix)
        (self.permissions, self.createdAt, self.expiresAt) = (permissions, createdAt, expiresAt)
        (self.lastUsedAt, self.revokedAt) = (lastUsedAt, revokedAt)
    }

    /// Whether a request may use it at `now` (its creator aside).
    public func isLive(at now: Date) -> Bool { revokedAt == nil && now < expiresAt }
}

/// A token found by its text, with its creator, their role and their organization as they are now.
public struct LoadedAPIToken: Sendable {
    public var token: APIToken
    /// The creator as a signed-in session would see them (`sessionID` is the token's id; no CSRF token).
    public var creator: LoadedSession
}

/// API tokens (M022). Only the SHA-256 of a token's text is stored.
public struct APITokenRepository: Sendable {
    let db: any Database
    /// Where `load` reads (see `Store.reads`).
    let reads: any SQLDatabase

    init(_ db: any Database, reads: any SQLDatabase) {
        self.db = db
        self.reads = reads
    }

    var sql: any SQLDatabase { db as! any SQLDatabase }

    public func create(_ token: APIToken, tokenHash: String) async throws {
        try await sql.insert(into: "api_tokens")
            .columns(
                "id", "organization_id", "creator_id", "name", "prefix", "token_hash", "permissions", "created_at",
                "expires_at"
            )
            .values(
                SQLBind(token.id), SQLBind(token.organizationID), SQLBind(token.creatorID), SQLBind(token.name),
                SQLBind(token.prefix), SQLBind(tokenHash), SQLBind(Permission.formatList(token.permissions)),
                SQLBind(token.createdAt), SQLBind(token.expiresAt)
            ).run()
    }

    /// A token's own columns; `token(_:)` also reads its creator's `m_name` and `m_email`.
    static let tokenColumns = """
        t.id AS t_id, t.organization_id AS t_org, t.creator_id AS t_creator, t.name AS t_name, t.prefix AS t_prefix, \
        t.permissions AS t_perms, t.created_at AS t_created, t.expires_at AS t_expires, t.last_used_at AS t_used, \
        t.revoked_at AS t_revoked
        """
    static let columns = tokenColumns + ", m.name AS m_name, m.email AS m_email"

    static func token(_ row: any RowColumns) throws -> APIToken {
        APIToken(
            id: try row.uuid("t_id"), organizationID: try row.uuid("t_org"), creatorID: try row.uuid("t_creator"),
            creatorName: try row.string("m_name"), creatorEmail: try row.string("m_email"),
            name: try row.string("t_name"), prefix: try row.string("t_prefix"),
            permissions: Permission.parseList(try row.string("t_perms")), createdAt: try row.date("t_created"),
            expiresAt: try row.date("t_expires"), lastUsedAt: try row.optionalDate("t_used"),
            revokedAt: try row.optionalDate("t_revoked"))
    }

    /// The token whose text hashes to `tokenHash`, with its creator as they are now, whatever its state (the
    /// caller decides whether it may act).
    public func load(tokenHash: String) async throws -> LoadedAPIToken? {
        let query: SQLQueryString = """
            SELECT \(unsafeRaw: Self.tokenColumns), \(unsafeRaw: SessionRepository.memberColumns)
            FROM api_tokens t \(unsafeRaw: SessionRepository.memberJoins(on: "t.creator_id"))
            WHERE t.token_hash = \(bind: tokenHash)
            """
        guard let found = try await reads.raw(query).first() else { return nil }
        let row = found.columns(UUIDColumns(reads))
        let token = try Self.token(row)
        let creator = try SessionRepository.loaded(
            row, sessionID: token.id, state: .signedIn, csrfToken: "", createdAt: token.createdAt,
            lastSeenAt: token.lastUsedAt ?? token.createdAt, mfaVerifiedAt: nil)
        return LoadedAPIToken(token: token, creator: creator)
    }

    /// One token of the organization.
    public func find(_ id: UUID, organizationID: UUID) async throws -> APIToken? {
        let query: SQLQueryString = """
            SELECT \(unsafeRaw: Self.columns) FROM api_tokens t JOIN members m ON m.id = t.creator_id
            WHERE t.id = \(bind: id) AND t.organization_id = \(bind: organizationID)
            """
        let uuids = UUIDColumns(sql)
        return try await sql.raw(query).first().map { try Self.token($0.columns(uuids)) }
    }

    /// The organization's tokens (or one creator's), newest first, after the keyset position `after`
    /// (`created_at`, `id`); at most `limit`.
    public func list(
        organizationID: UUID, creatorID: UUID?, after: (Date, UUID)?, limit: Int
    ) async throws -> [APIToken] {
        var query: SQLQueryString = """
            SELECT \(unsafeRaw: Self.columns) FROM api_tokens t JOIN members m ON m.id = t.creator_id
            WHERE t.organization_id = \(bind: organizationID)
            """
        if let creatorID { query += " AND t.creator_id = \(bind: creatorID)" }
        if let (createdAt, id) = after {
            query +=
                " AND (t.created_at < \(bind: createdAt) OR (t.created_at = \(bind: createdAt) AND t.id < \(bind: id)))"
        }
        query += " ORDER BY t.created_at DESC, t.id DESC LIMIT \(literal: limit)"
        let uuids = UUIDColumns(sql)
        return try await sql.raw(query).all().map { try Self.token($0.columns(uuids)) }
    }

    /// How many of a member's tokens may still be used at `now`.
    public func liveCount(creatorID: UUID, now: Date) async throws -> Int {
        let query: SQLQueryString = """
            SELECT COUNT(*) AS n FROM api_tokens WHERE creator_id = \(bind: creatorID) AND revoked_at IS NULL \
            AND expires_at > \(bind: now)
            """
        return try await sql.raw(query).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Revokes a token of the organization; false when it was already revoked (or is not there).
    public func revoke(_ id: UUID, organizationID: UUID, at now: Date) async throws -> Bool {
        try await !sql.update("api_tokens").set("revoked_at", to: SQLBind(now))
            .where("id", .equal, SQLBind(id)).where("organization_id", .equal, SQLBind(organizationID))
            .where("revoked_at", .is, SQLLiteral.null).returning("id").all().isEmpty
    }

    /// Records a use (callers skip it while the last one is recent).
    public func touch(_ id: UUID, at now: Date) async throws {
        try await sql.update("api_tokens").set("last_used_at", to: SQLBind(now)).where("id", .equal, SQLBind(id))
            .run()
    }
}
