import FluentKit
import Foundation
import SQLKit

struct M008CreateMailOutbox: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("mail_outbox")
            .id()
            .field("organization_id", .uuid, .references("organizations", "id", onDelete: .cascade))
            .field("to_email", .string, .required)
            .field("subject", .string, .required)
            .field("body", .string, .required)
            .field("created_at", .datetime, .required)
            .field("sent_at", .datetime)
            .field("attempts", .int, .required)
            .create()
        try await database.createIndex(
            "outbox_org_time", on: "mail_outbox", columns: ["organization_id", "created_at"])
        try await database.createIndex("outbox_unsent", on: "mail_outbox", columns: ["sent_at", "created_at"])
    }

    func revert(on database: any Database) async throws {
        try await database.schema("mail_outbox").delete()
    }
}
