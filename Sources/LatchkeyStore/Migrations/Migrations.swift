import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// Every migration, in order. Append only: never edit or reorder a migration that has shipped.
public enum LatchkeyMigrations {
    public static let all: [any AsyncMigration] = [
        M001CreateOrganizations(),
        M002CreateRoles(),
        M003CreateMembers(),
        M004CreateTOTPCredentials(),
        M005CreateRecoveryCodes(),
        M006CreateSessions(),
        M007CreateAuditEvents(),
        M008CreateMailOutbox(),
        M009CreateResetBatches(),
        M010CreateRateLimits(),
        M011CreateMemberSearchTerms(),
        M012CreateSignInThrottles(),
        M013CreateAuditChainHeads(),
    ]
}

extension Database {
    /// Creates a non-unique index (Fluent's schema builder only makes unique constraints).
    func createIndex(_ name: String, on table: String, columns: [String]) async throws {
        guard let sql = self as? any SQLDatabase else { return }
        var builder = sql.create(index: name).on(table)
        for column in columns { builder = builder.column(column) }
        try await builder.run()
    }

    func dropIndex(_ name: String) async throws {
        guard let sql = self as? any SQLDatabase else { return }
        try await sql.drop(index: name).run()
    }
}

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

struct M005CreateRecoveryCodes: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("recovery_codes")
            .id()
            .field("member_id", .uuid, .required, .references("members", "id", onDelete: .cascade))
            .field("code_hash", .string, .required)
            .field("used_at", .datetime)
            .field("created_at", .datetime, .required)
            .create()
        try await database.createIndex(
            "recovery_member_hash", on: "recovery_codes", columns: ["member_id", "code_hash"])
    }

    func revert(on database: any Database) async throws {
        try await database.schema("recovery_codes").delete()
    }
}

struct M006CreateSessions: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("sessions")
            .id()
            .field("token_hash", .string, .required)
            .field("member_id", .uuid, .required, .references("members", "id", onDelete: .cascade))
            .field("organization_id", .uuid, .required, .references("organizations", "id", onDelete: .cascade))
            .field("state", .string, .required)
            .field("csrf_token", .string, .required)
            .field("created_at", .datetime, .required)
            .field("last_seen_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .field("mfa_verified_at", .datetime)
            .field("ip", .string, .required)
            .field("user_agent", .string, .required)
            .unique(on: "token_hash")
            .create()
        try await database.createIndex("sessions_member", on: "sessions", columns: ["member_id"])
    }

    func revert(on database: any Database) async throws {
        try await database.schema("sessions").delete()
    }
}

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

struct M009CreateResetBatches: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("reset_batches")
            .id()
            .field("organization_id", .uuid, .required, .references("organizations", "id", onDelete: .cascade))
            .field("actor_id", .uuid, .required)
            .field("idempotency_key", .string)
            .field("request_hash", .string, .required)
            .field("status", .string, .required)
            .field("total", .int, .required)
            .field("processed", .int, .required)
            .field("reset_count", .int, .required)
            .field("skipped_count", .int, .required)
            .field("failed_count", .int, .required)
            .field("reason", .string, .required)
            .field("background", .bool, .required)
            .field("request_id", .string, .required)
            .field("ip", .string, .required)
            .field("user_agent", .string, .required)
            .field("created_at", .datetime, .required)
            .field("finished_at", .datetime)
            .field("lease_until", .datetime)
            // One request per key and actor: a retry finds the original.
            .unique(on: "organization_id", "actor_id", "idempotency_key")
            .create()
        try await database.createIndex("batches_status", on: "reset_batches", columns: ["status", "created_at"])
        try await database.schema("reset_results")
            .id()
            .field("batch_id", .uuid, .required, .references("reset_batches", "id", onDelete: .cascade))
            .field("position", .int, .required)
            .field("member_id", .uuid, .required)
            .field("status", .string, .required)
            .field("reason", .string, .required)
            .field("member_name", .string, .required)
            .field("member_email", .string, .required)
            .unique(on: "batch_id", "position")
            .create()
        try await database.createIndex(
            "results_batch_status", on: "reset_results", columns: ["batch_id", "status", "position"])
    }

    func revert(on database: any Database) async throws {
        try await database.schema("reset_results").delete()
        try await database.schema("reset_batches").delete()
    }
}

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

struct M011CreateMemberSearchTerms: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("member_search_terms")
            .field("member_id", .uuid, .required, .references("members", "id", onDelete: .cascade))
            .field("organization_id", .uuid, .required)
            .field("term", .string, .required)
            .create()
        try await database.createIndex(
            "search_org_term", on: "member_search_terms", columns: ["organization_id", "term", "member_id"])
        try await database.createIndex("search_member", on: "member_search_terms", columns: ["member_id"])
        // Index the members that already exist.
        var offset = 0
        while true {
            let members = try await MemberModel.query(on: database).sort(\.$id).range(offset..<(offset + 1000)).all()
            if members.isEmpty { break }
            try await SearchIndex.add(members.map { ($0.id!, $0.organizationID, $0.name, $0.email) }, on: database)
            offset += members.count
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema("member_search_terms").delete()
    }
}

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
            let bucket = SignInBucket.secondFactor(memberID: id)
            let until: Int64 =
                bucket.policy.delay(afterFailures: failures).map {
                    $0 == 0 ? 0 : SignInThrottles.millis(last.addingTimeInterval(TimeInterval($0)))
                } ?? SignInThrottles.lockedForGood
            try await sql.insert(into: "sign_in_throttles")
                .columns(
                    "key", "kind", "email", "member_id", "organization_id", "failures", "last_failed_at", "locked_until"
                )
                .values(
                    SQLBind(bucket.key), SQLBind(bucket.kind),
                    SQLBind(try row.decode(column: "email", as: String.self)),
                    SQLBind(id), SQLBind(try row.decode(column: "organization_id", as: UUID.self)), SQLBind(failures),
                    SQLBind(SignInThrottles.millis(last)), SQLBind(until)
                ).run()
        }
        try await sql.raw("ALTER TABLE members DROP COLUMN failed_attempts").run()
        try await sql.raw("ALTER TABLE members DROP COLUMN last_failed_at").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("members").field("failed_attempts", .int).field("last_failed_at", .datetime).update()
        try await database.schema("member_known_addresses").delete()
        try await database.schema("sign_in_throttles").delete()
    }
}

/// Each audit chain's head (last position and hash), whose row lock makes concurrent appenders to one chain
/// queue instead of colliding on (chain, seq); `audit verify` also checks it, so events removed from the end
/// of a chain are noticed.
struct M013CreateAuditChainHeads: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("audit_chain_heads")
            .field("chain", .string, .required)
            .field("seq", .int64, .required)
            .field("hash", .string, .required)
            .unique(on: "chain")
            .create()
        let sql = database as! any SQLDatabase
        try await sql.raw(
            """
            INSERT INTO audit_chain_heads (chain, seq, hash)
            SELECT e.chain, e.seq, e.hash FROM audit_events e
            WHERE e.seq = (SELECT MAX(seq) FROM audit_events m WHERE m.chain = e.chain)
            """
        ).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("audit_chain_heads").delete()
    }
}
