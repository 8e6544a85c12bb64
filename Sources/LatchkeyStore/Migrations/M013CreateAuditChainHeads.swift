import FluentKit
import Foundation
import SQLKit

/// Each audit chain's head (last position and hash), whose row lock makes concurrent appenders to one chain
/// queue instead of colliding on (chain, seq); `audit verify` also checks it, so events removed from the end
/// of a chain are noticed.
struct M013CreateAuditChainHeads: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("audit_chain_heads")
            .field("chain", .string, .required)
            .field("seq", .int64, .required)
            .field("hash", .string, .required)
            .unique(on: "chain")
            .create()
        let sql = database as! any SQLDatabase
        try await sql.raw(
            """
            INSERT INTO audit_chain_heads (chain, seq, hash)
            SELECT e.chain, e.seq, e.hash FROM audit_events e
            WHERE e.seq = (SELECT MAX(seq) FROM audit_events m WHERE m.chain = e.chain)
            """
        ).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("audit_chain_heads").delete()
    }
}
