import Foundation

/// Audit actions Latchkey records.
public enum AuditAction: String, Sendable, CaseIterable, Codable {
    case signInPassword = "auth.password"
    case signInMFA = "auth.mfa"
    case signInRecoveryCode = "auth.recovery_code"
    case codeReuse = "auth.code_reuse"
    case lockout = "auth.lockout"
    case signOut = "auth.sign_out"
    case stepUp = "auth.step_up"
    case mfaEnrolled = "mfa.enrolled"
    case mfaReplaced = "mfa.replaced"
    case recoveryCodesRegenerated = "mfa.recovery_codes_regenerated"
    case sessionRevoked = "session.revoked"
    case organizationCreated = "org.created"
    case memberCreated = "member.created"
    case mfaReset = "mfa.reset"
    case settingsChanged = "org.settings_changed"
    case roleChanged = "member.role_changed"
    case signInUnlocked = "member.sign_in_unlocked"
    case memberSuspended = "member.suspended"
    case memberReactivated = "member.reactivated"
    case memberRemoved = "member.removed"
    case roleCreated = "role.created"
    case roleUpdated = "role.updated"
    case mailRetried = "mail.retried"
    case memberInvited = "member.invited"
    case invitationResent = "member.invitation_resent"
    case invitationRevoked = "member.invitation_revoked"
    case invitationAccepted = "member.invitation_accepted"
    case passwordChanged = "auth.password_changed"
    case passwordReset = "auth.password_reset"
    case passwordLinkIssued = "auth.password_link_issued"
    case tokenCreated = "token.created"
    case tokenRevoked = "token.revoked"
    case memberProfileChanged = "member.profile_changed"
    case webhookCreated = "webhook.created"
    case webhookDisabled = "webhook.disabled"
    case webhookEnabled = "webhook.enabled"
    case webhookDeleted = "webhook.deleted"
    case keyRotated = "instance.key_rotated"
}

/// Outcome recorded on an audit event.
public enum AuditResult: String, Sendable, Codable {
    case success, failure, denied, skipped
}

/// The fields of an audit event that its hash covers, in a fixed order.
public struct AuditRecord: Sendable, Equatable {
    public var chain: String
    public var seq: Int64
    public var organizationID: UUID?
    /// Milliseconds since 1970; stored times are truncated to whole milliseconds.
    public var occurredAtMillis: Int64
    public var actorID: UUID?
    public var actorEmail: String
    public var actorRole: String
    public var action: String
    public var targetID: UUID?
    public var targetEmail: String
    public var result: String
    public var reason: String
    public var batchID: UUID?
    public var requestID: String
    public var ip: String
    public var userAgent: String
    public var ticket: String
    /// The API token the actor acted through (nil: a session, the operator, a job); its name as it was then.
    public var actorTokenID: UUID?
    public var actorTokenName: String

    public init(
        chain: String, seq: Int64, organizationID: UUID?, occurredAtMillis: Int64, actorID: UUID?, actorEmail: String,
        actorRole: String, action: String, targetID: UUID?, targetEmail: String, result: String, reason: String,
        batchID: UUID?, requestID: String, ip: String, userAgent: String, ticket: String, actorTokenID: UUID? = nil,
        actorTokenName: String = ""
    ) {
        self.actorTokenID = actorTokenID
        self.actorTokenName = actorTokenName
        self.chain = chain
        self.seq = seq
        self.organizationID = organizationID
        self.occurredAtMillis = occurredAtMillis
        self.actorID = actorID
        self.actorEmail = actorEmail
        self.actorRole = actorRole
        self.action = action
        self.targetID = targetID
        self.targetEmail = targetEmail
        self.result = result
        self.reason = reason
        self.batchID = batchID
        self.requestID = requestID
        self.ip = ip
        self.userAgent = userAgent
        self.ticket = ticket
    }

    /// The hash of the chain before its first event.
    public static let genesisHash = String(repeating: "0", count: 64)

    /// SHA-256 over the previous hash and every field, each length-prefixed so no two records collide.
    public func hash(previous: String) -> String {
        var fields: [String] = [
            previous, chain, String(seq), organizationID?.uuidString ?? "", String(occurredAtMillis),
            actorID?.uuidString ?? "", actorEmail, actorRole, action, targetID?.uuidString ?? "", targetEmail, result,
            reason, batchID?.uuidString ?? "", requestID, ip, userAgent, ticket,
        ]
        // An event caused through an API token covers the token too; events without one hash as they always did
        // (the fields are length-prefixed, so the two forms cannot be mistaken for each other).
        if let actorTokenID { fields += [actorTokenID.uuidString, actorTokenName] }
        return sha256Hex(fields.map { "\($0.utf8.count):\($0)" }.joined(separator: "|"))
    }
}
