import Crypto
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
    case resetJobCancelled = "mfa.reset_job_cancelled"

    /// What people read in the audit log ("MFA reset", "Password sign-in"); the code stays the machine name.
    public var label: String {
        switch self {
        case .signInPassword: "Password sign-in"
        case .signInMFA: "MFA sign-in"
        case .signInRecoveryCode: "Recovery code sign-in"
        case .codeReuse: "Reused authentication code"
        case .lockout: "Sign-in locked"
        case .signOut: "Signed out"
        case .stepUp: "Identity confirmed (step-up)"
        case .mfaEnrolled: "MFA set up"
        case .mfaReplaced: "Authenticator replaced"
        case .recoveryCodesRegenerated: "Recovery codes regenerated"
        case .sessionRevoked: "Session signed out"
        case .organizationCreated: "Organization created"
        case .memberCreated: "Member created"
        case .mfaReset: "MFA reset"
        case .settingsChanged: "Security settings changed"
        case .roleChanged: "Role changed"
        case .signInUnlocked: "Sign-in unlocked"
        case .memberSuspended: "Member suspended"
        case .memberReactivated: "Member reactivated"
        case .memberRemoved: "Member removed"
        case .roleCreated: "Role created"
        case .roleUpdated: "Role updated"
        case .mailRetried: "Mail retried"
        case .memberInvited: "Member invited"
        case .invitationResent: "Invitation resent"
        case .invitationRevoked: "Invitation revoked"
        case .invitationAccepted: "Invitation accepted"
        case .passwordChanged: "Password changed"
        case .passwordReset: "Password reset by link"
        case .passwordLinkIssued: "Password link issued"
        case .tokenCreated: "API token created"
        case .tokenRevoked: "API token revoked"
        case .memberProfileChanged: "Profile changed"
        case .webhookCreated: "Webhook created"
        case .webhookDisabled: "Webhook disabled"
        case .webhookEnabled: "Webhook enabled"
        case .webhookDeleted: "Webhook deleted"
        case .keyRotated: "Server key rotated"
        case .resetJobCancelled: "Bulk MFA reset cancelled"
        }
    }
}

/// Outcome recorded on an audit event.
public enum AuditResult: String, Sendable, Codable, CaseIterable {
    case success, failure, denied, skipped

    /// What people read ("Failed" for `failure`).
    public var label: String {
        switch self {
        case .success: "Success"
        case .failure: "Failed"
        case .denied: "Denied"
        case .skipped: "Skipped"
        }
    }
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

    /// The chain's link for this record after `previous`: every field length-prefixed, so no two records collide.
    /// Version 1 (events written before chains were keyed) is SHA-256 of them; version 2 is HMAC-SHA-256 under the
    /// database's audit chain key, over the version too, so that someone who can write the database but does not
    /// hold the key cannot re-hash a changed event, nor pass one off as an unkeyed one.
    public func hash(previous: String, version: Int = 1, key: [UInt8]? = nil) -> String {
        var fields: [String] = [
            previous, chain, String(seq), organizationID?.uuidString ?? "", String(occurredAtMillis),
            actorID?.uuidString ?? "", actorEmail, actorRole, action, targetID?.uuidString ?? "", targetEmail, result,
            reason, batchID?.uuidString ?? "", requestID, ip, userAgent, ticket,
        ]
        // An event caused through an API token covers the token too; events without one hash as they always did
        // (the fields are length-prefixed, so the two forms cannot be mistaken for each other).
        if let actorTokenID { fields += [actorTokenID.uuidString, actorTokenName] }
        let text = fields.map { "\($0.utf8.count):\($0)" }.joined(separator: "|")
        guard version >= 2 else { return sha256Hex(text) }
        precondition(key != nil, "a keyed link needs the audit chain key")
        return AuditChainKey.mac("v\(version)|" + text, key: key ?? [])
    }
}

/// The audit chain's HMAC key: links (`AuditRecord.hash`, version 2) and checkpoints are authenticated with it.
public enum AuditChainKey {
    /// The chain version events are written with when the key is present.
    public static let keyedVersion = 2

    /// The MAC a chain's head carries: its chain, last seq and last hash, under the key.
    public static func headMAC(chain: String, seq: Int64, hash: String, key: [UInt8]) -> String {
        mac("head v1|" + [chain, String(seq), hash].map { "\($0.utf8.count):\($0)" }.joined(separator: "|"), key: key)
    }

    static func mac(_ text: String, key: [UInt8]) -> String {
        hex(Array(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: key))))
    }

    /// A checkpoint: a chain's head at one moment, signed so that a copy kept elsewhere cannot be forged by someone
    /// without the key (the prefix keeps a signature from ever standing for a link).
    public struct Checkpoint: Sendable, Equatable, Codable {
        public var chain: String
        public var seq: Int64
        public var hash: String
        /// When it was taken (ISO 8601).
        public var at: String
        public var signature: String

        public init(chain: String, seq: Int64, hash: String, at: String, key: [UInt8]) {
            (self.chain, self.seq, self.hash, self.at) = (chain, seq, hash, at)
            signature = ""
            signature = expectedSignature(key: key)
        }

        func expectedSignature(key: [UInt8]) -> String {
            let fields = [chain, String(seq), hash, at]
            return AuditChainKey.mac(
                "checkpoint v1|" + fields.map { "\($0.utf8.count):\($0)" }.joined(separator: "|"), key: key)
        }

        /// Whether the signature is this key's for these fields.
        public func isSigned(by key: [UInt8]) -> Bool {
            constantTimeEquals(Array(expectedSignature(key: key).utf8), Array(signature.utf8))
        }
    }
}
