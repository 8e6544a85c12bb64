import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// The sign-in, second-factor and enrollment pages. Each group's context admits only sessions at its
/// sign-in step; any other session is sent to its own step by the error boundary.
struct AuthWebController {
    let services: AppServices

    func register(on router: Router<AppRequestContext>) {
        router.on(.get, .login, use: loginPage)
        router.on(.post, .login, use: login)
        router.on(.get, .passwordForgot, use: forgotPage)
        router.on(.post, .passwordForgot, use: forgot)
        router.on(.get, .passwordReset, use: setPasswordPage)
        router.on(.post, .passwordReset, use: setPassword)
        let secondFactor = router.group(context: SessionContext<SecondFactorStep>.self)
        secondFactor.on(.get, .loginMFA, use: mfaPage)
        secondFactor.on(.post, .loginMFA, use: mfa)
        secondFactor.on(.get, .loginRecovery, use: recoveryPage)
        secondFactor.on(.post, .loginRecovery, use: recovery)
        let anySession = router.group(context: SessionContext<AnyStep>.self)
        anySession.on(.post, .logout, use: logout)
        anySession.on(.post, .enrollAcknowledge, use: enrollAcknowledge)
        let enrolling = router.group(context: SessionContext<EnrollmentStep>.self)
        enrolling.on(.get, .enroll, use: enrollPage)
        enrolling.on(.post, .enrollConfirm, use: enrollConfirm)
        router.group(context: SessionContext<RequiredEnrollmentStep>.self).on(.post, .enroll, use: enrollStart)
        let savingCodes = router.group(context: SessionContext<RecoveryCodesStep>.self)
        savingCodes.on(.get, .enrollRecoveryCodes, use: recoveryCodesLostPage)
        savingCodes.on(.post, .enrollRecoveryCodes, use: recoveryCodesReissue)
    }

    var secure: Bool { services.config.secureCookies }

    // MARK: Password

