import FluentKit
import SQLKit

/// A webhook's delivery log is paged by its events' places in the chain (`event_seq`, unique per endpoint), no
/// longer by (time, id): the index for the one replaces the index for the other, which every queued delivery paid
/// for.
struct M026IndexDeliveryLog: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.createIndex(
            "webhook_deliveries_log_seq", on: "webhook_deliveries", columns: ["endpoint_id", "event_seq"])
        try await (database as! any SQLDatabase).drop(index: "webhook_deliveries_log").run()
    }

    func revert(on database: any Database) async throws {
        try await database.createIndex(
            "webhook_deliveries_log", on: "webhook_deliveries", columns: ["endpoint_id", "created_at", "id"])
        try await (database as! any SQLDatabase).drop(index: "webhook_deliveries_log_seq").run()
    }
}
