import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// The signed-in member's own pages: overview and My security.
struct AccountWebController {
    let services: AppServices

    func register(on group: RouterGroup<OrgMemberContext>) {
        group.on(.get, .home, use: home)
        group.on(.get, .security, use: security)
        group.on(.post, .securityAuthenticator, use: replaceAuthenticator)
        group.on(.post, .securityRecoveryCodes, use: regenerateRecoveryCodes)
        group.on(.post, .securitySessionRevoke, use: revokeSession)
        group.on(.post, .securitySessionsRevokeOthers, use: revokeOtherSessions)
        group.on(.post, .securityPassword, use: changePassword)
    }

    @Sendable func home(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let auth = context.auth
        var dashboard: AccountPages.Dashboard?
        if LifecyclePolicy.required.isSubset(of: auth.permissions) {
            let store = services.store
            let coverage = try await store.directory.coverage(organizationID: auth.organizationID, now: services.now)
            var resets: [(batch: ResetBatch, actor: String)]?
            if ResetPolicy.required.isSubset(of: auth.permissions) {
                let batches = try await store.resets.recent(organizationID: auth.organizationID, limit: 8)
                let actors = try await store.members.find(
                    Array(Set(batches.map(\.actorID))), organizationID: auth.organizationID)
                resets = batches.map {
                    (
                        $0,
                        $0.actorID == ResetService.operatorID
                            ? "the server operator" : actors[$0.actorID]?.name ?? "a former member"
                    )
                }
            }
            var invited = MemberDirectory.Filter()
            invited.status = .invited
            invited.limit = 5
            let pending = try await store.directory.page(
                organizationID: auth.organizationID, filter: invited, after: nil, before: nil, now: services.now)
            let tokens = try await store.tokens.latestInvitations(memberIDs: pending.rows.map(\.id))
            dashboard = .init(
                coverage: coverage, resets: resets,
                invitations: pending.rows.map { ($0, tokens[$0.id]?.issuerName ?? "", tokens[$0.id]?.expiresAt) },
                now: services.now)
        }
        return HTMLResponse.make(AccountPages.home(auth: auth, dashboard: dashboard))
    }

    /// Fixed notices selected by a query key (never text echoed from the URL).
    static let notices = [
        "session_revoked": "That session was signed out.",
        "others_revoked": "You were signed out everywhere else. Only this session is still signed in.",
        "no_others": "There were no other sessions to sign out.",
        "password_changed": "Your password was changed. Your other sessions were signed out.",
    ]

    @Sendable func security(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let notice = Flash.read(request).flatMap { Self.notices[$0.key] }
        return try await securityPage(context: context, notice: notice, error: nil)
    }

    func securityPage(context: OrgMemberContext, notice: String?, error: LatchkeyError?) async throws -> Response {
        let auth = context.auth
        let store = services.store
        let hasAuthenticator = try await services.auth.hasAuthenticator(memberID: auth.memberID)
        let left = try await store.credentials.recoveryCodesLeft(memberID: auth.memberID)
        let rows = try await store.sessions.signedIn(memberID: auth.memberID).map { session in
            AccountPages.SessionRow(
                id: session.id, createdAt: session.createdAt, lastSeenAt: session.lastSeenAt, ip: session.ip,
                userAgent: session.userAgent, current: session.id == auth.sessionID)
        }
        return HTMLResponse.make(
            AccountPages.security(
                auth: auth, hasAuthenticator: hasAuthenticator, recoveryCodesLeft: left, sessions: rows, notice: notice,
                error: error?.message), error: error)
    }

    /// Starts setting up a new authenticator; when one exists, a code from it is required first.
    @Sendable func replaceAuthenticator(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let auth = context.auth
        let form = try await Body.form(from: request, context: context)
        do {
            if try await services.auth.hasAuthenticator(memberID: auth.memberID) {
                try await services.auth.verifyTOTP(
                    auth: auth, code: (form["code"] ?? "").trimmingCharacters(in: .whitespaces), action: .stepUp,
                    meta: context.meta)
            }
            _ = try await services.auth.beginEnrollment(
                memberID: auth.memberID, email: auth.memberEmail, organizationName: auth.organizationName)
            return .redirect(to: Route.enroll.path, type: .normal)
        } catch let error as LatchkeyError {
            return try await securityPage(context: context, notice: nil, error: error)
        }
    }

    /// New recovery codes after a fresh code from the authenticator.
    @Sendable func regenerateRecoveryCodes(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let auth = context.auth
        let form = try await Body.form(from: request, context: context)
        do {
            try await services.auth.verifyTOTP(
                auth: auth, code: (form["code"] ?? "").trimmingCharacters(in: .whitespaces), action: .stepUp,
                meta: context.meta)
            let codes = try await services.auth.regenerateRecoveryCodes(auth: auth, meta: context.meta)
            return HTMLResponse.make(AuthPages.recoveryCodes(csrf: auth.csrfToken, codes: codes))
        } catch let error as LatchkeyError {
            return try await securityPage(context: context, notice: nil, error: error)
        }
    }

    /// Changes the member's own password (current password, and a fresh code when an authenticator is set up).
    @Sendable func changePassword(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let form = try await Body.form(from: request, context: context)
        do {
            let token = try await PasswordService(services: services).change(
                auth: context.auth, current: form["currentPassword"] ?? "", new: form["newPassword"] ?? "",
                confirm: form["confirmPassword"] ?? "", code: form["code"] ?? "", meta: context.meta)
            var response = Flash.redirect(
                to: Route.security.path, notice: "password_changed", secure: services.config.secureCookies)
            response.setCookie(Cookies.set(Cookies.session, token, secure: services.config.secureCookies))
            return response
        } catch let error as LatchkeyError {
            return try await securityPage(context: context, notice: nil, error: error)
        }
    }

    /// Signs out one of the member's own sessions; another member's session id is simply not found.
    @Sendable func revokeSession(_ request: Request, context: OrgMemberContext) async throws -> Response {
        guard let id = context.parameters.get("id", as: UUID.self) else {
            throw LatchkeyError.notFound("No such session.")
        }
        try await services.sessions.revoke(id, of: context.auth, meta: context.meta)
        if id == context.auth.sessionID { return .redirect(to: Route.login.path, type: .normal) }
        return Flash.redirect(to: Route.security.path, notice: "session_revoked", secure: services.config.secureCookies)
    }

    /// "Sign out all other sessions": every session of the member but this one ends.
    @Sendable func revokeOtherSessions(_ request: Request, context: OrgMemberContext) async throws -> Response {
        _ = try await Body.form(from: request, context: context)
        let count = try await services.sessions.revokeOthers(of: context.auth, meta: context.meta)
        return Flash.redirect(
            to: Route.security.path, notice: count == 0 ? "no_others" : "others_revoked",
            secure: services.config.secureCookies)
    }
}
