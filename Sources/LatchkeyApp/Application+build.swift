import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore
import Logging
import ServiceLifecycle

/// The router with every route of `Route.endpoints`, its middleware and its contexts.
func buildRouter(services: AppServices) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: RequestMetaMiddleware())
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: SessionMiddleware(services: services))

    router.on(.get, .asset) { request, context in
        try StaticAssets.shared.response(for: request, file: context.parameters.get("file"))
    }
    router.on(.get, .healthz) { _, _ in JSONResponse.make(["status": "ok"]) }
    router.on(.get, .readyz) { _, _ in
        try await services.store.ping()
        return JSONResponse.make(["status": "ready"])
    }

    AuthWebController(services: services).register(on: router)
    AuthAPIController(services: services).register(on: router)
    let members = router.group(context: OrgMemberContext.self)
    AccountWebController(services: services).register(on: members)
    MembersAPIController(services: services).register(on: members)
    MembersWebController(services: services).register(on: members)
    LifecycleAPIController(services: services).register(on: members)
    RolesAPIController(services: services).register(on: members)
    RolesWebController(services: services).register(on: members)
    AdminWebController(services: services).register(on: members)
    MailWebController(services: services).register(on: members)
    InvitationsWebController(services: services).register(members: members, router: router)
    InvitationsAPIController(services: services).register(on: members)
    // GET never changes anything: the state-changing member routes answer 405 to it.
    members.refuseGet(Route.endpoints.filter(\.refusesGet).map(\.route))
    return router
}

/// Builds the HTTP application on top of started services. The CLI and the tests both call this.
public func buildApplication(services: AppServices) -> some ApplicationProtocol {
    var app = Application(
        router: buildRouter(services: services),
        configuration: .init(
            address: .hostname(services.config.host, port: services.config.port), serverName: "Latchkey"),
        logger: services.logger)
    app.addServices(DatabaseService(database: services.database), JobRunner(services: services))
    if let smtp = services.config.smtp {
        do {
            app.addServices(try MailDelivery(services: services, configuration: smtp))
        } catch {
            // The TLS settings were checked when the configuration was read; an unreadable CA file is all that is
            // left, and the mail then stays queued.
            services.logger.error("mail delivery not started", metadata: ["error": "\(error)"])
        }
    }
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
