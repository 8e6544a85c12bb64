import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// The Webhooks pages (`org.settings` and `audit.view`): the same service and rules as `/api/v1/webhooks`.
struct WebhooksWebController {
    let services: AppServices
    var webhooks: WebhookService { WebhookService(services: services) }

    func register(on group: RouterGroup<OrgMemberContext>) {
        let managing = group.group().add(middleware: RequirePermissions(.orgSettings, .auditView))
        managing.on(.get, .webhooks, use: page)
        managing.on(.post, .webhooks, use: create)
        managing.on(.get, .webhook, use: detail)
        managing.on(.post, .webhookDisable) { request, context in try await setEnabled(false, request, context) }
        managing.on(.post, .webhookEnable) { request, context in try await setEnabled(true, request, context) }
        managing.on(.post, .webhookDelete, use: delete)
    }

    static let notices = [
        "deleted": "Endpoint deleted.", "disabled": "Endpoint disabled: nothing more is sent to it.",
        "enabled": "Endpoint enabled: events from now on are delivered.",
    ]

    @Sendable func page(_ request: Request, context: OrgMemberContext) async throws -> Response {
        try await render(context, notice: Flash.read(request).flatMap { Self.notices[$0.key] })
    }

    func render(
        _ context: OrgMemberContext, notice: String? = nil, error: LatchkeyError? = nil,
        created: (WebhookEndpoint, String)? = nil, form: WebhooksPages.Form = .init()
    ) async throws -> Response {
        let endpoints = try await services.store.webhooks.endpoints(organizationID: context.auth.organizationID)
        var response = HTMLResponse.make(
            WebhooksPages.page(
                auth: context.auth, endpoints: endpoints, notice: notice, error: error?.message,
                created: created.map { (endpoint: $0.0, secret: $0.1) }, form: form),
            error: error)
        if created != nil { response.headers[.cacheControl] = "no-store" }
        return response
    }

    @Sendable func create(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let fields = try await Body.form(from: request, context: context)
        let types = fields.all["event"] ?? []
        let form = WebhooksPages.Form(
            url: fields["url"] ?? "", description: fields["description"] ?? "", eventTypes: Set(types))
        do {
            let created = try await webhooks.create(
                actor: context.actor, url: form.url, description: form.description, eventTypes: types)
            return try await render(context, created: created)
        } catch let error as LatchkeyError {
            return try await render(context, error: error, form: form)
        }
    }

    func id(_ context: OrgMemberContext) throws -> UUID {
        guard let id = context.parameters.get("id", as: UUID.self) else {
            throw LatchkeyError.notFound("No webhook endpoint has that id.")
        }
        return id
    }

    @Sendable func detail(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let endpoint = try await webhooks.endpoint(try id(context), actor: context.actor)
        let (shown, older) = try await WebhooksAPIController.deliveries(of: endpoint, request, services: services)
        return HTMLResponse.make(
            WebhooksPages.detail(
                auth: context.auth, endpoint: endpoint, deliveries: shown, older: older,
                notice: Flash.read(request).flatMap { Self.notices[$0.key] }))
    }

    func setEnabled(_ enabled: Bool, _ request: Request, _ context: OrgMemberContext) async throws -> Response {
        _ = try await Body.form(from: request, context: context)
        let endpoint = try await webhooks.setEnabled(enabled, id: try id(context), actor: context.actor)
        return Flash.redirect(
            to: Route.webhook.path(endpoint.id), notice: enabled ? "enabled" : "disabled",
            secure: services.config.secureCookies)
    }

    @Sendable func delete(_ request: Request, context: OrgMemberContext) async throws -> Response {
        _ = try await Body.form(from: request, context: context)
        try await webhooks.delete(try id(context), actor: context.actor)
        return Flash.redirect(to: Route.webhooks.path, notice: "deleted", secure: services.config.secureCookies)
    }
}
