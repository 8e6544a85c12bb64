import FluentKit
import Foundation
import LatchkeyCore
import LatchkeyStore
import SQLKit

/// Server-side sessions: the cookie carries a random token, the table its SHA-256.
struct SessionStore: Sendable {
    let services: AppServices

    /// A pre-MFA session (password accepted, second factor or enrollment due) lives this long.
    static let pendingLifetime: TimeInterval = 15 * 60

    /// Creates a session and returns its token (for the cookie) and CSRF token.
    func create(
        memberID: UUID, organizationID: UUID, state: SessionState, mfaVerified: Bool, lifetime: TimeInterval,
        meta: RequestMeta, on db: any Database
    ) async throws -> (token: String, csrfToken: String) {
        let now = services.now
        let token = services.random.token()
        let csrf = services.random.token()
        let session = SessionModel(
            tokenHash: sha256Hex(token), memberID: memberID, organizationID: organizationID, state: state,
            csrfToken: csrf, createdAt: now,
            expiresAt: now.addingTimeInterval(state == .signedIn ? lifetime : Self.pendingLifetime), ip: meta.ip,
            userAgent: meta.userAgent)
        session.mfaVerifiedAt = mfaVerified ? now : nil
        try await session.create(on: db)
        return (token, csrf)
    }

    /// Moves a session to a new state under a new token (so a token seen before sign-in completes is
    /// worthless after), and returns the new token.
    func promote(_ sessionID: UUID, to state: SessionState, mfaVerified: Bool, on db: any Database) async throws
        -> String
    {
        let token = services.random.token()
        guard let session = try await SessionModel.find(sessionID, on: db) else {
            throw LatchkeyError.unauthorized("not_signed_in", "Your session has ended. Sign in again.")
        }
        let now = services.now
        session.tokenHash = sha256Hex(token)
        session.state = state.rawValue
        session.lastSeenAt = now
        if mfaVerified { session.mfaVerifiedAt = now }
        try await session.save(on: db)
        return token
    }

    /// Loads the live session for a cookie token with its member, role and organization as they are now;
    /// expired sessions are deleted, suspended members have none.
    func load(token: String) async throws -> AuthState? {
        guard token.utf8.count <= 128 else { return nil }
        let hash = sha256Hex(token)
        let sql = services.sql
        let query: SQLQueryString = """
            SELECT s.id AS s_id, s.state AS s_state, s.csrf_token AS s_csrf, s.created_at AS s_created,
                   s.last_seen_at AS s_seen, s.mfa_verified_at AS s_mfa,
                   m.id AS m_id, m.email AS m_email, m.name AS m_name, m.mfa_status AS m_mfa, m.status AS m_status,
                   o.id AS o_id, o.name AS o_name, o.require_mfa AS o_req, o.step_up_window_seconds AS o_step,
                   o.session_lifetime_seconds AS o_life, o.idle_timeout_seconds AS o_idle,
                   r.name AS r_name, r.permissions AS r_perms
            FROM sessions s
            JOIN members m ON m.id = s.member_id
            JOIN roles r ON r.id = m.role_id
            JOIN organizations o ON o.id = m.organization_id
            WHERE s.token_hash = \(bind: hash)
            """
        guard let row = try await sql.raw(query).first() else { return nil }
        let sessionID = try row.decode(column: "s_id", as: UUID.self)
        let state = SessionState(rawValue: try row.decode(column: "s_state", as: String.self)) ?? .mfaPending
        let created = try row.decode(column: "s_created", as: Date.self)
        let lastSeen = try row.decode(column: "s_seen", as: Date.self)
        let lifetime = TimeInterval(try row.decode(column: "o_life", as: Int.self))
        let idle = TimeInterval(try row.decode(column: "o_idle", as: Int.self))
        let now = services.now
        let absolute = state == .signedIn ? lifetime : Self.pendingLifetime
        let active = try row.decode(column: "m_status", as: String.self) == AccountStatus.active.rawValue
        if !active || now >= created.addingTimeInterval(absolute) || now >= lastSeen.addingTimeInterval(idle) {
            try await sql.delete(from: SessionModel.schema).where("id", .equal, sessionID).run()
            return nil
        }
        if now.timeIntervalSince(lastSeen) > 60 {
            try await sql.update(SessionModel.schema).set("last_seen_at", to: now).where("id", .equal, sessionID).run()
        }
        return AuthState(
            sessionID: sessionID, state: state, csrfToken: try row.decode(column: "s_csrf", as: String.self),
            createdAt: created, mfaVerifiedAt: try row.decode(column: "s_mfa", as: Date?.self),
            memberID: try row.decode(column: "m_id", as: UUID.self),
            memberEmail: try row.decode(column: "m_email", as: String.self),
            memberName: try row.decode(column: "m_name", as: String.self),
            mfaStatus: MFAStatus(rawValue: try row.decode(column: "m_mfa", as: String.self)) ?? .notSetUp,
            organizationID: try row.decode(column: "o_id", as: UUID.self),
            organizationName: try row.decode(column: "o_name", as: String.self),
            requireMFA: try row.decode(column: "o_req", as: Bool.self),
            stepUpWindowSeconds: try row.decode(column: "o_step", as: Int.self),
            roleName: try row.decode(column: "r_name", as: String.self),
            permissions: Permission.parseList(try row.decode(column: "r_perms", as: String.self)),
            demoMode: services.config.demoMode)
    }

    /// Ends one session.
    func delete(_ sessionID: UUID, on db: any Database) async throws {
        try await SessionModel.query(on: db).filter(\.$id == sessionID).delete()
    }
}
