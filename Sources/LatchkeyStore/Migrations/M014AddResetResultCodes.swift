import FluentKit
import Foundation
import SQLKit

/// Each reset result stores its machine code (`reset`, `no_mfa`, `not_permitted_role`, …) beside the human
/// reason, so nothing downstream reads meaning out of display text. Rows written before get their code from
/// the status and the fixed reasons of the time.
struct M014AddResetResultCodes: AsyncMigration {
    func prepare(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        try await sql.raw("ALTER TABLE reset_results ADD COLUMN code TEXT NOT NULL DEFAULT ''").run()
        try await Self.backfill(sql)
    }

    /// Gives the rows without a code theirs.
    static func backfill(_ sql: any SQLDatabase) async throws {
        try await sql.raw(
            """
            UPDATE reset_results SET code = CASE
              WHEN status = 'reset' THEN 'reset'
              WHEN status = 'skipped' THEN 'no_mfa'
              WHEN status = 'failed' AND reason = 'Member not found' THEN 'not_found'
              WHEN status = 'failed' AND reason LIKE 'You cannot reset your own MFA%' THEN 'self'
              WHEN status = 'failed' AND reason = 'Not permitted: your role cannot reset MFA' THEN 'not_permitted'
              WHEN status = 'failed' THEN 'not_permitted_role'
              ELSE '' END
            WHERE code = ''
            """
        ).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("reset_results").deleteField("code").update()
    }
}
