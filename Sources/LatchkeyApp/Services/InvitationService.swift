import Foundation
import LatchkeyCore
import LatchkeyStore

/// Invitations: an administrator invites people by email with a role they may grant; each gets a single-use link
/// (7 days) to set their name and password, then enroll where MFA is required. An invited person is a member row
/// with status `invited` until then, so the Members table lists them.
///
/// Whether an email has an account in another organization of the instance never shows to the inviter: such an
/// email is invited like any other (the invitee learns it when accepting).
struct InvitationService: Sendable {
    let services: AppServices
    var store: Store { services.store }

    static let lifetime: TimeInterval = 7 * 24 * 3600
    static let maximumNameLength = 100

    /// One person to invite, as typed, pasted or read from a CSV file.
    struct Row: Sendable {
        var email: String
        var name: String = ""
        /// A role's id or name; empty for the request's role.
        var role: String = ""
        /// The identity provider's id for the person (SCIM `externalId`).
        var externalID: String?
    }

    /// What became of one row.
    struct Outcome: Sendable, Encodable, Equatable {
        enum Status: String, Sendable, Encodable { case invited, skipped, failed }
        var email: String
        var status: Status
        var code: String
        var reason: String?
        var id: UUID?
        var roleName: String?
    }

    /// Invites every row (up to `BulkLimits.maximumPerRequest`), set-based: one transaction with the
    /// organization's row locked (concurrent invitations of one email make one), multi-row inserts of members,
    /// search terms, tokens, mail and audit events.
    func invite(_ rows: [Row], defaultRole: String, actor: Actor) async throws -> [Outcome] {
        guard LifecyclePolicy.required.isSubset(of: actor.permissions) else {
            throw LatchkeyError.forbidden(.forbidden, "Your role cannot invite members.")
        }
        guard !rows.isEmpty else { throw LatchkeyError.badRequest("no_invitations", "Enter at least one email.") }
        guard rows.count <= BulkLimits.maximumPerRequest else {
            throw LatchkeyError.badRequest(
                "too_many_invitations", "Invite at most \(BulkLimits.maximumPerRequest) people in one request.")
        }
        let roles = try await store.organizations.roles(organizationID: actor.organizationID)
        func role(named text: String) -> Role? {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if let id = UUID(uuidString: trimmed) { return roles.first { $0.id == id } }
            return roles.first { $0.name.caseInsensitiveCompare(trimmed) == .orderedSame }
        }
        let fallback = role(named: defaultRole)

        // Rules that need no database: the email's form, the name, the role and whether it may be granted.
        var outcomes: [Outcome] = []
        var candidates: [(index: Int, email: String, name: String, role: Role, externalID: String?)] = []
        var seen: Set<String> = []
        for row in rows {
            let email = row.email.trimmingCharacters(in: .whitespaces).lowercased()
            var outcome = Outcome(email: email, status: .failed, code: "")
            let name = row.name.trimmingCharacters(in: .whitespaces)
            if (try? Validation.email(email)) == nil {
                outcome.code = "invalid_email"
                outcome.reason = "Not a valid email address"
            } else if name.count > Self.maximumNameLength || name.unicodeScalars.contains(where: { $0.value < 32 }) {
                outcome.code = "invalid_name"
                outcome.reason = "A name is at most \(Self.maximumNameLength) characters on one line"
            } else if let chosen = row.role.isEmpty ? fallback : role(named: row.role) {
                outcome.roleName = chosen.name
                if !chosen.permissions.isSubset(of: actor.permissions) {
                    outcome.code = "role_not_allowed"
                    outcome.reason = "Not permitted: you cannot grant \(chosen.name)"
                } else if !seen.insert(email).inserted {
                    outcome.status = .skipped
                    outcome.code = "duplicate"
                    outcome.reason = "Listed more than once"
                } else {
                    candidates.append(
                        (outcomes.count, email, name.isEmpty ? Self.defaultName(email) : name, chosen, row.externalID))
                }
            } else {
                outcome.code = "unknown_role"
                outcome.reason = "No role named \"\(row.role.isEmpty ? defaultRole : row.role)\""
            }
            outcomes.append(outcome)
        }

        let now = services.now
        let linkBase = services.config.linkBase
        let lifetime = Self.lifetime
        let random = services.random
        let candidateList = candidates
        let decided = outcomes
        return try await store.transaction { tx in
            try await tx.organizations.lock(actor.organizationID)
            let existing = try await tx.members.statuses(
                emails: candidateList.map(\.email), organizationID: actor.organizationID)
            var outcomes = decided
            var members: [NewMember] = []
            var tokens: [MemberTokenRepository.NewToken] = []
            var mail: [OutboxMessage] = []
            var events: [AuditEntry] = []
            for candidate in candidateList {
                if let status = existing[candidate.email] {
                    outcomes[candidate.index].status = .skipped
                    outcomes[candidate.index].code = status == .invited ? "already_invited" : "already_member"
                    outcomes[candidate.index].reason =
                        status == .invited ? "Already invited (resend it from the table)" : "Already a member"
                    continue
                }
                var member = NewMember(
                    organizationID: actor.organizationID, roleID: candidate.role.id, email: candidate.email,
                    name: candidate.name, passwordHash: MemberRepository.invitedPasswordHash, mfaStatus: .notSetUp,
                    createdAt: now)
                member.status = .invited
                member.externalID = candidate.externalID
                let token = random.token()
                members.append(member)
                tokens.append(.init(memberID: member.id, tokenHash: sha256Hex(token)))
                mail.append(
                    Notifications.invitation(
                        to: candidate.email, name: candidate.name, role: candidate.role.name, actor: actor,
                        url: "\(linkBase)\(Route.invitationAccept.path)?token=\(token)",
                        expiresAt: now.addingTimeInterval(lifetime), at: now))
                events.append(
                    actor.event(
                        .memberInvited, target: (member.id, candidate.email), .success,
                        reason: "invited as \(candidate.role.name)"))
                outcomes[candidate.index].status = .invited
                outcomes[candidate.index].code = "invited"
                outcomes[candidate.index].id = member.id
            }
            for outcome in outcomes where outcome.code == "role_not_allowed" {
                events.append(
                    actor.event(
                        .memberInvited, target: nil, .denied, reason: "\(outcome.email): \(outcome.reason ?? "")"))
            }
            try await tx.members.insert(members)
            try await tx.tokens.issue(
                tokens, organizationID: actor.organizationID, purpose: .invite, issuerID: actor.memberID,
                issuerName: actor.name, now: now, expiresAt: now.addingTimeInterval(lifetime))
            try await tx.outbox.enqueue(mail)
            if !events.isEmpty { try await tx.audit.appendAll(events, at: now) }
            return outcomes
        }
    }

