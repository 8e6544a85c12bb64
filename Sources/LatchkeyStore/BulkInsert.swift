import FluentKit
import SQLKit

/// Multi-row inserts through SQLKit, without Fluent's per-model reflection (which dominates bulk work).
public enum BulkInsert {
    /// Inserts `rows` into `table`, several hundred rows per statement (kept under SQLite's bind limit).
    public static func rows(
        _ rows: [[any SQLExpression]], into table: String, columns: [String], on db: any Database
    ) async throws {
        guard !rows.isEmpty else { return }
        let sql = db as! any SQLDatabase
        let perStatement = max(1, 30_000 / max(1, columns.count))
        for start in stride(from: 0, to: rows.count, by: perStatement) {
            var insert = sql.insert(into: table).columns(columns)
            for row in rows[start..<min(start + perStatement, rows.count)] { insert = insert.values(row) }
            try await insert.run()
        }
    }
}
