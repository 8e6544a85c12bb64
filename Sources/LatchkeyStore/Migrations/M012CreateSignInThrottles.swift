import FluentKit
import Foundation
import SQLKit

/// Sign-in throttles by bucket (per account and address, per account, per member's second factor) replace the
/// per-member failure counter, which counted wrong passwords and wrong codes together and locked for good at 50.
/// Counts carried over become second-factor counts, so no lock is lifted by the upgrade.
struct M012CreateSignInThrottles: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("sign_in_throttles")
            .field("key", .string, .required)
            .field("kind", .string, .required)
            .field("email", .string, .required)
            .field("member_id", .uuid, .references("members", "id", onDelete: .cascade))
            .field("organization_id", .uuid)
            .field("failures", .int, .required)
            .field("last_failed_at", .int64, .required)
            .field("locked_until", .int64, .required)
            .unique(on: "key")
            .create()
        try await database.createIndex("throttles_member", on: "sign_in_throttles", columns: ["member_id"])
        try await database.createIndex("throttles_email", on: "sign_in_throttles", columns: ["email"])
        try await database.createIndex(
            "throttles_org_locked", on: "sign_in_throttles", columns: ["organization_id", "locked_until"])

        try await database.schema("member_known_addresses")
            .field("member_id", .uuid, .required, .references("members", "id", onDelete: .cascade))
            .field("address", .string, .required)
            .field("last_seen_at", .datetime, .required)
            .unique(on: "member_id", "address")
            .create()

        let sql = database as! any SQLDatabase
        let counted = try await sql.raw(
            """
            SELECT id, organization_id, email, failed_attempts, last_failed_at FROM members
            WHERE failed_attempts > 0 AND last_failed_at IS NOT NULL
            """
        ).all()
        for row in counted {
            let id = try row.decode(column: "id", as: UUID.self)
            let failures = try row.decode(column: "failed_attempts", as: Int.self)
            let last = try row.decode(column: "last_failed_at", as: Date.self)
            let lastMillis = Self.millis(last)
            let until: Int64 =
                Self.secondFactorDelay(afterFailures: failures).map { $0 == 0 ? 0 : lastMillis + Int64($0) * 1000 }
                ?? Self.lockedForGood
            try await sql.insert(into: "sign_in_throttles")
                .columns(
                    "key", "kind", "email", "member_id", "organization_id", "failures", "last_failed_at", "locked_until"
                )
                .values(
                    SQLBind("mfa|\(id.uuidString.lowercased())"), SQLBind("second_factor"),
                    SQLBind(try row.decode(column: "email", as: String.self)),
                    SQLBind(id), SQLBind(try row.decode(column: "organization_id", as: UUID.self)), SQLBind(failures),
                    SQLBind(lastMillis), SQLBind(until)
                ).run()
        }
        try await sql.raw("ALTER TABLE members DROP COLUMN failed_attempts").run()
        try await sql.raw("ALTER TABLE members DROP COLUMN last_failed_at").run()
    }

    // The second-factor schedule, bucket key and stored times as this migration defined them (frozen, so an
    // older database migrates the same way whatever later code does): five free failures, then 30 s doubling
    // to 15 minutes, locked for good at 50.
    static let lockedForGood: Int64 = 253_402_300_799_000

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    static func secondFactorDelay(afterFailures failures: Int) -> Int? {
        if failures >= 50 { return nil }
        guard failures >= 5 else { return 0 }
        let doublings = failures - 5
        return doublings >= 32 ? 15 * 60 : min(15 * 60, 30 << doublings)
    }

    func revert(on database: any Database) async throws {
        try await database.schema("members").field("failed_attempts", .int).field("last_failed_at", .datetime).update()
        try await database.schema("member_known_addresses").delete()
        try await database.schema("sign_in_throttles").delete()
    }
}
