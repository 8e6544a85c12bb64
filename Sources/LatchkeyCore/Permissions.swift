/// A permission a role can hold.
public enum Permission: String, Sendable, CaseIterable, Codable, Comparable {
    case membersView = "members.view"
    case membersManage = "members.manage"
    case membersResetMFA = "members.reset_mfa"
    case auditView = "audit.view"
    case orgSettings = "org.settings"
    case rolesManage = "roles.manage"
    case scimProvision = "scim.provision"

    public static func < (lhs: Permission, rhs: Permission) -> Bool { lhs.rawValue < rhs.rawValue }

    /// What it allows, in words.
    public var label: String {
        switch self {
        case .membersView: "See the Members page"
        case .membersManage: "Manage members (roles, suspension, removal, unlock)"
        case .membersResetMFA: "Reset members' MFA"
        case .auditView: "Read the audit log"
        case .orgSettings: "Change the organization's settings"
        case .rolesManage: "Create and edit roles"
        case .scimProvision: "Provision members from an identity provider (SCIM)"
        }
    }

    /// Parses a stored comma-separated list, ignoring unknown names.
    public static func parseList(_ text: String) -> Set<Permission> {
        Set(text.split(separator: ",").compactMap { Permission(rawValue: String($0)) })
    }

    /// The stored form of a set: sorted, comma-separated.
    public static func formatList(_ permissions: Set<Permission>) -> String {
        permissions.sorted().map(\.rawValue).joined(separator: ",")
    }
}

/// The roles every organization starts with.
public enum BuiltInRole: String, Sendable, CaseIterable, Codable {
    case owner
    case admin
    case member

    /// Display name.
    public var name: String {
        switch self {
        case .owner: "Owner"
        case .admin: "Admin"
        case .member: "Member"
        }
    }

    /// Owner holds everything; Admin all but `roles.manage`; Member nothing.
    public var permissions: Set<Permission> {
        switch self {
        case .owner: Set(Permission.allCases)
        case .admin: Set(Permission.allCases).subtracting([.rolesManage])
        case .member: []
        }
    }
}

/// A member's MFA state as the Manage Members table shows it.
public enum MFAStatus: String, Sendable, Codable, CaseIterable {
    case enabled
    case notSetUp = "not_set_up"
    case resetPending = "reset_pending"

    public var label: String {
        switch self {
        case .enabled: "Enabled"
        case .notSetUp: "Not set up"
        case .resetPending: "Reset — pending setup"
        }
    }
}

/// Account status.
public enum AccountStatus: String, Sendable, Codable, CaseIterable {
    case active
    case suspended
    /// Invited and not yet accepted: no password, no sign-in.
    case invited
}
