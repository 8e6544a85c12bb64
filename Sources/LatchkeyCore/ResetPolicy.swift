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

    public init(_ denial: MemberPolicy.Denial) {
        switch denial {
        case .notPermitted: self = .notPermitted
        case .selfAction: self = .selfAction
        case .higherPrivilege: self = .notPermittedRole
        case .notFound: self = .notFound
        }
    }

    public var outcome: ResetOutcome {
        switch self {
        case .reset: .reset
        case .noMFA: .skipped
        case .notPermitted, .notPermittedRole, .selfAction, .notFound: .failed
        }
    }

    /// The reason shown per member, e.g. "Not permitted: Owner"; nil for a reset.
    public func reason(targetRole: String) -> String? {
        switch self {
        case .reset: nil
        case .noMFA: "No MFA was set up"
        case .notPermitted: "Not permitted: your role cannot reset MFA"
        case .selfAction: "You cannot reset your own MFA here — use My security"
        case .notPermittedRole: "Not permitted: \(targetRole)"
        case .notFound: "Member not found"
        }
    }
}
