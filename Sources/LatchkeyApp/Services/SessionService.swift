import Foundation
import LatchkeyCore
import LatchkeyStore
import Logging
import Synchronization

/// Server-side sessions: the cookie carries a random token, the table its SHA-256. The rules of their
/// lifetimes live here; the rows in `SessionRepository`.
struct SessionService: Sendable {
    let services: AppServices

    /// A pre-MFA session (password accepted, second factor or enrollment due) lives this long.
    static let pendingLifetime: TimeInterval = 15 * 60

    /// Creates a session (in `store`, which may be a transaction) and returns its token (for the cookie) and
    /// CSRF token.
    func create(
        memberID: UUID, organizationID: UUID, state: SessionState, mfaVerified: Bool, lifetime: TimeInterval,
        meta: RequestMeta, in store: Store
    ) async throws -> (token: String, csrfToken: String) {
        let now = services.now
        let token = services.random.token()
        let csrf = services.random.token()
        try await store.sessions.create(
            tokenHash: sha256Hex(token), memberID: memberID, organizationID: organizationID, state: state,
            csrfToken: csrf, createdAt: now,
            expiresAt: now.addingTimeInterval(state == .signedIn ? lifetime : Self.pendingLifetime),
            mfaVerifiedAt: mfaVerified ? now : nil, ip: meta.ip, userAgent: meta.userAgent)
        return (token, csrf)
    }

    /// Moves a session to a new state under a new token (so a token seen before sign-in completes is
    /// worthless after), and returns the new token. `signedInFrom`: the promotion completes a sign-in, so its
    /// member is marked signed in and the client address remembered (`AuthService.markSignedIn`), in the same
    /// statement where the engine allows.
    func promote(
        _ sessionID: UUID, to state: SessionState, mfaVerified: Bool, signedInFrom meta: RequestMeta? = nil,
        in store: Store
    ) async throws -> String {
        let token = services.random.token()
        guard
            try await store.sessions.promote(
                sessionID, to: state, tokenHash: sha256Hex(token), now: services.now, mfaVerified: mfaVerified,
                signedInFrom: meta.map { ClientAddress.throttleKey($0.ip) })
        else {
            throw LatchkeyError.unauthorized(.notSignedIn, "Your session has ended. Sign in again.")
        }
        return token
    }

    /// Completes a sign-in by a right TOTP code (its time step `step` of authenticator `credentialID`) in one
    /// statement where the store can (`Store.acceptAtOnce`: the acceptance transaction of `AuthService.accept`,
    /// with `promote`'s new token, sign-in and address, and the success event). The new token, or nil when it
    /// changed nothing and the transaction must answer.
    func signInAtOnce(
        _ auth: AuthState, step: Int64, credentialID: UUID, meta: RequestMeta, now: Date
    ) async throws -> String? {
        let token = services.random.token()
        let accepted = try await services.store.acceptAtOnce(
            SecondFactorAcceptance(
                memberID: auth.memberID, credentialID: credentialID, step: step, sessionID: auth.sessionID,
                tokenHash: sha256Hex(token), address: ClientAddress.throttleKey(meta.ip),
                event: auth.event(.signInMFA, .success, meta: meta), now: now))
        return accepted ? token : nil
    }

    /// Loads the live session for a cookie token with its member, role and organization as they are now;
    /// expired sessions are deleted, suspended members have none. It is not marked seen here: see `markSeen`.
    func load(token: String) async throws -> AuthState? {
        guard token.utf8.count <= 128 else { return nil }
        let store = services.store
        guard let session = try await store.sessions.load(tokenHash: sha256Hex(token)) else { return nil }
        let now = services.now
        let absolute =
            session.state == .signedIn ? TimeInterval(session.sessionLifetimeSeconds) : Self.pendingLifetime
        if !session.memberActive || now >= session.createdAt.addingTimeInterval(absolute)
            || now >= session.lastSeenAt.addingTimeInterval(TimeInterval(session.idleTimeoutSeconds))
        {
            try await store.sessions.delete(session.sessionID)
            return nil
        }
        return AuthState(session, demoMode: services.config.demoMode, mailDelivery: services.config.smtp != nil)
    }

