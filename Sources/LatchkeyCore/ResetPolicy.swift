/// Who may reset whose MFA through the administrator path.
public enum ResetPolicy {
    /// The permissions an actor needs for Reset MFA (the article: roles that manage the Manage Members page).
    public static let required: Set<Permission> = [.membersView, .membersManage, .membersResetMFA]

    /// Why a reset of one target is refused.
    public enum Denial: String, Sendable, Equatable, Codable {
        /// The actor lacks `members.reset_mfa` (or the page permissions).
        case notPermitted = "not_permitted"
        /// The actor named themselves: use My security.
        case selfReset = "self_reset"
        /// The target's role holds a permission the actor's role lacks.
        case higherPrivilege = "higher_privilege"
        /// No such member in the actor's organization.
        case notFound = "not_found"
    }

    /// Nil when the actor may reset the target; otherwise why not.
    public static func check<ID: Equatable>(
        actorID: ID, actorPermissions: Set<Permission>, targetID: ID, targetPermissions: Set<Permission>
    ) -> Denial? {
        guard required.isSubset(of: actorPermissions) else { return .notPermitted }
        if targetID == actorID { return .selfReset }
        guard targetPermissions.isSubset(of: actorPermissions) else { return .higherPrivilege }
        return nil
    }

    /// The reason shown per member for a denial, e.g. "Not permitted: Owner".
    public static func reason(_ denial: Denial, targetRole: String) -> String {
        switch denial {
        case .notPermitted: "Not permitted: your role cannot reset MFA"
        case .selfReset: "You cannot reset your own MFA here — use My security"
        case .higherPrivilege: "Not permitted: \(targetRole)"
        case .notFound: "Member not found"
        }
    }
}

/// The outcome for one member of a reset request.
public enum ResetOutcome: String, Sendable, Codable {
    case reset, skipped, failed
}
