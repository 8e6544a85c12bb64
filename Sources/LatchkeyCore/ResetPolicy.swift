import Foundation

/// Who may act on whom through the administrator path (Reset MFA, Unlock sign-in, and the lifecycle
/// actions to come): the actor's role must hold the action's permissions; nobody acts on themselves; nobody
/// acts on a member whose role holds a permission the actor's role lacks.
public enum MemberPolicy {
    /// Why an action on one target is refused.
    public enum Denial: String, Sendable, Equatable, Codable, CaseIterable {
        /// The actor's role lacks a permission the action needs.
        case notPermitted = "not_permitted"
        /// The actor named themselves.
        case selfAction = "self"
        /// The target's role holds a permission the actor's role lacks.
        case higherPrivilege = "not_permitted_role"
        /// No such member in the actor's organization.
        case notFound = "not_found"
    }

    /// Nil when an actor holding `actorPermissions` may take an action needing `required` on the target;
    /// otherwise why not.
    public static func check<ID: Equatable>(
        required: Set<Permission>, actorID: ID, actorPermissions: Set<Permission>, targetID: ID,
        targetPermissions: Set<Permission>
    ) -> Denial? {
        guard required.isSubset(of: actorPermissions) else { return .notPermitted }
        if targetID == actorID { return .selfAction }
        guard targetPermissions.isSubset(of: actorPermissions) else { return .higherPrivilege }
        return nil
    }
}

/// Who may reset whose MFA through the administrator path.
public enum ResetPolicy {
    /// The permissions an actor needs for Reset MFA (the article: roles that manage the Manage Members page).
    public static let required: Set<Permission> = [.membersView, .membersManage, .membersResetMFA]

    public typealias Denial = MemberPolicy.Denial

    /// Nil when the actor may reset the target; otherwise why not.
    public static func check<ID: Equatable>(
        actorID: ID, actorPermissions: Set<Permission>, targetID: ID, targetPermissions: Set<Permission>
    ) -> Denial? {
        MemberPolicy.check(
            required: required, actorID: actorID, actorPermissions: actorPermissions, targetID: targetID,
            targetPermissions: targetPermissions)
    }
}

/// Who may lift a member's sign-in lock.
public enum UnlockPolicy {
    /// The permission an actor needs for Unlock sign-in.
    public static let required: Set<Permission> = [.membersManage]

    /// Nil when the actor may unlock the target; otherwise why not.
    public static func check<ID: Equatable>(
        actorID: ID, actorPermissions: Set<Permission>, targetID: ID, targetPermissions: Set<Permission>
    ) -> MemberPolicy.Denial? {
        MemberPolicy.check(
            required: required, actorID: actorID, actorPermissions: actorPermissions, targetID: targetID,
            targetPermissions: targetPermissions)
    }
}

/// The outcome for one member of a reset request.
public enum ResetOutcome: String, Sendable, Codable {
    case reset, skipped, failed
    /// A cancelled job did not reach the member: nothing was changed.
    case notDone = "not_done"
}

/// What happened to one member of a reset request, as a stable machine code; the outcome and the words
/// shown to people are derived from it (never the other way round).
public enum ResetResultCode: String, Sendable, Codable, CaseIterable {
    /// Authenticator, recovery codes and sessions removed.
    case reset
    /// The member had no MFA: nothing to reset.
    case noMFA = "no_mfa"
    /// The actor's role cannot reset MFA.
    case notPermitted = "not_permitted"
    /// The member's role holds a permission the actor's lacks.
    case notPermittedRole = "not_permitted_role"
    /// The actor named themselves (My security is the way to one's own MFA).
    case selfAction = "self"
    /// No such member in the actor's organization.
    case notFound = "not_found"
    /// The job was cancelled before it reached the member.
    case cancelled

    /// A denial's code: the same words as `MemberPolicy.Denial`'s.
    public init(_ denial: MemberPolicy.Denial) { self.init(rawValue: denial.rawValue)! }

    public var outcome: ResetOutcome {
        switch self {
        case .reset: .reset
        case .noMFA: .skipped
        case .notPermitted, .notPermittedRole, .selfAction, .notFound: .failed
        case .cancelled: .notDone
        }
    }

    /// Whether asking again could change the answer: a member a cancelled job did not reach, or one refused only
    /// because the actor's role lacked the permission then. A rule about the member (an Owner, oneself, not found)
    /// answers the same every time.
    public var isRetryable: Bool {
        switch self {
        case .cancelled, .notPermitted: true
        case .reset, .noMFA, .notPermittedRole, .selfAction, .notFound: false
        }
    }

    /// The codes a retry asks about again.
    public static let retryable = allCases.filter(\.isRetryable).map(\.rawValue)

    /// The reason shown per member, e.g. "Not permitted: Owner"; nil for a reset.
    public func reason(targetRole: String) -> String? {
        switch self {
        case .reset: nil
        case .noMFA: "No MFA was set up"
        case .notPermitted: "Not permitted: your role cannot reset MFA"
        case .selfAction: "You cannot reset your own MFA here — use My security"
        case .notPermittedRole: "Not permitted: \(targetRole)"
        case .notFound: "Member not found"
        case .cancelled: "Not reset: the job was cancelled before reaching this member"
        }
    }
}

/// The administrator's actions on a member's account besides Reset MFA and Unlock sign-in.
public enum LifecycleAction: Sendable, Equatable {
    /// Give the member another role of the organization.
    case changeRole(to: UUID)
    /// Stop the member signing in (every session ends at once) until reactivated.
    case suspend
    /// Let a suspended member sign in again.
    case reactivate
    /// Take the member out of the organization (every session ends; the audit history stays).
    case remove

