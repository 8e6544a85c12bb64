import Foundation
import LatchkeyCore
import LatchkeyStore

/// What an identity provider does over SCIM, as the same actions the Members page takes: creating a User invites
/// them, `active: false` suspends (and signs out), `active: true` reactivates, DELETE removes (or withdraws an
/// invitation), a Group's members set roles — each through `InvitationService` or `LifecycleService`, so the same
/// rules (never beyond the token's permissions, never the last Owner) and the same audit events apply. What only
/// SCIM changes — a member's email, name and external id — is audited as `member.profile_changed`.
struct ScimService {
    let services: AppServices
    let actor: Actor

    var store: Store { services.store }
    var organizationID: UUID { actor.organizationID }

    /// Reads need `members.view`; changes need `members.manage` too (checked again by the services they use).
    func requireView() throws {
        guard actor.permissions.contains(.membersView) else {
            throw LatchkeyError.forbidden(.forbidden, "This token needs members.view to read members.")
        }
    }

    func user(_ id: UUID) async throws -> ScimUserRow {
        try requireView()
        guard let row = try await store.scim.user(id, organizationID: organizationID) else {
            throw LatchkeyError.notFound("No user has that id.")
        }
        return row
    }

    /// A page of users by `userName`, `emails.value`, `externalId`, `active` or `id`.
    func users(_ query: ScimQuery) async throws -> (total: Int, users: [ScimUserRow]) {
        try requireView()
        var filter: ScimRepository.Filter?
        if let (attribute, value) = query.filter {
            switch (attribute, value) {
            case ("username", let text as String), ("emails.value", let text as String), ("emails", let text as String):
                filter = .email(text.lowercased())
            case ("externalid", let text as String): filter = .externalID(text)
            case ("active", let flag as NSNumber) where Scim.isBool(flag): filter = .active(flag.boolValue)
            case ("id", let text as String):
                guard let id = UUID(uuidString: text) else { return (0, []) }
                filter = .id(id)
            default:
                throw Scim.invalidFilter(
                    "Users are filtered on userName, emails.value, externalId (strings), active (true or false) or id.")
            }
        }
        return try await store.scim.users(
            organizationID: organizationID, filter: filter, offset: query.offset, limit: query.count)
    }

    /// POST /Users: an invitation (the person sets their name and password from the mail), suspended at once when
    /// the body says `active: false`.
    func create(_ body: ScimObject) async throws -> ScimUserRow {
        var wanted = ScimUserState(email: "", name: "", externalID: nil, active: true)
        try wanted.apply(body)
        let email = try Self.email(wanted.email)
        let name = try Self.name(wanted.name, email: email)
        if let externalID = wanted.externalID { try await requireFree(externalID: externalID, except: nil) }
        let outcome = try await InvitationService(services: services).invite(
            [.init(email: email, name: name, role: "", externalID: wanted.externalID)],
            defaultRole: BuiltInRole.member.name, actor: actor)[0]
        guard outcome.status == .invited, let id = outcome.id else {
            switch outcome.code {
            case "already_invited", "already_member", "duplicate":
                throw Scim.uniqueness("A user with userName \(email) exists.")
            case "role_not_allowed": throw LatchkeyError.forbidden(.forbidden, (outcome.reason ?? "") + ".")
            default: throw Scim.invalidValue((outcome.reason ?? "The user could not be created") + ".")
            }
        }
        if !wanted.active { try await lifecycle(.suspend, id) }
        return try await user(id)
    }

    /// PUT (the whole User) and PATCH (operations) end here: the profile, then the status, each only if the request
    /// changed it from `current`, the user as read when the request was applied to it.
    func update(_ current: ScimUserRow, to wanted: ScimUserState) async throws -> ScimUserRow {
        let id = current.id
        let email = try Self.email(wanted.email)
        let name = try Self.name(wanted.name, email: email)
        let externalID = wanted.externalID.flatMap { $0.isEmpty ? nil : $0 }
        if email != current.email || name != current.name || externalID != current.externalID {
            try await setProfile(current, email: email, name: name, externalID: externalID)
        }
        if wanted.active != (current.status != .suspended) {
            try await lifecycle(wanted.active ? .reactivate : .suspend, id)
        }
        return try await user(id)
    }

