import Foundation
import LatchkeyCore
import LatchkeyStore
import LatchkeyWebhook
import Logging
import NIOCore
import ServiceLifecycle

/// Delivers webhooks. Runs on every instance: each round it takes the new audit events of every enabled endpoint's
/// organization into that endpoint's queue (moving the endpoint's position only if no other worker moved it first),
/// then leases the due deliveries — so two instances never send one at once — and POSTs each, signed, to the
/// address its URL was checked to resolve to. A failure is tried again after 10 s, 30 s, 90 s … (at most an hour
/// apart) for up to a day; an endpoint whose deliveries have failed for a whole day is disabled, audited.
struct WebhookDispatcher: Service {
    let services: AppServices
    let poster: WebhookPoster
    /// This worker's name on the leases it takes.
    let owner = UUID().lowercasedString
    var pollInterval: Duration = .seconds(1)
    var batchSize = 20
    /// Longer than one delivery can take.
    static let lease: TimeInterval = 60
    static let timeout: TimeAmount = .seconds(10)
    /// Deliveries are tried for a day; an endpoint failing for a day is disabled.
    static let giveUpAfter: TimeInterval = 86400

    init(services: AppServices) throws {
        self.services = services
        self.poster = try WebhookPoster()
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var busy = false
            do {
                let queued = try await queueNewEvents()
                let sent = try await deliverDue()
                busy = queued > 0 || sent == batchSize
            } catch {
                services.logger.error("webhook delivery failed", metadata: ["error_type": "\(type(of: error))"])
            }
            if busy { continue }
            try? await cancelWhenGracefulShutdown { [pollInterval] in try await Task.sleep(for: pollInterval) }
        }
    }

    /// Takes each enabled endpoint's new events (up to 500 at a time) into its queue. Returns how many deliveries
    /// were queued.
    @discardableResult
    func queueNewEvents() async throws -> Int {
        var queued = 0
        for endpoint in try await services.store.webhooks.enabledEndpoints() {
            let events = try await services.store.audit.events(
                organizationID: endpoint.organizationID, after: endpoint.lastSeq, limit: 500)
            guard let last = events.last else { continue }
            let now = services.now
            let deliveries = events.filter { endpoint.wants($0.record.action) }.map { event in
                let id = UUID.random()
                return WebhookDelivery(
                    id: id, endpointID: endpoint.id, organizationID: endpoint.organizationID, eventID: event.id,
                    eventSeq: event.record.seq, eventType: event.record.action,
                    payload: WebhookPayload.body(event, deliveryID: id, at: now), createdAt: now)
            }
            let taken = try await services.store.transaction { tx in
                guard try await tx.webhooks.advance(endpoint.id, from: endpoint.lastSeq, to: last.record.seq) else {
                    return false
                }
                try await tx.webhooks.enqueue(deliveries)
                return true
            }
            if taken { queued += deliveries.count }
        }
        return queued
    }

    /// Leases the due deliveries and tries each once. Returns how many were leased.
    @discardableResult
    func deliverDue() async throws -> Int {
        let now = services.now
        let claimed = try await services.store.webhooks.claim(
            owner: owner, now: now, until: now.addingTimeInterval(Self.lease), limit: batchSize)
        for (delivery, endpoint) in claimed {
            // The batch was leased at once; each delivery's lease is renewed as it comes up, or skipped if it ran out.
            let start = services.now
            guard
                try await services.store.webhooks.renewLease(
                    delivery.id, owner: owner, now: start, until: start.addingTimeInterval(Self.lease))
            else { continue }
            let result = await attempt(delivery, to: endpoint)
            try await record(result, of: delivery, to: endpoint)
        }
        return claimed.count
    }

    enum Result: Equatable {
        case delivered(status: Int)
        case failed(status: Int?, error: String)
    }

    /// One POST: the target checked again (its addresses may have changed since it was registered), signed now.
    func attempt(_ delivery: WebhookDelivery, to endpoint: WebhookEndpoint) async -> Result {
        let allow = services.config.webhookAllowPrivate
        do {
            let target = try WebhookTarget(endpoint.url, allowPrivate: allow)
            let address = try await target.resolve(allowPrivate: allow)
            let secret = String(
                decoding: try services.serverKey.open(endpoint.sealedSecret, context: endpoint.id.uuidString),
                as: UTF8.self)
            let headers = [
                ("Content-Type", "application/json"), ("User-Agent", "Latchkey-Webhooks/1"),
                (
                    WebhookSignature.header,
                    WebhookSignature.value(body: delivery.payload, secret: secret, at: services.now)
                ),
                ("Latchkey-Event", delivery.eventType), ("Latchkey-Delivery", delivery.id.lowercasedString),
            ]
            let answer = try await poster.post(
                delivery.payload, headers: headers, to: target, at: address, timeout: Self.timeout)
            if (200..<300).contains(answer.status) { return .delivered(status: answer.status) }
            let body = answer.body.trimmingCharacters(in: .whitespacesAndNewlines).prefix(200)
            return .failed(status: answer.status, error: "answered \(answer.status)\(body.isEmpty ? "" : ": \(body)")")
        } catch let refusal as WebhookTarget.Refusal {
            return .failed(status: nil, error: refusal.description)
        } catch let failure as WebhookPoster.Failure {
            return .failed(status: nil, error: String(failure.description.prefix(300)))
        } catch {
            return .failed(status: nil, error: "the delivery could not be made")
        }
    }

    /// Records the attempt: delivered; or tried again later; or given up after a day — and the endpoint disabled
    /// when its deliveries have failed for a day.
    func record(_ result: Result, of delivery: WebhookDelivery, to endpoint: WebhookEndpoint) async throws {
        let store = services.store
        let now = services.now
        switch result {
        case .delivered(let status):
            guard
                try await store.webhooks.finish(delivery.id, owner: owner, outcome: .delivered(at: now, status: status))
            else { return }
            try await store.webhooks.endpointSucceeded(endpoint.id)
        case .failed(let status, let error):
            // The receiver's status, or why there was none; its own words (the body) stay in the delivery log.
            var metadata: Logger.Metadata = [
                "endpoint_id": "\(endpoint.id)", "delivery_id": "\(delivery.id)", "attempt": "\(delivery.attempts)",
            ]
            if let status { metadata["status"] = "\(status)" } else { metadata["reason"] = "\(error)" }
            services.logger.notice("webhook delivery attempt failed", metadata: metadata)
            let failingSince = try await store.webhooks.endpointFailed(endpoint.id, at: now)
            if now.timeIntervalSince(failingSince) >= Self.giveUpAfter {
                try await store.webhooks.finish(
                    delivery.id, owner: owner, outcome: .failed(at: now, status: status, error: error))
                try await disable(endpoint, at: now, lastError: error)
            } else if now.timeIntervalSince(delivery.createdAt) >= Self.giveUpAfter {
                try await store.webhooks.finish(
                    delivery.id, owner: owner, outcome: .failed(at: now, status: status, error: error))
            } else {
                let wait = min(
                    3600, services.config.webhookRetrySeconds * pow(3, Double(max(0, delivery.attempts - 1))))
                try await store.webhooks.finish(
                    delivery.id, owner: owner,
                    outcome: .retry(at: now.addingTimeInterval(wait), status: status, error: error))
            }
        }
    }

    /// Disables an endpoint that has failed for a day, gives up its waiting deliveries, and audits it.
    func disable(_ endpoint: WebhookEndpoint, at now: Date, lastError: String) async throws {
        let reason = "Failing for a day; the last attempt: \(lastError)"
        let event = AuditEntry(
            organizationID: endpoint.organizationID, actorEmail: "latchkey", actorRole: "system",
            action: .webhookDisabled, result: .success, reason: "\(endpoint.url): \(reason)",
            meta: RequestMeta(requestID: "webhooks", ip: "", userAgent: "latchkey"))
        let disabled = try await services.store.transaction { tx in
            // Another instance, or an administrator, may have disabled it first: then it is theirs to audit.
            guard
                try await tx.webhooks.setDisabled(
                    endpoint.id, organizationID: endpoint.organizationID, at: now, reason: reason)
            else { return false }
            try await tx.webhooks.failPending(endpointID: endpoint.id, at: now, reason: "the endpoint was disabled")
            try await tx.audit.append(event, at: now)
            return true
        }
        guard disabled else { return }
        services.logger.warning("webhook endpoint disabled", metadata: ["endpoint_id": "\(endpoint.id)"])
    }
}
