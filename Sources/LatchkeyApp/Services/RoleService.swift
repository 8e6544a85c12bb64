import Foundation
import LatchkeyCore
import LatchkeyStore

/// Custom roles: named permission sets an organization defines beside Owner, Admin and Member. The rules are
/// `RolePolicy`'s; every change and every refusal is audited.
struct RoleService: Sendable {
    let services: AppServices

    /// A role's name: trimmed, 1–50 characters, no control characters.
    static func name(_ raw: String?) throws -> String {
        try Validation.name(
            raw, most: 50, error: .badRequest("invalid_role_name", "A role needs a name of 1 to 50 characters."))
    }

    /// Permissions by their names; an unknown one refuses the request.
    static func permissions(_ raw: [String]) throws -> Set<Permission> {
        Set(
            try raw.map {
                guard let permission = Permission(rawValue: $0) else {
                    throw LatchkeyError.badRequest("invalid_permission", "\"\($0.prefix(40))\" is not a permission.")
                }
                return permission
            })
    }

    /// Creates a custom role.
    func create(actor: Actor, name: String, permissions: Set<Permission>) async throws -> Role {
        try await check(actor: actor, current: nil, wanted: permissions, what: name)
        let now = services.now
        do {
            let id = try await services.store.transaction { tx in
                let id = try await tx.organizations.createRole(
                    organizationID: actor.organizationID, name: name, permissions: permissions, createdAt: now)
                try await tx.audit.append(
                    actor.event(.roleCreated, target: nil, .success, reason: Self.describe(name, permissions)), at: now)
                return id
            }
            return try await role(id, actor: actor)
        } catch  where Store.isConflict(error) {
            throw Self.nameTaken(name)
        }
    }

    /// Renames a custom role and sets its permissions (nil: unchanged). Its members hold the new permissions at
    /// their next request. Read, checked and written under the organization's lock, so two edits at once each
    /// start from the other's result and the audit records what really changed.
    func update(actor: Actor, roleID: UUID, name: String?, permissions: Set<Permission>?) async throws -> Role {
        let now = services.now
        let outcome: Result<Role, RefusedChange>
        do {
            outcome = try await services.store.transaction { tx in
                try await tx.organizations.lock(actor.organizationID)
                guard let current = try await tx.organizations.role(roleID, organizationID: actor.organizationID)
                else { throw LatchkeyError.notFound("No such role.") }
                var updated = current
                updated.name = name ?? current.name
                updated.permissions = permissions ?? current.permissions
                if let denial = RolePolicy.check(
                    actorPermissions: actor.permissions, current: (current.builtIn != nil, current.permissions),
                    wanted: updated.permissions)
                {
                    return .failure(RefusedChange(denial: denial, what: current.name))
                }
                var changes: [String] = []
                if updated.name != current.name { changes.append("name: \(current.name) → \(updated.name)") }
                if updated.permissions != current.permissions {
                    changes.append(
                        "permissions: \(Permission.formatList(current.permissions)) → "
                            + Permission.formatList(updated.permissions))
                }
                guard !changes.isEmpty else { return .success(current) }
                try await tx.organizations.updateRole(
                    roleID, organizationID: actor.organizationID, name: updated.name,
                    permissions: updated.permissions)
                try await tx.audit.append(
                    actor.event(.roleUpdated, target: nil, .success, reason: changes.joined(separator: "; ")),
                    at: now)
                return .success(updated)
            }
        } catch  where Store.isConflict(error) {
            throw Self.nameTaken(name ?? "")
        }
        switch outcome {
        case .success(let role): return role
        case .failure(let refused):
            throw try await refuse(refused.denial, actor: actor, update: true, what: refused.what)
        }
    }

    /// A change `RolePolicy` refused inside a transaction, audited after it.
    struct RefusedChange: Error {
        var denial: RolePolicy.Denial
        var what: String
    }

    /// A role of the actor's organization (another organization's is not found).
    func role(_ id: UUID, actor: Actor) async throws -> Role {
        guard let role = try await services.store.organizations.role(id, organizationID: actor.organizationID) else {
            throw LatchkeyError.notFound("No such role.")
        }
        return role
    }

    /// Refuses (and audits the refusal) when `RolePolicy` does.
    private func check(
        actor: Actor, current: (builtIn: Bool, permissions: Set<Permission>)?, wanted: Set<Permission>, what: String
    ) async throws {
        guard
            let denial = RolePolicy.check(actorPermissions: actor.permissions, current: current, wanted: wanted)
        else { return }
        throw try await refuse(denial, actor: actor, update: current != nil, what: what)
    }

    /// Audits a refused creation or change and returns the error to answer with.
    private func refuse(_ denial: RolePolicy.Denial, actor: Actor, update: Bool, what: String) async throws
        -> LatchkeyError
    {
        let (message, error): (String, LatchkeyError) =
            switch denial {
            case .notPermitted: ("not permitted", .forbidden(.forbidden, "Your role cannot manage roles."))
            case .builtIn:
                (
                    "built-in role",
                    .forbidden("built_in_role", "Owner, Admin and Member are built in and cannot change.")
                )
            case .permissionNotHeld:
                (
                    "permission not held",
                    .forbidden(
                        "permission_not_held", "You can only give a role permissions your own role holds.")
                )
            }
        try await services.store.audit.append(
            actor.event(update ? .roleUpdated : .roleCreated, target: nil, .denied, reason: "\(what): \(message)"),
            at: services.now)
        return error
    }

    static func describe(_ name: String, _ permissions: Set<Permission>) -> String {
        "\(name): \(permissions.isEmpty ? "no permissions" : Permission.formatList(permissions))"
    }

    static func nameTaken(_ name: String) -> LatchkeyError {
        LatchkeyError(.conflict, "role_name_taken", "Your organization already has a role named \"\(name)\".")
    }
}