    /// DELETE: an invitation is withdrawn, a member removed (never the last Owner).
    func delete(_ id: UUID) async throws {
        let current = try await user(id)
        if current.status == .invited {
            _ = try await InvitationService(services: services).revoke(id, actor: actor)
        } else {
            try await lifecycle(.remove, id)
        }
    }

    /// One member through `LifecycleService`; a refusal answers its error.
    func lifecycle(_ action: LifecycleAction, _ id: UUID) async throws {
        let result = try await LifecycleService(services: services).apply(action, to: [id], actor: actor, ticket: "")[0]
        if let error = LifecycleService.error(for: result) { throw error }
    }

    /// Email, name and external id, under the member's lock and the same rule as every other change of a member
    /// (not oneself, not someone with more access); a taken email or external id is `uniqueness`. Only what the
    /// request changed from `current` (the user it was applied to) is written, onto the user as it is under the
    /// lock: a PATCH of one attribute never puts back another that a concurrent request changed meanwhile.
    func setProfile(
        _ current: ScimUserRow, email wantedEmail: String, name wantedName: String, externalID wantedID: String?
    )
        async throws
    {
        guard LifecyclePolicy.required.isSubset(of: actor.permissions) else {
            throw LatchkeyError.forbidden(.forbidden, "Your role cannot manage members.")
        }
        let actor = actor
        let organizationID = organizationID
        let now = services.now
        do {
            try await store.transaction { tx in
                try await tx.members.lock([current.id])
                guard let target = try await tx.members.find(current.id, organizationID: organizationID),
                    let before = try await tx.scim.user(current.id, organizationID: organizationID)
                else { throw LatchkeyError.notFound("No user has that id.") }
                let email = wantedEmail != current.email ? wantedEmail : before.email
                let name = wantedName != current.name ? wantedName : before.name
                let externalID = wantedID != current.externalID ? wantedID : before.externalID
                if let actorID = actor.memberID,
                    let refusal = LifecyclePolicy.check(
                        actorID: actorID, actorPermissions: actor.permissions, targetID: target.id,
                        targetPermissions: target.permissions, grantedPermissions: nil)
                {
                    let result = LifecycleResult(
                        memberID: target.id, code: refusal,
                        reason: refusal.reason(targetRole: target.roleName, newRole: ""),
                        member: target)
                    throw LifecycleService.error(for: result) ?? LatchkeyError.forbidden(.forbidden, "Not permitted.")
                }
                if email != before.email,
                    try await tx.members.statuses(emails: [email], organizationID: organizationID)[email] != nil
                {
                    throw Scim.uniqueness("A user with userName \(email) exists.")
                }
                if let externalID, externalID != before.externalID,
                    try await tx.scim.users(
                        organizationID: organizationID, filter: .externalID(externalID), offset: 0, limit: 0
                    ).total > 0
                {
                    throw Scim.uniqueness("A user with externalId \(externalID) exists.")
                }
                var changes: [String] = []
                if email != before.email { changes.append("email: \(before.email) → \(email)") }
                if name != before.name { changes.append("name: \(before.name) → \(name)") }
                if externalID != before.externalID {
                    changes.append("externalId: \(before.externalID ?? "none") → \(externalID ?? "none")")
                }
                guard !changes.isEmpty else { return }
                try await tx.scim.setProfile(
                    current.id, organizationID: organizationID, email: email, name: name, externalID: externalID)
                try await tx.audit.append(
                    actor.event(
                        .memberProfileChanged, target: (current.id, email), .success,
                        reason: changes.joined(separator: "; ")), at: now)
            }
        } catch  where Store.isConflict(error) {
            // Another organization's account signs in with that email (emails sign in instance-wide).
            throw Scim.uniqueness("An account with userName \(wantedEmail) exists.")
        }
    }

    func requireFree(externalID: String, except: UUID?) async throws {
        let taken = try await store.scim.users(
            organizationID: organizationID, filter: .externalID(externalID), offset: 0, limit: 1)
        if let other = taken.users.first, other.id != except {
            throw Scim.uniqueness("A user with externalId \(externalID) exists.")
        }
    }

    /// userName: a valid email, compared and kept lower-case.
    static func email(_ raw: String) throws -> String {
        let email = raw.trimmingCharacters(in: .whitespaces).lowercased()
        guard !email.isEmpty else { throw Scim.invalidValue("userName (the member's email address) is required.") }
        do { try Validation.email(email) } catch {
            throw Scim.invalidValue("userName must be an email address.")
        }
        return email
    }

