import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// A stored session (the cookie's token is never stored, only its SHA-256).
public struct Session: Sendable, Equatable {
    public var id: UUID
    public var memberID: UUID
    public var state: SessionState
    public var createdAt: Date
    public var lastSeenAt: Date
    public var ip: String
    public var userAgent: String

    init(_ model: SessionModel) {
        id = model.id!
        memberID = model.memberID
        state = model.sessionState
        createdAt = model.createdAt
        lastSeenAt = model.lastSeenAt
        ip = model.ip
        userAgent = model.userAgent
    }
}

/// A session found by its token, with its member, role and organization as they are now.
public struct LoadedSession: Sendable {
    public var sessionID: UUID
    public var state: SessionState
    public var csrfToken: String
    public var createdAt: Date
    public var lastSeenAt: Date
    public var mfaVerifiedAt: Date?
    public var memberID: UUID
    public var memberEmail: String
    public var memberName: String
    public var memberActive: Bool
    public var mfaStatus: MFAStatus
    public var organizationID: UUID
    public var organizationName: String
    public var requireMFA: Bool
    public var stepUpWindowSeconds: Int
    public var sessionLifetimeSeconds: Int
    public var idleTimeoutSeconds: Int
    public var roleName: String
    public var permissions: Set<Permission>
    /// For a session at the second factor (`mfaPending`), the member's confirmed authenticator, read with the
    /// session (`load`): the code the request brings is checked against it without another round trip. Nil at
    /// every other step, and when the member has none.
    public var pendingAuthenticator: TOTPCredential? = nil
    /// The organization's directory stamp, read in the session's (or the API token's) statement; nil when the
    /// organization has none. A page of the Manage Members table remembered at the same stamp is still the page
    /// (`DirectoryCounts.page`).
    public var directoryStamp: DirectoryStamp? = nil
}

/// Server-side sessions.
public struct SessionRepository: Sendable {
    let db: any Database

    /// Where `load` reads (see `Store.reads`).
    let reads: any SQLDatabase

    init(_ db: any Database, reads: any SQLDatabase) {
        self.db = db
        self.reads = reads
    }

    var sql: any SQLDatabase { db as! any SQLDatabase }

    /// Stores a new session.
    public func create(
        tokenHash: String, memberID: UUID, organizationID: UUID, state: SessionState, csrfToken: String,
        createdAt: Date, expiresAt: Date, mfaVerifiedAt: Date?, ip: String, userAgent: String
    ) async throws {
        let session = SessionModel(
            tokenHash: tokenHash, memberID: memberID, organizationID: organizationID, state: state,
            csrfToken: csrfToken, createdAt: createdAt, expiresAt: expiresAt, ip: ip, userAgent: userAgent)
        session.mfaVerifiedAt = mfaVerifiedAt
        try await session.create(on: db)
    }

    /// Moves a session to `state` under a new token hash; false when the session is gone.
    ///
    /// `signedInFrom`: the promotion completes a sign-in from this client address, so the session's member is
    /// marked signed in now and the address remembered as one they use (`KnownAddresses`). On PostgreSQL that is
    /// one statement (data-modifying `WITH`, the member and address taken from the promoted row: one round trip
    /// instead of three on a TOTP sign-in); on SQLite, whose writer runs in process, three.
    public func promote(
        _ id: UUID, to state: SessionState, tokenHash: String, now: Date, mfaVerified: Bool,
        signedInFrom address: String? = nil
    ) async throws -> Bool {
        let update = Self.promoting(id, to: state, tokenHash: tokenHash, now: now, mfaVerified: mfaVerified)
        guard let address else { return try await !sql.raw(update).all().isEmpty }
        if sql.dialect.name == "postgresql" {
            let query: SQLQueryString =
                "WITH " + Self.signingIn(promoting: update, from: address, at: now) + " SELECT id FROM promoted"
            return try await !sql.raw(query).all().isEmpty
        }
        guard let row = try await sql.raw(update).first() else { return false }
        let memberID = try row.columns(UUIDColumns(sql)).uuid("member_id")
        try await MemberRepository(db).recordSignIn(of: memberID, from: address, at: now)
        return true
    }

