import Foundation
import LatchkeyCore
import LatchkeyStore

/// What the operator CLI does with the application's own services (never a separate path to the data).
public struct OperatorTools: Sendable {
    let services: AppServices

    public init(services: AppServices) { self.services = services }

    /// The member an operator command names by email, their organization, the operator as the actor, and the
    /// reason or ticket to record ("break-glass" when none is given).
    func target(email: String, reason: String) async throws -> (
        member: Member, organization: Organization, actor: Actor, ticket: String
    ) {
        let normalized = email.trimmingCharacters(in: .whitespaces).lowercased()
        let ticket = try ResetInput.ticket(reason)
        guard let member = try await services.store.members.find(email: normalized),
            let organization = try await services.store.organizations.find(member.organizationID)
        else { throw LatchkeyError.notFound("No account has the email \(normalized).") }
        return (
            member, organization, Actor(operatorFor: organization, meta: .operator_),
            ticket.isEmpty ? "break-glass" : ticket
        )
    }

    /// Break-glass MFA reset from the server's shell, audited as the operator. Returns a line to print.
    public func resetMFA(email: String, reason: String) async throws -> String {
        let (member, organization, actor, ticket) = try await target(email: email, reason: reason)
        let result = try await ResetService(services: services).resetAsOperator(
            actor: actor, memberID: member.id, ticket: ticket)
        switch result.code {
        case .reset:
            return
                "MFA reset for \(member.name) <\(member.email)> in \(organization.name): authenticator, recovery codes and sessions removed; they set up MFA again at next sign-in."
        case .noMFA: return "\(member.email) has no MFA set up: nothing to reset (recorded in the audit log)."
        case .notFound, .notPermitted, .notPermittedRole, .selfAction, .cancelled:
            return "Could not reset \(member.email): \(result.reason ?? result.code.rawValue)."
        }
    }

    /// Lifts a member's sign-in lock from the server's shell, audited as the operator. Returns a line to print.
    public func unlock(email: String, reason: String) async throws -> String {
        let (member, organization, actor, ticket) = try await target(email: email, reason: reason)
        _ = try await LifecycleService(services: services).unlock(actor: actor, memberID: member.id, ticket: ticket)
        return
            "Sign-in unlocked for \(member.name) <\(member.email)> in \(organization.name): every wrong-password and wrong-code counter cleared."
    }

    /// Suspends, reactivates or removes a member from the server's shell, audited as the operator (the last
    /// active Owner stays). Returns a line to print.
    public func lifecycle(_ action: LifecycleAction, email: String, reason: String) async throws -> String {
        let (member, organization, actor, ticket) = try await target(email: email, reason: reason)
        let result = try await LifecycleService(services: services).apply(
            action, to: [member.id], actor: actor, ticket: ticket)[0]
        if let error = LifecycleService.error(for: result) { throw error }
        let who = "\(member.name) <\(member.email)> in \(organization.name)"
        return switch result.code {
        case .unchanged: "Nothing to change for \(who)."
        case .suspended: "Suspended \(who): signed out everywhere; no sign-in until reactivated."
        case .reactivated: "Reactivated \(who): they can sign in again."
        case .removed: "Removed \(who); their audit history is kept."
        default: "\(who): \(result.code.rawValue)."
        }
    }

    /// Gives a member another role of their organization, by the role's name. Returns a line to print.
    public func changeRole(email: String, roleName: String, reason: String) async throws -> String {
        let (member, _, _, _) = try await target(email: email, reason: reason)
        let roles = try await services.store.organizations.roles(organizationID: member.organizationID)
        guard let role = roles.first(where: { $0.name.caseInsensitiveCompare(roleName) == .orderedSame }) else {
            throw LatchkeyError.badRequest(
                "invalid_role", "No role \"\(roleName)\"; the roles are \(roles.map(\.name).joined(separator: ", ")).")
        }
        let line = try await lifecycle(.changeRole(to: role.id), email: email, reason: reason)
        return line.hasPrefix("Nothing") ? line : "\(member.name) <\(member.email)> is now \(role.name)."
    }

