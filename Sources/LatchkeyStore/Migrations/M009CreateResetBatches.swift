import FluentKit
import Foundation
import SQLKit

struct M009CreateResetBatches: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("reset_batches")
            .id()
            .field("organization_id", .uuid, .required, .references("organizations", "id", onDelete: .cascade))
            .field("actor_id", .uuid, .required)
            .field("idempotency_key", .string)
            .field("request_hash", .string, .required)
            .field("status", .string, .required)
            .field("total", .int, .required)
            .field("processed", .int, .required)
            .field("reset_count", .int, .required)
            .field("skipped_count", .int, .required)
            .field("failed_count", .int, .required)
            .field("reason", .string, .required)
            .field("background", .bool, .required)
            .field("request_id", .string, .required)
            .field("ip", .string, .required)
            .field("user_agent", .string, .required)
            .field("created_at", .datetime, .required)
            .field("finished_at", .datetime)
            .field("lease_until", .datetime)
            // One request per key and actor: a retry finds the original.
            .unique(on: "organization_id", "actor_id", "idempotency_key")
            .create()
        try await database.createIndex("batches_status", on: "reset_batches", columns: ["status", "created_at"])
        try await database.schema("reset_results")
            .id()
            .field("batch_id", .uuid, .required, .references("reset_batches", "id", onDelete: .cascade))
            .field("position", .int, .required)
            .field("member_id", .uuid, .required)
            .field("status", .string, .required)
            .field("reason", .string, .required)
            .field("member_name", .string, .required)
            .field("member_email", .string, .required)
            .unique(on: "batch_id", "position")
            .create()
        try await database.createIndex(
            "results_batch_status", on: "reset_results", columns: ["batch_id", "status", "position"])
    }

    func revert(on database: any Database) async throws {
        try await database.schema("reset_results").delete()
        try await database.schema("reset_batches").delete()
    }
}
