import FluentKit
import Foundation
import SQLKit

/// On PostgreSQL, a search with the MFA filter (`query=ana&mfa=enabled`) read its page from the prefixes' key in
/// name order and fetched each entry's heap row to test the member's MFA: cheap while most matches pass, but as
/// members' MFA changes (a bulk reset of the first 10,000 members by name) the page steps over every match that no
/// longer does — all 4,000 for "ana" once none is left, 7.4 ms in the backend instead of 0.3, and the count as
/// much again. This index keys the prefixes by MFA before the name, so a search with the MFA filter reads exactly
/// its rows and counts one range, whatever the other members' MFA.
///
/// The price: an MFA change is no longer a HOT update of the prefix rows (M019), so it writes new entries in the
/// prefixes' indexes. SQLite stores the prefixes in their key (`WITHOUT ROWID`): testing a skipped entry's MFA
/// reads no other row, so it goes without.
struct M030IndexSearchPrefixesByMFA: AsyncMigration {
    func prepare(on database: any Database) async throws {
        guard (database as? any SQLDatabase)?.dialect.name == "postgresql" else { return }
        try await database.createIndex(
            "search_prefixes_mfa", on: "member_search_prefixes",
            columns: ["organization_id", "prefix", "mfa_status", "name", "member_id"])
    }

    func revert(on database: any Database) async throws {
        guard (database as? any SQLDatabase)?.dialect.name == "postgresql" else { return }
        try await database.dropIndex("search_prefixes_mfa")
    }
}
