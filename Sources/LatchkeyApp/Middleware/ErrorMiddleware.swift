import Foundation
import HTTPTypes
import Hummingbird
import LatchkeyCore
import Logging
import NIOCore

/// The one boundary where errors become responses: JSON `{"error": {code, message}}` for the API, an
/// HTML page (or a redirect into the sign-in flow) for the web. Internals never reach the client; 5xx
/// are logged with the request id only.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let failure = Self.classify(error)
            if failure.status.code >= 500 {
                context.logger.error(
                    "request failed",
                    metadata: ["request_id": "\(context.requestID)", "error_type": "\(type(of: error))"])
            }
            return Self.render(failure, request: request, context: context)
        }
    }

    struct Failure {
        var status: HTTPResponse.Status
        var code: String
        var message: String
        var retryAfter: Int?
    }

    static func classify(_ error: any Error) -> Failure {
        if let error = error as? LatchkeyError {
            var retryAfter: Int?
            let status: HTTPResponse.Status
            switch error.kind {
            case .badRequest: status = .badRequest
            case .unauthorized: status = .unauthorized
            case .forbidden: status = .forbidden
            case .notFound: status = .notFound
            case .conflict: status = .conflict
            case .unprocessable: status = .unprocessableContent
            case .payloadTooLarge: status = .contentTooLarge
            case .unsupportedMediaType: status = .unsupportedMediaType
            case .methodNotAllowed: status = .methodNotAllowed
            case .tooManyRequests(let seconds):
                status = .tooManyRequests
                retryAfter = seconds
            case .internalError: status = .internalServerError
            }
            return Failure(status: status, code: error.code, message: error.message, retryAfter: retryAfter)
        }
        if let error = error as? any HTTPResponseError {
            switch error.status {
            case .notFound: return Failure(status: .notFound, code: "not_found", message: "There is nothing here.")
            case .contentTooLarge:
                return Failure(
                    status: .contentTooLarge, code: "body_too_large", message: "The request body is too large.")
            case .methodNotAllowed:
                return Failure(
                    status: .methodNotAllowed, code: "method_not_allowed", message: "That method is not allowed here.")
            case let status where status.code < 500:
                return Failure(status: status, code: "bad_request", message: "The request could not be processed.")
            default: break
            }
        }
        if error is NIOTooManyBytesError {
            return Failure(status: .contentTooLarge, code: "body_too_large", message: "The request body is too large.")
        }
        return Failure(
            status: .internalServerError, code: "internal_error", message: "Something went wrong on our side.")
    }

    /// Web requests that lack a session step are sent to that step instead of an error page.
    static let webRedirects: [String: String] = [
        "not_signed_in": "/login", "mfa_required": "/login/mfa", "enrollment_required": "/enroll",
        "recovery_codes_pending": "/enroll/recovery-codes",
    ]

    static func render(_ failure: Failure, request: Request, context: Context) -> Response {
        var response: Response
        if request.isAPI {
            struct Envelope: Encodable {
                struct Inner: Encodable { var code: String; var message: String }
                var error: Inner
            }
            response = JSONResponse.make(
                Envelope(error: .init(code: failure.code, message: failure.message)), status: failure.status)
        } else if request.method == .get || request.method == .head, let target = webRedirects[failure.code] {
            response = .redirect(to: target, type: .found)
        } else {
            let page = ErrorPage.render(title: failure.status.reasonPhrase, message: failure.message)
            response = HTMLResponse.make(page, status: failure.status)
        }
        if let retryAfter = failure.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        // Only the state-changing reset routes answer 405; they take POST alone.
        if failure.status == .methodNotAllowed { response.headers[.allow] = "POST" }
        return response
    }
}

enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

enum HTMLResponse {
    static func make(_ html: HTML, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: html.raw)))
    }

    /// A form shown again with an error (`failure`), or without one (nil): the error's status and, for a
    /// throttled attempt, its `Retry-After`, as the error boundary would give them.
    static func make(_ html: HTML, failure: ErrorMiddleware.Failure?) -> Response {
        var response = make(html, status: failure?.status ?? .ok)
        if let seconds = failure?.retryAfter { response.headers[.retryAfter] = String(seconds) }
        return response
    }
}