    /// "jane.doe@acme.test" → "jane.doe": a name to show until the person sets their own.
    static func defaultName(_ email: String) -> String {
        String(email.split(separator: "@").first ?? Substring(email))
    }

    /// A pending invitation of the actor's organization (another organization's, or a member's, is not found).
    private func invited(_ memberID: UUID, actor: Actor) async throws -> Member {
        guard LifecyclePolicy.required.isSubset(of: actor.permissions) else {
            throw LatchkeyError.forbidden(.forbidden, "Your role cannot manage invitations.")
        }
        guard let member = try await store.members.find(memberID, organizationID: actor.organizationID),
            member.status == .invited
        else { throw LatchkeyError.notFound("No pending invitation has that id.") }
        guard member.permissions.isSubset(of: actor.permissions) else {
            throw LatchkeyError.forbidden(
                .insufficientPrivilege, "You can't manage an invitation to a role with more access than yours.")
        }
        return member
    }

    /// Sends a new link (the earlier one stops working) for another 7 days.
    func resend(_ memberID: UUID, actor: Actor) async throws -> (member: Member, at: Date, expiresAt: Date) {
        let member = try await invited(memberID, actor: actor)
        let now = services.now
        let token = services.random.token()
        let expiresAt = now.addingTimeInterval(Self.lifetime)
        let message = Notifications.invitation(
            to: member.email, name: member.name, role: member.roleName, actor: actor,
            url: "\(services.config.linkBase)\(Route.invitationAccept.path)?token=\(token)", expiresAt: expiresAt,
            at: now)
        let event = actor.event(.invitationResent, target: (member.id, member.email), .success)
        try await store.transaction { tx in
            // One resend at a time per person: the earlier links are spent before the new one exists.
            try await tx.members.lock([member.id])
            // Revoked or accepted since it was read: nothing to resend.
            guard try await tx.members.find(member.id, organizationID: actor.organizationID)?.status == .invited else {
                throw LatchkeyError.notFound("No pending invitation has that id.")
            }
            try await tx.tokens.issue(
                [.init(memberID: member.id, tokenHash: sha256Hex(token))], organizationID: actor.organizationID,
                purpose: .invite, issuerID: actor.memberID, issuerName: actor.name, now: now, expiresAt: expiresAt)
            try await tx.outbox.enqueue([message])
            try await tx.audit.append(event, at: now)
        }
        return (member, now, expiresAt)
    }

