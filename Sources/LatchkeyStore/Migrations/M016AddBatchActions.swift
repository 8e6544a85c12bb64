import FluentKit
import Foundation
import SQLKit

/// `reset_batches` holds every bulk action on members, not only Reset MFA: each batch says which (`action`, the
/// audit action's name) and with what (`detail`, e.g. the new role's name). Batches before are MFA resets.
struct M016AddBatchActions: AsyncMigration {
    func prepare(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        try await sql.raw("ALTER TABLE reset_batches ADD COLUMN action TEXT NOT NULL DEFAULT 'mfa.reset'").run()
        try await sql.raw("ALTER TABLE reset_batches ADD COLUMN detail TEXT NOT NULL DEFAULT ''").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("reset_batches").deleteField("action").deleteField("detail").update()
    }
}
