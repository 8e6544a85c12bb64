import FluentKit
import Foundation
import SQLKit

/// The outbox becomes a delivery queue: a message is claimed with a lease (`lease_until`, `lease_owner`), tried
/// again at `next_attempt_at` after a temporary failure until `give_up_at`, and ends sent (`sent_at`) or failed
/// (`failed_at`) with the server's answer (`last_error`).
struct M017AddMailDelivery: AsyncMigration {
    func prepare(on database: any Database) async throws {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let columns: [(String, DatabaseSchema.DataType)] = [
            ("next_attempt_at", .datetime), ("lease_until", .datetime), ("failed_at", .datetime),
            ("give_up_at", .datetime), ("lease_owner", .string), ("last_error", .string),
        ]
        for (name, type) in columns {
            try await database.schema("mail_outbox").field(.string(name), type).update()
        }
        try await database.dropIndex("outbox_unsent")
        try await database.createIndex(
            "outbox_due", on: "mail_outbox", columns: ["sent_at", "failed_at", "next_attempt_at"])
    }

    func revert(on database: any Database) async throws {
        try await database.dropIndex("outbox_due")
        try await database.schema("mail_outbox")
            .deleteField("next_attempt_at").deleteField("lease_until").deleteField("failed_at")
            .deleteField("give_up_at").deleteField("lease_owner").deleteField("last_error").update()
        try await database.createIndex("outbox_unsent", on: "mail_outbox", columns: ["sent_at", "created_at"])
    }
}
