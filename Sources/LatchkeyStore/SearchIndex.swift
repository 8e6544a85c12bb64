import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// Maintains `member_search_terms`, the index behind the Manage Members search.
public enum SearchIndex {
    /// Adds the terms of these members (in statements of at most 1,000 rows).
    public static func add(
        _ members: [(id: UUID, organizationID: UUID, name: String, email: String)], on db: any Database
    ) async throws {
        let sql = db as! any SQLDatabase
        var rows: [SQLQueryString] = []
        for member in members {
            for term in SearchTerms.terms(name: member.name, email: member.email) {
                rows.append("(\(bind: member.id), \(bind: member.organizationID), \(bind: term))")
            }
        }
        for start in stride(from: 0, to: rows.count, by: 1000) {
            let chunk = rows[start..<min(start + 1000, rows.count)]
            try await sql.raw(
                "INSERT INTO member_search_terms (member_id, organization_id, term) VALUES \(chunk.joined(separator: ", "))"
            ).run()
        }
    }

    /// Replaces one member's terms (after a change of name).
    public static func replace(id: UUID, organizationID: UUID, name: String, email: String, on db: any Database)
        async throws
    {
        try await (db as! any SQLDatabase).delete(from: "member_search_terms").where("member_id", .equal, SQLBind(id))
            .run()
        try await add([(id, organizationID, name, email)], on: db)
    }
}
