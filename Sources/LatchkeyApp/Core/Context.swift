import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore
import NIOCore

/// Request context for every route: who sent the request (`meta`) and, once the session middleware ran,
/// the session (if any).
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Request id (for logs, audit events and `X-Request-Id`), client address and user agent.
    public var meta: RequestMeta
    /// The caller's session, if the cookie named a live one.
    public var auth: AuthState?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        meta = RequestMeta(
            requestID: RandomSource.system.token(byteCount: 9),
            ip: source.channel.remoteAddress?.ipAddress ?? "unknown", userAgent: "")
    }

    public var requestID: String { meta.requestID }

    /// Request bodies are small forms and JSON documents.
    public var maxUploadSize: Int { 64 * 1024 }
}

/// Fills in what `AppRequestContext.init` cannot see: the request's user agent, and — only from a trusted proxy
/// (`LATCHKEY_TRUSTED_PROXIES`) — the client's address from `Forwarded` / `X-Forwarded-For` and the request id from
/// `X-Request-Id`. The outermost middleware, so every other one (and the `X-Request-Id` answer) sees the result.
struct RequestMetaMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let trust: ProxyTrust

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let peer = context.meta.ip
        var requestID = context.meta.requestID
        var ip = peer
        if trust.trusts(peer) {
            ip = trust.client(
                peer: peer, forwarded: request.headers[.forwarded], xForwardedFor: request.headers[.xForwardedFor])
            if let given = request.headers[.requestID], isAcceptableRequestID(given) { requestID = given }
        }
        context.meta = RequestMeta(requestID: requestID, ip: ip, userAgent: request.headers[.userAgent] ?? "")
        return try await next(request, context)
    }
}

// MARK: Sign-in steps

/// A step of the sign-in flow that a group of routes belongs to. A route group's context admits only
/// sessions at its step, so no handler checks the session state by hand.
protocol SignInStep: Sendable {
    static func admits(_ state: SessionState) -> Bool
    /// What the JSON API answers a session at another step (the web redirects it to its own step).
    static var refusal: LatchkeyError { get }
}

/// Any session, whatever its step (sign out, "who am I", acknowledging recovery codes).
enum AnyStep: SignInStep {
    static func admits(_ state: SessionState) -> Bool { true }
    static var refusal: LatchkeyError { .unauthorized(.notSignedIn, "Sign in to continue.") }
}

/// Password accepted; the second factor is due.
enum SecondFactorStep: SignInStep {
    static func admits(_ state: SessionState) -> Bool { state == .mfaPending }
    static var refusal: LatchkeyError {
        LatchkeyError(.conflict, "not_pending", "This session is not waiting for a verification code.")
    }
}

/// Setting up an authenticator: a session the organization makes enroll, or a signed-in member adding or
/// replacing theirs.
enum EnrollmentStep: SignInStep {
    static func admits(_ state: SessionState) -> Bool { state == .enrollmentRequired || state == .signedIn }
    static var refusal: LatchkeyError { .forbidden(.mfaRequired, "Complete sign-in first.") }
}

/// A session the organization makes set up an authenticator before anything else.
enum RequiredEnrollmentStep: SignInStep {
    static func admits(_ state: SessionState) -> Bool { state == .enrollmentRequired }
    static var refusal: LatchkeyError { EnrollmentStep.refusal }
}

/// New recovery codes were shown; the member must say they saved them.
enum RecoveryCodesStep: SignInStep {
    static func admits(_ state: SessionState) -> Bool { state == .recoveryCodesPending }
    static var refusal: LatchkeyError {
        .forbidden(.recoveryCodesPending, "Save your recovery codes to continue.")
    }
}

/// A request refused because its session is missing or at another step. The web answers by sending the
/// browser to the step its session is at (`Route.home(for:)`); the API answers `error`.
struct SignInStepRefusal: Error {
    var error: LatchkeyError
    /// The step the session is at (nil: no session).
    var state: SessionState?
    /// Redirect state-changing web requests too (the sign-in flow's forms), not only GET and HEAD.
    var redirectsEveryMethod: Bool
}

