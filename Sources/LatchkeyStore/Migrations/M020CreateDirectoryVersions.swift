import FluentKit
import Foundation
import SQLKit

/// A version per organization that changes in the same transaction as anything the Manage Members counts depend
/// on: a member added or removed, or a member's name, email, role, status or MFA state changed. A count read in
/// one statement with the version it saw stays true for as long as the version does, so instances can remember
/// counts (`DirectoryCounts`) and still never show a stale one — whichever instance or code path made the change.
///
/// On PostgreSQL the version is bumped by a deferred constraint trigger, at commit, once per transaction and
/// organization: a transaction takes the version row's lock only when it has nothing left to wait for, so the
/// lock orders commits but can never close a cycle of waits (no deadlock with the row locks taken before it).
/// SQLite has one writer at a time; a plain trigger does.
///
/// A later migration that rebuilds `members` on SQLite must recreate the triggers.
struct M020CreateDirectoryVersions: AsyncMigration {
    func prepare(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        if sql.dialect.name == "postgresql" {
            try await sql.raw(
                "CREATE TABLE directory_versions (organization_id uuid PRIMARY KEY, version bigint NOT NULL)"
            ).run()
            try await sql.raw(
                """
                CREATE FUNCTION directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
                DECLARE
                  org uuid;
                  done text;
                BEGIN
                  IF TG_OP = 'DELETE' THEN org := OLD.organization_id; ELSE org := NEW.organization_id; END IF;
                  done := COALESCE(current_setting('latchkey.directory_changed', true), '');
                  IF position(org::text IN done) > 0 THEN RETURN NULL; END IF;
                  PERFORM set_config('latchkey.directory_changed', done || org::text || ',', true);
                  INSERT INTO directory_versions (organization_id, version) VALUES (org, 1)
                    ON CONFLICT (organization_id) DO UPDATE SET version = directory_versions.version + 1;
                  RETURN NULL;
                END $$
                """
            ).run()
            try await sql.raw(
                """
                CREATE CONSTRAINT TRIGGER members_directory_added_or_removed AFTER INSERT OR DELETE ON members
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION directory_changed()
                """
            ).run()
            try await sql.raw(
                """
                CREATE CONSTRAINT TRIGGER members_directory_changed
                AFTER UPDATE OF name, email, role_id, status, mfa_status ON members
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                WHEN ((OLD.name, OLD.email, OLD.role_id, OLD.status, OLD.mfa_status)
                  IS DISTINCT FROM (NEW.name, NEW.email, NEW.role_id, NEW.status, NEW.mfa_status))
                EXECUTE FUNCTION directory_changed()
                """
            ).run()
        } else {
            try await sql.raw(
                """
                CREATE TABLE directory_versions (organization_id UUID PRIMARY KEY, version INTEGER NOT NULL)
                WITHOUT ROWID
                """
            ).run()
            let bump = Self.sqliteBump
            let triggers: [String] = [
                "CREATE TRIGGER members_directory_added AFTER INSERT ON members BEGIN \(bump("NEW")) END",
                "CREATE TRIGGER members_directory_removed AFTER DELETE ON members BEGIN \(bump("OLD")) END",
                """
                CREATE TRIGGER members_directory_changed AFTER UPDATE OF name, email, role_id, status, mfa_status
                ON members
                WHEN OLD.name IS NOT NEW.name OR OLD.email IS NOT NEW.email OR OLD.role_id IS NOT NEW.role_id
                  OR OLD.status IS NOT NEW.status OR OLD.mfa_status IS NOT NEW.mfa_status
                BEGIN \(bump("NEW")) END
                """,
            ]
            for trigger in triggers { try await sql.raw(SQLQueryString(trigger)).run() }
        }
        try await sql.raw("INSERT INTO directory_versions (organization_id, version) SELECT id, 1 FROM organizations")
            .run()
    }

    /// The body of an SQLite trigger that moves the version of the organization of `row` (NEW or OLD); M021
    /// uses it too.
    static func sqliteBump(_ row: String) -> String {
        """
        INSERT INTO directory_versions (organization_id, version) VALUES (\(row).organization_id, 1)
          ON CONFLICT (organization_id) DO UPDATE SET version = version + 1;
        """
    }

    func revert(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        if sql.dialect.name == "postgresql" {
            try await sql.raw("DROP TRIGGER members_directory_added_or_removed ON members").run()
            try await sql.raw("DROP TRIGGER members_directory_changed ON members").run()
            try await sql.raw("DROP FUNCTION directory_changed()").run()
        } else {
            for name in ["members_directory_added", "members_directory_removed", "members_directory_changed"] {
                try await sql.raw("DROP TRIGGER \(unsafeRaw: name)").run()
            }
        }
        try await sql.raw("DROP TABLE directory_versions").run()
    }
}
