import FluentKit
import Foundation
import SQLKit

/// Invitations and password links.
///
/// An invited person is a member row with status `invited` until they accept. An email may be invited to an
/// organization while it has an account in another one (the inviter must not learn that it has), so the
/// instance-wide uniqueness of `members.email` now holds for accounts only (`status <> 'invited'`), and within an
/// organization for every row. SQLite cannot drop a table constraint: the table is rebuilt (SQLite's documented
/// procedure, with foreign keys off and one transaction).
///
/// `member_tokens` holds the single-use links that let their holder set a member's password: `invite` (7 days)
/// and `password` (1 hour), stored as SHA-256 of the token.
struct M018CreateMemberTokens: AsyncMigration {
    func prepare(on database: any Database) async throws {
        let sql = database as! any SQLDatabase
        if sql.dialect.name == "postgresql" {
            try await sql.raw(#"ALTER TABLE members DROP CONSTRAINT "uq:members.email""#).run()
        } else {
            try await rebuildSQLiteMembers(sql, database: database)
        }
        try await database.dropIndex("members_org_email")
        try await sql.raw("CREATE UNIQUE INDEX members_org_email ON members (organization_id, email)").run()
        try await sql.raw("CREATE UNIQUE INDEX members_account_email ON members (email) WHERE status <> 'invited'")
            .run()

        try await database.schema("member_tokens")
            .id()
            .field("member_id", .uuid, .required, .references("members", "id", onDelete: .cascade))
            .field("organization_id", .uuid, .required, .references("organizations", "id", onDelete: .cascade))
            .field("purpose", .string, .required)
            .field("token_hash", .string, .required)
            .field("issuer_id", .uuid)
            .field("issuer_name", .string, .required)
            .field("created_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .field("used_at", .datetime)
            .unique(on: "token_hash")
            .create()
        try await database.createIndex(
            "member_tokens_member", on: "member_tokens", columns: ["member_id", "purpose", "created_at"])
    }

    private func rebuildSQLiteMembers(_ sql: any SQLDatabase, database: any Database) async throws {
        let rows = try await sql.raw(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'members' AND sql IS NOT NULL"
        ).all()
        var create = ""
        var indexes: [String] = []
        for row in rows {
            let text = try row.decode(column: "sql", as: String.self)
            if try row.decode(column: "type", as: String.self) == "table" {
                create = text
            } else {
                indexes.append(text)
            }
        }
        let constraint = #", CONSTRAINT "uq:members.email" UNIQUE ("email")"#
        guard create.contains(constraint) else { return }
        let rebuilt = create.replacingOccurrences(of: constraint, with: "")
            .replacingOccurrences(of: #"CREATE TABLE "members""#, with: #"CREATE TABLE "members_new""#)
        let indexStatements = indexes
        try await sql.raw("PRAGMA foreign_keys = OFF").run()
        do {
            try await database.transaction { tx in
                let sql = tx as! any SQLDatabase
                try await sql.raw(SQLQueryString(rebuilt)).run()
                try await sql.raw("INSERT INTO members_new SELECT * FROM members").run()
                try await sql.raw("DROP TABLE members").run()
                try await sql.raw("ALTER TABLE members_new RENAME TO members").run()
                for index in indexStatements { try await sql.raw(SQLQueryString(index)).run() }
                let broken = try await sql.raw("PRAGMA foreign_key_check").all()
                guard broken.isEmpty else { throw MigrationError.brokenForeignKeys(broken.count) }
            }
        } catch {
            try? await sql.raw("PRAGMA foreign_keys = ON").run()
            throw error
        }
        try await sql.raw("PRAGMA foreign_keys = ON").run()
    }

    enum MigrationError: Error { case brokenForeignKeys(Int) }

    func revert(on database: any Database) async throws {
        try await database.schema("member_tokens").delete()
    }
}
