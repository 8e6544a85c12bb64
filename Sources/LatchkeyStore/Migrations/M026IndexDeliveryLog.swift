import FluentKit

/// A webhook's delivery log is paged by its events' places in the chain (`event_seq`, unique per endpoint).
struct M026IndexDeliveryLog: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.createIndex(
            "webhook_deliveries_log_seq", on: "webhook_deliveries", columns: ["endpoint_id", "event_seq"])
    }

    func revert(on database: any Database) async throws {}
}
