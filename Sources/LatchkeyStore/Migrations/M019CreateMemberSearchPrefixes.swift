import FluentKit
import Foundation
import SQLKit

/// The Manage Members search, rebuilt for large organizations.
///
/// `member_search_terms` held each member's words; a search collected every member with a word in the query's
/// range (about 4,000 of 100,000 for "ana"), looked each up in `members`, and sorted them to keep one page —
/// then did it all again to count them. `member_search_prefixes` holds every prefix of every word instead, with
/// what the page filters on (role, status, MFA) next to it, keyed by organization, prefix, name and member:
/// a query word is found by equality, its members come out in name order, a page reads its 51 rows and a count
/// reads one contiguous range of the key, without touching `members`.
///
/// Triggers keep the filter columns equal to the member's whatever code changes them (one set-based statement
/// per `UPDATE` on PostgreSQL, one per changed row on SQLite). Name changes go through `SearchIndex.replace`.
/// On PostgreSQL the filter columns are in no index and pages keep a quarter free, so those updates are HOT (no
/// new index entries): a bulk change of 10,000 members rewrites some 190,000 of these rows. The trigger reads only
/// the new rows (joining them to the old ones has no index: quadratic in the rows of one statement) and compares
/// them with the prefixes' own columns; as its transition table has no statistics (and the index's may be stale
/// right after a bulk insert), its function allows only index lookups — a scan of every organization's prefixes
/// per statement grew with the whole database.
/// A later migration that rebuilds `members` on SQLite must recreate the trigger.
///
/// Also: the members indexes used for the unsearched listing end in `id`, the keyset tie-breaker, and one for
/// the Status filter is added.
struct M019CreateMemberSearchPrefixes: AsyncMigration {
    func prepare(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        if sql.dialect.name == "postgresql" {
            try await sql.raw(
                """
                CREATE TABLE member_search_prefixes (
                  organization_id uuid NOT NULL, prefix text NOT NULL, name text NOT NULL,
                  member_id uuid NOT NULL REFERENCES members (id) ON DELETE CASCADE,
                  role_id uuid NOT NULL, status text NOT NULL, mfa_status text NOT NULL,
                  PRIMARY KEY (organization_id, prefix, name, member_id)) WITH (fillfactor = 75)
                """
            ).run()
            try await sql.raw(
                """
                CREATE FUNCTION member_search_prefixes_follow() RETURNS trigger LANGUAGE plpgsql
                SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
                BEGIN
                  UPDATE member_search_prefixes p
                  SET role_id = n.role_id, status = n.status, mfa_status = n.mfa_status
                  FROM changed_new n
                  WHERE p.member_id = n.id
                    AND (n.role_id, n.status, n.mfa_status) IS DISTINCT FROM (p.role_id, p.status, p.mfa_status);
                  RETURN NULL;
                END $$
                """
            ).run()
            try await sql.raw(
                """
                CREATE TRIGGER members_search_follow AFTER UPDATE ON members
                REFERENCING NEW TABLE AS changed_new
                FOR EACH STATEMENT EXECUTE FUNCTION member_search_prefixes_follow()
                """
            ).run()
        } else {
            try await sql.raw(
                """
                CREATE TABLE member_search_prefixes (
                  organization_id UUID NOT NULL, prefix TEXT NOT NULL, name TEXT NOT NULL,
                  member_id UUID NOT NULL REFERENCES members (id) ON DELETE CASCADE,
                  role_id UUID NOT NULL, status TEXT NOT NULL, mfa_status TEXT NOT NULL,
                  PRIMARY KEY (organization_id, prefix, name, member_id)) WITHOUT ROWID
                """
            ).run()
            try await sql.raw(
                """
                CREATE TRIGGER members_search_follow AFTER UPDATE OF role_id, status, mfa_status ON members
                WHEN OLD.role_id IS NOT NEW.role_id OR OLD.status IS NOT NEW.status
                  OR OLD.mfa_status IS NOT NEW.mfa_status
                BEGIN
                  UPDATE member_search_prefixes SET role_id = NEW.role_id, status = NEW.status, mfa_status = NEW.mfa_status
                  WHERE member_id = NEW.id;
                END
                """
            ).run()
        }
        try await database.createIndex("search_prefixes_member", on: "member_search_prefixes", columns: ["member_id"])
        try await Self.indexExisting(sql)
        try await database.schema("member_search_terms").delete()

        let indexes: [(String?, String, [String])] = [
            ("members_org_mfa", "members_org_mfa_name", ["organization_id", "mfa_status", "name", "id"]),
            ("members_org_role", "members_org_role_name", ["organization_id", "role_id", "name", "id"]),
            (nil, "members_org_status_name", ["organization_id", "status", "name", "id"]),
        ]
        for (old, new, columns) in indexes {
            if let old { try await database.dropIndex(old) }
            try await database.createIndex(new, on: "members", columns: columns)
        }
        if sql.dialect.name != "postgresql" { try await sql.raw("ANALYZE").run() }
    }

