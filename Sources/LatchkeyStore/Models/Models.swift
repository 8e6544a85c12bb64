import FluentKit
import Foundation
import LatchkeyCore

/// An organization (tenant) and its security settings.
public final class OrganizationModel: Model, @unchecked Sendable {
    public static let schema = "organizations"

    @ID(key: .id) public var id: UUID?
    @Field(key: "name") public var name: String
    @Field(key: "slug") public var slug: String
    @Field(key: "require_mfa") public var requireMFA: Bool
    @Field(key: "step_up_window_seconds") public var stepUpWindowSeconds: Int
    @Field(key: "session_lifetime_seconds") public var sessionLifetimeSeconds: Int
    @Field(key: "idle_timeout_seconds") public var idleTimeoutSeconds: Int
    @Field(key: "notify_owners_on_reset") public var notifyOwnersOnReset: Bool
    @Field(key: "created_at") public var createdAt: Date

    public init() {}

    public init(id: UUID = UUID.random(), name: String, slug: String, requireMFA: Bool, createdAt: Date) {
        self.id = id
        self.name = name
        self.slug = slug
        self.requireMFA = requireMFA
        self.stepUpWindowSeconds = 600
        self.sessionLifetimeSeconds = 12 * 3600
        self.idleTimeoutSeconds = 3600
        self.notifyOwnersOnReset = true
        self.createdAt = createdAt
    }
}

/// A named permission set within an organization; built-in roles carry their `builtIn` key.
public final class RoleModel: Model, @unchecked Sendable {
    public static let schema = "roles"

    @ID(key: .id) public var id: UUID?
    @Field(key: "organization_id") public var organizationID: UUID
    @Field(key: "name") public var name: String
    @OptionalField(key: "built_in") public var builtIn: String?
    @Field(key: "permissions") public var permissionList: String
    @Field(key: "created_at") public var createdAt: Date

    public init() {}

    public init(
        id: UUID = UUID.random(), organizationID: UUID, name: String, builtIn: BuiltInRole?,
        permissions: Set<Permission>,
        createdAt: Date
    ) {
        self.id = id
        self.organizationID = organizationID
        self.name = name
        self.builtIn = builtIn?.rawValue
        self.permissionList = Permission.formatList(permissions)
        self.createdAt = createdAt
    }

    /// The permissions this role grants.
    public var permissions: Set<Permission> { Permission.parseList(permissionList) }
}

/// An account. An email identifies one account on the whole instance.
public final class MemberModel: Model, @unchecked Sendable {
    public static let schema = "members"

    @ID(key: .id) public var id: UUID?
    @Field(key: "organization_id") public var organizationID: UUID
    @Field(key: "role_id") public var roleID: UUID
    @Field(key: "email") public var email: String
    @Field(key: "name") public var name: String
    @Field(key: "password_hash") public var passwordHash: String
    @Field(key: "status") public var status: String
    @Field(key: "mfa_status") public var mfaStatus: String
    @OptionalField(key: "last_sign_in_at") public var lastSignInAt: Date?
    @Field(key: "created_at") public var createdAt: Date

    public init() {}

    public init(
        id: UUID = UUID.random(), organizationID: UUID, roleID: UUID, email: String, name: String, passwordHash: String,
        mfaStatus: MFAStatus = .notSetUp, createdAt: Date
    ) {
        self.id = id
        self.organizationID = organizationID
        self.roleID = roleID
        self.email = email
        self.name = name
        self.passwordHash = passwordHash
        self.status = AccountStatus.active.rawValue
        self.mfaStatus = mfaStatus.rawValue
        self.createdAt = createdAt
    }

    public var mfa: MFAStatus { MFAStatus(rawValue: mfaStatus) ?? .notSetUp }
}

/// A TOTP authenticator. `confirmed == false` is a pending enrollment. The secret is AES-GCM sealed.
public final class TOTPCredentialModel: Model, @unchecked Sendable {
    public static let schema = "totp_credentials"

    @ID(key: .id) public var id: UUID?
    @Field(key: "member_id") public var memberID: UUID
    @Field(key: "secret_ciphertext") public var secretCiphertext: String
    @Field(key: "confirmed") public var confirmed: Bool
    @OptionalField(key: "last_used_step") public var lastUsedStep: Int64?
    @Field(key: "created_at") public var createdAt: Date

    public init() {}

    public init(id: UUID = UUID.random(), memberID: UUID, secretCiphertext: String, confirmed: Bool, createdAt: Date) {
        self.id = id
        self.memberID = memberID
        self.secretCiphertext = secretCiphertext
        self.confirmed = confirmed
        self.createdAt = createdAt
    }
}