    /// The name: trimmed, at most 100 characters on one line; none given: the email's local part.
    static func name(_ raw: String, email: String) throws -> String {
        let name = raw.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { return InvitationService.defaultName(email) }
        guard name.count <= InvitationService.maximumNameLength, !name.unicodeScalars.contains(where: { $0.value < 32 })
        else {
            throw Scim.invalidValue("A name is at most \(InvitationService.maximumNameLength) characters on one line.")
        }
        return name
    }
}

// MARK: Groups

extension ScimService {
    func roles(_ query: ScimQuery) async throws -> [Role] {
        try requireView()
        var roles = try await store.organizations.roles(organizationID: organizationID)
        if let (attribute, value) = query.filter {
            switch (attribute, value) {
            case ("displayname", let text as String): roles = roles.filter { $0.name.lowercased() == text.lowercased() }
            case ("id", let text as String): roles = roles.filter { $0.id == UUID(uuidString: text) }
            default: throw Scim.invalidFilter("Groups are filtered on displayName or id.")
            }
        }
        return roles.sorted { ($0.name, $0.id.uuidString) < ($1.name, $1.id.uuidString) }
    }

    func role(_ id: UUID) async throws -> Role {
        try requireView()
        guard let role = try await store.organizations.role(id, organizationID: organizationID) else {
            throw LatchkeyError.notFound("No group has that id.")
        }
        return role
    }

    func members(of role: Role) async throws -> [(id: UUID, name: String)] {
        try await store.scim.members(ofRole: role.id, organizationID: organizationID)
    }

    /// PATCH and PUT of a Group: a new name (custom roles, through `RoleService`), members to add (moved into the
    /// role), members to remove (moved to Member), or the whole list (`replaceMembers`).
    func changeGroup(
        _ role: Role, name: String?, add: [UUID], remove: [UUID], replaceMembers: [UUID]?
    ) async throws {
        if let name, name != role.name {
            _ = try await RoleService(services: services).update(
                actor: actor, roleID: role.id, name: try RoleService.name(name), permissions: nil)
        }
        var joining = add
        var leaving = remove
        if let replaceMembers {
            let current = Set(try await members(of: role).map(\.id))
            joining += replaceMembers.filter { !current.contains($0) }
            leaving += current.subtracting(replaceMembers)
        }
        let lifecycle = LifecycleService(services: services)
        var refused: [String] = []
        if !joining.isEmpty {
            let results = try await lifecycle.apply(.changeRole(to: role.id), to: joining, actor: actor, ticket: "")
            refused += results.compactMap { Self.refusal($0) }
        }
        // Leaving a role is joining Member (every member holds one role); leaving Member changes nothing.
        let holders = Set(try await members(of: role).map(\.id))
        let moving = leaving.filter { holders.contains($0) }
        if role.builtIn != .member, !moving.isEmpty {
            let roles = try await store.organizations.roles(organizationID: organizationID)
            guard let member = roles.first(where: { $0.builtIn == .member }) else { return }
            let results = try await lifecycle.apply(.changeRole(to: member.id), to: moving, actor: actor, ticket: "")
            refused += results.compactMap { Self.refusal($0) }
        }
        if !refused.isEmpty {
            throw LatchkeyError.forbidden(.forbidden, "Not changed: " + refused.joined(separator: "; ") + ".")
        }
    }

    /// "id: reason" for a member a change left as they were because a rule refused it.
    static func refusal(_ result: LifecycleResult) -> String? {
        guard result.code.outcome == "failed" else { return nil }
        return "\(result.memberID.lowercasedString): \(result.reason ?? result.code.rawValue)"
    }

    /// Member ids from `[{"value": id}]` (or one object); an id that is not a UUID is `invalidValue`.
    static func memberIDs(_ value: Any?) throws -> [UUID] {
        let list: [Any] =
            switch value {
            case let list as [Any]: list
            case let object as [String: Any]: [object]
            case nil, is NSNull: []
            default: throw Scim.invalidValue("members is a list of {\"value\": id}.")
            }
        return try list.map {
            guard let object = $0 as? [String: Any], let text = try ScimObject(object).string("value"),
                let id = UUID(uuidString: text)
            else { throw Scim.invalidValue("Each member is {\"value\": a user's id}.") }
            return id
        }
    }
}
