import FluentKit
import Foundation
import SQLKit

struct M004CreateTOTPCredentials: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("totp_credentials")
            .id()
            .field("member_id", .uuid, .required, .references("members", "id", onDelete: .cascade))
            .field("secret_ciphertext", .string, .required)
            .field("confirmed", .bool, .required)
            .field("last_used_step", .int64)
            .field("created_at", .datetime, .required)
            .create()
        try await database.createIndex("totp_member", on: "totp_credentials", columns: ["member_id", "confirmed"])
    }

    func revert(on database: any Database) async throws {
        try await database.schema("totp_credentials").delete()
    }
}
