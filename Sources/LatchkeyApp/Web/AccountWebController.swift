import FluentKit
import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// The signed-in member's own pages: overview and My security.
struct AccountWebController {
    let services: AppServices

    func register(on group: RouterGroup<OrgMemberContext>) {
        group.get("/", use: home)
        group.get("/security", use: security)
        group.post("/security/authenticator", use: replaceAuthenticator)
        group.post("/security/recovery-codes", use: regenerateRecoveryCodes)
        group.post("/security/sessions/:id/revoke", use: revokeSession)
    }

    @Sendable func home(_ request: Request, context: OrgMemberContext) async throws -> Response {
        HTMLResponse.make(AccountPages.home(auth: context.auth))
    }

    /// Fixed notices selected by a query key (never text echoed from the URL).
    static let notices = ["session_revoked": "That session was signed out."]

    @Sendable func security(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let notice = request.uri.queryParameters.get("notice").flatMap { Self.notices[$0] }
        return try await securityPage(context: context, notice: notice, failure: nil)
    }

    func securityPage(context: OrgMemberContext, notice: String?, failure: ErrorMiddleware.Failure?)
        async throws -> Response
    {
        let auth = context.auth
        let db = services.db
        let hasAuthenticator = try await services.auth.confirmedCredential(memberID: auth.memberID, on: db) != nil
        let left = try await RecoveryCodeModel.query(on: db).filter(\.$memberID == auth.memberID).filter(
            \.$usedAt == nil
        ).count()
        let sessions = try await SessionModel.query(on: db).filter(\.$memberID == auth.memberID)
            .filter(\.$state == SessionState.signedIn.rawValue).sort(\.$lastSeenAt, .descending).all()
        let rows = sessions.compactMap { session -> AccountPages.SessionRow? in
            guard let id = session.id else { return nil }
            return .init(
                id: id, createdAt: session.createdAt, lastSeenAt: session.lastSeenAt, ip: session.ip,
                userAgent: session.userAgent, current: id == auth.sessionID)
        }
        return HTMLResponse.make(
            AccountPages.security(
                auth: auth, hasAuthenticator: hasAuthenticator, recoveryCodesLeft: left, sessions: rows, notice: notice,
                error: failure?.message), failure: failure)
    }

    /// Starts setting up a new authenticator; when one exists, a code from it is required first.
    @Sendable func replaceAuthenticator(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let auth = context.auth
        let form = try await Body.form(from: request, context: context)
        do {
            if try await services.auth.confirmedCredential(memberID: auth.memberID, on: services.db) != nil {
                try await services.auth.verifyTOTP(
                    auth: auth, code: (form["code"] ?? "").trimmingCharacters(in: .whitespaces), action: .stepUp,
                    meta: request.meta(requestID: context.requestID, ip: context.remoteIP))
            }
            _ = try await services.auth.beginEnrollment(
                memberID: auth.memberID, email: auth.memberEmail, organizationName: auth.organizationName)
            return .redirect(to: "/enroll", type: .normal)
        } catch let error as LatchkeyError {
            return try await securityPage(context: context, notice: nil, failure: ErrorMiddleware.classify(error))
        }
    }

    /// New recovery codes after a fresh code from the authenticator.
    @Sendable func regenerateRecoveryCodes(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let auth = context.auth
        let form = try await Body.form(from: request, context: context)
        let meta = request.meta(requestID: context.requestID, ip: context.remoteIP)
        do {
            try await services.auth.verifyTOTP(
                auth: auth, code: (form["code"] ?? "").trimmingCharacters(in: .whitespaces), action: .stepUp, meta: meta
            )
            let codes = try await services.auth.regenerateRecoveryCodes(auth: auth, meta: meta)
            return HTMLResponse.make(AuthPages.recoveryCodes(csrf: auth.csrfToken, codes: codes))
        } catch let error as LatchkeyError {
            return try await securityPage(context: context, notice: nil, failure: ErrorMiddleware.classify(error))
        }
    }

    /// Signs out one of the member's own sessions; another member's session id is simply not found.
    @Sendable func revokeSession(_ request: Request, context: OrgMemberContext) async throws -> Response {
        guard let id = context.parameters.get("id", as: UUID.self) else {
            throw LatchkeyError.notFound("No such session.")
        }
        let auth = context.auth
        guard
            let session = try await SessionModel.query(on: services.db).filter(\.$id == id)
                .filter(\.$memberID == auth.memberID).first()
        else { throw LatchkeyError.notFound("No such session.") }
        try await services.sessions.delete(id, on: services.db)
        var entry = auth.actor(
            action: .sessionRevoked, result: .success,
            request: request.meta(requestID: context.requestID, ip: context.remoteIP))
        entry.reason = "session started \(DateText.short(session.createdAt)) from \(session.ip)"
        try await services.audit.append(entry, at: services.now, on: services.db)
        return .redirect(to: id == auth.sessionID ? "/login" : "/security?notice=session_revoked", type: .normal)
    }
}
