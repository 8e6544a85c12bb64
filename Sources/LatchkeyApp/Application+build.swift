import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore
import Logging
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

/// The router with every route of `Route.endpoints`, its middleware and its contexts.
func buildRouter(services: AppServices) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: RequestMetaMiddleware(trust: services.config.trustedProxies))
    router.add(middleware: AccessLogMiddleware())
    // Requests by route pattern and status, with latency histograms, through swift-metrics (see `AppMetrics`).
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: FlashMiddleware(secure: services.config.secureCookies))
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: SessionMiddleware(services: services))

    router.on(.get, .asset) { request, context in
        try StaticAssets.shared.response(for: request, file: context.parameters.get("file"))
    }
    router.on(.get, .healthz) { _, _ in JSONResponse.make(["status": "ok"]) }
    // The API's contract, as written (`Public/openapi.json`); every answer of the test suite is held to it.
    router.on(.get, .apiOpenAPI) { _, _ in
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_json)))
    }
    router.on(.get, .readyz) { _, _ in await Readiness.response(services: services) }
    router.on(.get, .metrics) { request, _ in try await MetricsEndpoint.response(to: request, services: services) }

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
    TokensAPIController(services: services).register(on: members)
    TokensWebController(services: services).register(on: members)
    WebhooksAPIController(services: services).register(on: members)
    WebhooksWebController(services: services).register(on: members)
    ScimController(services: services).register(on: router)
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
    do {
        if services.config.runsWebhookDispatcher { app.addServices(try WebhookDispatcher(services: services)) }
    } catch {
        services.logger.error("webhook delivery not started", metadata: ["error": "\(error)"])
    }
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
    tuneAllocatorForServing()
    services.metrics.bootstrapProcessMetrics()
    // The drain service comes after the application, so it hears the signal first (see `DrainService`).
    let group = ServiceGroup(
        configuration: .init(
            services: [buildApplication(services: services), DrainService(services: services)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: services.logger))
    try await group.run()
}

/// Keeps the allocator from handing a page's buffers back to the kernel after each request. By default glibc
/// serves allocations over 128 KiB (a members page and its layout) with a fresh `mmap` and trims freed memory
/// at 128 KiB, so every page paid page faults and TLB shootdowns for memory it had just released (about a
/// twentieth of the page's CPU). Up to 4 MiB now comes from the heap, and up to 32 MiB free is kept per arena.
/// Idle memory is unchanged; under the page benchmark's load the resident set grows by about 3 MB.
func tuneAllocatorForServing() {
    #if canImport(Glibc)
        // `mallopt` (malloc.h, which the Glibc module leaves out), looked up at run time: absent elsewhere.
        typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: MallOpt.self)
        let trimThreshold: Int32 = -1  // M_TRIM_THRESHOLD
        let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD
        _ = mallopt(mmapThreshold, 4 << 20)
        _ = mallopt(trimThreshold, 32 << 20)
    #endif
}
