import FluentKit
import Foundation
import SQLKit

struct M002CreateRoles: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("roles")
            .id()
            .field("organization_id", .uuid, .required, .references("organizations", "id", onDelete: .cascade))
            .field("name", .string, .required)
            .field("built_in", .string)
            .field("permissions", .string, .required)
            .field("created_at", .datetime, .required)
            .unique(on: "organization_id", "name")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("roles").delete()
    }
}
