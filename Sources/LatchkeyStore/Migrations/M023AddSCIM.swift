import FluentKit
import Foundation
import SQLKit

/// SCIM provisioning: a member's `external_id` (the identity provider's id for the person, unique within the
/// organization when set), and the new `scim.provision` permission for the built-in Owner and Admin roles (the
/// lists are frozen here as they are at this migration, like every migration's rules).
struct M023AddSCIM: AsyncMigration {
    static let owner =
        "audit.view,members.manage,members.reset_mfa,members.view,org.settings,roles.manage,scim.provision"
    static let admin = "audit.view,members.manage,members.reset_mfa,members.view,org.settings,scim.provision"

    func prepare(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        try await sql.raw("ALTER TABLE members ADD COLUMN external_id TEXT").run()
        try await sql.raw(
            """
            CREATE UNIQUE INDEX members_org_external_id ON members (organization_id, external_id)
            WHERE external_id IS NOT NULL
            """
        ).run()
        try await sql.raw("UPDATE roles SET permissions = \(bind: Self.owner) WHERE built_in = 'owner'").run()
        try await sql.raw("UPDATE roles SET permissions = \(bind: Self.admin) WHERE built_in = 'admin'").run()
    }

    func revert(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        try await sql.raw(
            """
            UPDATE roles SET permissions = \(bind: "audit.view,members.manage,members.reset_mfa,members.view,org.settings,roles.manage")
            WHERE built_in = 'owner'
            """
        ).run()
        try await sql.raw(
            """
            UPDATE roles SET permissions = \(bind: "audit.view,members.manage,members.reset_mfa,members.view,org.settings")
            WHERE built_in = 'admin'
            """
        ).run()
        try await sql.raw("DROP INDEX members_org_external_id").run()
        try await sql.raw("ALTER TABLE members DROP COLUMN external_id").run()
    }
}
