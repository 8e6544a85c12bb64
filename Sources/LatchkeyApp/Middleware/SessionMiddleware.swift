import Foundation
import HTTPTypes
import Hummingbird
import LatchkeyCore
import LatchkeyStore
import NIOCore

/// Cookie names and attributes.
enum Cookies {
    static let session = "lk_session"
    /// Double-submit token for forms posted before a session exists (the sign-in form).
    static let preSessionCSRF = "lk_csrf"

    static func set(_ name: String, _ value: String, secure: Bool, maxAge: Int? = nil) -> String {
        var cookie = "\(name)=\(value); Path=/; HttpOnly; SameSite=Lax"
        if let maxAge { cookie += "; Max-Age=\(maxAge)" }
        if secure { cookie += "; Secure" }
        return cookie
    }

    static func clear(_ name: String, secure: Bool) -> String {
        set(name, "", secure: secure, maxAge: 0)
    }
}

extension Response {
    mutating func setCookie(_ header: String) {
        headers.append(HTTPField(name: .setCookie, value: header))
    }

    /// The answer sets or clears the session cookie: the session was renewed (promoted under a new token, or a
    /// new one opened) or ended.
    var setsSessionCookie: Bool {
        headers[values: .setCookie].contains { $0.hasPrefix(Cookies.session + "=") }
    }
}

/// Loads the session named by the cookie and enforces CSRF on every state-changing request:
/// - with a session: the `X-CSRF-Token` header or the form's `_csrf` field must equal the session's token;
/// - without one: a form must echo the `lk_csrf` cookie (double submit); JSON calls without a session
///   carry no ambient authority and pass on to their handler, which refuses them if they need one.
struct SessionMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let services: AppServices

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard request.isAPI || request.isSCIM else {
            return try await authenticate(request, context: context, next: next)
        }
        // An API answer says how close its caller is to a limit it was counted against (the token's, a reset's).
        let report = RateLimitReport()
        var response = try await RateLimitReport.$current.withValue(report) {
            try await authenticate(request, context: context, next: next)
        }
        report.apply(to: &response.headers)
        return response
    }

    private func authenticate(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        // An API token (JSON API only): it carries no ambient authority, so no CSRF token; the cookie is ignored.
        if request.isAPI || request.isSCIM, let authorization = request.headers[.authorization] {
            context.auth = try await services.tokens.authenticate(authorization: authorization)
            return try await next(request, context)
        }
        // SCIM takes a Bearer token or nothing: a browser's cookie never reaches it (so no CSRF either).
        if request.isSCIM { return try await next(request, context) }
        if let token = request.cookies[Cookies.session]?.value, !token.isEmpty {
            context.auth = try await services.sessions.load(token: token)
        }
        var request = request
        if request.method != .get, request.method != .head {
            try await checkCSRF(&request, context: context)
        }
        guard let auth = context.auth else { return try await next(request, context) }
        // The session is marked seen after the answer, error answers included, unless the answer renewed it.
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            await services.sessions.markSeen(auth)
            throw error
        }
        if !response.setsSessionCookie { await services.sessions.markSeen(auth) }
        return response
    }

    private func checkCSRF(_ request: inout Request, context: Context) async throws {
        let expected: String?
        if let auth = context.auth {
            expected = auth.csrfToken
        } else if Body.isForm(request) {
            expected = request.cookies[Cookies.preSessionCSRF]?.value
        } else {
            return
        }
        var presented = request.headers[.csrfToken]
        if presented == nil, Body.isForm(request) {
            // Read the form to find `_csrf`, then put the bytes back for the handler.
            // The invitation form may carry up to 10,000 lines; every other form stays small.
            let limit =
                request.uri.path == Route.membersInvite.path ? BulkLimits.invitationBodyBytes : context.maxUploadSize
            let buffer = try await request.body.collect(upTo: limit)
            request.body = RequestBody(buffer: buffer)
            presented = (try? FormFields.parse(String(buffer: buffer)))?["_csrf"]
        }
        guard let expected, !expected.isEmpty, let presented,
            constantTimeEquals(Array(expected.utf8), Array(presented.utf8))
        else {
            throw LatchkeyError.forbidden(
                "csrf_failed", "The form expired or came from another site. Reload the page and try again.")
        }
    }
}