    /// The `UPDATE` that moves a session to `state` under a new token hash, with the time (and the second
    /// factor's, when it was one), returning its `id` and `member_id`; only when `condition` holds, if one is given.
    static func promoting(
        _ id: UUID, to state: SessionState, tokenHash: String, now: Date, mfaVerified: Bool,
        when condition: SQLQueryString? = nil
    ) -> SQLQueryString {
        var update: SQLQueryString = """
            UPDATE sessions SET token_hash = \(bind: tokenHash), state = \(bind: state.rawValue), \
            last_seen_at = \(bind: now)
            """
        if mfaVerified { update += ", mfa_verified_at = \(bind: now)" }
        update += " WHERE id = \(bind: id)"
        if let condition { update += " AND " + condition }
        return update + " RETURNING id, member_id"
    }

    /// On PostgreSQL, the items of a data-modifying `WITH` that complete a sign-in from `address`: `promoted` (the
    /// session, by `update`, from `promoting`), `signed_in` (the member's sign-in time) and `known` (the address
    /// remembered, `KnownAddresses`), the member and address taken from the promoted row. Each returns a row for
    /// each it changed.
    static func signingIn(promoting update: SQLQueryString, from address: String, at now: Date) -> SQLQueryString {
        "promoted AS (" + update
            + """
            ), signed_in AS (
              UPDATE members SET last_sign_in_at = \(bind: now) WHERE id IN (SELECT member_id FROM promoted) RETURNING id
            ), known AS (
            """
            + KnownAddresses.upsert("SELECT member_id, \(bind: address), \(bind: now) FROM promoted")
            + " RETURNING member_id)"
    }

    /// The session whose token hashes to `tokenHash`, with its member, role and organization: read on every
    /// request, through `reads` (on PostgreSQL a prepared statement, `PostgresPreparedReads`).
    public func load(tokenHash: String) async throws -> LoadedSession? {
        // A session at the second factor brings the member's confirmed authenticator along (the subquery finds
        // nothing at every other step).
        let query: SQLQueryString = """
            SELECT s.id AS s_id, s.state AS s_state, s.csrf_token AS s_csrf, s.created_at AS s_created,
                   s.last_seen_at AS s_seen, s.mfa_verified_at AS s_mfa, \(unsafeRaw: Self.memberColumns),
                   \(unsafeRaw: Self.authenticatorColumns)
            FROM sessions s \(unsafeRaw: Self.memberJoins(on: "s.member_id"))
            LEFT JOIN totp_credentials c ON c.id = (
              SELECT t.id FROM totp_credentials t
              WHERE s.state = \(literal: SessionState.mfaPending.rawValue) AND t.member_id = s.member_id AND t.confirmed = \(bind: true) LIMIT 1
            )
            WHERE s.token_hash = \(bind: tokenHash)
            """
        guard let found = try await reads.raw(query).first() else { return nil }
        let row = found.columns(UUIDColumns(reads))
        var loaded = try Self.loaded(
            row, sessionID: try row.uuid("s_id"),
            state: SessionState(rawValue: try row.string("s_state")) ?? .mfaPending,
            csrfToken: try row.string("s_csrf"), createdAt: try row.date("s_created"),
            lastSeenAt: try row.date("s_seen"), mfaVerifiedAt: try row.optionalDate("s_mfa"))
        if try row.optionalString("c_secret_ciphertext") != nil {
            loaded.pendingAuthenticator = try TOTPCredential(row, prefix: "c_")
        }
        return loaded
    }

    /// The pending session's authenticator columns in `load`.
    private static let authenticatorColumns = TOTPCredential.columns(of: "c", prefix: "c_")

