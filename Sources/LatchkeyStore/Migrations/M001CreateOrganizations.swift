import FluentKit
import Foundation
import SQLKit

struct M001CreateOrganizations: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("organizations")
            .id()
            .field("name", .string, .required)
            .field("slug", .string, .required)
            .field("require_mfa", .bool, .required)
            .field("step_up_window_seconds", .int, .required)
            .field("session_lifetime_seconds", .int, .required)
            .field("idle_timeout_seconds", .int, .required)
            .field("notify_owners_on_reset", .bool, .required)
            .field("created_at", .datetime, .required)
            .unique(on: "slug")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("organizations").delete()
    }
}
