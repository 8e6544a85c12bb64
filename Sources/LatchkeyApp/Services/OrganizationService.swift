import Foundation
import LatchkeyCore
import LatchkeyStore

/// Creating organizations, roles and members (CLI, demo and tests), and an organization's settings.
public struct OrganizationService: Sendable {
    let services: AppServices

    public init(services: AppServices) { self.services = services }

    var store: Store { services.store }

    /// A new organization with the three built-in roles.
    public struct Created: Sendable {
        public var organizationID: UUID
        public var roles: [BuiltInRole: UUID]
    }

    /// The operator as the actor of an event.
    private func operatorEvent(
        _ action: AuditAction, organizationID: UUID, target: (id: UUID, email: String)? = nil, reason: String = "",
        meta: RequestMeta
    ) -> AuditEntry {
        AuditEntry(
            organizationID: organizationID, actorEmail: "operator", actorRole: "operator", action: action,
            targetID: target?.id, targetEmail: target?.email ?? "", result: .success, reason: reason, meta: meta)
    }

    /// Creates an organization and its built-in roles; refuses a slug already taken.
    public func createOrganization(name: String, slug: String, requireMFA: Bool, meta: RequestMeta = .operator_)
        async throws -> Created
    {
        let trimmedName = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmedName.isEmpty, trimmedName.count <= 100 else {
            throw LatchkeyError.badRequest("invalid_name", "An organization needs a name of at most 100 characters.")
        }
        guard !slug.isEmpty, slug.count <= 50,
            slug.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") })
        else {
            throw LatchkeyError.badRequest("invalid_slug", "A slug uses lower-case letters, digits and dashes.")
        }
        if try await store.organizations.find(slug: slug) != nil {
            throw LatchkeyError(.conflict, "slug_taken", "An organization with slug \"\(slug)\" already exists.")
        }
        let now = services.now
        let (organization, roles) = try await store.transaction { tx in
            let created = try await tx.organizations.create(
                name: trimmedName, slug: slug, requireMFA: requireMFA, createdAt: now)
            try await tx.audit.append(
                self.operatorEvent(
                    .organizationCreated, organizationID: created.organization.id, reason: "\(trimmedName) (\(slug))",
                    meta: meta), at: now)
            return created
        }
        return Created(organizationID: organization.id, roles: roles)
    }

    /// Adds a custom role.
    public func createRole(organizationID: UUID, name: String, permissions: Set<Permission>) async throws -> UUID {
        try await store.organizations.createRole(
            organizationID: organizationID, name: name, permissions: permissions, createdAt: services.now)
    }

    /// Adds a member with a password and no MFA.
    public func createMember(
        organizationID: UUID, roleID: UUID, email: String, name: String, password: String,
        meta: RequestMeta = .operator_
    ) async throws -> UUID {
        let normalized = email.trimmingCharacters(in: .whitespaces).lowercased()
        try Validation.email(normalized)
        try PasswordService.check(password, email: normalized)
        if try await store.members.exists(email: normalized) {
            throw LatchkeyError(.conflict, "email_taken", "An account with that email already exists.")
        }
        let hash = try await services.passwords.hash(password)
        let now = services.now
        return try await store.transaction { tx in
            let id = try await tx.members.create(
                organizationID: organizationID, roleID: roleID, email: normalized, name: name, passwordHash: hash,
                createdAt: now)
            try await tx.audit.append(
                self.operatorEvent(
                    .memberCreated, organizationID: organizationID, target: (id, normalized), meta: meta),
                at: now)
            return id
        }
    }

