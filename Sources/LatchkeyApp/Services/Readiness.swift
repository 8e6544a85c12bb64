import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore
import Logging
import ServiceLifecycle
import Synchronization

/// Whether the server is draining: once a shutdown signal arrives, `/readyz` answers 503 so a load balancer stops
/// sending requests, while requests already on their way are still served.
public final class DrainState: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    func begin() { draining.store(true, ordering: .relaxed) }
}

/// The first service to hear SIGTERM or SIGINT (it runs after the application in the group, and a group shuts
/// down in reverse order): marks the server draining, waits `LATCHKEY_SHUTDOWN_DELAY_SECONDS` for load balancers
/// to notice, then lets the application stop — the HTTP server first, then the background work between chunks.
struct DrainService: Service {
    let services: AppServices

    func run() async throws {
        try? await gracefulShutdown()
        services.draining.begin()
        let delay = services.config.shutdownDelaySeconds
        services.logger.info("draining: /readyz answers 503", metadata: ["delay_seconds": "\(delay)"])
        if delay > 0 { try? await Task.sleep(for: .seconds(delay)) }
    }
}

/// `/readyz`: 200 `{"status":"ready"}` when the database answers within two seconds; otherwise, or while draining,
/// 503 with `{"status":"unavailable"|"draining"}` (never an HTML error page: probes read JSON).
enum Readiness {
    static let timeout: Duration = .seconds(2)

    static func response(services: AppServices) async -> Response {
        if services.draining.isDraining { return unavailable("draining", "The server is shutting down.") }
        // A database that does not answer may not answer cancellation either: the probe waits for the first of the
        // ping and the timeout, and leaves the ping behind rather than wait for it.
        let outcome = Mutex<CheckedContinuation<Bool, Never>?>(nil)
        let answered = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            outcome.withLock { $0 = continuation }
            let finish: @Sendable (Bool) -> Void = { value in outcome.withLock { $0.take()?.resume(returning: value) } }
            Task {
                do {
                    try await services.store.ping()
                    finish(true)
                } catch {
                    services.logger.warning(
                        "readiness: the database did not answer", metadata: ["error_type": "\(type(of: error))"])
                    finish(false)
                }
            }
            Task {
                try? await Task.sleep(for: timeout)
                finish(false)
            }
        }
        guard answered else { return unavailable("unavailable", "The database is not answering.") }
        return JSONResponse.make(["status": "ready"])
    }

    private static func unavailable(_ status: String, _ message: String) -> Response {
        var response = JSONResponse.make(["status": status, "message": message], status: .serviceUnavailable)
        response.headers[.retryAfter] = "5"
        response.headers[.cacheControl] = "no-store"
        return response
    }
}
