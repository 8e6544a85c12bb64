import FluentKit
import Foundation
import SQLKit

/// Webhooks: an organization's endpoints and the log of deliveries to them.
///
/// The queue is the audit log itself: an endpoint keeps the chain position (`last_seq`) of the last event it has
/// taken; the delivery worker turns each later event of its organization's chain into a `webhook_deliveries` row
/// and moves `last_seq` on, in one transaction. An event is therefore queued for every endpoint by the commit of
/// its own transaction (appends to a chain queue behind its head row, so positions commit in order), and nothing
/// is added to the write paths. `(endpoint_id, event_id)` is unique: no event is delivered to an endpoint twice.
/// The secret is sealed with the server key (it signs every delivery, so it is kept, not hashed).
struct M024CreateWebhooks: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("webhook_endpoints")
            .id()
            .field("organization_id", .uuid, .required, .references("organizations", "id", onDelete: .cascade))
            .field("url", .string, .required)
            .field("description", .string, .required)
            .field("event_types", .string, .required)
            .field("secret_sealed", .string, .required)
            .field("created_by_name", .string, .required)
            .field("created_at", .datetime, .required)
            .field("last_seq", .int64, .required)
            .field("disabled_at", .datetime)
            .field("disabled_reason", .string, .required)
            .field("failing_since", .datetime)
            .create()
        try await database.createIndex(
            "webhook_endpoints_org", on: "webhook_endpoints", columns: ["organization_id", "created_at"])
        try await database.schema("webhook_deliveries")
            .id()
            .field("endpoint_id", .uuid, .required, .references("webhook_endpoints", "id", onDelete: .cascade))
            .field("organization_id", .uuid, .required)
            .field("event_id", .uuid, .required)
            .field("event_seq", .int64, .required)
            .field("event_type", .string, .required)
            .field("payload", .string, .required)
            .field("created_at", .datetime, .required)
            .field("status", .string, .required)
            .field("attempts", .int, .required)
            .field("next_attempt_at", .datetime, .required)
            .field("lease_owner", .string)
            .field("lease_until", .datetime)
            .field("last_status_code", .int)
            .field("last_error", .string, .required)
            .field("finished_at", .datetime)
            .unique(on: "endpoint_id", "event_id")
            .create()
        try await database.createIndex(
            "webhook_deliveries_due", on: "webhook_deliveries", columns: ["status", "next_attempt_at"])
        try await database.createIndex(
            "webhook_deliveries_log", on: "webhook_deliveries", columns: ["endpoint_id", "created_at", "id"])
    }

    func revert(on database: any Database) async throws {
        try await database.schema("webhook_deliveries").delete()
        try await database.schema("webhook_endpoints").delete()
    }
}
