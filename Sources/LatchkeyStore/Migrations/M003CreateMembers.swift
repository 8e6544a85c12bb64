import FluentKit
import Foundation
import SQLKit

struct M003CreateMembers: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("members")
            .id()
            .field("organization_id", .uuid, .required, .references("organizations", "id", onDelete: .cascade))
            .field("role_id", .uuid, .required, .references("roles", "id"))
            .field("email", .string, .required)
            .field("name", .string, .required)
            .field("password_hash", .string, .required)
            .field("status", .string, .required)
            .field("mfa_status", .string, .required)
            .field("last_sign_in_at", .datetime)
            .field("failed_attempts", .int, .required)
            .field("last_failed_at", .datetime)
            .field("created_at", .datetime, .required)
            .unique(on: "email")
            .create()
        // Manage Members filters and sorts within one organization.
        try await database.createIndex("members_org_name", on: "members", columns: ["organization_id", "name", "id"])
        try await database.createIndex("members_org_email", on: "members", columns: ["organization_id", "email"])
        try await database.createIndex(
            "members_org_role", on: "members", columns: ["organization_id", "role_id", "name"])
        try await database.createIndex(
            "members_org_mfa", on: "members", columns: ["organization_id", "mfa_status", "name"])
    }

    func revert(on database: any Database) async throws {
        try await database.schema("members").delete()
    }
}