/// A session at sign-in step `Step`.
struct SessionContext<Step: SignInStep>: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let meta: RequestMeta
    let auth: AuthState

    init(context: AppRequestContext) throws {
        guard let auth = context.auth else {
            throw SignInStepRefusal(
                error: .unauthorized(.notSignedIn, "Sign in to continue."), state: nil, redirectsEveryMethod: true)
        }
        guard auth.token == nil else { throw LatchkeyError.sessionRequired }
        guard Step.admits(auth.state) else {
            throw SignInStepRefusal(error: Step.refusal, state: auth.state, redirectsEveryMethod: true)
        }
        coreContext = context.coreContext
        meta = context.meta
        self.auth = auth
    }

    var maxUploadSize: Int { 64 * 1024 }
}

/// A signed-in, MFA-complete member of an organization. Routes that need one are grouped under this
/// context, so a handler cannot run without it.
public struct OrgMemberContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let meta: RequestMeta
    public let auth: AuthState

    public init(context: AppRequestContext) throws {
        guard let auth = context.auth else {
            throw SignInStepRefusal(
                error: .unauthorized(.notSignedIn, "Sign in to continue."), state: nil, redirectsEveryMethod: false)
        }
        let refusal: LatchkeyError? =
            switch auth.state {
            case .signedIn: nil
            case .mfaPending: .unauthorized(.mfaRequired, "Enter your verification code to continue.")
            case .enrollmentRequired: .forbidden(.enrollmentRequired, "Set up multi-factor authentication to continue.")
            case .recoveryCodesPending: RecoveryCodesStep.refusal
            }
        if let refusal { throw SignInStepRefusal(error: refusal, state: auth.state, redirectsEveryMethod: false) }
        coreContext = context.coreContext
        meta = context.meta
        self.auth = auth
    }

    public var maxUploadSize: Int { 64 * 1024 }

    /// The member as the actor of an administrator action.
    var actor: Actor { Actor(auth, meta: meta) }
}

/// Lets only members whose role holds `permissions` through to a route group.
struct RequirePermissions: RouterMiddleware {
    typealias Context = OrgMemberContext
    let permissions: Set<Permission>

    init(_ permissions: Permission...) { self.permissions = Set(permissions) }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard permissions.isSubset(of: context.auth.permissions) else {
            throw LatchkeyError.forbidden(.forbidden, "You do not have permission to do that.")
        }
        return try await next(request, context)
    }
}

/// A session as loaded for one request, with its member, role and organization as they are now
/// (`auth.memberID`, `auth.permissions`, … read through to the loaded session).
@dynamicMemberLookup
public struct AuthState: Sendable {
    public let session: LoadedSession
    /// The server runs the demo (shows the demo mailbox).
    public let demoMode: Bool
    /// Mail is handed to an SMTP server (else it stays in the outbox).
    public let mailDelivery: Bool

    /// The API token the request came with (`Authorization: Bearer`); nil for a session cookie. `session` is
    /// then the token's creator as they are now, holding only the token's permissions that their role still has.
    public let token: TokenIdentity?

    init(_ session: LoadedSession, demoMode: Bool, mailDelivery: Bool, token: TokenIdentity? = nil) {
        self.session = session
        self.demoMode = demoMode
        self.mailDelivery = mailDelivery
        self.token = token
    }

    public subscript<T>(dynamicMember keyPath: KeyPath<LoadedSession, T>) -> T { session[keyPath: keyPath] }

    /// An event the member causes about themselves (sign-in steps, their own factors and sessions).
    func event(_ action: AuditAction, _ result: AuditResult, reason: String = "", meta: RequestMeta) -> AuditEntry {
        AuditEntry(
            organizationID: session.organizationID, actorID: session.memberID, actorEmail: session.memberEmail,
            actorRole: session.roleName, action: action, targetID: session.memberID, targetEmail: session.memberEmail,
            result: result, reason: reason, meta: meta, token: token.map { ($0.id, $0.name) })
    }
}

/// An API token a request acts through, as audit events name it.
public struct TokenIdentity: Sendable, Equatable {
    public var id: UUID
    public var name: String
}

/// Refuses requests made with an API token: what only a person at a session may do (step up, change their
/// password, mint tokens).
struct SessionOnly: RouterMiddleware {
    typealias Context = OrgMemberContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard context.auth.token == nil else { throw LatchkeyError.sessionRequired }
        return try await next(request, context)
    }
}

extension LatchkeyError {
    /// An API token asked for what needs a signed-in person.
    static let sessionRequired = LatchkeyError(
        .forbidden, "session_required", "An API token cannot do this: sign in as a member to do it.")
}

extension Request {
    /// True for the JSON API, whose errors are JSON.
    var isAPI: Bool { uri.path.hasPrefix("/api/") }
}
