import Foundation
import HTTPTypes
import Hummingbird
import LatchkeyCore
import Logging
import NIOCore

/// The one boundary where errors become responses: JSON `{"error": {code, message}}` for the API, an
/// HTML page (or a redirect into the sign-in flow) for the web. Internals never reach the client; a 5xx is
/// logged with the error, its route and the request id.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let refusal as SignInStepRefusal {
            // A session missing or at another sign-in step: the browser goes to the step it is at.
            if !request.isAPI, !request.isSCIM,
                refusal.redirectsEveryMethod || request.method == .get || request.method == .head
            {
                return .redirect(to: Route.home(for: refusal.state), type: .found)
            }
            return Self.render(refusal.error, request: request)
        } catch {
            var failure = Self.classify(error)
            if failure.status >= 500 {
                // The error itself, as its type describes itself: the database drivers' descriptions carry no
                // bound values (PostgresNIO's none of its query at all), and no error of ours holds a secret.
                context.logger.error(
                    "request failed",
                    metadata: [
                        "request_id": "\(context.requestID)", "route": "\(context.endpointPath ?? "unmatched")",
                        "error_type": "\(type(of: error))", "error": "\(String(describing: error).prefix(500))",
                    ])
            }
            // The router found no route: on an API path that exists with other methods, that is a 405.
            var allowed: [HTTPRequest.Method] = []
            if failure.kind == .notFound, error is any HTTPResponseError, request.isAPI || request.isSCIM {
                allowed = Route.methods(serving: request.uri.path)
                if !allowed.isEmpty {
                    failure = LatchkeyError(.methodNotAllowed, .methodNotAllowed, "That method is not allowed here.")
                }
            }
            var response = Self.render(failure, request: request)
            if !allowed.isEmpty { response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ") }
            return response
        }
    }

    /// What any error means to a client, as a `LatchkeyError`: the domain's own as they are, the framework's
    /// client errors by status, anything else a 500 without internals.
    static func classify(_ error: any Error) -> LatchkeyError {
        if let error = error as? LatchkeyError { return error }
        if let error = error as? any HTTPResponseError {
            switch error.status {
            case .notFound: return .notFound("There is nothing here.")
            case .contentTooLarge:
                return LatchkeyError(.payloadTooLarge, "body_too_large", "The request body is too large.")
            case .methodNotAllowed:
                return LatchkeyError(.methodNotAllowed, .methodNotAllowed, "That method is not allowed here.")
            case let status where status.code < 500:
                return .badRequest("bad_request", "The request could not be processed.")
            default: break
            }
        }
        if error is NIOTooManyBytesError {
            return LatchkeyError(.payloadTooLarge, "body_too_large", "The request body is too large.")
        }
        return LatchkeyError(.internalError, .internalError, "Something went wrong on our side.")
    }

    static func render(_ failure: LatchkeyError, request: Request) -> Response {
        var response: Response
        if request.isSCIM {
            response = Scim.errorResponse(failure)
        } else if request.isAPI || request.uri.path == Route.metrics.path {
            // A scraper, like the API, reads JSON, never an HTML page.
            struct Envelope: Encodable {
                struct Inner: Encodable { var code: String; var message: String }
                var error: Inner
            }
            response = JSONResponse.make(
                Envelope(error: .init(code: failure.code.rawValue, message: failure.message)),
                status: HTTPResponse.Status(code: failure.status))
        } else {
            let status = HTTPResponse.Status(code: failure.status)
            response = HTMLResponse.make(
                ErrorPage.render(title: status.reasonPhrase, message: failure.message), error: failure)
        }
        if let retryAfter = failure.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        if failure.code == "invalid_token" { response.headers[.wwwAuthenticate] = #"Bearer error="invalid_token""# }
        if failure.code == "metrics_token_required" { response.headers[.wwwAuthenticate] = #"Bearer realm="metrics""# }
        // Only the state-changing routes answer 405; they take POST alone (SCIM's are set by `handle`).
        if failure.kind == .methodNotAllowed, !request.isSCIM { response.headers[.allow] = "POST" }
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

    /// JSON already written (see `JSONText`).
    static func make(json: JSONText, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: json.bytes)))
    }
}

enum HTMLResponse {
    static func make(_ html: HTML, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: html.bytes)))
    }

    /// A page shown with an error (a form shown again, say), or without one (nil): the error's status and,
    /// for a throttled attempt, its `Retry-After`.
    static func make(_ html: HTML, error: LatchkeyError?) -> Response {
        var response = make(html, status: error.map { HTTPResponse.Status(code: $0.status) } ?? .ok)
        if let seconds = error?.retryAfter { response.headers[.retryAfter] = String(seconds) }
        return response
    }
}
