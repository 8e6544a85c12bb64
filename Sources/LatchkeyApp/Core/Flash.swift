import Foundation
import HTTPTypes
import Hummingbird
import LatchkeyCore

/// The one-time message after an action ("MFA reset for Jane Doe"): the redirect that follows a form carries it in
/// a short-lived cookie, never in the URL, so a reload, the back button or a shared link does not show it again.
/// The cookie holds only a fixed key and at most a member's id; each page picks its text from its own fixed list
/// and looks the member up in the viewer's organization. `FlashMiddleware` clears it once a page has been served.
enum Flash {
    static let cookie = "lk_notice"

    struct Value: Equatable {
        var key: String
        var member: UUID?
    }

    /// The message the request carries, if any: `key` alone or `key~member-id`.
    static func read(_ request: Request) -> Value? {
        guard let raw = request.cookies[cookie]?.value, !raw.isEmpty else { return nil }
        let parts = raw.split(separator: "~", maxSplits: 1).map(String.init)
        guard let key = parts.first, key.count <= 40, key.allSatisfy({ $0.isLetter || $0 == "_" }) else { return nil }
        return Value(key: key, member: parts.count == 2 ? UUID(uuidString: parts[1]) : nil)
    }

    /// A 303 to `path` with the message set for the next page.
    static func redirect(to path: String, notice: String, member: UUID? = nil, secure: Bool) -> Response {
        var response = Response.redirect(to: path, type: .normal)
        let value = member.map { "\(notice)~\($0.lowercasedString)" } ?? notice
        response.setCookie(Cookies.set(cookie, value, secure: secure, maxAge: 120))
        return response
    }
}

/// Clears the one-time message once a page (an HTML answer other than a redirect) has shown it.
struct FlashMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let secure: Bool

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response = try await next(request, context)
        guard request.cookies[Flash.cookie] != nil, !(300..<400).contains(response.status.code),
            response.headers[.contentType]?.hasPrefix("text/html") == true,
            !response.headers[values: .setCookie].contains(where: { $0.hasPrefix(Flash.cookie + "=") })
        else { return response }
        response.setCookie(Cookies.clear(Flash.cookie, secure: secure))
        return response
    }
}
