import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore
import Logging
import NIOCore
import SQLKit
import ServiceLifecycle

/// Builds the HTTP application on top of started services. The CLI and the tests both call this.
public func buildApplication(services: AppServices) -> some ApplicationProtocol {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: SessionMiddleware(services: services))

    router.get("/static/app.css") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "public, max-age=3600"],
            body: .init(byteBuffer: ByteBuffer(string: Assets.css)))
    }
    router.get("/static/app.js") { _, _ in
        Response(
            status: .ok,
            headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "public, max-age=3600"],
            body: .init(byteBuffer: ByteBuffer(string: Assets.js)))
    }
    router.get("/healthz") { _, _ in JSONResponse.make(["status": "ok"]) }
    router.get("/readyz") { _, _ in
        _ = try await services.sql.raw("SELECT 1 AS ok").all()
        return JSONResponse.make(["status": "ready"])
    }

    AuthWebController(services: services).register(on: router)
    AuthAPIController(services: services).register(on: router)
    let members = router.group(context: OrgMemberContext.self)
    AccountWebController(services: services).register(on: members)
    MembersAPIController(services: services).register(on: members)
    MembersWebController(services: services).register(on: members)
    AdminWebController(services: services).register(on: members)

    var app = Application(
        router: router,
        configuration: .init(
            address: .hostname(services.config.host, port: services.config.port), serverName: "Latchkey"),
        logger: services.logger)
    app.addServices(DatabaseService(database: services.database), JobRunner(services: services))
    return app
}

/// Keeps the database open while the application runs and closes it on graceful shutdown.
struct DatabaseService: Service {
    let database: LatchkeyDatabase

    func run() async throws {
        try? await gracefulShutdown()
        await database.shutdown()
    }
}

/// Builds the application and serves until SIGTERM/SIGINT, shutting down gracefully.
public func runServer(services: AppServices) async throws {
    try await buildApplication(services: services).runService()
}
