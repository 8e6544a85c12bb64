import Foundation
import LatchkeyCore
import LatchkeyStore
import LatchkeyWebhook

/// An organization's webhook endpoints: registered for audit event types, each with a secret shown once, disabled,
/// enabled and deleted by someone holding `org.settings` and `audit.view` (the events carry what the audit log
/// shows). Every change is audited.
struct WebhookService: Sendable {
    let services: AppServices

    static let required: Set<Permission> = [.orgSettings, .auditView]
    static let maximumPerOrganization = 20

    func require(_ actor: Actor) throws {
        guard Self.required.isSubset(of: actor.permissions) else {
            throw LatchkeyError.forbidden(.forbidden, "Webhooks need org.settings and audit.view.")
        }
    }

    /// The event types one may subscribe to: every audit action, or `*`.
    static let eventTypes: [String] = AuditAction.allCases.map(\.rawValue).sorted()

    static func eventTypes(_ raw: [String]) throws -> [String] {
        let types = Array(Set(raw.map { $0.trimmingCharacters(in: .whitespaces) })).sorted()
        guard !types.isEmpty else {
            throw LatchkeyError.badRequest("invalid_event_types", "Choose at least one event type, or * for all.")
        }
        if types.contains("*") { return ["*"] }
        if let unknown = types.first(where: { !eventTypes.contains($0) }) {
            throw LatchkeyError.badRequest("invalid_event_types", "\"\(unknown.prefix(60))\" is not an event type.")
        }
        return types
    }

    /// Checks the URL: its form, then every address its host resolves to (SSRF: no private, loopback or
    /// link-local target unless the operator allows them).
    func target(_ url: String) async throws -> WebhookTarget {
        let allow = services.config.webhookAllowPrivate
        do {
            let target = try WebhookTarget(url.trimmingCharacters(in: .whitespaces), allowPrivate: allow)
            _ = try await target.resolve(allowPrivate: allow)
            return target
        } catch {
            throw LatchkeyError.badRequest("invalid_webhook_url", error.description)
        }
    }

    /// Registers an endpoint; returns it and its secret (shown this once). Only events after now are delivered.
    func create(actor: Actor, url: String, description: String, eventTypes: [String]) async throws -> (
        WebhookEndpoint, secret: String
    ) {
        try require(actor)
        let description = description.trimmingCharacters(in: .whitespaces)
        guard description.unicodeScalars.count <= 200, !description.unicodeScalars.contains(where: { $0.value < 32 })
        else {
            throw LatchkeyError.badRequest(
                "invalid_description", "A description is at most 200 characters on one line.")
        }
        let types = try Self.eventTypes(eventTypes)
        let target = try await target(url)
        let secret = "whsec_" + services.random.token()
        let now = services.now
        var endpoint = WebhookEndpoint(
            organizationID: actor.organizationID, url: target.url.absoluteString,
            description: description, eventTypes: types, sealedSecret: "",
            createdByName: actor.name, createdAt: now, lastSeq: 0)
        endpoint.sealedSecret = try services.serverKey.seal(Array(secret.utf8), context: endpoint.id.uuidString)
        let created = endpoint
        let event = actor.event(
            .webhookCreated, target: nil, .success,
            reason: "\(created.url) for \(types.joined(separator: ", "))")
        let most = Self.maximumPerOrganization
        try await services.store.transaction { tx in
            // Counted under the organization's lock: registrations at once cannot pass the cap together.
            try await tx.organizations.lock(actor.organizationID)
            guard try await tx.webhooks.endpoints(organizationID: actor.organizationID).count < most else {
                throw LatchkeyError(
                    .conflict, "too_many_webhooks",
                    "An organization has at most \(most) webhook endpoints: delete one first.")
            }
            var endpoint = created
            // Events from now on: the chain's position in the transaction that records the endpoint.
            endpoint.lastSeq = try await tx.webhooks.chainHead(organizationID: actor.organizationID)
            try await tx.webhooks.create(endpoint)
            try await tx.audit.append(event, at: now)
        }
        return (created, secret)
    }

    func endpoint(_ id: UUID, actor: Actor) async throws -> WebhookEndpoint {
        try require(actor)
        guard let endpoint = try await services.store.webhooks.endpoint(id, organizationID: actor.organizationID) else {
            throw LatchkeyError.notFound("No webhook endpoint has that id.")
        }
        return endpoint
    }

    /// Disables an endpoint (nothing more is queued or sent to it) or enables it again (from the events after
    /// now: what happened while it was off is not sent).
    func setEnabled(_ enabled: Bool, id: UUID, actor: Actor) async throws -> WebhookEndpoint {
        let endpoint = try await endpoint(id, actor: actor)
        guard endpoint.enabled != enabled else { return endpoint }
        let now = services.now
        let event = actor.event(
            enabled ? .webhookEnabled : .webhookDisabled, target: nil, .success, reason: endpoint.url)
        // Of many requests at once only the one that changes the endpoint is audited (the others change nothing).
        try await services.store.transaction { tx in
            if enabled {
                let head = try await tx.webhooks.chainHead(organizationID: actor.organizationID)
                guard
                    try await tx.webhooks.setDisabled(
                        id, organizationID: actor.organizationID, at: nil, reason: "", fromSeq: head)
                else { return }
            } else {
                guard
                    try await tx.webhooks.setDisabled(
                        id, organizationID: actor.organizationID, at: now, reason: "Disabled by \(actor.name)")
                else { return }
                try await tx.webhooks.failPending(endpointID: id, at: now, reason: "the endpoint was disabled")
            }
            try await tx.audit.append(event, at: now)
        }
        return try await self.endpoint(id, actor: actor)
    }

    func delete(_ id: UUID, actor: Actor) async throws {
        let endpoint = try await endpoint(id, actor: actor)
        let now = services.now
        let event = actor.event(.webhookDeleted, target: nil, .success, reason: endpoint.url)
        try await services.store.transaction { tx in
            try await tx.webhooks.delete(id, organizationID: actor.organizationID)
            try await tx.audit.append(event, at: now)
        }
    }
}

/// The body of a delivery: the event as the audit API and exports show it.
enum WebhookPayload {
    struct Body: Encodable {
        var id: UUID
        var type: String
        var createdAt: Date
        var data: AuditExport.EventJSON
    }

    static func body(_ event: AuditEvent, deliveryID: UUID, at: Date) -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = Body(id: deliveryID, type: event.record.action, createdAt: at, data: AuditExport.EventJSON(event))
        return (try? encoder.encode(body)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
