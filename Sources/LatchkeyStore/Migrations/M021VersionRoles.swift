import FluentKit
import Foundation
import SQLKit

/// A role created, renamed, given other permissions or deleted changes its organization's directory version (M020)
/// too, so the roles the Manage Members page shows (its Role filter and the rules of its row menus) can be
/// remembered beside the counts and read again only when the version moves (`DirectoryCounts.roles`).
struct M021VersionRoles: AsyncMigration {
    func prepare(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        if sql.dialect.name == "postgresql" {
            // The function of M020: at commit, once per transaction and organization.
            try await sql.raw(
                """
                CREATE CONSTRAINT TRIGGER roles_directory_changed AFTER INSERT OR UPDATE OR DELETE ON roles
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION directory_changed()
                """
            ).run()
        } else {
            let bump = M020CreateDirectoryVersions.sqliteBump
            let triggers: [String] = [
                "CREATE TRIGGER roles_directory_added AFTER INSERT ON roles BEGIN \(bump("NEW")) END",
                "CREATE TRIGGER roles_directory_changed AFTER UPDATE ON roles BEGIN \(bump("NEW")) END",
                "CREATE TRIGGER roles_directory_removed AFTER DELETE ON roles BEGIN \(bump("OLD")) END",
            ]
            for trigger in triggers { try await sql.raw(SQLQueryString(trigger)).run() }
        }
    }

    func revert(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        if sql.dialect.name == "postgresql" {
            try await sql.raw("DROP TRIGGER roles_directory_changed ON roles").run()
        } else {
            for name in ["roles_directory_added", "roles_directory_changed", "roles_directory_removed"] {
                try await sql.raw("DROP TRIGGER \(unsafeRaw: name)").run()
            }
        }
    }
}
