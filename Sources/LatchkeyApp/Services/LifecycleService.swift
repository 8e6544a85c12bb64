import FluentKit
import Foundation
import LatchkeyCore
import LatchkeyStore
import SQLKit

/// Administrator actions on a member's account other than Reset MFA. For now: Unlock sign-in.
struct LifecycleService: Sendable {
    let services: AppServices

    /// Lifts every sign-in throttle of a member (wrong passwords from every address, wrong second factors),
    /// under the same rules as Reset MFA: `members.manage`, same organization (another organization's member
    /// is "not found"), never oneself, never a member whose role holds a permission the actor's lacks.
    /// Refusals and unlocks are audited, with the member's email.
    func unlock(actor: ResetService.Actor, memberID: UUID, ticket: String) async throws -> MemberDirectory.Row {
        let db = services.db
        let now = services.now
        let target = try await MemberModel.query(on: db).filter(\.$id == memberID)
            .filter(\.$organizationID == actor.organizationID).first()
        let role: RoleModel? = if let target { try await RoleModel.find(target.roleID, on: db) } else { nil }
        let entry = { @Sendable (result: AuditResult, reason: String) in
            AuditEntry(
                organizationID: actor.organizationID, actorID: actor.memberID, actorEmail: actor.email,
                actorRole: actor.roleName, action: .signInUnlocked, targetID: memberID,
                targetEmail: target?.email ?? "", result: result, reason: reason, requestID: actor.meta.requestID,
                ip: actor.meta.ip, userAgent: actor.meta.userAgent, ticket: ticket)
        }
        // A member of another organization (or none) is "not found"; the operator (no member id) may act on anyone.
        let denial: MemberPolicy.Denial? =
            if let role {
                actor.memberID.flatMap {
                    UnlockPolicy.check(
                        actorID: $0, actorPermissions: actor.permissions, targetID: memberID,
                        targetPermissions: role.permissions)
                }
            } else {
                UnlockPolicy.required.isSubset(of: actor.permissions) ? .notFound : .notPermitted
            }
        if let denial {
            try await services.audit.append(
                entry(.denied, Self.reason(denial, role: role?.name ?? "")), at: now, on: db)
            throw Self.error(denial, role: role?.name ?? "")
        }
        guard let target, let role else { throw LatchkeyError.notFound("Member not found.") }
        try await db.transaction { tx in
            try await RowLocks.members([memberID], on: tx)
            let (cleared, wasLocked) = try await self.services.throttles.clearAll(
                memberID: memberID, email: target.email, now: now, on: tx)
            let reason =
                cleared == 0
                ? "was not locked"
                : "\(wasLocked ? "lifted the lock" : "was not locked"); cleared \(cleared) sign-in counter\(cleared == 1 ? "" : "s")"
            try await self.services.audit.append(entry(.success, reason), at: now, on: tx)
        }
        return MemberDirectory.Row(
            id: memberID, name: target.name, email: target.email, roleID: target.roleID, roleName: role.name,
            mfaStatus: target.mfa, lastSignInAt: target.lastSignInAt, lockedUntil: nil)
    }

    /// The reason recorded in the audit log for a refused unlock.
    static func reason(_ denial: MemberPolicy.Denial, role: String) -> String {
        switch denial {
        case .notPermitted: "Not permitted: your role cannot manage members"
        case .selfAction: "You cannot unlock your own sign-in"
        case .higherPrivilege: "Not permitted: \(role)"
        case .notFound: "Member not found"
        }
    }

    /// The error a refused unlock answers with; another organization's member is "not found".
    static func error(_ denial: MemberPolicy.Denial, role: String) -> LatchkeyError {
        switch denial {
        case .notPermitted: .forbidden("forbidden", "Your role cannot manage members.")
        case .selfAction: .forbidden("cannot_act_on_self", "You cannot unlock your own sign-in.")
        case .higherPrivilege:
            .forbidden(
                "insufficient_privilege",
                "You can't unlock the sign-in of a member with more access than you (\(role)).")
        case .notFound: .notFound("Member not found.")
        }
    }
}
