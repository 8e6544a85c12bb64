import Foundation
import LatchkeyCore
import LatchkeyStore
import Logging

/// Passwords: a member changes their own (current password and a fresh MFA code), asks for a link when they
/// forgot it (same answer and time whether or not the email has an account), sets a new one with the link, and
/// an operator prints a link from the shell. A new password ends sessions and never skips MFA at the next sign-in.
struct PasswordService: Sendable {
    let services: AppServices
    var store: Store { services.store }

    /// A password link works this long.
    static let linkLifetime: TimeInterval = 3600
    /// Forgot password answers no sooner than this, whatever happened, so timing tells nothing.
    static let forgotAnswerTime: Duration = .milliseconds(500)

    /// Refuses a password the policy does not allow, with the rule's code and words.
    static func check(_ password: String, email: String) throws {
        if let problem = PasswordPolicy.problem(with: password, email: email) {
            throw LatchkeyError.badRequest(ErrorCode(rawValue: problem.rawValue), problem.message)
        }
    }

    // MARK: Change one's own

    /// Changes the signed-in member's password. With an authenticator, `code` must be a fresh code from it.
    /// Every other session ends; this one continues under a new token, which is returned.
    func change(auth: AuthState, current: String, new: String, confirm: String?, code: String, meta: RequestMeta)
        async throws -> String
    {
        let now = services.now
        if let wait = try await store.rateLimits.hit(
            [.init(bucket: "password-change:\(auth.memberID.lowercasedString)", limit: 10, window: 3600)],
            now: now
        ).retryAfter {
            throw LatchkeyError(
                .tooManyRequests(retryAfterSeconds: wait), "too_many_requests",
                "Too many attempts. Try again in \(wait / 60 + 1) minutes.")
        }
        guard current.utf8.count <= 1024, !current.isEmpty else {
            throw LatchkeyError.badRequest("invalid_password", "Enter your current password.")
        }
        if let confirm, confirm != new {
            throw LatchkeyError.badRequest("password_mismatch", "The new passwords do not match.")
        }
        try Self.check(new, email: auth.memberEmail)
        guard let account = try await store.members.signInAccount(email: auth.memberEmail),
            try await services.passwords.verify(current, hash: account.passwordHash)
        else {
            try await store.audit.append(
                auth.event(.passwordChanged, .failure, reason: "wrong current password", meta: meta), at: now)
            throw LatchkeyError.forbidden("wrong_password", "Your current password is not correct.")
        }
        let hash = try await services.passwords.hash(new)
        let member = try await store.members.find(auth.memberID)
        let apply = { @Sendable (tx: Store) async throws -> String in
            try await tx.members.setPassword(of: auth.memberID, hash: hash)
            try await tx.sessions.deleteAll(memberID: auth.memberID, except: auth.sessionID)
            try await tx.tokens.spendAll(memberID: auth.memberID, now: now)
            if let member {
                try await tx.outbox.enqueue([
                    Notifications.passwordChanged(
                        to: member, organizationName: auth.organizationName, how: .changed, at: now)
                ])
            }
            return try await SessionService(services: services).promote(
                auth.sessionID, to: .signedIn, mfaVerified: true, in: tx)
        }
        if try await services.auth.hasAuthenticator(memberID: auth.memberID) {
            return try await services.auth.verifyTOTP(
                auth: auth, code: code.trimmingCharacters(in: .whitespaces), action: .passwordChanged, meta: meta,
                onSuccess: apply)
        }
        return try await store.transaction { tx in
            let token = try await apply(tx)
            try await tx.audit.append(auth.event(.passwordChanged, .success, meta: meta), at: now)
            return token
        }
    }

    // MARK: Forgot password

    /// Queues a password link for the account with this email, if there is an active one and the request is
    /// within its limits; otherwise does nothing. Answers the same way, no sooner than `forgotAnswerTime`.
    func forgot(email rawEmail: String, meta: RequestMeta) async throws {
        let started = ContinuousClock.now
        let email = rawEmail.trimmingCharacters(in: .whitespaces).lowercased()
        try Validation.email(email)
        do {
            try await sendLinkIfAllowed(email: email, meta: meta)
        } catch {
            services.logger.error("password link not queued", metadata: ["error_type": "\(type(of: error))"])
        }
        let elapsed = ContinuousClock.now - started
        if elapsed < Self.forgotAnswerTime { try? await Task.sleep(for: Self.forgotAnswerTime - elapsed) }
    }

