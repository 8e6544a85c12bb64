import FluentKit
import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// The sign-in, second-factor and enrollment pages.
struct AuthWebController {
    let services: AppServices

    func register(on router: Router<AppRequestContext>) {
        router.get("/login", use: loginPage)
        router.post("/login", use: login)
        router.get("/login/mfa", use: mfaPage)
        router.post("/login/mfa", use: mfa)
        router.get("/login/recovery", use: recoveryPage)
        router.post("/login/recovery", use: recovery)
        router.post("/logout", use: logout)
        router.get("/enroll", use: enrollPage)
        router.post("/enroll", use: enrollStart)
        router.post("/enroll/confirm", use: enrollConfirm)
        router.post("/enroll/ack", use: enrollAcknowledge)
        router.get("/enroll/recovery-codes", use: recoveryCodesLostPage)
        router.post("/enroll/recovery-codes", use: recoveryCodesReissue)
    }

    var secure: Bool { services.config.secureCookies }

    /// Where a session in `state` belongs.
    static func home(for state: SessionState) -> String {
        switch state {
        case .signedIn: "/"
        case .mfaPending: "/login/mfa"
        case .enrollmentRequired: "/enroll"
        case .recoveryCodesPending: "/enroll/recovery-codes"
        }
    }

    // MARK: Password

