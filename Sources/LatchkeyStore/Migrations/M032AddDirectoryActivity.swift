import FluentKit
import Foundation
import SQLKit

/// A second number beside each organization's directory version (M020): its `activity`, which changes in the same
/// transaction as what the Manage Members rows show and the counts do not depend on — a member's last sign-in, and
/// a sign-in lock set, moved or lifted. Version and activity together (`DirectoryStamp`) vouch for a page of rows,
/// so an instance can answer the same page again from memory for as long as neither moves
/// (`DirectoryCounts.page`); the counts stay keyed by the version alone, so a sign-in does not make them be read
/// again.
///
/// A lock that runs out needs no write: a page's rows carry when each lock ends, and a remembered row whose lock
/// has ended is shown unlocked. A throttle row whose `locked_until` is 0 locks no one, so it moves nothing.
///
/// On PostgreSQL the activity is moved by deferred constraint triggers, once per transaction and organization, as
/// the version is (M020 says why at commit). A later migration that rebuilds `members` or `sign_in_throttles` on
/// SQLite must recreate its triggers.
struct M032AddDirectoryActivity: AsyncMigration {
    func prepare(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        if sql.dialect.name == "postgresql" {
            try await sql.raw("ALTER TABLE directory_versions ADD COLUMN activity bigint NOT NULL DEFAULT 0").run()
            try await sql.raw(
                """
                CREATE FUNCTION directory_active() RETURNS trigger LANGUAGE plpgsql AS $$
                DECLARE
                  org uuid;
                  done text;
                BEGIN
                  IF TG_OP = 'DELETE' THEN org := OLD.organization_id; ELSE org := NEW.organization_id; END IF;
                  IF org IS NULL THEN RETURN NULL; END IF;
                  done := COALESCE(current_setting('latchkey.directory_active', true), '');
                  IF position(org::text IN done) > 0 THEN RETURN NULL; END IF;
                  PERFORM set_config('latchkey.directory_active', done || org::text || ',', true);
                  UPDATE directory_versions SET activity = activity + 1 WHERE organization_id = org;
                  RETURN NULL;
                END $$
                """
            ).run()
            let triggers = [
                """
                CREATE CONSTRAINT TRIGGER members_directory_signed_in AFTER UPDATE OF last_sign_in_at ON members
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                WHEN (OLD.last_sign_in_at IS DISTINCT FROM NEW.last_sign_in_at) EXECUTE FUNCTION directory_active()
                """,
                """
                CREATE CONSTRAINT TRIGGER throttles_directory_locked AFTER INSERT ON sign_in_throttles
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                WHEN (NEW.locked_until <> 0) EXECUTE FUNCTION directory_active()
                """,
                """
                CREATE CONSTRAINT TRIGGER throttles_directory_relocked AFTER UPDATE OF locked_until ON sign_in_throttles
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                WHEN (OLD.locked_until IS DISTINCT FROM NEW.locked_until) EXECUTE FUNCTION directory_active()
                """,
                """
                CREATE CONSTRAINT TRIGGER throttles_directory_unlocked AFTER DELETE ON sign_in_throttles
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                WHEN (OLD.locked_until <> 0) EXECUTE FUNCTION directory_active()
                """,
            ]
            for trigger in triggers { try await sql.raw(SQLQueryString(trigger)).run() }
        } else {
            try await sql.raw("ALTER TABLE directory_versions ADD COLUMN activity INTEGER NOT NULL DEFAULT 0").run()
            let bump = { (row: String) in
                """
                UPDATE directory_versions SET activity = activity + 1 WHERE organization_id = \(row).organization_id;
                """
            }
            let triggers = [
                """
                CREATE TRIGGER members_directory_signed_in AFTER UPDATE OF last_sign_in_at ON members
                WHEN OLD.last_sign_in_at IS NOT NEW.last_sign_in_at BEGIN \(bump("NEW")) END
                """,
                """
                CREATE TRIGGER throttles_directory_locked AFTER INSERT ON sign_in_throttles
                WHEN NEW.organization_id IS NOT NULL AND NEW.locked_until <> 0 BEGIN \(bump("NEW")) END
                """,
                """
                CREATE TRIGGER throttles_directory_relocked AFTER UPDATE OF locked_until ON sign_in_throttles
                WHEN NEW.organization_id IS NOT NULL AND OLD.locked_until IS NOT NEW.locked_until
                BEGIN \(bump("NEW")) END
                """,
                """
                CREATE TRIGGER throttles_directory_unlocked AFTER DELETE ON sign_in_throttles
                WHEN OLD.organization_id IS NOT NULL AND OLD.locked_until <> 0 BEGIN \(bump("OLD")) END
                """,
            ]
            for trigger in triggers { try await sql.raw(SQLQueryString(trigger)).run() }
        }
    }

    static let triggers = [
        ("members_directory_signed_in", "members"), ("throttles_directory_locked", "sign_in_throttles"),
        ("throttles_directory_relocked", "sign_in_throttles"), ("throttles_directory_unlocked", "sign_in_throttles"),
    ]

    func revert(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        let postgres = sql.dialect.name == "postgresql"
        for (name, table) in Self.triggers {
            try await sql.raw("DROP TRIGGER \(unsafeRaw: name)\(unsafeRaw: postgres ? " ON \(table)" : "")").run()
        }
        if postgres { try await sql.raw("DROP FUNCTION directory_active()").run() }
        try await sql.raw("ALTER TABLE directory_versions DROP COLUMN activity").run()
    }
}