    private func sendLinkIfAllowed(email: String, meta: RequestMeta) async throws {
        let now = services.now
        let limited = try await store.rateLimits.hit(
            [
                .init(bucket: "password-forgot:\(email)", limit: 3, window: 3600),
                .init(bucket: "password-forgot-ip:\(ClientAddress.throttleKey(meta.ip))", limit: 20, window: 3600),
            ], now: now
        ).retryAfter
        guard limited == nil, let member = try await store.members.find(email: email), member.status == .active,
            let organization = try await store.organizations.find(member.organizationID)
        else { return }
        _ = try await issueLink(
            for: member, organization: organization, issuer: nil, meta: meta, mail: true,
            reason: "requested on the sign-in page")
    }

    /// Issues a password link for `member` (spending older ones), audited; queues the mail when `mail`. Returns
    /// the link.
    func issueLink(
        for member: Member, organization: Organization, issuer: Actor?, meta: RequestMeta, mail: Bool, reason: String
    ) async throws -> (url: String, expiresAt: Date) {
        let now = services.now
        let token = services.random.token()
        let url = "\(services.config.linkBase)\(Route.passwordReset.path)?token=\(token)"
        let expiresAt = now.addingTimeInterval(Self.linkLifetime)
        let entry = AuditEntry(
            organizationID: member.organizationID, actorID: issuer?.memberID ?? member.id,
            actorEmail: issuer?.email ?? member.email, actorRole: issuer?.roleName ?? member.roleName,
            action: .passwordLinkIssued, targetID: member.id, targetEmail: member.email, result: .success,
            reason: reason, meta: meta)
        try await store.transaction { tx in
            // One link at a time per member: the earlier ones are spent before the new one exists.
            try await tx.members.lock([member.id])
            try await tx.tokens.issue(
                [.init(memberID: member.id, tokenHash: sha256Hex(token))], organizationID: member.organizationID,
                purpose: .password, issuerID: issuer?.memberID, issuerName: issuer?.name ?? "Latchkey", now: now,
                expiresAt: expiresAt)
            if mail {
                try await tx.outbox.enqueue([
                    Notifications.passwordLink(to: member, organizationName: organization.name, url: url, at: now)
                ])
            }
            try await tx.audit.append(entry, at: now)
        }
        return (url, expiresAt)
    }

    // MARK: Set a new password with a link

    /// The member a live password link is for (nil when it is unknown, used or expired).
    func memberForLink(_ token: String) async throws -> Member? {
        guard token.utf8.count <= 128,
            let live = try await store.tokens.live(tokenHash: sha256Hex(token), purpose: .password, now: services.now),
            let member = try await store.members.find(live.memberID), member.status == .active
        else { return nil }
        return member
    }

    static let linkInvalid = LatchkeyError.badRequest(
        "link_invalid", "This link has expired or was already used. Ask for a new one on the sign-in page.")

    /// Sets a new password with a link: the link is spent, every session of the member ends, and MFA is still
    /// asked for at the next sign-in (no session is opened here).
    func reset(token: String, new: String, confirm: String?, meta: RequestMeta) async throws {
        guard let member = try await memberForLink(token) else { throw Self.linkInvalid }
        if let confirm, confirm != new {
            throw LatchkeyError.badRequest("password_mismatch", "The new passwords do not match.")
        }
        try Self.check(new, email: member.email)
        let hash = try await services.passwords.hash(new)
        let now = services.now
        let organizationName = try await store.organizations.find(member.organizationID)?.name ?? ""
        let entry = AuditEntry(
            organizationID: member.organizationID, actorID: member.id, actorEmail: member.email,
            actorRole: member.roleName, action: .passwordReset, targetID: member.id, targetEmail: member.email,
            result: .success, reason: "set with a password link; every session ended", meta: meta)
        try await store.transaction { tx in
            guard try await tx.tokens.spend(tokenHash: sha256Hex(token), purpose: .password, now: now) != nil else {
                throw Self.linkInvalid
            }
            try await tx.members.setPassword(of: member.id, hash: hash)
            try await tx.sessions.deleteAll(memberIDs: [member.id])
            try await tx.tokens.spendAll(memberID: member.id, now: now)
            try await tx.outbox.enqueue([
                Notifications.passwordChanged(to: member, organizationName: organizationName, how: .link, at: now)
            ])
            try await tx.audit.append(entry, at: now)
        }
    }
}