    /// What a change of settings takes away, each in the words the confirmation shows and the owners' mail repeats;
    /// empty when it weakens nothing.
    static func weakenings(from old: Organization.Settings, to new: Organization.Settings) -> [String] {
        var effects: [String] = []
        if old.requireMFA, !new.requireMFA { effects.append("Members will be able to sign in without MFA.") }
        if new.stepUpWindowSeconds > old.stepUpWindowSeconds {
            effects.append(
                "Resetting another member's MFA will accept an MFA check up to \(new.stepUpWindowSeconds / 60) minutes "
                    + "old (now \(old.stepUpWindowSeconds / 60)).")
        }
        if new.sessionLifetimeSeconds > old.sessionLifetimeSeconds {
            effects.append(
                "Sessions will last up to \(new.sessionLifetimeSeconds / 3600) hours (now "
                    + "\(old.sessionLifetimeSeconds / 3600)).")
        }
        if new.idleTimeoutSeconds > old.idleTimeoutSeconds {
            effects.append(
                "An idle session will stay signed in for \(new.idleTimeoutSeconds / 60) minutes (now "
                    + "\(old.idleTimeoutSeconds / 60)).")
        }
        if old.notifyOwnersOnReset, !new.notifyOwnersOnReset {
            effects.append("Owners will no longer be emailed a summary of every bulk reset.")
        }
        return effects
    }

    /// Saves an organization's settings (when they changed), auditing each change as before → after. A change that
    /// weakens security (`weakenings`) needs the administrator's confirmation and a fresh code from their
    /// authenticator (checked as a step-up: throttled and audited), and is mailed to every owner — a stolen session
    /// cannot quietly weaken the whole organization.
    func updateSettings(
        _ settings: Organization.Settings, of organization: Organization, by auth: AuthState, confirmation: String?,
        meta: RequestMeta
    ) async throws {
        // A weakening as the page saw it asks for a code first (the step-up has its own transaction and audit).
        var verified = false
        if !Self.weakenings(from: organization.settings, to: settings).isEmpty {
            guard let code = confirmation?.trimmingCharacters(in: .whitespaces), !code.isEmpty else {
                throw Self.confirmationRequired
            }
            try await AuthService(services: services).stepUp(auth: auth, code: code, meta: meta)
            verified = true
        }
        let now = services.now
        try await store.transaction { [verified] tx in
            // Compared with the settings as they are now, under the organization's lock: of two requests making the
            // same change at once, the second finds nothing to change and audits nothing.
            try await tx.organizations.lock(organization.id)
            guard let current = try await tx.organizations.find(organization.id)?.settings else {
                throw LatchkeyError.notFound("Your organization is gone.")
            }
            let changes = Self.changes(from: current, to: settings)
            guard !changes.isEmpty else { return }
            let weakened = Self.weakenings(from: current, to: settings)
            guard weakened.isEmpty || verified else { throw Self.confirmationRequired }
            try await tx.organizations.update(organization.id, settings: settings)
            if !weakened.isEmpty {
                let owners = try await tx.members.owners(organizationID: organization.id)
                try await tx.outbox.enqueue(
                    owners.map { Notifications.settingsWeakened(to: $0, by: auth, effects: weakened, at: now) })
            }
            var entry = auth.event(.settingsChanged, .success, reason: changes.joined(separator: "; "), meta: meta)
            entry.targetID = nil
            entry.targetEmail = ""
            try await tx.audit.append(entry, at: now)
        }
    }

    /// Each setting `new` changes, as before → after (the audit event's reason).
    static func changes(from old: Organization.Settings, to new: Organization.Settings) -> [String] {
        var changes: [String] = []
        func note<T: Equatable>(_ name: String, _ before: T, _ after: T) {
            if before != after { changes.append("\(name): \(before) → \(after)") }
        }
        note("require_mfa", old.requireMFA, new.requireMFA)
        note("step_up_window_seconds", old.stepUpWindowSeconds, new.stepUpWindowSeconds)
        note("session_lifetime_seconds", old.sessionLifetimeSeconds, new.sessionLifetimeSeconds)
        note("idle_timeout_seconds", old.idleTimeoutSeconds, new.idleTimeoutSeconds)
        note("notify_owners_on_reset", old.notifyOwnersOnReset, new.notifyOwnersOnReset)
        return changes
    }

    static let confirmationRequired = LatchkeyError(
        .forbidden, "confirmation_required",
        "These changes weaken security: confirm them with a code from your authenticator app.")
}