    /// Withdraws an invitation: the row and its links are deleted (an invitation has no history but its audit).
    func revoke(_ memberID: UUID, actor: Actor) async throws -> Member {
        let member = try await invited(memberID, actor: actor)
        let now = services.now
        let event = actor.event(.invitationRevoked, target: (member.id, member.email), .success)
        let deleted = try await store.transaction { tx -> Bool in
            // Two revokes at once: the second waits for the first and then finds nothing to withdraw.
            try await tx.members.lock([member.id])
            guard try await tx.members.find(member.id, organizationID: actor.organizationID)?.status == .invited else {
                return false
            }
            try await tx.members.delete([member.id], organizationID: actor.organizationID)
            try await tx.audit.append(event, at: now)
            return true
        }
        guard deleted else { throw LatchkeyError.notFound("No pending invitation has that id.") }
        return member
    }

    // MARK: Accepting

    /// What the accept page shows for a live link.
    struct Invitation: Sendable {
        var member: Member
        var organization: Organization
        var inviterName: String
        var expiresAt: Date
    }

    func invitation(token: String) async throws -> Invitation? {
        guard token.utf8.count <= 128,
            let live = try await store.tokens.live(tokenHash: sha256Hex(token), purpose: .invite, now: services.now),
            let member = try await store.members.find(live.memberID), member.status == .invited,
            let organization = try await store.organizations.find(member.organizationID)
        else { return nil }
        return Invitation(
            member: member, organization: organization, inviterName: live.issuerName, expiresAt: live.expiresAt)
    }

    static let linkInvalid = LatchkeyError.badRequest(
        "invitation_invalid",
        "This invitation has expired, was already used or was withdrawn. Ask the person who invited you for a new one.")

    /// Accepts an invitation: name and password set, the link spent, and a session opened at the step the
    /// organization asks for (enrollment where MFA is required). Returns the session's token, CSRF token and state.
    func accept(token: String, name rawName: String, password: String, confirm: String?, meta: RequestMeta)
        async throws -> AuthService.LoginOutcome
    {
        guard let invitation = try await invitation(token: token) else { throw Self.linkInvalid }
        let member = invitation.member
        let name = rawName.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.count <= Self.maximumNameLength,
            !name.unicodeScalars.contains(where: { $0.value < 32 })
        else {
            throw LatchkeyError.badRequest(
                "invalid_name", "Enter your name (at most \(Self.maximumNameLength) characters).")
        }
        if let confirm, confirm != password {
            throw LatchkeyError.badRequest("password_mismatch", "The passwords do not match.")
        }
        try PasswordService.check(password, email: member.email)
        let hash = try await services.passwords.hash(password)
        let now = services.now
        let organization = invitation.organization
        let state: SessionState = organization.settings.requireMFA ? .enrollmentRequired : .signedIn
        let entry = AuditEntry(
            organizationID: member.organizationID, actorID: member.id, actorEmail: member.email,
            actorRole: member.roleName, action: .invitationAccepted, targetID: member.id, targetEmail: member.email,
            result: .success, reason: "joined as \(member.roleName), invited by \(invitation.inviterName)", meta: meta)
        let sessions = SessionService(services: services)
        let auth = services.auth
        do {
            let (sessionToken, csrf) = try await store.transaction { tx in
                guard try await tx.tokens.spend(tokenHash: sha256Hex(token), purpose: .invite, now: now) != nil,
                    try await tx.members.acceptInvitation(member.id, name: name, passwordHash: hash)
                else { throw Self.linkInvalid }
                try await tx.tokens.spendAll(memberID: member.id, now: now)
                let opened = try await sessions.create(
                    memberID: member.id, organizationID: member.organizationID, state: state, mfaVerified: false,
                    lifetime: TimeInterval(organization.settings.sessionLifetimeSeconds), meta: meta, in: tx)
                if state == .signedIn {
                    try await auth.markSignedIn(memberID: member.id, meta: meta, in: tx)
                } else {
                    _ = try await auth.beginEnrollment(
                        memberID: member.id, email: member.email, organizationName: organization.name, in: tx)
                }
                try await tx.audit.append(entry, at: now)
                return opened
            }
            return AuthService.LoginOutcome(token: sessionToken, csrfToken: csrf, state: state)
        } catch let error where Store.isConflict(error) {
            throw LatchkeyError(
                .conflict, "email_has_account",
                "\(member.email) already has a Latchkey account in another organization. Ask \(organization.name) to invite another address."
            )
        }
    }
}
