import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore
import NIOCore

/// Request context for every route: the caller's address, a request id and, once the session
/// middleware ran, the session (if any).
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's IP address, or "unknown".
    public var remoteIP: String
    /// Random id for logs, audit events and the `X-Request-Id` header.
    public var requestID: String
    /// The caller's session, if the cookie named a live one.
    public var auth: AuthState?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteIP = source.channel.remoteAddress?.ipAddress ?? "unknown"
        requestID = RandomSource.system.token(byteCount: 9)
    }

    /// Request bodies are small forms and JSON documents.
    public var maxUploadSize: Int { 64 * 1024 }
}

/// A signed-in, MFA-complete member of an organization. Routes that need one are grouped under this
/// context, so a handler cannot run without it.
public struct OrgMemberContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteIP: String
    public let requestID: String
    public let auth: AuthState

    public init(context: AppRequestContext) throws {
        guard let auth = context.auth else {
            throw LatchkeyError.unauthorized("not_signed_in", "Sign in to continue.")
        }
        switch auth.state {
        case .signedIn: break
        case .mfaPending: throw LatchkeyError.unauthorized("mfa_required", "Enter your verification code to continue.")
        case .enrollmentRequired:
            throw LatchkeyError.forbidden("enrollment_required", "Set up multi-factor authentication to continue.")
        case .recoveryCodesPending:
            throw LatchkeyError.forbidden("recovery_codes_pending", "Save your recovery codes to continue.")
        }
        coreContext = context.coreContext
        remoteIP = context.remoteIP
        requestID = context.requestID
        self.auth = auth
    }

    public var maxUploadSize: Int { 64 * 1024 }

    /// Throws `forbidden` unless the member's role holds every permission in `required`.
    public func require(_ required: Permission...) throws {
        guard Set(required).isSubset(of: auth.permissions) else {
            throw LatchkeyError.forbidden("forbidden", "You do not have permission to do that.")
        }
    }
}

/// A session as loaded for one request, with its member, role and organization as they are now.
public struct AuthState: Sendable {
    public var sessionID: UUID
    public var state: SessionState
    public var csrfToken: String
    public var createdAt: Date
    public var mfaVerifiedAt: Date?
    public var memberID: UUID
    public var memberEmail: String
    public var memberName: String
    public var mfaStatus: MFAStatus
    public var organizationID: UUID
    public var organizationName: String
    public var requireMFA: Bool
    public var stepUpWindowSeconds: Int
    public var roleName: String
    public var permissions: Set<Permission>
    /// The server runs the demo (shows the demo mailbox).
    public var demoMode: Bool = false

    /// The audit actor fields for this member.
    func actor(action: AuditAction, result: AuditResult, reason: String = "", request: RequestMeta) -> AuditEntry {
        AuditEntry(
            organizationID: organizationID, actorID: memberID, actorEmail: memberEmail, actorRole: roleName,
            action: action, targetID: memberID, targetEmail: memberEmail, result: result, reason: reason,
            requestID: request.requestID, ip: request.ip, userAgent: request.userAgent)
    }
}

/// Who sent a request, for audit events.
public struct RequestMeta: Sendable {
    public var requestID: String
    public var ip: String
    public var userAgent: String

    public init(requestID: String, ip: String, userAgent: String) {
        self.requestID = requestID
        self.ip = ip
        self.userAgent = String(userAgent.prefix(256))
    }

    /// Requests from the operator's shell.
    public static let operator_ = RequestMeta(requestID: "cli", ip: "local", userAgent: "latchkey-cli")
}

extension Request {
    func meta(requestID: String, ip: String) -> RequestMeta {
        RequestMeta(requestID: requestID, ip: ip, userAgent: headers[.userAgent] ?? "")
    }

    /// True for the JSON API, whose errors are JSON.
    var isAPI: Bool { uri.path.hasPrefix("/api/") }
}
