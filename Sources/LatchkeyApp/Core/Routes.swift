import Foundation
import HTTPTypes
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// Every path Latchkey serves, in one place: handlers are registered with it, views link and
/// controllers redirect with it, and `docs/routes.md` is generated from `Route.endpoints` (a test keeps
/// the two equal, and the router's own list equal to the table).
enum Route: String, CaseIterable, Sendable {
    // Sign-in
    case login = "/login"
    case loginMFA = "/login/mfa"
    case loginRecovery = "/login/recovery"
    case logout = "/logout"
    case passwordForgot = "/password/forgot"
    case passwordReset = "/password/reset"
    case invitationAccept = "/invitations/accept"
    case enroll = "/enroll"
    case enrollConfirm = "/enroll/confirm"
    case enrollAcknowledge = "/enroll/ack"
    case enrollRecoveryCodes = "/enroll/recovery-codes"
    // The member's own pages
    case home = "/"
    case security = "/security"
    case tokens = "/tokens"
    case tokenRevoke = "/tokens/:id/revoke"
    case webhooks = "/webhooks"
    case webhook = "/webhooks/:id"
    case webhookDisable = "/webhooks/:id/disable"
    case webhookEnable = "/webhooks/:id/enable"
    case webhookDelete = "/webhooks/:id/delete"
    case securityAuthenticator = "/security/authenticator"
    case securityRecoveryCodes = "/security/recovery-codes"
    case securitySessionRevoke = "/security/sessions/:id/revoke"
    case securitySessionsRevokeOthers = "/security/sessions/revoke-others"
    case securityPassword = "/security/password"
    // Manage Members
    case members = "/members"
    case memberPage = "/members/:id"
    case membersUnlock = "/members/unlock"
    case membersResetMFA = "/members/reset-mfa"
    case membersRole = "/members/role"
    case membersSuspend = "/members/suspend"
    case membersReactivate = "/members/reactivate"
    case membersRemove = "/members/remove"
    case membersInvite = "/members/invite"
    case memberInvitationResend = "/members/:id/invitation/resend"
    case memberInvitationRevoke = "/members/:id/invitation/revoke"
    case resetResults = "/members/resets/:id"
    case resetResultsCSV = "/members/resets/:id/results.csv"
    case resetCancel = "/members/resets/:id/cancel"
    case membersSelection = "/members/selection"
    // Administration
    case audit = "/audit"
    case auditExportCSV = "/audit/export.csv"
    case auditExportJSONLines = "/audit/export.jsonl"
    case auditEvent = "/audit/events/:id"
    case settings = "/settings"
    case roles = "/roles"
    case role = "/roles/:id"
    case mailbox = "/mailbox"
    case mail = "/mail"
    case mailRetry = "/mail/:id/retry"
    // JSON API
    case apiLogin = "/api/v1/auth/login"
    case apiMFA = "/api/v1/auth/mfa"
    case apiEnrollment = "/api/v1/auth/enrollment"
    case apiEnrollmentConfirm = "/api/v1/auth/enrollment/confirm"
    case apiStepUp = "/api/v1/auth/step-up"
    case apiLogout = "/api/v1/auth/logout"
    case apiSession = "/api/v1/auth/session"
    case apiPassword = "/api/v1/auth/password"
    case apiPasswordForgot = "/api/v1/auth/password/forgot"
    case apiPasswordReset = "/api/v1/auth/password/reset"
    case apiMembers = "/api/v1/members"
    case apiMemberUnlock = "/api/v1/members/:id/unlock"
    case apiMemberReset = "/api/v1/members/:id/mfa/reset"
    case apiBulkReset = "/api/v1/members/mfa/reset"
    case apiMemberRole = "/api/v1/members/:id/role"
    case apiMemberSuspend = "/api/v1/members/:id/suspend"
    case apiMemberReactivate = "/api/v1/members/:id/reactivate"
    case apiMemberRemove = "/api/v1/members/:id/remove"
    case apiBulkRole = "/api/v1/members/role"
    case apiBulkSuspend = "/api/v1/members/suspend"
    case apiBulkReactivate = "/api/v1/members/reactivate"
    case apiBulkRemove = "/api/v1/members/remove"
    case apiResetJob = "/api/v1/mfa-reset-jobs/:id"
    case apiResetJobCancel = "/api/v1/mfa-reset-jobs/:id/cancel"
    case apiAuditEvents = "/api/v1/audit-events"
    case apiRoles = "/api/v1/roles"
    case apiInvitations = "/api/v1/invitations"
    case apiInvitationsBulk = "/api/v1/invitations/bulk"
    case apiInvitationResend = "/api/v1/invitations/:id/resend"
    case apiInvitationRevoke = "/api/v1/invitations/:id/revoke"
    case apiRole = "/api/v1/roles/:id"
    case apiOpenAPI = "/api/v1/openapi.json"
    case apiTokens = "/api/v1/tokens"
    case apiTokenRevoke = "/api/v1/tokens/:id/revoke"
    case apiWebhooks = "/api/v1/webhooks"
    case apiWebhook = "/api/v1/webhooks/:id"
    case apiWebhookDisable = "/api/v1/webhooks/:id/disable"
    case apiWebhookEnable = "/api/v1/webhooks/:id/enable"
    case apiWebhookDelete = "/api/v1/webhooks/:id/delete"
    case apiWebhookDeliveries = "/api/v1/webhooks/:id/deliveries"
    // SCIM 2.0 for identity providers (Bearer token holding `scim.provision`)
    case scimServiceProviderConfig = "/scim/v2/ServiceProviderConfig"
    case scimResourceTypes = "/scim/v2/ResourceTypes"
    case scimResourceType = "/scim/v2/ResourceTypes/:id"
    case scimSchemas = "/scim/v2/Schemas"
    case scimSchema = "/scim/v2/Schemas/:id"
    case scimUsers = "/scim/v2/Users"
    case scimUsersSearch = "/scim/v2/Users/.search"
    case scimUser = "/scim/v2/Users/:id"
    case scimGroups = "/scim/v2/Groups"
    case scimGroupsSearch = "/scim/v2/Groups/.search"
    case scimGroup = "/scim/v2/Groups/:id"
    case scimSearch = "/scim/v2/.search"
    // Operations
    case asset = "/static/:file"
    case healthz = "/healthz"
    case readyz = "/readyz"
    case metrics = "/metrics"

