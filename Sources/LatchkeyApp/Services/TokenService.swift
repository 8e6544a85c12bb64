import Foundation
import LatchkeyCore
import LatchkeyStore

/// API tokens (`Authorization: Bearer lk_…`): minted by a signed-in member with a subset of their permissions
/// and an expiry, shown once, stored as SHA-256, listed, revoked — and the rules a request through one obeys.
struct TokenService: Sendable {
    let services: AppServices

    /// `lk_` and 256 random bits in base64url.
    static let textPrefix = "lk_"
    /// How many characters of the text the lists show (`lk_` and eight more).
    static let shownPrefixLength = 11
    static let maximumDays = 365
    /// For a token that may reset MFA.
    static let maximumDaysResetting = 90
    /// Live tokens one member may hold.
    static let maximumLivePerMember = 50

    // MARK: Requests through a token

    /// The request's auth for the `Authorization` header's text, or `invalid_token` — the same answer for a
    /// token never issued, revoked, expired, or whose creator is suspended or gone.
    /// Also returns the token's rate-limit window: its limit, requests left in it and seconds until it ends.
    /// The member a Bearer token acts as, with its permissions cut to the creator's current ones; counts the request
    /// against the token's limit (reported to the request's `RateLimitReport`).
    func authenticate(authorization: String) async throws -> AuthState {
        let invalid = LatchkeyError(.unauthorized, "invalid_token", "The API token is not valid.")
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw LatchkeyError(
                .unauthorized, "invalid_token", "Send the API token as \"Authorization: Bearer lk_…\".")
        }
        let text = String(parts[1])
        guard text.hasPrefix(Self.textPrefix), text.utf8.count <= 128 else { throw invalid }
        let store = services.store
        let now = services.now
        guard let loaded = try await store.apiTokens.load(tokenHash: sha256Hex(text)),
            loaded.token.isLive(at: now), loaded.creator.memberActive
        else { throw invalid }
        let token = loaded.token
        let rule = RateLimiter.Rule(
            bucket: "token:\(token.id.lowercasedString)", limit: services.config.tokenRequestsPerMinute, window: 60)
        let windows = try await store.rateLimits.hit([rule], now: now)
        if let wait = windows.retryAfter { throw LatchkeyError.tooManyTokenRequests(wait, limit: rule.limit) }
        RateLimitReport.record(windows)
        if token.lastUsedAt.map({ now.timeIntervalSince($0) > 60 }) ?? true {
            try await store.apiTokens.touch(token.id, at: now)
        }
        var creator = loaded.creator
        // Never beyond what the creator's role holds now.
        creator.permissions = token.permissions.intersection(creator.permissions)
        return AuthState(
            creator, demoMode: services.config.demoMode, mailDelivery: services.config.smtp != nil,
            token: TokenIdentity(id: token.id, name: token.name))
    }

    // MARK: Managing tokens

    /// Mints a token for the signed-in member (never through another token): see `mint`; one that may reset MFA
    /// also needs a fresh MFA. Returns the token and its text, which is not kept.
    /// `actor` is the member as the request knows them (a page that took a step-up code passes the refreshed one).
    func create(auth: AuthState, actor: Actor, name: String?, permissions: [String]?, days: Int?)
        async throws -> (token: APIToken, text: String)
    {
        guard auth.token == nil else { throw LatchkeyError.sessionRequired }
        let creator = Creator(
            id: auth.memberID, name: auth.memberName, email: auth.memberEmail, organizationID: auth.organizationID,
            permissions: auth.permissions)
        return try await mint(
            for: creator, by: actor, name: name, permissions: permissions, days: days,
            check: { resetting in if resetting { try actor.requireFreshMFA(now: services.now) } })
    }

    /// Whom a token is minted for: a member as they are now.
    struct Creator {
        var id: UUID
        var name: String
        var email: String
        var organizationID: UUID
        var permissions: Set<Permission>
    }

    /// Mints a token for `creator`, audited as `actor` (the creator, or the operator at the shell): at most the
    /// creator's permissions, at most 365 days, at most 90 when it may reset MFA, at most 50 live ones each.
    /// `check` runs once the request is known valid (told whether the token may reset MFA).
    func mint(
        for creator: Creator, by actor: Actor, name rawName: String?, permissions raw: [String]?, days: Int?,
        check: (Bool) throws -> Void = { _ in }
    ) async throws -> (token: APIToken, text: String) {
        let name = try Self.name(rawName)
        let permissions = try RoleService.permissions(raw ?? [])
        guard !permissions.isEmpty else {
            throw LatchkeyError.badRequest("invalid_permissions", "Give the token at least one permission.")
        }
        guard permissions.isSubset(of: creator.permissions) else {
            let missing = permissions.subtracting(creator.permissions).sorted().map(\.rawValue)
            throw LatchkeyError.forbidden(
                .insufficientPrivilege,
                "A token can hold only permissions its member's role has; it lacks \(missing.joined(separator: ", ")).")
        }
        let resetting = permissions.contains(.membersResetMFA)
        let most = resetting ? Self.maximumDaysResetting : Self.maximumDays
        guard let days, (1...most).contains(days) else {
            throw LatchkeyError.badRequest(
                "invalid_expiry",
                resetting
                    ? "A token that may reset MFA expires within 1 to \(most) days."
                    : "A token expires within 1 to \(most) days.")
        }
        try check(resetting)
        let now = services.now
        let text = Self.textPrefix + services.random.token(byteCount: 32)
        let token = APIToken(
            id: UUID.random(), organizationID: creator.organizationID, creatorID: creator.id,
            creatorName: creator.name, creatorEmail: creator.email, name: name,
            prefix: String(text.prefix(Self.shownPrefixLength)), permissions: permissions, createdAt: now,
            expiresAt: now.addingTimeInterval(TimeInterval(days) * 86_400))
        try await services.store.transaction { tx in
            // Concurrent mints for one member queue on their row, so the cap holds.
            try await tx.members.lock([creator.id])
            guard try await tx.apiTokens.liveCount(creatorID: creator.id, now: now) < Self.maximumLivePerMember
            else {
                throw LatchkeyError(
                    .conflict, "too_many_tokens",
                    "\(creator.email) has \(Self.maximumLivePerMember) live tokens. Revoke one no longer used first.")
            }
            try await tx.apiTokens.create(token, tokenHash: sha256Hex(text))
            try await tx.audit.append(
                actor.event(.tokenCreated, target: (creator.id, creator.email), .success, reason: Self.describe(token)),
                at: now)
        }
        return (token, text)
    }

    /// The tokens the member may see: their own, or all of the organization's with `org.settings`.
    func list(auth: AuthState, after: (Date, UUID)?, limit: Int) async throws -> [APIToken] {
        try await services.store.apiTokens.list(
            organizationID: auth.organizationID, creatorID: Self.seesAll(auth) ? nil : auth.memberID, after: after,
            limit: limit)
    }

    /// Revokes a token: one's own, or any of the organization's with `org.settings` (another's is "not found"
    /// without it). Revoking a revoked token changes nothing.
    func revoke(_ id: UUID, auth: AuthState, meta: RequestMeta) async throws -> APIToken {
        let store = services.store
        guard let token = try await store.apiTokens.find(id, organizationID: auth.organizationID),
            token.creatorID == auth.memberID || Self.seesAll(auth)
        else { throw LatchkeyError.notFound("No such token.") }
        let now = services.now
        let actor = Actor(auth, meta: meta)
        try await store.transaction { tx in
            guard try await tx.apiTokens.revoke(id, organizationID: auth.organizationID, at: now) else { return }
            try await tx.audit.append(
                actor.event(
                    .tokenRevoked, target: (token.creatorID, token.creatorEmail), .success,
                    reason: Self.describe(token)), at: now)
        }
        return try await store.apiTokens.find(id, organizationID: auth.organizationID) ?? token
    }

    static func seesAll(_ auth: AuthState) -> Bool { auth.permissions.contains(.orgSettings) }

    /// A token's name: trimmed, 1–100 characters, no control characters.
    static func name(_ raw: String?) throws -> String {
        try Validation.name(
            raw, most: 100, error: .badRequest("invalid_token_name", "A token needs a name of 1 to 100 characters."))
    }

    /// For the audit log: the token's name, prefix, permissions and expiry.
    static func describe(_ token: APIToken) -> String {
        "token \"\(token.name)\" (\(token.prefix)…): "
            + token.permissions.sorted().map(\.rawValue).joined(separator: ", ")
            + "; expires \(DateText.short(token.expiresAt))"
    }
}

extension LatchkeyError {
    static func tooManyTokenRequests(_ wait: Int, limit: Int) -> LatchkeyError {
        LatchkeyError(
            .tooManyRequests(retryAfterSeconds: wait), "rate_limited",
            "This token made more than \(limit) requests in a minute. Try again in \(wait) s.")
    }
}