    /// Marks a cookie session seen now (its idle timeout counts from there), once the request has been answered,
    /// when it was last marked over a minute ago. `SessionMiddleware` skips this when the answer renewed the
    /// session: a promotion or a new session writes its own time, so marking it again would be one more write on
    /// every sign-in finished a minute or more after its password step.
    ///
    /// Requests of one session answered together (a script's 100 calls at once on its cookie) write the mark once:
    /// the first claims it in `SeenMarks`, the others see the claim and write nothing.
    func markSeen(_ auth: AuthState) async {
        guard auth.token == nil else { return }
        let now = services.now
        guard now.timeIntervalSince(auth.lastSeenAt) > SeenMarks.interval,
            services.seenMarks.claim(auth.sessionID, at: now)
        else { return }
        do {
            try await services.store.sessions.touch(auth.sessionID, at: now)
        } catch {
            services.seenMarks.release(auth.sessionID)
            // The answer is given; the session then times out a minute or so early at worst.
            services.logger.warning(
                "session not marked seen", metadata: ["error": "\(String(reflecting: type(of: error)))"])
        }
    }

    /// Signs a member out of this session.
    func signOut(_ auth: AuthState, meta: RequestMeta) async throws {
        let now = services.now
        try await services.store.transaction { tx in
            try await tx.sessions.delete(auth.sessionID)
            try await tx.audit.append(auth.event(.signOut, .success, meta: meta), at: now)
        }
    }

    /// Signs out one of the member's own sessions (My security); another member's session is not found.
    /// Signs the member out everywhere but here ("Sign out all other sessions"), with one audit event naming how
    /// many. Returns that number (0 changes nothing and records nothing).
    func revokeOthers(of auth: AuthState, meta: RequestMeta) async throws -> Int {
        let now = services.now
        return try await services.store.transaction { tx in
            let ended = try await tx.sessions.deleteAll(memberID: auth.memberID, except: auth.sessionID)
            guard ended > 0 else { return 0 }
            try await tx.audit.append(
                auth.event(
                    .sessionRevoked, .success,
                    reason: ended == 1 ? "1 other session signed out" : "\(ended) other sessions signed out",
                    meta: meta),
                at: now)
            return ended
        }
    }

    func revoke(_ sessionID: UUID, of auth: AuthState, meta: RequestMeta) async throws {
        let now = services.now
        try await services.store.transaction { tx in
            guard let session = try await tx.sessions.find(sessionID, memberID: auth.memberID) else {
                throw LatchkeyError.notFound("No such session.")
            }
            try await tx.sessions.delete(sessionID)
            try await tx.audit.append(
                auth.event(
                    .sessionRevoked, .success,
                    reason: "session started \(DateText.short(session.createdAt)) from \(session.ip)", meta: meta),
                at: now)
        }
    }
}

/// The sessions this process marked seen (or is marking) in the last minute, so that a session's requests answered
/// together mark it once. Entries older than a minute are dropped once there are many.
final class SeenMarks: Sendable {
    /// How long a mark stands before the session is marked again.
    static let interval: TimeInterval = 60
    /// Entries kept before the old ones are dropped.
    static let pruneAbove = 4096
    private let marks = Mutex<[UUID: Date]>([:])

    /// True when `sessionID` was not marked in the last minute: the caller then marks it, and other callers are
    /// refused until a minute has passed (or `release`).
    func claim(_ sessionID: UUID, at now: Date) -> Bool {
        marks.withLock { marks in
            if let marked = marks[sessionID], abs(now.timeIntervalSince(marked)) <= Self.interval { return false }
            if marks.count >= Self.pruneAbove {
                marks = marks.filter { abs(now.timeIntervalSince($0.value)) <= Self.interval }
                // Still crowded (thousands of sessions a minute): start again empty rather than scan on every claim.
                if marks.count > Self.pruneAbove / 2 { marks.removeAll(keepingCapacity: true) }
            }
            marks[sessionID] = now
            return true
        }
    }

    /// Withdraws a claim whose write failed, so that the next request tries again.
    func release(_ sessionID: UUID) {
        _ = marks.withLock { $0.removeValue(forKey: sessionID) }
    }
}
