import FluentKit
import Foundation
import SQLKit

/// On PostgreSQL, the function a one-statement acceptance of a second factor (`SecondFactorAcceptance`) calls when
/// the audit chain's head is no longer where this process left it: it ends the statement with an error of its own
/// (SQLSTATE `LA001`), so nothing the statement changed stays, and names the head that is there now (`seq hash`
/// in the error's detail, read after the appender that moved it committed) for the next attempt to link after.
///
/// A function, not a cast or a division that fails: PostgreSQL may evaluate a constant expression while planning,
/// even in a `CASE` branch never taken, and a volatile function is only ever called when reached.
struct M031CreateAuditHeadMoved: AsyncMigration {
    func prepare(on database: any Database) async throws {
        guard let sql = database as? any SQLDatabase, sql.dialect.name == "postgresql" else { return }
        try await sql.raw(
            """
            CREATE FUNCTION audit_head_moved(moved_chain text) RETURNS integer LANGUAGE plpgsql AS $$
            DECLARE
              head record;
            BEGIN
              SELECT seq, hash INTO head FROM audit_chain_heads WHERE chain = moved_chain;
              RAISE EXCEPTION 'the audit chain head moved; the statement changed nothing and is tried again'
                USING ERRCODE = 'LA001', DETAIL = COALESCE(head.seq::text || ' ' || head.hash, '');
            END $$
            """
        ).run()
    }

    func revert(on database: any Database) async throws {
        guard let sql = database as? any SQLDatabase, sql.dialect.name == "postgresql" else { return }
        try await sql.raw("DROP FUNCTION audit_head_moved(text)").run()
    }
}
