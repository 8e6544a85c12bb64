import FluentKit
import Foundation
import SQLKit

struct M010CreateRateLimits: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("rate_limits")
            .field("bucket", .string, .required)
            .field("window_start", .int64, .required)
            .field("hits", .int, .required)
            .unique(on: "bucket", "window_start")
            .create()
        try await database.createIndex("rate_limits_window", on: "rate_limits", columns: ["window_start"])
    }

    func revert(on database: any Database) async throws {
        try await database.schema("rate_limits").delete()
    }
}
