import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// `/api/v1/auth/*`: the sign-in flow as JSON. After login, calls authenticate with the session cookie
/// plus the `X-CSRF-Token` header.
struct AuthAPIController {
    let services: AppServices

    func register(on router: Router<AppRequestContext>) {
        router.on(.post, .apiLogin, use: login)
        router.group(context: SessionContext<SecondFactorStep>.self).on(.post, .apiMFA, use: mfa)
        let enrolling = router.group(context: SessionContext<EnrollmentStep>.self)
        enrolling.on(.post, .apiEnrollment, use: beginEnrollment)
        enrolling.on(.post, .apiEnrollmentConfirm, use: confirmEnrollment)
        let anySession = router.group(context: SessionContext<AnyStep>.self)
        anySession.on(.post, .apiLogout, use: logout)
        anySession.on(.get, .apiSession, use: session)
        let sessionOnly = router.group(context: OrgMemberContext.self).add(middleware: SessionOnly())
        sessionOnly.on(.post, .apiStepUp, use: stepUp)
        sessionOnly.on(.post, .apiPassword, use: changePassword)
        router.on(.post, .apiPasswordForgot, use: forgotPassword)
        router.on(.post, .apiPasswordReset, use: resetPassword)
    }

    struct ChangePasswordBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["currentPassword", "newPassword", "code"]
        var currentPassword: String
        var newPassword: String
        var code: String?
    }

    /// Changes the signed-in member's password; other sessions end, this one continues under a new cookie.
    @Sendable func changePassword(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let body = try await Body.json(ChangePasswordBody.self, from: request, context: context)
        let token = try await PasswordService(services: services).change(
            auth: context.auth, current: body.currentPassword, new: body.newPassword, confirm: nil,
            code: body.code ?? "", meta: context.meta)
        var response = JSONResponse.make(StatusResponse(status: "password_changed"))
        response.setCookie(Cookies.set(Cookies.session, token, secure: secure))
        return response
    }

    struct ForgotPasswordBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["email"]
        var email: String
    }

    /// 202 whether or not the email has an account.
    @Sendable func forgotPassword(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await Body.json(ForgotPasswordBody.self, from: request, context: context)
        try await PasswordService(services: services).forgot(email: body.email, meta: context.meta)
        return JSONResponse.make(StatusResponse(status: "accepted"), status: .accepted)
    }

    struct ResetPasswordBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["token", "newPassword"]
        var token: String
        var newPassword: String
    }

    /// Sets a new password with a password link's token; no session is opened (sign in, with MFA, next).
    @Sendable func resetPassword(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await Body.json(ResetPasswordBody.self, from: request, context: context)
        try await PasswordService(services: services).reset(
            token: body.token, new: body.newPassword, confirm: nil, meta: context.meta)
        return JSONResponse.make(StatusResponse(status: "password_set"))
    }

    var secure: Bool { services.config.secureCookies }

    struct LoginBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["email", "password"]
        var email: String
        var password: String
    }

    struct LoginResponse: Encodable {
        var status: String
        var csrfToken: String
    }

    struct StatusResponse: Encodable {
        var status: String
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await Body.json(LoginBody.self, from: request, context: context)
        let outcome = try await services.auth.login(email: body.email, password: body.password, meta: context.meta)
        var response = JSONResponse.make(LoginResponse(status: outcome.state.apiStatus, csrfToken: outcome.csrfToken))
        response.setCookie(Cookies.set(Cookies.session, outcome.token, secure: secure))
        return response
    }

    struct MFABody: StrictJSONBody {
        static let allowedFields: Set<String> = ["code", "recoveryCode"]
        var code: String?
        var recoveryCode: String?
    }

    @Sendable func mfa(_ request: Request, context: SessionContext<SecondFactorStep>) async throws -> Response {
        let body = try await Body.json(MFABody.self, from: request, context: context)
        guard (body.code == nil) != (body.recoveryCode == nil) else {
            throw LatchkeyError.badRequest("invalid_body", "Send exactly one of \"code\" or \"recoveryCode\".")
        }
        let token = try await services.auth.completeSignIn(
            auth: context.auth, code: body.code, recoveryCode: body.recoveryCode, meta: context.meta)
        var response = JSONResponse.make(StatusResponse(status: "signed_in"))
        response.setCookie(Cookies.set(Cookies.session, token, secure: secure))
        return response
    }

    struct EnrollmentBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["currentCode"]
        var currentCode: String?
    }

    struct EnrollmentResponse: Encodable {
        var secret: String
        var otpauthUri: String
    }

    /// Begins enrollment: for a session that must enroll, or a signed-in member setting up or replacing
    /// their authenticator (replacing requires `currentCode` from the existing one).
    @Sendable func beginEnrollment(_ request: Request, context: SessionContext<EnrollmentStep>) async throws
        -> Response
    {
        let auth = context.auth
        let body = try await Body.json(EnrollmentBody.self, from: request, context: context, allowEmpty: true)
        if auth.state == .signedIn, try await services.auth.hasAuthenticator(memberID: auth.memberID) {
            guard let code = body.currentCode else {
                throw LatchkeyError.badRequest(
                    "current_code_required", "Send \"currentCode\" from your current authenticator app.")
            }
            try await services.auth.verifyTOTP(auth: auth, code: code, action: .stepUp, meta: context.meta)
        }
        let enrollment = try await services.auth.beginEnrollment(
            memberID: auth.memberID, email: auth.memberEmail, organizationName: auth.organizationName)
        return JSONResponse.make(EnrollmentResponse(secret: enrollment.secret, otpauthUri: enrollment.otpauthURI))
    }

    struct ConfirmBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["code"]
        var code: String
    }

    struct ConfirmResponse: Encodable {
        var status: String
        var recoveryCodes: [String]
    }

    @Sendable func confirmEnrollment(_ request: Request, context: SessionContext<EnrollmentStep>) async throws
        -> Response
    {
        let body = try await Body.json(ConfirmBody.self, from: request, context: context)
        let (codes, token) = try await services.auth.confirmEnrollment(
            auth: context.auth, code: body.code, nextState: .signedIn, meta: context.meta)
        var response = JSONResponse.make(ConfirmResponse(status: "signed_in", recoveryCodes: codes))
        response.setCookie(Cookies.set(Cookies.session, token, secure: secure))
        return response
    }

    @Sendable func logout(_ request: Request, context: SessionContext<AnyStep>) async throws -> Response {
        try await services.sessions.signOut(context.auth, meta: context.meta)
        var response = JSONResponse.make(StatusResponse(status: "signed_out"))
        response.setCookie(Cookies.clear(Cookies.session, secure: secure))
        return response
    }

    struct SessionResponse: Encodable {
        struct Member: Encodable {
            var id: UUID
            var name: String
            var email: String
            var mfaStatus: String
        }
        struct Organization: Encodable {
            var id: UUID
            var name: String
        }
        var member: Member
        var organization: Organization
        var role: String
        var permissions: [String]
        var status: String
        var mfaVerifiedAt: Date?
    }

    @Sendable func session(_ request: Request, context: SessionContext<AnyStep>) async throws -> Response {
        let auth = context.auth
        return JSONResponse.make(
            SessionResponse(
                member: .init(
                    id: auth.memberID, name: auth.memberName, email: auth.memberEmail,
                    mfaStatus: auth.mfaStatus.rawValue),
                organization: .init(id: auth.organizationID, name: auth.organizationName), role: auth.roleName,
                permissions: auth.permissions.sorted().map(\.rawValue), status: auth.state.apiStatus,
                mfaVerifiedAt: auth.mfaVerifiedAt))
    }

    struct StepUpBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["code"]
        var code: String
    }

    struct StepUpResponse: Encodable {
        var status: String
        var mfaVerifiedAt: Date
    }

    @Sendable func stepUp(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let body = try await Body.json(StepUpBody.self, from: request, context: context)
        try await services.auth.stepUp(auth: context.auth, code: body.code, meta: context.meta)
        return JSONResponse.make(StepUpResponse(status: "verified", mfaVerifiedAt: services.now))
    }
}

extension SessionState {
    /// The status names of the public API.
    var apiStatus: String {
        switch self {
        case .mfaPending: "mfa_required"
        case .enrollmentRequired: "enrollment_required"
        case .recoveryCodesPending: "recovery_codes_pending"
        case .signedIn: "signed_in"
        }
    }
}