    /// The path of a route without parameters.
    var path: String {
        // Bytes, not `contains(":")`: Foundation's string search, on every link of every page.
        precondition(!rawValue.utf8.contains(UInt8(ascii: ":")), "\(rawValue) needs its parameter")
        return rawValue
    }

    /// The path of a route with an `:id`, for this id.
    func path(_ id: UUID) -> String {
        let parts = rawValue.split(separator: ":id", maxSplits: 1, omittingEmptySubsequences: false)
        precondition(parts.count == 2, "\(rawValue) has no :id")
        return parts[0] + id.lowercasedString + parts[1]
    }

    /// The pattern the router matches.
    var pattern: RouterPath { RouterPath(rawValue) }

    /// Where a session at `state` belongs (nil: no session).
    static func home(for state: SessionState?) -> String {
        switch state {
        case nil: Route.login.path
        case .signedIn: Route.home.path
        case .mfaPending: Route.loginMFA.path
        case .enrollmentRequired: Route.enroll.path
        case .recoveryCodesPending: Route.enrollRecoveryCodes.path
        }
    }
}

/// One row of the route table: the methods a route answers, who may call it and what it audits.
struct Endpoint: Sendable {
    var methods: [HTTPRequest.Method]
    var route: Route
    /// Query parameters worth showing in the docs, e.g. `?query=&role=`.
    var query: String = ""
    var caller: String
    var audit: String = "—"
    /// A state-changing route: GET and HEAD answer 405 rather than 404.
    var refusesGet: Bool = false
}