    @Sendable func loginPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        if let auth = context.auth { return .redirect(to: Route.home(for: auth.state), type: .found) }
        let notice = Flash.read(request).flatMap { Self.notices[$0.key] }
        return loginForm(request: request, email: "", error: nil, notice: notice)
    }

    /// Fixed notices selected by a query key (never text echoed from the URL).
    static let notices = [
        "password_set": "Your new password is set and you were signed out everywhere. Sign in with it."
    ]

    /// The sign-in form with its double-submit CSRF token (reusing the browser's if it has one).
    func loginForm(request: Request, email: String, error: LatchkeyError?, notice: String? = nil) -> Response {
        preSessionPage(request: request, error: error) { token in
            AuthPages.login(csrf: token, email: email, error: error?.message, notice: notice)
        }
    }

    /// A page for someone without a session, with the double-submit CSRF token its form echoes (the browser's own
    /// when it has one).
    func preSessionPage(request: Request, error: LatchkeyError?, _ page: (String) -> HTML) -> Response {
        let existing = request.cookies[Cookies.preSessionCSRF]?.value ?? ""
        let token = existing.utf8.count >= 32 && existing.utf8.count <= 64 ? existing : services.random.token()
        var response = HTMLResponse.make(page(token), error: error)
        if token != existing { response.setCookie(Cookies.set(Cookies.preSessionCSRF, token, secure: secure)) }
        return response
    }

    // MARK: Forgotten password

    @Sendable func forgotPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        preSessionPage(request: request, error: nil) { AuthPages.forgotPassword(csrf: $0) }
    }

    /// The same page whether or not the email has an account (and no sooner, see `PasswordService.forgot`).
    @Sendable func forgot(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = try await Body.form(from: request, context: context)
        let email = String((form["email"] ?? "").trimmingCharacters(in: .whitespaces).prefix(254))
        do {
            try await PasswordService(services: services).forgot(email: email, meta: context.meta)
        } catch let error as LatchkeyError {
            return preSessionPage(request: request, error: error) {
                AuthPages.forgotPassword(csrf: $0, email: email, error: error.message)
            }
        }
        return preSessionPage(request: request, error: nil) {
            AuthPages.forgotPassword(csrf: $0, email: email, sent: true)
        }
    }

    @Sendable func setPasswordPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = request.uri.queryParameters.get("token") ?? ""
        let member = try await PasswordService(services: services).memberForLink(token)
        return preSessionPage(request: request, error: nil) {
            AuthPages.setPassword(csrf: $0, token: token, email: member?.email)
        }
    }

    @Sendable func setPassword(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = try await Body.form(from: request, context: context)
        let token = form["token"] ?? ""
        let passwords = PasswordService(services: services)
        do {
            try await passwords.reset(
                token: token, new: form["newPassword"] ?? "", confirm: form["confirmPassword"] ?? "",
                meta: context.meta)
        } catch let error as LatchkeyError {
            let email = try await passwords.memberForLink(token)?.email
            return preSessionPage(request: request, error: error) {
                AuthPages.setPassword(csrf: $0, token: token, email: email, error: error.message)
            }
        }
        var response = Flash.redirect(
            to: Route.login.path, notice: "password_set", secure: services.config.secureCookies)
        response.setCookie(Cookies.clear(Cookies.session, secure: secure))
        return response
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = try await Body.form(from: request, context: context)
        let email = form["email"] ?? ""
        do {
            let outcome = try await services.auth.login(
                email: email, password: form["password"] ?? "", meta: context.meta)
            var response = Response.redirect(to: Route.home(for: outcome.state), type: .normal)
            response.setCookie(Cookies.set(Cookies.session, outcome.token, secure: secure))
            response.setCookie(Cookies.clear(Cookies.preSessionCSRF, secure: secure))
            return response
        } catch let error as LatchkeyError {
            return loginForm(request: request, email: String(email.prefix(254)), error: error)
        }
    }

    // MARK: Second factor

    @Sendable func mfaPage(_ request: Request, context: SessionContext<SecondFactorStep>) async throws -> Response {
        HTMLResponse.make(AuthPages.mfa(csrf: context.auth.csrfToken, organization: context.auth.organizationName))
    }

    @Sendable func mfa(_ request: Request, context: SessionContext<SecondFactorStep>) async throws -> Response {
        let auth = context.auth
        let form = try await Body.form(from: request, context: context)
        do {
            let code = (form["code"] ?? "").trimmingCharacters(in: .whitespaces)
            let token = try await services.auth.completeSignIn(
                auth: auth, code: code, recoveryCode: nil, meta: context.meta)
            return signedInRedirect(token: token)
        } catch let error as LatchkeyError {
            return HTMLResponse.make(
                AuthPages.mfa(csrf: auth.csrfToken, organization: auth.organizationName, error: error.message),
                error: error)
        }
    }

    @Sendable func recoveryPage(_ request: Request, context: SessionContext<SecondFactorStep>) async throws
        -> Response
    {
        HTMLResponse.make(AuthPages.recovery(csrf: context.auth.csrfToken, organization: context.auth.organizationName))
    }

    @Sendable func recovery(_ request: Request, context: SessionContext<SecondFactorStep>) async throws -> Response {
        let auth = context.auth
        let form = try await Body.form(from: request, context: context)
        do {
            let token = try await services.auth.completeSignIn(
                auth: auth, code: nil, recoveryCode: form["recoveryCode"] ?? "", meta: context.meta)
            return signedInRedirect(token: token)
        } catch let error as LatchkeyError {
            return HTMLResponse.make(
                AuthPages.recovery(csrf: auth.csrfToken, organization: auth.organizationName, error: error.message),
                error: error)
        }
    }

    func signedInRedirect(token: String, to location: String = Route.home.path) -> Response {
        var response = Response.redirect(to: location, type: .normal)
        response.setCookie(Cookies.set(Cookies.session, token, secure: secure))
        return response
    }

    @Sendable func logout(_ request: Request, context: SessionContext<AnyStep>) async throws -> Response {
        try await services.sessions.signOut(context.auth, meta: context.meta)
        var response = Response.redirect(to: Route.login.path, type: .normal)
        response.setCookie(Cookies.clear(Cookies.session, secure: secure))
        return response
    }

    // MARK: Enrollment

    @Sendable func enrollPage(_ request: Request, context: SessionContext<EnrollmentStep>) async throws -> Response {
        let auth = context.auth
        guard
            let enrollment = try await services.auth.pendingEnrollment(
                memberID: auth.memberID, email: auth.memberEmail, organizationName: auth.organizationName)
        else {
            if auth.state == .signedIn { return .redirect(to: Route.security.path, type: .found) }
            return HTMLResponse.make(AuthPages.enrollStart(csrf: auth.csrfToken))
        }
        return enrollForm(auth: auth, enrollment: enrollment, error: nil)
    }

    func enrollForm(auth: AuthState, enrollment: AuthService.Enrollment, error: LatchkeyError?) -> Response {
        let qr = QRCodeSVG.render(enrollment.otpauthURI, label: "QR code for setting up your authenticator app") ?? ""
        return HTMLResponse.make(
            AuthPages.enroll(
                csrf: auth.csrfToken, enrollment: enrollment, qrSVG: qr, forced: auth.state == .enrollmentRequired,
                error: error?.message), error: error)
    }

    @Sendable func enrollStart(_ request: Request, context: SessionContext<RequiredEnrollmentStep>) async throws
        -> Response
    {
        let auth = context.auth
        _ = try await services.auth.beginEnrollment(
            memberID: auth.memberID, email: auth.memberEmail, organizationName: auth.organizationName)
        return .redirect(to: Route.enroll.path, type: .normal)
    }

    @Sendable func enrollConfirm(_ request: Request, context: SessionContext<EnrollmentStep>) async throws
        -> Response
    {
        let auth = context.auth
        let form = try await Body.form(from: request, context: context)
        do {
            let (codes, token) = try await services.auth.confirmEnrollment(
                auth: auth, code: (form["code"] ?? "").trimmingCharacters(in: .whitespaces),
                nextState: .recoveryCodesPending, meta: context.meta)
            var response = HTMLResponse.make(AuthPages.recoveryCodes(csrf: auth.csrfToken, codes: codes))
            response.setCookie(Cookies.set(Cookies.session, token, secure: secure))
            return response
        } catch let error as LatchkeyError {
            guard
                let enrollment = try await services.auth.pendingEnrollment(
                    memberID: auth.memberID, email: auth.memberEmail, organizationName: auth.organizationName)
            else { throw error }
            return enrollForm(auth: auth, enrollment: enrollment, error: error)
        }
    }

    @Sendable func enrollAcknowledge(_ request: Request, context: SessionContext<AnyStep>) async throws -> Response {
        let auth = context.auth
        let form = try await Body.form(from: request, context: context)
        guard form["saved"] == "yes" else {
            throw LatchkeyError.badRequest("not_acknowledged", "Confirm that you have saved your recovery codes.")
        }
        guard let token = try await services.auth.acknowledgeRecoveryCodes(auth: auth) else {
            let back = auth.state == .signedIn ? Route.security.path : Route.home(for: auth.state)
            return .redirect(to: back, type: .normal)
        }
        return signedInRedirect(token: token)
    }

    @Sendable func recoveryCodesLostPage(_ request: Request, context: SessionContext<RecoveryCodesStep>)
        async throws -> Response
    {
        HTMLResponse.make(AuthPages.recoveryCodesLost(csrf: context.auth.csrfToken))
    }

    @Sendable func recoveryCodesReissue(_ request: Request, context: SessionContext<RecoveryCodesStep>)
        async throws -> Response
    {
        let codes = try await services.auth.regenerateRecoveryCodes(auth: context.auth, meta: context.meta)
        return HTMLResponse.make(AuthPages.recoveryCodes(csrf: context.auth.csrfToken, codes: codes))
    }
}
