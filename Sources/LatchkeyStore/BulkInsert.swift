import FluentKit
import SQLKit

/// Multi-row inserts without Fluent's per-model reflection (which dominates bulk work), nor SQLKit's insert builder,
/// which escapes every column name again for every statement (a twentieth of a sign-in's CPU on SQLite, for the
/// audit event's 23 columns): the statement's head is written once per call.
public enum BulkInsert {
    /// Inserts `rows` into `table`, several hundred rows per statement (kept under SQLite's bind limit). The table
    /// and column names are Latchkey's own (lower-case letters, digits and underscores).
    public static func rows(
        _ rows: [[any SQLExpression]], into table: String, columns: [String], on db: any Database
    ) async throws {
        guard !rows.isEmpty else { return }
        let sql = db as! any SQLDatabase
        precondition(
            ([table] + columns).allSatisfy { name in
                !name.isEmpty && name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 95 }
            }, "BulkInsert takes Latchkey's own table and column names")
        let head = "INSERT INTO \"\(table)\" (" + columns.map { "\"\($0)\"" }.joined(separator: ", ") + ") VALUES "
        let perStatement = max(1, 30_000 / max(1, columns.count))
        for start in stride(from: 0, to: rows.count, by: perStatement) {
            try await sql.execute(
                sql: Statement(head: head, rows: rows[start..<min(start + perStatement, rows.count)])
            ) { _ in }
        }
    }

    /// `head` followed by each row's values in parentheses.
    struct Statement: SQLExpression {
        let head: String
        let rows: ArraySlice<[any SQLExpression]>

        func serialize(to serializer: inout SQLSerializer) {
            serializer.write(head)
            var firstRow = true
            for row in rows {
                serializer.write(firstRow ? "(" : ", (")
                firstRow = false
                var firstValue = true
                for value in row {
                    if !firstValue { serializer.write(", ") }
                    firstValue = false
                    value.serialize(to: &serializer)
                }
                serializer.write(")")
            }
        }
    }
}