    /// Writes the audit log (one organization's, or every chain) as CSV or JSON Lines.
    public func exportAudit(organizationSlug: String?, jsonLines: Bool, write: (String) throws -> Void) async throws {
        var organizationID: UUID?
        if let organizationSlug {
            guard let organization = try await services.store.organizations.find(slug: organizationSlug) else {
                throw LatchkeyError.notFound("No organization has the slug \(organizationSlug).")
            }
            organizationID = organization.id
        }
        if !jsonLines { try write(AuditExport.csvHeader) }
        let encoder = AuditExport.lineEncoder()
        try await services.store.audit.all(organizationID: organizationID, filter: .init()) { events in
            for event in events {
                try write(jsonLines ? AuditExport.jsonLine(event, encoder: encoder) : AuditExport.csvLine(event))
            }
        }
    }

    /// Walks the audit chains (every organization's and the instance's) and says whether they are intact; with
    /// checkpoints (`checkpointAudit`'s lines), also that each chain still holds what its checkpoint saw. A checkpoint
    /// whose signature is not this database's key's is refused: it proves nothing.
    public func verifyAudit(checkpoints text: String? = nil) async throws -> AuditStore.Verification {
        var checkpoints: [String: AuditChainKey.Checkpoint] = [:]
        if let text {
            guard let key = services.store.audit.chainKey else { throw AuditStore.keyNeeded }
            for (number, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
                guard let checkpoint = try? JSONDecoder().decode(AuditChainKey.Checkpoint.self, from: Data(line.utf8))
                else {
                    throw LatchkeyError.badRequest(
                        "bad_checkpoint", "Checkpoint line \(number + 1) is not a checkpoint.")
                }
                guard checkpoint.isSigned(by: key) else {
                    throw LatchkeyError.badRequest(
                        "bad_checkpoint",
                        "Checkpoint line \(number + 1) (\(checkpoint.chain) at \(checkpoint.seq)) is not signed with this "
                            + "database's audit key: it was changed, or is another database's.")
                }
                checkpoints[checkpoint.chain] = checkpoint
            }
            guard !checkpoints.isEmpty else { throw LatchkeyError.badRequest("bad_checkpoint", "No checkpoint given.") }
        }
        return try await services.store.audit.verify(checkpoints: checkpoints)
    }

    /// `latchkey audit checkpoint`: every chain's head (or one organization's), signed with the audit chain key, one
    /// JSON line each — to be kept away from the database (a ticket, a log archive, printed) and given back to
    /// `audit verify --checkpoint`.
    public func checkpointAudit(organizationSlug: String?) async throws -> String {
        guard let key = services.store.audit.chainKey else { throw AuditStore.keyNeeded }
        var organizationID: UUID?
        if let organizationSlug {
            guard let organization = try await services.store.organizations.find(slug: organizationSlug) else {
                throw LatchkeyError.badRequest("unknown_organization", "No organization \(organizationSlug).")
            }
            organizationID = organization.id
        }
        let at = ISO8601DateFormatter().string(from: services.now)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try await services.store.audit.heads(organizationID: organizationID).map { head in
            let checkpoint = AuditChainKey.Checkpoint(
                chain: head.chain, seq: head.seq, hash: head.hash, at: at, key: key)
            return String(decoding: try encoder.encode(checkpoint), as: UTF8.self)
        }.joined(separator: "\n")
    }

    /// A set-password link for a member, printed for the operator to hand over (break-glass: e.g. the only Owner
    /// forgot their password and mail does not reach them). Valid one hour, single use, audited; MFA is still
    /// asked for at the next sign-in.
    public func passwordLink(email: String, reason: String) async throws -> String {
        let (member, organization, actor, ticket) = try await target(email: email, reason: reason)
        guard member.status == .active else {
            throw LatchkeyError.badRequest(
                "not_active", "\(member.email) is \(member.status.rawValue): no password link.")
        }
        let (url, expiresAt) = try await PasswordService(services: services).issueLink(
            for: member, organization: organization, issuer: actor, meta: .operator_, mail: false,
            reason: "printed by the operator (\(ticket))")
        return """
            Password link for \(member.name) <\(member.email)> in \(organization.name), single use, valid until \
            \(DateText.short(expiresAt)):
            \(url)
            Hand it to them over a trusted channel. Setting a password signs them out everywhere; MFA is still asked for.
            """
    }

