import FluentKit
import SQLKit

/// Multi-row inserts without Fluent's per-model reflection (which dominates bulk work), nor SQLKit's insert builder,
/// which escapes every column name again for every statement (a twentieth of a sign-in's CPU on SQLite, for the
/// audit event's 23 columns): the statement's head is written once per call.
public enum BulkInsert {
    /// Inserts `rows` into `table`, several hundred rows per statement (kept under SQLite's bind limit). The table
    /// and column names are Latchkey's own (lower-case letters, digits and underscores).
    ///
    /// `then`, a statement that takes no rows back, runs after the rows are in — on PostgreSQL in the same statement
    /// as the last rows (a data-modifying `WITH`), one round trip fewer.
    public static func rows(
        _ rows: [[any SQLExpression]], into table: String, columns: [String], on db: any Database,
        then followUp: (any SQLExpression)? = nil
    ) async throws {
        let sql = db as! any SQLDatabase
        guard !rows.isEmpty else {
            if let followUp { try await sql.execute(sql: followUp) { _ in } }
            return
        }
        let head = insertInto(table, columns: columns) + " VALUES "
        let perStatement = rowsPerStatement(columns: columns.count)
        let joined = followUp != nil && sql.dialect.name == "postgresql"
        for start in stride(from: 0, to: rows.count, by: perStatement) {
            let statement = Statement(head: head, rows: rows[start..<min(start + perStatement, rows.count)])
            if joined, let followUp, start + perStatement >= rows.count {
                try await sql.execute(
                    sql: SQLList(
                        [SQLRaw("WITH inserted AS ("), statement, SQLRaw(") "), followUp], separator: SQLRaw(""))
                ) { _ in }
                return
            }
            try await sql.execute(sql: statement) { _ in }
        }
        if let followUp { try await sql.execute(sql: followUp) { _ in } }
    }

    /// `INSERT INTO "table" ("column", …)`. The table and column names are Latchkey's own (lower-case letters,
    /// digits and underscores).
    static func insertInto(_ table: String, columns: [String]) -> String {
        precondition(
            ([table] + columns).allSatisfy { name in
                !name.isEmpty && name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 95 }
            }, "BulkInsert takes Latchkey's own table and column names")
        return "INSERT INTO \"\(table)\" (" + columns.map { "\"\($0)\"" }.joined(separator: ", ") + ")"
    }

    /// How many rows of `columns` values one statement takes (its binds kept under SQLite's limit).
    static func rowsPerStatement(columns: Int) -> Int { max(1, 30_000 / max(1, columns)) }

    /// `head` followed by each row's values in parentheses.
    struct Statement: SQLExpression {
        let head: String
        let rows: ArraySlice<[any SQLExpression]>

        func serialize(to serializer: inout SQLSerializer) {
            serializer.write(head)
            Values(rows: rows, keyword: false).serialize(to: &serializer)
        }
    }

    /// `VALUES` and each row's values in parentheses (without the keyword: the rows alone).
    struct Values: SQLExpression {
        let rows: ArraySlice<[any SQLExpression]>
        var keyword = true

        func serialize(to serializer: inout SQLSerializer) {
            if keyword { serializer.write("VALUES ") }
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
