import FluentKit
import Foundation
import SQLKit

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
        try await Self.indexExisting(database as! any SQLDatabase)
    }

    /// Indexes the members that already exist, with the rules of this migration's time (frozen below, so an
    /// older database migrates the same way whatever later code does).
    static func indexExisting(_ sql: any SQLDatabase) async throws {
        var offset = 0
        while true {
            let rows = try await sql.raw(
                "SELECT id, organization_id, name, email FROM members ORDER BY id LIMIT 1000 OFFSET \(bind: offset)"
            ).all()
            if rows.isEmpty { break }
            var values: [SQLQueryString] = []
            for row in rows {
                let id = try row.decode(column: "id", as: UUID.self)
                let organizationID = try row.decode(column: "organization_id", as: UUID.self)
                let terms = Self.terms(
                    name: try row.decode(column: "name", as: String.self),
                    email: try row.decode(column: "email", as: String.self))
                for term in terms.sorted() {
                    values.append("(\(bind: id), \(bind: organizationID), \(bind: term))")
                }
            }
            for start in stride(from: 0, to: values.count, by: 1000) {
                let chunk = values[start..<min(start + 1000, values.count)]
                try await sql.raw(
                    "INSERT INTO member_search_terms (member_id, organization_id, term) VALUES \(chunk.joined(separator: ", "))"
                ).run()
            }
            offset += rows.count
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema("member_search_terms").delete()
    }

    /// The search terms of a member as this migration defined them: the email, its local part, and the
    /// lower-case letter-and-digit words of the name and the local part, each cut to 64 characters.
    static func terms(name: String, email: String) -> Set<String> {
        let words = { (text: String) in
            text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map { String($0.prefix(64)) }
        }
        let lowerEmail = email.lowercased()
        let local = lowerEmail.split(separator: "@").first.map(String.init) ?? lowerEmail
        var terms: Set<String> = [String(lowerEmail.prefix(64)), String(local.prefix(64))]
        for word in words(name) + words(local) { terms.insert(word) }
        return terms.filter { !$0.isEmpty }
    }
}
