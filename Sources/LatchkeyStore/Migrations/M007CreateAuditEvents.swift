import FluentKit
import Foundation
import SQLKit

struct M007CreateAuditEvents: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("audit_events")
            .id()
            .field("chain", .string, .required)
            .field("seq", .int64, .required)
            .field("organization_id", .uuid)
            .field("occurred_at", .datetime, .required)
            .field("actor_id", .uuid)
            .field("actor_email", .string, .required)
            .field("actor_role", .string, .required)
            .field("action", .string, .required)
            .field("target_id", .uuid)
            .field("target_email", .string, .required)
            .field("result", .string, .required)
            .field("reason", .string, .required)
            .field("batch_id", .uuid)
            .field("request_id", .string, .required)
            .field("ip", .string, .required)
            .field("user_agent", .string, .required)
            .field("ticket", .string, .required)
            .field("prev_hash", .string, .required)
            .field("hash", .string, .required)
            // One event per position in a chain: concurrent writers cannot fork it.
            .unique(on: "chain", "seq")
            .create()
        try await database.createIndex(
            "audit_org_time", on: "audit_events", columns: ["organization_id", "occurred_at"])
        try await database.createIndex(
            "audit_org_action", on: "audit_events", columns: ["organization_id", "action", "occurred_at"])
        try await database.createIndex(
            "audit_org_target", on: "audit_events", columns: ["organization_id", "target_id"])
        try await database.createIndex("audit_org_actor", on: "audit_events", columns: ["organization_id", "actor_id"])
    }

    func revert(on database: any Database) async throws {
        try await database.schema("audit_events").delete()
    }
}