/// One single-use recovery code, stored as a keyed hash.
public final class RecoveryCodeModel: Model, @unchecked Sendable {
    public static let schema = "recovery_codes"

    @ID(key: .id) public var id: UUID?
    @Field(key: "member_id") public var memberID: UUID
    @Field(key: "code_hash") public var codeHash: String
    @OptionalField(key: "used_at") public var usedAt: Date?
    @Field(key: "created_at") public var createdAt: Date

    public init() {}

    public init(id: UUID = UUID.random(), memberID: UUID, codeHash: String, createdAt: Date) {
        self.id = id
        self.memberID = memberID
        self.codeHash = codeHash
        self.createdAt = createdAt
    }
}

/// A server-side session. Only the SHA-256 of the cookie's token is stored.
public final class SessionModel: Model, @unchecked Sendable {
    public static let schema = "sessions"

    @ID(key: .id) public var id: UUID?
    @Field(key: "token_hash") public var tokenHash: String
    @Field(key: "member_id") public var memberID: UUID
    @Field(key: "organization_id") public var organizationID: UUID
    @Field(key: "state") public var state: String
    @Field(key: "csrf_token") public var csrfToken: String
    @Field(key: "created_at") public var createdAt: Date
    @Field(key: "last_seen_at") public var lastSeenAt: Date
    @Field(key: "expires_at") public var expiresAt: Date
    @OptionalField(key: "mfa_verified_at") public var mfaVerifiedAt: Date?
    @Field(key: "ip") public var ip: String
    @Field(key: "user_agent") public var userAgent: String

    public init() {}

    public init(
        id: UUID = UUID.random(), tokenHash: String, memberID: UUID, organizationID: UUID, state: SessionState,
        csrfToken: String, createdAt: Date, expiresAt: Date, ip: String, userAgent: String
    ) {
        self.id = id
        self.tokenHash = tokenHash
        self.memberID = memberID
        self.organizationID = organizationID
        self.state = state.rawValue
        self.csrfToken = csrfToken
        self.createdAt = createdAt
        self.lastSeenAt = createdAt
        self.expiresAt = expiresAt
        self.ip = ip
        self.userAgent = userAgent
    }

    public var sessionState: SessionState { SessionState(rawValue: state) ?? .mfaPending }
}

/// Where a session stands in the sign-in flow.
public enum SessionState: String, Sendable, Codable {
    /// Password accepted; a second factor is due.
    case mfaPending = "mfa_pending"
    /// Password accepted; the organization requires MFA and none is set up.
    case enrollmentRequired = "enrollment_required"
    /// Authenticator confirmed; the recovery codes must be acknowledged.
    case recoveryCodesPending = "recovery_codes_pending"
    /// Fully signed in.
    case signedIn = "signed_in"
}

/// An append-only audit event; `hash` links it to the one before within `chain` (`AuditRecord.hash`, of
/// `chainVersion`: 1 SHA-256, 2 HMAC-SHA-256 under the audit chain key).
public final class AuditEventModel: Model, @unchecked Sendable {
    public static let schema = "audit_events"

    @ID(key: .id) public var id: UUID?
    @Field(key: "chain") public var chain: String
    @Field(key: "seq") public var seq: Int64
    @OptionalField(key: "organization_id") public var organizationID: UUID?
    @Field(key: "occurred_at") public var occurredAt: Date
    @OptionalField(key: "actor_id") public var actorID: UUID?
    @Field(key: "actor_email") public var actorEmail: String
    @Field(key: "actor_role") public var actorRole: String
    @Field(key: "action") public var action: String
    @OptionalField(key: "target_id") public var targetID: UUID?
    @Field(key: "target_email") public var targetEmail: String
    @Field(key: "result") public var result: String
    @Field(key: "reason") public var reason: String
    @OptionalField(key: "batch_id") public var batchID: UUID?
    @Field(key: "request_id") public var requestID: String
    @Field(key: "ip") public var ip: String
    @Field(key: "user_agent") public var userAgent: String
    @Field(key: "ticket") public var ticket: String
    @OptionalField(key: "actor_token_id") public var actorTokenID: UUID?
    @Field(key: "actor_token_name") public var actorTokenName: String
    @Field(key: "prev_hash") public var prevHash: String
    @Field(key: "hash") public var hash: String
    @Field(key: "chain_version") public var chainVersion: Int

    public init() {}
}