    @Sendable func loginPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        if let auth = context.auth { return .redirect(to: Self.home(for: auth.state), type: .found) }
        return loginForm(request: request, email: "", failure: nil)
    }

    /// The sign-in form with its double-submit CSRF token (reusing the browser's if it has one).
    func loginForm(request: Request, email: String, failure: ErrorMiddleware.Failure?) -> Response {
        let existing = request.cookies[Cookies.preSessionCSRF]?.value ?? ""
        let token = existing.utf8.count >= 32 && existing.utf8.count <= 64 ? existing : services.random.token()
        var response = HTMLResponse.make(
            AuthPages.login(csrf: token, email: email, error: failure?.message), failure: failure)
        if token != existing { response.setCookie(Cookies.set(Cookies.preSessionCSRF, token, secure: secure)) }
        return response
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = try await Body.form(from: request, context: context)
        let email = form["email"] ?? ""
        do {
            let password = form["password"] ?? ""
            let outcome = try await services.auth.login(
                email: email, password: password, meta: request.meta(requestID: context.requestID, ip: context.remoteIP)
            )
            var response = Response.redirect(to: Self.home(for: outcome.state), type: .normal)
            response.setCookie(Cookies.set(Cookies.session, outcome.token, secure: secure))
            response.setCookie(Cookies.clear(Cookies.preSessionCSRF, secure: secure))
            return response
        } catch let error as LatchkeyError {
            return loginForm(
                request: request, email: String(email.prefix(254)), failure: ErrorMiddleware.classify(error))
        }
    }

    // MARK: Second factor

    @Sendable func mfaPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let auth = context.auth, auth.state == .mfaPending else { return redirectAway(context) }
        return HTMLResponse.make(AuthPages.mfa(csrf: auth.csrfToken))
    }

    @Sendable func mfa(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let auth = context.auth, auth.state == .mfaPending else { return redirectAway(context) }
        let form = try await Body.form(from: request, context: context)
        do {
            let code = (form["code"] ?? "").trimmingCharacters(in: .whitespaces)
            let token = try await services.auth.completeSignIn(
                auth: auth, code: code, recoveryCode: nil,
                meta: request.meta(requestID: context.requestID, ip: context.remoteIP))
            return signedInRedirect(token: token)
        } catch let error as LatchkeyError {
            return HTMLResponse.make(
                AuthPages.mfa(csrf: auth.csrfToken, error: error.message), failure: ErrorMiddleware.classify(error))
        }
    }

    @Sendable func recoveryPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let auth = context.auth, auth.state == .mfaPending else { return redirectAway(context) }
        return HTMLResponse.make(AuthPages.recovery(csrf: auth.csrfToken))
    }

    @Sendable func recovery(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let auth = context.auth, auth.state == .mfaPending else { return redirectAway(context) }
        let form = try await Body.form(from: request, context: context)
        do {
            let token = try await services.auth.completeSignIn(
                auth: auth, code: nil, recoveryCode: form["recoveryCode"] ?? "",
                meta: request.meta(requestID: context.requestID, ip: context.remoteIP))
            return signedInRedirect(token: token)
        } catch let error as LatchkeyError {
            return HTMLResponse.make(
                AuthPages.recovery(csrf: auth.csrfToken, error: error.message),
                failure: ErrorMiddleware.classify(error))
        }
    }

    func signedInRedirect(token: String, to location: String = "/") -> Response {
        var response = Response.redirect(to: location, type: .normal)
        response.setCookie(Cookies.set(Cookies.session, token, secure: secure))
        return response
    }

    func redirectAway(_ context: AppRequestContext) -> Response {
        .redirect(to: context.auth.map { Self.home(for: $0.state) } ?? "/login", type: .found)
    }

    @Sendable func logout(_ request: Request, context: AppRequestContext) async throws -> Response {
        if let auth = context.auth {
            try await services.sessions.delete(auth.sessionID, on: services.db)
            try await services.audit.append(
                auth.actor(
                    action: .signOut, result: .success,
                    request: request.meta(requestID: context.requestID, ip: context.remoteIP)),
                at: services.now, on: services.db)
        }
        var response = Response.redirect(to: "/login", type: .normal)
        response.setCookie(Cookies.clear(Cookies.session, secure: secure))
        return response
    }

    // MARK: Enrollment

    @Sendable func enrollPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let auth = context.auth, auth.state == .enrollmentRequired || auth.state == .signedIn else {
            return redirectAway(context)
        }
        guard
            let enrollment = try await services.auth.pendingEnrollment(
                memberID: auth.memberID, email: auth.memberEmail, organizationName: auth.organizationName)
        else {
            if auth.state == .signedIn { return .redirect(to: "/security", type: .found) }
            return HTMLResponse.make(AuthPages.enrollStart(csrf: auth.csrfToken))
        }
        return enrollForm(auth: auth, enrollment: enrollment, failure: nil)
    }

    func enrollForm(auth: AuthState, enrollment: AuthService.Enrollment, failure: ErrorMiddleware.Failure?)
        -> Response
    {
        let qr = QRCodeSVG.render(enrollment.otpauthURI, label: "QR code for setting up your authenticator app") ?? ""
        return HTMLResponse.make(
            AuthPages.enroll(
                csrf: auth.csrfToken, enrollment: enrollment, qrSVG: qr, forced: auth.state == .enrollmentRequired,
                error: failure?.message), failure: failure)
    }

    @Sendable func enrollStart(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let auth = context.auth, auth.state == .enrollmentRequired else { return redirectAway(context) }
        _ = try await services.auth.beginEnrollment(
            memberID: auth.memberID, email: auth.memberEmail, organizationName: auth.organizationName)
        return .redirect(to: "/enroll", type: .normal)
    }

    @Sendable func enrollConfirm(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let auth = context.auth, auth.state == .enrollmentRequired || auth.state == .signedIn else {
            return redirectAway(context)
        }
        let form = try await Body.form(from: request, context: context)
        do {
            let (codes, token) = try await services.auth.confirmEnrollment(
                auth: auth, code: (form["code"] ?? "").trimmingCharacters(in: .whitespaces),
                nextState: .recoveryCodesPending, meta: request.meta(requestID: context.requestID, ip: context.remoteIP)
            )
            var response = HTMLResponse.make(AuthPages.recoveryCodes(csrf: auth.csrfToken, codes: codes))
            response.setCookie(Cookies.set(Cookies.session, token, secure: secure))
            return response
        } catch let error as LatchkeyError {
            guard
                let enrollment = try await services.auth.pendingEnrollment(
                    memberID: auth.memberID, email: auth.memberEmail, organizationName: auth.organizationName)
            else { throw error }
            return enrollForm(auth: auth, enrollment: enrollment, failure: ErrorMiddleware.classify(error))
        }
    }

    @Sendable func enrollAcknowledge(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let auth = context.auth else { return redirectAway(context) }
        let form = try await Body.form(from: request, context: context)
        guard form["saved"] == "yes" else {
            throw LatchkeyError.badRequest("not_acknowledged", "Confirm that you have saved your recovery codes.")
        }
        guard let token = try await services.auth.acknowledgeRecoveryCodes(auth: auth) else {
            return .redirect(to: auth.state == .signedIn ? "/security" : Self.home(for: auth.state), type: .normal)
        }
        return signedInRedirect(token: token)
    }

    @Sendable func recoveryCodesLostPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let auth = context.auth, auth.state == .recoveryCodesPending else { return redirectAway(context) }
        return HTMLResponse.make(AuthPages.recoveryCodesLost(csrf: auth.csrfToken))
    }

    @Sendable func recoveryCodesReissue(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let auth = context.auth, auth.state == .recoveryCodesPending else { return redirectAway(context) }
        let codes = try await services.auth.regenerateRecoveryCodes(
            auth: auth, meta: request.meta(requestID: context.requestID, ip: context.remoteIP))
        return HTMLResponse.make(AuthPages.recoveryCodes(csrf: auth.csrfToken, codes: codes))
    }
}