extension Route {
    /// The methods the table serves at a concrete path (`:id` and `:file` match any segment); empty for none.
    static func methods(serving path: String) -> [HTTPRequest.Method] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        let matching = endpoints.filter { endpoint in
            let pattern = endpoint.route.rawValue.split(separator: "/", omittingEmptySubsequences: false)
            return pattern.count == parts.count && zip(pattern, parts).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
        }
        var methods: [HTTPRequest.Method] = []
        for method in matching.flatMap(\.methods) where !methods.contains(method) { methods.append(method) }
        return methods
    }

    /// The route table. `buildRouter` registers exactly these (and 405 answers for `refusesGet`).
    static let endpoints: [Endpoint] = [
        Endpoint(methods: [.get], route: .login, caller: "anyone"),
        Endpoint(
            methods: [.post], route: .login,
            caller: "anyone (double-submit CSRF); 429 + `Retry-After` while a throttle waits (nothing checked)",
            audit: "`auth.password` success/failure/denied, `auth.lockout`"),
        Endpoint(
            methods: [.get, .post], route: .loginMFA,
            caller: "session at `mfa_pending`; 429 while waiting, 403 `account_locked` at the hard stop",
            audit: "`auth.mfa` success/failure, `auth.code_reuse`, `auth.lockout`"),
        Endpoint(
            methods: [.get, .post], route: .loginRecovery,
            caller: "session at `mfa_pending`; throttled like `/login/mfa`",
            audit: "`auth.recovery_code` success/failure, `auth.lockout`"),
        Endpoint(methods: [.post], route: .logout, caller: "any session", audit: "`auth.sign_out`"),
        Endpoint(
            methods: [.get], route: .enroll, caller: "`enrollment_required`, or signed in with an enrollment started"),
        Endpoint(methods: [.post], route: .enroll, caller: "`enrollment_required`"),
        Endpoint(
            methods: [.post], route: .enrollConfirm, caller: "`enrollment_required` or signed in",
            audit: "`mfa.enrolled` / `mfa.replaced` (a wrong code: `mfa.enrolled` failure)"),
        Endpoint(methods: [.post], route: .enrollAcknowledge, caller: "any session (acts at `recovery_codes_pending`)"),
        Endpoint(
            methods: [.get, .post], route: .enrollRecoveryCodes, caller: "`recovery_codes_pending`",
            audit: "`mfa.recovery_codes_regenerated`"),
        Endpoint(methods: [.get], route: .home, caller: "signed in"),
        Endpoint(methods: [.get], route: .security, caller: "signed in"),
        Endpoint(
            methods: [.post], route: .securityAuthenticator,
            caller: "signed in; a current code when an authenticator exists", audit: "`auth.step_up`"),
        Endpoint(
            methods: [.post], route: .securityRecoveryCodes, caller: "signed in + current code",
            audit: "`auth.step_up`, `mfa.recovery_codes_regenerated`"),
        Endpoint(
            methods: [.post], route: .securitySessionsRevokeOthers, caller: "signed in; every own session but this one",
            audit: "`session.revoked` (one event naming how many)", refusesGet: true),
        Endpoint(
            methods: [.post], route: .securitySessionRevoke, caller: "signed in; own sessions only",
            audit: "`session.revoked`"),
        Endpoint(
            methods: [.get], route: .invitationAccept, query: "?token=", caller: "anyone holding a live invitation link"
        ),
        Endpoint(
            methods: [.post], route: .invitationAccept,
            caller:
                "anyone holding a live invitation link (form with `lk_csrf`); opens a session at enrollment where MFA is required",
            audit: "`member.invitation_accepted`"),
        Endpoint(methods: [.get], route: .passwordForgot, caller: "anyone"),
        Endpoint(
            methods: [.post], route: .passwordForgot,
            caller:
                "anyone (form with `lk_csrf`); the same answer, no sooner than 0.5 s, whether or not the email has an account",
            audit: "`auth.password_link_issued` (known, active accounts only)"),
        Endpoint(
            methods: [.get], route: .passwordReset, query: "?token=", caller: "anyone holding a live password link"),
        Endpoint(
            methods: [.post], route: .passwordReset,
            caller: "anyone holding a live password link (form with `lk_csrf`); ends every session, opens none",
            audit: "`auth.password_reset`"),
        Endpoint(
            methods: [.post], route: .securityPassword,
            caller:
                "signed in; current password + a fresh code when an authenticator is set up; ends the other sessions",
            audit: "`auth.password_changed` (success / failure)"),
        Endpoint(methods: [.post], route: .apiLogin, caller: "anyone (JSON only)", audit: "as `POST /login`"),
        Endpoint(
            methods: [.post], route: .apiMFA, caller: "`mfa_pending` + `X-CSRF-Token`", audit: "as `/login/mfa`"),
        Endpoint(
            methods: [.post], route: .apiEnrollment,
            caller: "`enrollment_required`, or signed in (+ `currentCode` to replace)",
            audit: "`auth.step_up` when replacing"),
        Endpoint(
            methods: [.post], route: .apiEnrollmentConfirm, caller: "`enrollment_required` or signed in",
            audit: "`mfa.enrolled` / `mfa.replaced`"),
        Endpoint(methods: [.post], route: .apiStepUp, caller: "signed in", audit: "`auth.step_up`"),
        Endpoint(methods: [.post], route: .apiLogout, caller: "any session", audit: "`auth.sign_out`"),
        Endpoint(methods: [.get], route: .apiSession, caller: "any session"),
        Endpoint(
            methods: [.post], route: .apiPassword, caller: "signed in + `X-CSRF-Token`; as `/security/password`",
            audit: "`auth.password_changed`"),
        Endpoint(
            methods: [.post], route: .apiPasswordForgot, caller: "anyone (JSON only); 202 whatever the email",
            audit: "as `POST /password/forgot`"),
        Endpoint(
            methods: [.post], route: .apiPasswordReset, caller: "anyone holding a live password link (JSON only)",
            audit: "`auth.password_reset`"),
        Endpoint(
            methods: [.get], route: .members, query: "?query=&role=&mfa=&status=locked&sort=&limit=",
            caller: "`members.view` + `members.manage`"),
        Endpoint(
            methods: [.get], route: .memberPage,
            caller: "`members.view` + `members.manage`; a member of the same organization (else 404)"),
        Endpoint(
            methods: [.post], route: .membersUnlock,
            caller: "`members.manage`; same organization, not oneself, no higher role",
            audit: "`member.sign_in_unlocked` (success / denied)", refusesGet: true),
        Endpoint(
            methods: [.post], route: .membersResetMFA,
            caller: "`members.reset_mfa` (+ view, manage), fresh MFA or a code in the form",
            audit: "`mfa.reset` per member (success / skipped / denied), `auth.step_up`", refusesGet: true),
        Endpoint(
            methods: [.post], route: .membersRole,
            caller:
                "`members.view` + `members.manage`; same organization, not oneself, no higher role, no role to grant that holds more than the actor's; never the last Owner",
            audit: "`member.role_changed` (success / skipped / denied)", refusesGet: true),
        Endpoint(
            methods: [.post], route: .membersSuspend, caller: "as `/members/role`; ends every session at once",
            audit: "`member.suspended`", refusesGet: true),
        Endpoint(
            methods: [.post], route: .membersReactivate, caller: "as `/members/role`", audit: "`member.reactivated`",
            refusesGet: true),
        Endpoint(
            methods: [.post], route: .membersRemove,
            caller: "as `/members/role`; ends every session at once, keeps the audit history",
            audit: "`member.removed`", refusesGet: true),
        Endpoint(
            methods: [.post], route: .membersInvite,
            caller: "`members.view` + `members.manage`; roles the actor may grant; up to 10,000 lines",
            audit: "`member.invited` per person (success / denied)"),
        Endpoint(
            methods: [.post], route: .memberInvitationResend,
            caller: "as `/members/invite`; a pending invitation of the same organization (else 404)",
            audit: "`member.invitation_resent`", refusesGet: true),
        Endpoint(
            methods: [.post], route: .memberInvitationRevoke, caller: "as `/members/{id}/invitation/resend`",
            audit: "`member.invitation_revoked`", refusesGet: true),
        Endpoint(
            methods: [.get], route: .resetResults, caller: "`members.reset_mfa` (+ view, manage), same organization"),
        Endpoint(
            methods: [.get], route: .resetResultsCSV,
            caller: "`members.reset_mfa` (+ view, manage), same organization"),
        Endpoint(
            methods: [.post], route: .resetCancel,
            caller: "`members.reset_mfa` (+ view, manage), a running background job of the same organization",
            audit: "`mfa.reset_job_cancelled`", refusesGet: true),
        Endpoint(
            methods: [.get], route: .membersSelection, query: "?query=&role=&mfa=&status=",
            caller: "`members.view` + `members.manage`; how many match and how many of them have MFA (JSON)"),
        Endpoint(methods: [.get], route: .audit, caller: "`audit.view`"),
        Endpoint(methods: [.get], route: .auditExportCSV, caller: "`audit.view`"),
        Endpoint(methods: [.get], route: .auditExportJSONLines, caller: "`audit.view`"),
        Endpoint(methods: [.get], route: .auditEvent, caller: "`audit.view`; an event of the same organization"),
        Endpoint(methods: [.get], route: .settings, caller: "`org.settings`"),
        Endpoint(methods: [.post], route: .settings, caller: "`org.settings`", audit: "`org.settings_changed`"),
        Endpoint(methods: [.get], route: .mailbox, caller: "demo mode + `members.view`"),
        Endpoint(methods: [.get], route: .mail, query: "?status=queued|sent|failed&before=", caller: "`org.settings`"),
        Endpoint(
            methods: [.post], route: .mailRetry, caller: "`org.settings`; an unsent message of the same organization",
            audit: "`mail.retried`", refusesGet: true),
        Endpoint(methods: [.get], route: .roles, caller: "`roles.manage`"),
        Endpoint(
            methods: [.post], route: .roles,
            caller: "`roles.manage`; only permissions the actor's role holds",
            audit: "`role.created` (success / denied)",
            refusesGet: false),
        Endpoint(
            methods: [.post], route: .role,
            caller: "`roles.manage`; custom roles only, holding no permission the actor's lacks, before and after",
            audit: "`role.updated` (success / denied)", refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiInvitations,
            caller: "`members.manage`; a role the actor may grant; 201, or 409 already a member / invited",
            audit: "`member.invited`"),
        Endpoint(
            methods: [.get], route: .apiInvitations, query: "?status=pending|expired&limit=&cursor=",
            caller: "`members.view` + `members.manage`"),
        Endpoint(
            methods: [.post], route: .apiInvitationsBulk, caller: "as `POST /api/v1/invitations`; up to 10,000 rows",
            audit: "`member.invited` per person"),
        Endpoint(
            methods: [.post], route: .apiInvitationResend, caller: "as `/members/{id}/invitation/resend`",
            audit: "`member.invitation_resent`", refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiInvitationRevoke, caller: "as `/members/{id}/invitation/revoke`",
            audit: "`member.invitation_revoked`", refusesGet: true),
        Endpoint(
            methods: [.get], route: .apiMembers, query: "?query=&role=&mfa=&status=locked&…",
            caller: "`members.view` + `members.manage`"),
        Endpoint(
            methods: [.post], route: .apiMemberUnlock, query: " `{reason?}`",
            caller: "`members.manage`; same organization (else 404), not oneself, no higher role (else 403)",
            audit: "`member.sign_in_unlocked` (success / denied)", refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiMemberReset, query: " `{reason?}`",
            caller: "`members.reset_mfa` (+ view, manage), step-up, rate limits", audit: "`mfa.reset`",
            refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiBulkReset, query: " `{memberIds | filter, reason?}`",
            caller: "as above; `Idempotency-Key`", audit: "`mfa.reset` per member, linked to the batch",
            refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiMemberRole, query: " `{roleId, reason?}`",
            caller:
                "as `/members/role`: 200 with the member's new state, 403 with the rule's code, 404 for another organization's member",
            audit: "`member.role_changed`", refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiMemberSuspend, query: " `{reason?}`", caller: "as `/members/suspend`",
            audit: "`member.suspended`", refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiMemberReactivate, query: " `{reason?}`", caller: "as `/members/reactivate`",
            audit: "`member.reactivated`", refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiMemberRemove, query: " `{reason?}`", caller: "as `/members/remove`",
            audit: "`member.removed`", refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiBulkRole, query: " `{memberIds | filter, roleId, reason?}`",
            caller: "as `/members/role`, per member: `{memberId, status, code, reason}`",
            audit: "`member.role_changed` per member", refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiBulkSuspend, query: " `{memberIds | filter, reason?}`",
            caller: "as `/members/suspend`, per member", audit: "`member.suspended` per member", refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiBulkReactivate, query: " `{memberIds | filter, reason?}`",
            caller: "as `/members/reactivate`, per member", audit: "`member.reactivated` per member",
            refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiBulkRemove, query: " `{memberIds | filter, reason?}`",
            caller: "as `/members/remove`, per member", audit: "`member.removed` per member", refusesGet: true),
        Endpoint(
            methods: [.get], route: .apiResetJob, caller: "`members.reset_mfa` (+ view, manage), same organization"),
        Endpoint(
            methods: [.post], route: .apiResetJobCancel,
            caller: "as `/members/resets/{id}/cancel`; 409 when not running",
            audit: "`mfa.reset_job_cancelled`", refusesGet: true),
        Endpoint(methods: [.get], route: .apiAuditEvents, caller: "`audit.view`"),
        Endpoint(
            methods: [.get], route: .apiRoles,
            caller: "`members.view`: `{roles: [{id, name, builtIn, permissions, members}]}`"),
        Endpoint(
            methods: [.post], route: .apiRoles, query: " `{name, permissions}`",
            caller:
                "as `POST /roles`: 201 with the role; 403 `built_in_role` / `permission_not_held`; 409 `role_name_taken`",
            audit: "`role.created`"),
        Endpoint(
            methods: [.post], route: .apiRole, query: " `{name?, permissions?}`", caller: "as `POST /roles/{id}`",
            audit: "`role.updated`", refusesGet: true),
        Endpoint(
            methods: [.get], route: .apiOpenAPI,
            caller: "anyone: the OpenAPI 3.1 document of every `/api/v1` operation (the suite holds every answer to it)"
        ),
        Endpoint(
            methods: [.get], route: .tokens,
            caller:
                "signed-in member with a permission: their tokens (the organization's with `org.settings`) and the form to mint one"
        ),
        Endpoint(
            methods: [.post], route: .tokens, query: " `name, permission…, days, code?`",
            caller:
                "as `POST /api/v1/tokens`; `code` steps up first (needed for `members.reset_mfa` when MFA is stale); the answer shows the token once (`no-store`)",
            audit: "`token.created` (`auth.step_up`)"),
        Endpoint(
            methods: [.post], route: .tokenRevoke, caller: "as `POST /api/v1/tokens/{id}/revoke`",
            audit: "`token.revoked`", refusesGet: true),
        Endpoint(
            methods: [.get, .post], route: .webhooks, query: " `url, description, event…` (POST)",
            caller:
                "`org.settings` and `audit.view`: the endpoints and the form to register one (the secret shown once, `no-store`)",
            audit: "`webhook.created`"),
        Endpoint(
            methods: [.get], route: .webhook, query: "?cursor=",
            caller: "`org.settings` and `audit.view`: one endpoint and its delivery log"),
        Endpoint(
            methods: [.post], route: .webhookDisable, caller: "`org.settings` and `audit.view`",
            audit: "`webhook.disabled`", refusesGet: true),
        Endpoint(
            methods: [.post], route: .webhookEnable, caller: "`org.settings` and `audit.view`",
            audit: "`webhook.enabled`", refusesGet: true),
        Endpoint(
            methods: [.post], route: .webhookDelete, caller: "`org.settings` and `audit.view`",
            audit: "`webhook.deleted`", refusesGet: true),
        Endpoint(
            methods: [.get], route: .apiWebhooks,
            caller: "`org.settings` and `audit.view` (session or token): the organization's webhook endpoints"),
        Endpoint(
            methods: [.post], route: .apiWebhooks,
            caller:
                "`org.settings` and `audit.view`: 201 with the signing `secret` (shown once); a private, loopback or link-local target (after DNS) is 400 `invalid_webhook_url`",
            audit: "`webhook.created`"),
        Endpoint(methods: [.get], route: .apiWebhook, caller: "`org.settings` and `audit.view`"),
        Endpoint(
            methods: [.post], route: .apiWebhookDisable, caller: "`org.settings` and `audit.view`",
            audit: "`webhook.disabled`", refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiWebhookEnable,
            caller: "`org.settings` and `audit.view`; events from then on are delivered", audit: "`webhook.enabled`",
            refusesGet: true),
        Endpoint(
            methods: [.post], route: .apiWebhookDelete, caller: "`org.settings` and `audit.view`",
            audit: "`webhook.deleted`", refusesGet: true),
        Endpoint(
            methods: [.get], route: .apiWebhookDeliveries, query: "?limit=&cursor=",
            caller: "`org.settings` and `audit.view`: the delivery log, newest first"),
        Endpoint(
            methods: [.get], route: .scimServiceProviderConfig,
            caller: "SCIM token (`scim.provision`); every SCIM error is SCIM's `Error` document"),
        Endpoint(methods: [.get], route: .scimResourceTypes, caller: "SCIM token"),
        Endpoint(methods: [.get], route: .scimResourceType, caller: "SCIM token; `User` or `Group`"),
        Endpoint(methods: [.get], route: .scimSchemas, caller: "SCIM token"),
        Endpoint(methods: [.get], route: .scimSchema, caller: "SCIM token; a schema's URN"),
        Endpoint(
            methods: [.get], route: .scimUsers, query: "?filter=&startIndex=&count=&attributes=&excludedAttributes=",
            caller:
                "SCIM token with `members.view`; `filter` is `userName`, `emails.value`, `externalId`, `active` or `id` `eq` a value"
        ),
        Endpoint(
            methods: [.post], route: .scimUsers,
            caller: "SCIM token with `members.manage`: invites the member (`active: false`: suspended at once)",
            audit: "`member.invited` (+ `member.suspended`)"),
        Endpoint(methods: [.post], route: .scimUsersSearch, caller: "SCIM token; a `SearchRequest` body"),
        Endpoint(
            methods: [.get, .put, .patch, .delete], route: .scimUser,
            caller:
                "SCIM token; PUT/PATCH change email, name, `externalId` and `active` (suspend, reactivate); DELETE removes (an invitation: withdraws)",
            audit:
                "`member.profile_changed`, `member.suspended`, `member.reactivated`, `member.removed`, `member.invitation_revoked`"
        ),
        Endpoint(
            methods: [.get, .post], route: .scimGroups, query: "?filter=&startIndex=&count=&excludedAttributes=",
            caller: "SCIM token; Groups are the organization's roles (POST: 403, roles are made in Latchkey)"),
        Endpoint(methods: [.post], route: .scimGroupsSearch, caller: "SCIM token; a `SearchRequest` body"),
        Endpoint(
            methods: [.get, .put, .patch, .delete], route: .scimGroup,
            caller:
                "SCIM token; PUT/PATCH set the role's members (moved into it; removed ones to Member) or rename a custom role; DELETE: 403",
            audit: "`member.role_changed`, `role.updated`"),
        Endpoint(methods: [.post], route: .scimSearch, caller: "SCIM token; Users then Groups"),
        Endpoint(
            methods: [.post], route: .apiTokens, query: " `{name, permissions, expiresInDays}`",
            caller:
                "signed-in member at a session (a token answers 403 `session_required`): at most their permissions, 1–365 days (≤ 90 and a fresh MFA for `members.reset_mfa`), ≤ 50 live; 201 with the token, shown this once",
            audit: "`token.created`"),
        Endpoint(
            methods: [.get], route: .apiTokens, query: "?limit=&cursor=",
            caller: "signed-in member or token: their own tokens; with `org.settings` the organization's"),
        Endpoint(
            methods: [.post], route: .apiTokenRevoke,
            caller: "its creator, or `org.settings` (another's is 404); revoking a revoked token changes nothing",
            audit: "`token.revoked`", refusesGet: true),
        Endpoint(
            methods: [.get], route: .asset,
            caller: "anyone; the stylesheet and script, named by a hash of their content, cached for a year"),
        Endpoint(methods: [.get], route: .healthz, caller: "anyone"),
        Endpoint(methods: [.get], route: .readyz, caller: "anyone"),
        Endpoint(
            methods: [.get], route: .metrics, caller: "anyone, or the bearer of `LATCHKEY_METRICS_TOKEN` when set"),
    ]

    /// `docs/routes.md`, generated from the table.
    static var markdown: String {
        var lines = [
            "# Routes",
            "",
            "<!-- Generated from `Route.endpoints` in Sources/LatchkeyApp/Core/Routes.swift; RoutesTests keeps it equal. -->",
            "",
            "Every route, who may call it and what it writes to the audit log. \"Session state\" is the sign-in",
            "step the caller's session must be at; `signed in` means a member who completed MFA (or whose",
            "organization does not require it), which is what `OrgMemberContext` guarantees. Those `/api/v1` routes",
            "also take an API token (`Authorization: Bearer lk_…`, no CSRF token): the member who minted it, holding",
            "only the token's permissions that their role still has, with no step-up, 600 requests a minute per",
            "token (`RateLimit-*` headers); the sign-in steps, step-up and password change answer a token 403",
            "`session_required`.",
            "",
            "| Method | Path | Caller | Audit events |",
            "|---|---|---|---|",
        ]
        for endpoint in endpoints {
            let methods = endpoint.methods.map(\.rawValue).joined(separator: "/")
            let path = endpoint.route.rawValue.replacingOccurrences(of: ":id", with: "{id}")
                .replacingOccurrences(of: ":file", with: "{file}")
            lines.append("| \(methods) | `\(path)`\(endpoint.query) | \(endpoint.caller) | \(endpoint.audit) |")
        }
        let refusing = endpoints.filter(\.refusesGet).map {
            "`\($0.route.rawValue.replacingOccurrences(of: ":id", with: "{id}"))`"
        }
        lines += [
            "",
            "GET and HEAD on the state-changing routes \(refusing.joined(separator: ", ")) answer 405 with",
            "`Allow: POST`.",
            "",
            "Every POST with a session needs the session's CSRF token (`_csrf` form field or `X-CSRF-Token`).",
            "",
            "Operator commands (from the server's shell, audited as `operator`): `latchkey mfa reset --email …`",
            "(`mfa.reset`), `latchkey member unlock --email …` (`member.sign_in_unlocked`).",
            "",
            "Every route that checks a code — `/login/mfa`, `/login/recovery`, `/security/authenticator`,",
            "`/security/recovery-codes`, `/members/reset-mfa` with a step-up code, `/api/v1/auth/mfa`,",
            "`/api/v1/auth/step-up`, `/api/v1/auth/enrollment` with `currentCode` — first claims the member's",
            "second-factor throttle: 429 with `Retry-After` while it waits (the code is not checked), 403",
            "`account_locked` at the hard stop, and `auth.lockout` in the audit log when a wait starts. See",
            "[threat_model.md](threat_model.md#sign-in-throttling).",
            "",
        ]
        return lines.joined(separator: "\n")
    }
}

extension RouterMethods {
    /// Registers `handler` for `method` on `route`.
    @discardableResult
    func on(
        _ method: HTTPRequest.Method, _ route: Route,
        use handler: @escaping @Sendable (Request, Context) async throws -> some ResponseGenerator
    ) -> Self {
        on(route.pattern, method: method, use: handler)
    }

    /// GET and HEAD on the state-changing `routes` of this group: 405 (the error boundary adds `Allow: POST`).
    func refuseGet(_ routes: [Route]) {
        for route in routes {
            for method in [HTTPRequest.Method.get, .head] {
                on(route.pattern, method: method) { _, _ -> Response in
                    throw LatchkeyError(
                        .methodNotAllowed, .methodNotAllowed, "This action only accepts a confirmed POST.")
                }
            }
        }
    }
}
