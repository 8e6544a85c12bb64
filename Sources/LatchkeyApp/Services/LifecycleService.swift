import Foundation
import LatchkeyCore
import LatchkeyStore

/// Administrator actions on a member's account other than Reset MFA. For now: Unlock sign-in.
struct LifecycleService: Sendable {
    let services: AppServices

    /// Lifts every sign-in throttle of a member (wrong passwords from every address, wrong second factors),
    /// under the same rules as Reset MFA: `members.manage`, same organization (another organization's member
    /// is "not found"), never oneself, never a member whose role holds a permission the actor's lacks.
    /// Refusals and unlocks are audited, with the member's email.
    func unlock(actor: Actor, memberID: UUID, ticket: String) async throws -> MemberDirectory.Row {
        let store = services.store
        let now = services.now
        let target = try await store.members.find(memberID, organizationID: actor.organizationID)
        let event = { @Sendable (result: AuditResult, reason: String) in
            actor.event(
                .signInUnlocked, target: (memberID, target?.email ?? ""), result, reason: reason, ticket: ticket)
        }
        // A member of another organization (or none) is "not found"; the operator (no member id) may act on anyone.
        let denial: MemberPolicy.Denial? =
            if let target {
                actor.memberID.flatMap {
                    UnlockPolicy.check(
                        actorID: $0, actorPermissions: actor.permissions, targetID: memberID,
                        targetPermissions: target.permissions)
                }
            } else {
                UnlockPolicy.required.isSubset(of: actor.permissions) ? .notFound : .notPermitted
            }
        if let denial {
            try await store.audit.append(event(.denied, Self.reason(denial, role: target?.roleName ?? "")), at: now)
            throw Self.error(denial, role: target?.roleName ?? "")
        }
        guard let target else { throw LatchkeyError.notFound("Member not found.") }
        try await store.transaction { tx in
            try await tx.members.lock([memberID])
            let (cleared, wasLocked) = try await tx.throttles.clearAll(
                memberID: memberID, email: target.email, now: now)
            let reason =
                cleared == 0
                ? "was not locked"
                : "\(wasLocked ? "lifted the lock" : "was not locked"); cleared \(cleared) sign-in counter\(cleared == 1 ? "" : "s")"
            try await tx.audit.append(event(.success, reason), at: now)
        }
        return MemberDirectory.Row(target, lockedUntil: nil)
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
        case .notPermitted: .forbidden(.forbidden, "Your role cannot manage members.")
        case .selfAction: .forbidden(.cannotActOnSelf, "You cannot unlock your own sign-in.")
        case .higherPrivilege:
            .forbidden(
                .insufficientPrivilege,
                "You can't unlock the sign-in of a member with more access than you (\(role)).")
        case .notFound: .notFound("Member not found.")
        }
    }
}
