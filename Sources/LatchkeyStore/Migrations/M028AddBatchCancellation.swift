import FluentKit
import Foundation
import SQLKit

/// A background batch can be cancelled: `cancel_requested_at` and `cancelled_by` say when and by whom it was asked
/// to stop; the job finishes the chunk under way, records the members it did not reach as not done and ends the
/// batch as `cancelled`.
struct M028AddBatchCancellation: AsyncMigration {
    func prepare(on database: any Database) async throws {
        // One column a statement: SQLite adds them one at a time.
        try await database.schema("reset_batches").field("cancel_requested_at", .datetime).update()
        try await database.schema("reset_batches").field("cancelled_by", .uuid).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("reset_batches").deleteField("cancelled_by").update()
        try await database.schema("reset_batches").deleteField("cancel_requested_at").update()
    }
}