    /// The columns of a member as a request acts as them — the member, their organization's settings, their role's
    /// permissions — from `memberJoins` (a session's member, an API token's creator).
    static let memberColumns = """
        m.id AS m_id, m.email AS m_email, m.name AS m_name, m.mfa_status AS m_mfa, m.status AS m_status, \
        o.id AS o_id, o.name AS o_name, o.require_mfa AS o_req, o.step_up_window_seconds AS o_step, \
        o.session_lifetime_seconds AS o_life, o.idle_timeout_seconds AS o_idle, \
        r.name AS r_name, r.permissions AS r_perms, dv.version AS d_version, dv.activity AS d_activity
        """

    /// Joins the member whose id is in `column`, with their role and organization, and the organization's
    /// directory stamp.
    static func memberJoins(on column: String) -> String {
        """
        JOIN members m ON m.id = \(column) JOIN roles r ON r.id = m.role_id \
        JOIN organizations o ON o.id = m.organization_id \
        LEFT JOIN directory_versions dv ON dv.organization_id = m.organization_id
        """
    }

    /// A loaded session from a row holding `memberColumns`, with the session's own fields.
    static func loaded(
        _ row: any RowColumns, sessionID: UUID, state: SessionState, csrfToken: String, createdAt: Date,
        lastSeenAt: Date, mfaVerifiedAt: Date?
    ) throws -> LoadedSession {
        LoadedSession(
            sessionID: sessionID, state: state, csrfToken: csrfToken, createdAt: createdAt, lastSeenAt: lastSeenAt,
            mfaVerifiedAt: mfaVerifiedAt,
            memberID: try row.uuid("m_id"),
            memberEmail: try row.string("m_email"),
            memberName: try row.string("m_name"),
            memberActive: try row.string("m_status") == AccountStatus.active.rawValue,
            mfaStatus: MFAStatus(rawValue: try row.string("m_mfa")) ?? .notSetUp,
            organizationID: try row.uuid("o_id"),
            organizationName: try row.string("o_name"),
            requireMFA: try row.bool("o_req"),
            stepUpWindowSeconds: try row.int("o_step"),
            sessionLifetimeSeconds: try row.int("o_life"),
            idleTimeoutSeconds: try row.int("o_idle"),
            roleName: try row.string("r_name"),
            permissions: Permission.parseList(try row.string("r_perms")),
            directoryStamp: try DirectoryStamp(row, version: "d_version", activity: "d_activity"))
    }

    /// Records activity on a session.
    public func touch(_ id: UUID, at now: Date) async throws {
        try await sql.update(SessionModel.schema).set("last_seen_at", to: now).where("id", .equal, id).run()
    }

    /// Records a fresh second factor on a session (step-up).
    public func markMFAVerified(_ id: UUID, at now: Date) async throws {
        try await SessionModel.query(on: db).filter(\.$id == id).set(\.$mfaVerifiedAt, to: now).update()
    }

    /// A member's fully signed-in sessions, most recently active first.
    public func signedIn(memberID: UUID) async throws -> [Session] {
        try await SessionModel.query(on: db).filter(\.$memberID == memberID)
            .filter(\.$state == SessionState.signedIn.rawValue).sort(\.$lastSeenAt, .descending).all()
            .map(Session.init)
    }

    /// One session of a member (another member's session is not found).
    public func find(_ id: UUID, memberID: UUID) async throws -> Session? {
        try await SessionModel.query(on: db).filter(\.$id == id).filter(\.$memberID == memberID).first()
            .map(Session.init)
    }

    public func delete(_ id: UUID) async throws {
        try await sql.delete(from: SessionModel.schema).where("id", .equal, id).run()
    }

    /// Ends every session of a member but one; returns how many it ended (counted by the delete itself, so two
    /// requests at once never both count the same sessions).
    @discardableResult
    public func deleteAll(memberID: UUID, except keep: UUID) async throws -> Int {
        try await sql.delete(from: SessionModel.schema).where("member_id", .equal, SQLBind(memberID))
            .where("id", .notEqual, SQLBind(keep)).returning("id").all().count
    }

    /// Ends every session of these members.
    public func deleteAll(memberIDs: [UUID]) async throws {
        guard !memberIDs.isEmpty else { return }
        try await sql.delete(from: SessionModel.schema).where("member_id", .in, SQLBind.group(memberIDs)).run()
    }
}
