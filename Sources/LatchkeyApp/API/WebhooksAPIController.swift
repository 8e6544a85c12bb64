import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// `/api/v1/webhooks`: endpoints registered, listed, disabled, enabled and deleted, and their delivery log
/// (`WebhookService`; `org.settings` and `audit.view`).
struct WebhooksAPIController {
    let services: AppServices
    var webhooks: WebhookService { WebhookService(services: services) }

    func register(on group: RouterGroup<OrgMemberContext>) {
        group.on(.get, .apiWebhooks, use: list)
        group.on(.post, .apiWebhooks, use: create)
        group.on(.get, .apiWebhook, use: show)
        group.on(.post, .apiWebhookDisable) { request, context in try await setEnabled(false, request, context) }
        group.on(.post, .apiWebhookEnable) { request, context in try await setEnabled(true, request, context) }
        group.on(.post, .apiWebhookDelete, use: delete)
        group.on(.get, .apiWebhookDeliveries, use: deliveries)
    }

    struct WebhookJSON: Encodable {
        var id: UUID
        var url: String
        var description: String
        var eventTypes: [String]
        /// `enabled` or `disabled`.
        var status: String
        var disabledReason: String?
        /// When its deliveries began failing (absent while they succeed).
        var failingSince: Date?
        var createdAt: Date
        var createdBy: String
        /// The signing secret: in the answer that creates the endpoint, and never again.
        var secret: String?

        init(_ endpoint: WebhookEndpoint, secret: String? = nil) {
            id = endpoint.id
            url = endpoint.url
            description = endpoint.description
            eventTypes = endpoint.eventTypes
            status = endpoint.enabled ? "enabled" : "disabled"
            disabledReason = endpoint.enabled ? nil : endpoint.disabledReason
            failingSince = endpoint.failingSince
            createdAt = endpoint.createdAt
            createdBy = endpoint.createdByName
            self.secret = secret
        }
    }

    struct CreateBody: StrictJSONBody {
        static let allowedFields: Set<String> = ["url", "description", "eventTypes"]
        var url: String?
        var description: String?
        var eventTypes: [String]?
    }

    func id(_ context: OrgMemberContext) throws -> UUID {
        guard let id = context.parameters.get("id", as: UUID.self) else {
            throw LatchkeyError.notFound("No webhook endpoint has that id.")
        }
        return id
    }

    @Sendable func list(_ request: Request, context: OrgMemberContext) async throws -> Response {
        try webhooks.require(context.actor)
        let endpoints = try await services.store.webhooks.endpoints(organizationID: context.auth.organizationID)
        return JSONResponse.make(["webhooks": endpoints.map { WebhookJSON($0) }])
    }

    @Sendable func create(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let body = try await Body.json(CreateBody.self, from: request, context: context)
        guard let url = body.url else {
            throw LatchkeyError.badRequest("invalid_webhook_url", "Send \"url\", the endpoint's https:// address.")
        }
        let (endpoint, secret) = try await webhooks.create(
            actor: context.actor, url: url, description: body.description ?? "", eventTypes: body.eventTypes ?? [])
        var response = JSONResponse.make(WebhookJSON(endpoint, secret: secret), status: .created)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    @Sendable func show(_ request: Request, context: OrgMemberContext) async throws -> Response {
        JSONResponse.make(WebhookJSON(try await webhooks.endpoint(try id(context), actor: context.actor)))
    }

    func setEnabled(_ enabled: Bool, _ request: Request, _ context: OrgMemberContext) async throws -> Response {
        _ = try await Body.json(EmptyJSONBody.self, from: request, context: context, allowEmpty: true)
        let endpoint = try await webhooks.setEnabled(enabled, id: try id(context), actor: context.actor)
        return JSONResponse.make(WebhookJSON(endpoint))
    }

    @Sendable func delete(_ request: Request, context: OrgMemberContext) async throws -> Response {
        _ = try await Body.json(EmptyJSONBody.self, from: request, context: context, allowEmpty: true)
        let id = try id(context)
        try await webhooks.delete(id, actor: context.actor)
        return JSONResponse.make(["id": id.lowercasedString, "status": "deleted"])
    }

    struct DeliveryJSON: Encodable {
        var id: UUID
        var eventId: UUID
        var eventType: String
        /// `pending`, `delivered` or `failed`.
        var status: String
        var attempts: Int
        var lastStatusCode: Int?
        var lastError: String?
        var createdAt: Date
        var nextAttemptAt: Date?
        var finishedAt: Date?

        init(_ delivery: WebhookDelivery) {
            id = delivery.id
            eventId = delivery.eventID
            eventType = delivery.eventType
            status = delivery.status.rawValue
            attempts = delivery.attempts
            lastStatusCode = delivery.lastStatusCode
            lastError = delivery.lastError.isEmpty ? nil : delivery.lastError
            createdAt = delivery.createdAt
            nextAttemptAt = delivery.status == .pending ? delivery.nextAttemptAt : nil
            finishedAt = delivery.finishedAt
        }
    }

    struct DeliveriesResponse: Encodable {
        var deliveries: [DeliveryJSON]
        var nextCursor: String?
    }

    /// The delivery log, newest first: `?limit=` (1–200, 50 by default) and `?cursor=`.
    @Sendable func deliveries(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let endpoint = try await webhooks.endpoint(try id(context), actor: context.actor)
        let (shown, next) = try await Self.deliveries(of: endpoint, request, services: services)
        return JSONResponse.make(DeliveriesResponse(deliveries: shown.map(DeliveryJSON.init), nextCursor: next))
    }

    /// One page of an endpoint's delivery log (the API's and the page's).
    static func deliveries(of endpoint: WebhookEndpoint, _ request: Request, services: AppServices) async throws -> (
        [WebhookDelivery], next: String?
    ) {
        let keyset = try KeysetPage(request)
        let rows = try await services.store.webhooks.deliveries(
            endpointID: endpoint.id, organizationID: endpoint.organizationID, before: try keyset.position(),
            limit: keyset.limit + 1)
        let page = keyset.cut(rows) { String($0.eventSeq) }
        return (page.rows, page.next)
    }
}
