import FluentKit
import Foundation
import SQLKit

/// The Overview lists an organization's most recent resets: an index on (organization, time) keeps that a
/// short range scan however many batches the instance holds.
struct M015IndexRecentResetBatches: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.createIndex(
            "batches_org_created", on: "reset_batches", columns: ["organization_id", "created_at"])
    }

    func revert(on database: any Database) async throws {
        try await database.dropIndex("batches_org_created")
    }
}
