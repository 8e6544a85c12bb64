import FluentKit
import Foundation
import SQLKit

/// The audit log filters by batch (a bulk request's events, linked from its results page): an index on it.
struct M029IndexAuditBatches: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.createIndex("audit_batch", on: "audit_events", columns: ["batch_id", "seq"])
    }

    func revert(on database: any Database) async throws {
        try await database.dropIndex("audit_batch")
    }
}
