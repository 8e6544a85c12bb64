import Hummingbird
import LatchkeyCore
import Logging

/// One line per request, at `info`: method, the route's pattern (never the path as sent, nor its query: an
/// invitation's token or a search term has no place in a log), status, duration and request id. Runs inside
/// `RequestMetaMiddleware` (so the id is the one answered and audited) and outside the error boundary (so the
/// status is the one sent).
struct AccessLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, context, status: response.status.code, since: started)
            return response
        } catch {
            // Only what the error boundary lets through (a redirect or the framework's own): its status.
            log(request, context, status: (error as? any HTTPResponseError)?.status.code ?? 500, since: started)
            throw error
        }
    }

    private func log(_ request: Request, _ context: Context, status: Int, since started: ContinuousClock.Instant) {
        guard context.logger.logLevel <= .info else { return }
        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        context.logger.info(
            "request",
            metadata: [
                "method": "\(request.method.rawValue)",
                // The router's pattern, or `unmatched` (no route: its name for that is not a path).
                "route": "\(context.endpointPath.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "unmatched")",
                "status": "\(status)",
                "duration_ms": "\((milliseconds * 100).rounded() / 100)",
                "request_id": "\(context.requestID)",
            ])
    }
}