    /// Mints an API token for a member from the server's shell (the first token of an automation), audited as the
    /// operator. Returns the token's text, shown this once, with what it may do.
    public func createToken(email: String, name: String, permissions: [String], days: Int) async throws -> String {
        let (member, organization, actor, _) = try await target(email: email, reason: "")
        guard member.status == .active else {
            throw LatchkeyError.badRequest("not_active", "\(member.email) is \(member.status.rawValue): no token.")
        }
        let creator = TokenService.Creator(
            id: member.id, name: member.name, email: member.email, organizationID: organization.id,
            permissions: member.permissions)
        let (token, text) = try await services.tokens.mint(
            for: creator, by: actor, name: name, permissions: permissions, days: days)
        return """
            API token "\(token.name)" for \(member.name) <\(member.email)> in \(organization.name), until \
            \(DateText.short(token.expiresAt)): \(token.permissions.sorted().map(\.rawValue).joined(separator: ", ")).
            \(text)
            It is shown this once; only its hash is stored. Send it as "Authorization: Bearer <token>".
            """
    }

    /// One person to invite, for the CLI.
    public struct InviteRow: Sendable {
        public var email: String
        public var name: String
        public var role: String

        public init(email: String, name: String = "", role: String = "") {
            self.email = email
            self.name = name
            self.role = role
        }
    }

    /// Reads a CSV file's text as the Invite dialog reads pasted text.
    public func inviteRows(_ text: String) throws -> [InviteRow] {
        try InviteInput.rows(from: text).map { InviteRow(email: $0.email, name: $0.name, role: $0.role) }
    }

    /// Invites people to an organization as the operator (who may grant any role). Returns a summary and one line
    /// per row that was not invited.
    /// `inviter`: the email of a member to invite as (the demo's owner), else the operator.
    public func invite(organizationSlug: String, rows: [InviteRow], defaultRole: String, inviter: String? = nil)
        async throws -> String
    {
        guard let organization = try await services.store.organizations.find(slug: organizationSlug) else {
            throw LatchkeyError.notFound("No organization has the slug \(organizationSlug).")
        }
        var actor = Actor(operatorFor: organization, meta: .operator_)
        if let inviter, let member = try await services.store.members.find(email: inviter),
            member.organizationID == organization.id
        {
            actor = Actor(member: member, organization: organization, meta: .operator_)
        }
        let outcomes = try await InvitationService(services: services).invite(
            rows.map { .init(email: $0.email, name: $0.name, role: $0.role) }, defaultRole: defaultRole,
            actor: actor)
        let invited = outcomes.filter { $0.status == .invited }.count
        let skipped = outcomes.filter { $0.status == .skipped }.count
        let failed = outcomes.filter { $0.status == .failed }.count
        let details = outcomes.filter { $0.status != .invited }.map {
            "  \($0.status.rawValue) \($0.email.isEmpty ? "(empty)" : $0.email): \($0.reason ?? $0.code)"
        }
        return (["\(organization.name): \(invited) invited, \(skipped) skipped, \(failed) failed."] + details)
            .joined(separator: "\n")
    }
}

extension OperatorTools {
    /// `latchkey key rotate`: seals every secret under `material` (see `KeyRotation`). When the current key is the
    /// data directory's `secret.key`, the new key replaces it there once the rotation is finished; a key given in
    /// `LATCHKEY_SECRET_KEY` is the operator's to replace.
    public func rotateKey(to material: [UInt8], limit: Int?) async throws -> (line: String, finished: Bool) {
        let new = try ServerKey(material: material)
        let report = try await KeyRotation(
            database: services.database, old: services.serverKey, new: new, clock: services.clock
        ).run(limit: limit)
        let sealed = "\(report.resealed) secrets sealed under \(new.fingerprint) by this run"
        guard report.finished else {
            return (
                "Rotation paused: \(sealed); run the same command again to go on. No instance starts until it is finished.",
                false
            )
        }
        var line = "Key rotated from \(services.serverKey.fingerprint) to \(new.fingerprint): \(sealed)"
        line += report.alreadyNew > 0 ? " (\(report.alreadyNew) by an earlier run)." : "."
        if services.config.secretKey == nil {
            let path = services.config.keyPath
            let temporary = path + ".new"
            guard
                FileManager.default.createFile(
                    atPath: temporary, contents: Data(hex(material).utf8), attributes: [.posixPermissions: 0o600])
            else { throw LatchkeyError.badRequest("secret_key_unwritable", "Could not write \(temporary).") }
            _ = try FileManager.default.replaceItemAt(
                URL(fileURLWithPath: path), withItemAt: URL(fileURLWithPath: temporary))
            line += " \(path) now holds the new key."
        } else {
            line += " Start every instance with the new key in LATCHKEY_SECRET_KEY."
        }
        return (line, true)
    }
}
