import FluentKit
import SQLKit

/// Each audit event names how it is linked to the one before (`AuditRecord.hash`): 1, SHA-256 (every event written
/// before this), or 2, HMAC-SHA-256 under the database's audit chain key. Each chain's head carries a MAC of its
/// (chain, seq, hash) under that key (`AuditChainKey.headMAC`; empty until the key exists), so that a chain rewritten
/// from its start, unkeyed, shows too.
struct M027AddAuditChainVersion: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await (database as! any SQLDatabase).raw(
            "ALTER TABLE audit_events ADD COLUMN chain_version INTEGER NOT NULL DEFAULT 1"
        ).run()
        try await (database as! any SQLDatabase).raw(
            "ALTER TABLE audit_chain_heads ADD COLUMN head_mac TEXT NOT NULL DEFAULT ''"
        ).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("audit_events").deleteField("chain_version").update()
        try await database.schema("audit_chain_heads").deleteField("head_mac").update()
    }
}
