import FluentKit
import Foundation
import SQLKit

/// API tokens (`Authorization: Bearer lk_…`), and the token an audit event's actor acted through.
///
/// A token belongs to the member who created it and dies with them (`ON DELETE CASCADE`); only its SHA-256 is
/// stored, with a short prefix to recognise it by. `permissions` is the subset of the creator's permissions it
/// was given (comma-separated, like a role's); a request through it holds the intersection with the creator's
/// role as it is then. `audit_events` gains the token's id and name (NULL and empty for every earlier event,
/// whose hashes do not cover them), and `reset_batches` the token a background job acts through.
struct M022CreateAPITokens: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("api_tokens")
            .id()
            .field("organization_id", .uuid, .required, .references("organizations", "id", onDelete: .cascade))
            .field("creator_id", .uuid, .required, .references("members", "id", onDelete: .cascade))
            .field("name", .string, .required)
            .field("prefix", .string, .required)
            .field("token_hash", .string, .required)
            .field("permissions", .string, .required)
            .field("created_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .field("last_used_at", .datetime)
            .field("revoked_at", .datetime)
            .unique(on: "token_hash")
            .create()
        try await database.createIndex("api_tokens_org", on: "api_tokens", columns: ["organization_id", "created_at"])
        try await database.createIndex("api_tokens_creator", on: "api_tokens", columns: ["creator_id", "created_at"])
        let sql = database as! any SQLDatabase
        try await sql.raw("ALTER TABLE audit_events ADD COLUMN actor_token_id UUID").run()
        try await sql.raw("ALTER TABLE audit_events ADD COLUMN actor_token_name TEXT NOT NULL DEFAULT ''").run()
        try await sql.raw("ALTER TABLE reset_batches ADD COLUMN actor_token_id UUID").run()
    }

    func revert(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        try await sql.raw("ALTER TABLE reset_batches DROP COLUMN actor_token_id").run()
        try await sql.raw("ALTER TABLE audit_events DROP COLUMN actor_token_name").run()
        try await sql.raw("ALTER TABLE audit_events DROP COLUMN actor_token_id").run()
        try await database.schema("api_tokens").delete()
    }
}