    /// Indexes the members that already exist, with the rules of this migration's time (frozen below, so an
    /// older database migrates the same way whatever later code does).
    static func indexExisting(_ sql: any SQLDatabase) async throws {
        var after: UUID?
        while true {
            var query = sql.select().column("id").column("organization_id").column("name").column("email")
                .column("role_id").column("status").column("mfa_status").from("members")
            if let after { query = query.where("id", .greaterThan, SQLBind(after)) }
            let rows = try await query.orderBy("id").limit(1000).all()
            guard let last = rows.last else { break }
            after = try last.decode(column: "id", as: UUID.self)
            var values: [SQLQueryString] = []
            for row in rows {
                let id = try row.decode(column: "id", as: UUID.self)
                let organizationID = try row.decode(column: "organization_id", as: UUID.self)
                let name = try row.decode(column: "name", as: String.self)
                let roleID = try row.decode(column: "role_id", as: UUID.self)
                let status = try row.decode(column: "status", as: String.self)
                let mfa = try row.decode(column: "mfa_status", as: String.self)
                for prefix in Self.prefixes(name: name, email: try row.decode(column: "email", as: String.self)) {
                    values.append(
                        "(\(bind: organizationID), \(bind: prefix), \(bind: name), \(bind: id), \(bind: roleID), \(bind: status), \(bind: mfa))"
                    )
                }
            }
            for start in stride(from: 0, to: values.count, by: 1000) {
                let chunk = values[start..<min(start + 1000, values.count)]
                try await sql.raw(
                    """
                    INSERT INTO member_search_prefixes
                      (organization_id, prefix, name, member_id, role_id, status, mfa_status)
                    VALUES \(chunk.joined(separator: ", "))
                    """
                ).run()
            }
        }
    }

    func revert(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        let indexes: [(String?, String, [String])] = [
            ("members_org_mfa", "members_org_mfa_name", ["organization_id", "mfa_status", "name"]),
            ("members_org_role", "members_org_role_name", ["organization_id", "role_id", "name"]),
            (nil, "members_org_status_name", []),
        ]
        for (old, new, columns) in indexes {
            try await database.dropIndex(new)
            if let old { try await database.createIndex(old, on: "members", columns: columns) }
        }
        try await sql.raw(
            "DROP TRIGGER members_search_follow\(unsafeRaw: sql.dialect.name == "postgresql" ? " ON members" : "")"
        )
        .run()
        if sql.dialect.name == "postgresql" { try await sql.raw("DROP FUNCTION member_search_prefixes_follow()").run() }
        try await database.schema("member_search_prefixes").delete()
        try await M011CreateMemberSearchTerms().prepare(on: database)
    }

    /// The prefixes of a member as this migration defined them: every prefix of every lower-case letter-and-digit
    /// word of the name and of the email's local part, words cut to 64 characters.
    static func prefixes(name: String, email: String) -> Set<String> {
        let words = { (text: String) in
            text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map { String($0.prefix(64)) }
        }
        let lowerEmail = email.lowercased()
        let local =
            lowerEmail.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).first
            .map(String.init) ?? lowerEmail
        var prefixes = Set<String>()
        for word in words(name) + words(local) {
            var prefix = ""
            for character in word {
                prefix.append(character)
                prefixes.insert(prefix)
            }
        }
        return prefixes
    }
}