    /// The name used in routes, codes and audit actions.
    public var name: String {
        switch self {
        case .changeRole: "role"
        case .suspend: "suspend"
        case .reactivate: "reactivate"
        case .remove: "remove"
        }
    }

    /// The audit action it records.
    public var auditAction: AuditAction {
        switch self {
        case .changeRole: .roleChanged
        case .suspend: .memberSuspended
        case .reactivate: .memberReactivated
        case .remove: .memberRemoved
        }
    }

    /// The code of a member it changed.
    public var doneCode: LifecycleResultCode {
        switch self {
        case .changeRole: .roleChanged
        case .suspend: .suspended
        case .reactivate: .reactivated
        case .remove: .removed
        }
    }

    /// Whether it takes Owner rights from an active Owner (the last one may not lose them).
    public var endsOwnership: Bool {
        switch self {
        case .suspend, .remove: true
        case .changeRole, .reactivate: false  // a role change ends ownership only to a non-Owner role
        }
    }
}

/// Who may change a member's role, suspend, reactivate or remove them: the actor's role must hold
/// `members.view` and `members.manage`; nobody acts on themselves; nobody acts on a member whose role holds a
/// permission the actor's lacks, nor grants such a role; the last active Owner keeps the role.
public enum LifecyclePolicy {
    public static let required: Set<Permission> = [.membersView, .membersManage]

    /// The code for one target, before the state is looked at: nil when the rules allow the action.
    public static func check<ID: Equatable>(
        actorID: ID, actorPermissions: Set<Permission>, targetID: ID, targetPermissions: Set<Permission>,
        grantedPermissions: Set<Permission>?
    ) -> LifecycleResultCode? {
        if let denial = MemberPolicy.check(
            required: required, actorID: actorID, actorPermissions: actorPermissions, targetID: targetID,
            targetPermissions: targetPermissions)
        {
            return LifecycleResultCode(denial)
        }
        if let granted = grantedPermissions, !granted.isSubset(of: actorPermissions) { return .roleNotGrantable }
        return nil
    }
}

/// What a lifecycle action did to one member, as a stable machine code.
public enum LifecycleResultCode: String, Sendable, Codable, CaseIterable {
    case roleChanged = "role_changed"
    case suspended
    case reactivated
    case removed
    /// The member already was as asked (same role, already suspended, already active).
    case unchanged
    /// Suspend or reactivate someone who has not accepted their invitation yet.
    case invited
    /// The actor's role cannot manage members.
    case notPermitted = "not_permitted"
    /// The member's role holds a permission the actor's lacks.
    case notPermittedRole = "not_permitted_role"
    /// The new role holds a permission the actor's lacks.
    case roleNotGrantable = "role_not_grantable"
    /// The actor named themselves.
    case selfAction = "self"
    /// The member is the organization's last active Owner.
    case lastOwner = "last_owner"
    /// No such member in the actor's organization.
    case notFound = "not_found"

    /// A denial's code: the same words as `MemberPolicy.Denial`'s.
    public init(_ denial: MemberPolicy.Denial) { self.init(rawValue: denial.rawValue)! }

    /// `changed`, `skipped` or `failed`.
    public var outcome: String {
        switch self {
        case .roleChanged, .suspended, .reactivated, .removed: "changed"
        case .unchanged, .invited: "skipped"
        case .notPermitted, .notPermittedRole, .roleNotGrantable, .selfAction, .lastOwner, .notFound: "failed"
        }
    }

    /// The reason shown per member for anything but a change; nil for a change.
    public func reason(targetRole: String, newRole: String) -> String? {
        switch self {
        case .roleChanged, .suspended, .reactivated, .removed: nil
        case .unchanged: "Nothing to change"
        case .invited: "Invited, not yet a member: resend or revoke the invitation"
        case .notPermitted: "Not permitted: your role cannot manage members"
        case .notPermittedRole: "Not permitted: \(targetRole)"
        case .roleNotGrantable: "Not permitted: you cannot grant \(newRole)"
        case .selfAction: "You cannot change your own account here"
        case .lastOwner: "The last Owner must stay an active Owner"
        case .notFound: "Member not found"
        }
    }
}

/// Who may create and edit custom roles: `roles.manage`; built-in roles never change; nobody grants a
/// permission they lack, nor edits a role that holds one.
public enum RolePolicy {
    public static let required: Set<Permission> = [.rolesManage]

    /// Why a role may not be created or changed.
    public enum Denial: String, Sendable, Equatable, CaseIterable {
        /// The actor's role lacks `roles.manage`.
        case notPermitted = "forbidden"
        /// Owner, Admin and Member are fixed.
        case builtIn = "built_in_role"
        /// The role holds, or would hold, a permission the actor's role lacks.
        case permissionNotHeld = "permission_not_held"
    }

    /// Nil when an actor holding `actorPermissions` may give a role (`current`: nil for a new one) `wanted`.
    public static func check(
        actorPermissions: Set<Permission>, current: (builtIn: Bool, permissions: Set<Permission>)?,
        wanted: Set<Permission>
    ) -> Denial? {
        guard required.isSubset(of: actorPermissions) else { return .notPermitted }
        if current?.builtIn == true { return .builtIn }
        guard wanted.isSubset(of: actorPermissions), (current?.permissions ?? []).isSubset(of: actorPermissions)
        else { return .permissionNotHeld }
        return nil
    }
}
