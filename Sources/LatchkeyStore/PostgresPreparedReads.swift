import Foundation
import LatchkeyCore
import Logging
import NIOCore
import PostgresKit
import PostgresNIO
import SQLKit

/// The hot reads outside a transaction on PostgreSQL (the Manage Members page, its count and "select all", the
/// roles, the authenticator a second factor checks), each run as a named prepared statement: parsed and planned
/// once per connection instead of on every request. Planning the page's statement was about half of its cost in
/// the backend (0.47 of 1.05 ms).
///
/// PostgresNIO prepares and keeps statements per connection by name, but asks for the name and SQL as static
/// properties of a `PostgresPreparedStatement` type, while the page's SQL varies with its filters. `Statement`
/// reads them from a task-local value set around the one call that reads them; the name is a digest of the SQL
/// and the bind types, so each shape is prepared once per connection and never confused with another. A
/// statement with a bind of a type not listed here runs unprepared.
struct PostgresPreparedReads: SQLDatabase {
    let postgres: any PostgresDatabase & SQLDatabase

    var logger: Logger { postgres.logger }
    var eventLoop: any EventLoop { postgres.eventLoop }
    var dialect: any SQLDialect { postgres.dialect }
    var queryLogLevel: Logger.Level? { nil }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void)
        -> EventLoopFuture<Void>
    {
        eventLoop.makeFutureWithTask { try await self.execute(sql: query, onRow) }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        guard let prepared = prepare(query) else { return try await postgres.execute(sql: query, onRow) }
        let logger = self.logger
        try await postgres.withConnection { connection in
            connection.eventLoop.makeFutureWithTask { try await prepared.run(on: connection, logger: logger, onRow) }
        }.get()
    }

    /// The statement and its binds, or nil when a bind's type is not one of `append`'s.
    func prepare(_ query: any SQLExpression) -> Prepared? {
        let (sql, binds) = serialize(query)
        guard let (bindings, types) = Self.bind(binds) else { return nil }
        return Prepared(shape: Statement.Shape(sql: sql, types: types), statement: Statement(bindings: bindings))
    }

    /// `binds` as PostgresNIO's bindings, with their types; nil when one is not of `append`'s types.
    static func bind(_ binds: [any Encodable & Sendable]) -> (PostgresBindings, [PostgresDataType])? {
        var bindings = PostgresBindings(capacity: binds.count)
        var types: [PostgresDataType] = []
        types.reserveCapacity(binds.count)
        for bind in binds {
            guard let type = append(bind, to: &bindings) else { return nil }
            types.append(type)
        }
        return (bindings, types)
    }

    /// A statement ready to run on a connection (prepared there first, the first time).
    struct Prepared: Sendable {
        let shape: Statement.Shape
        let statement: Statement

        func run(on connection: PostgresConnection, logger: Logger, _ onRow: (any SQLRow) -> Void) async throws {
            try await Statement.$shape.withValue(shape) {
                try await PostgresReadRow.each(of: try await connection.execute(statement, logger: logger), onRow)
            }
        }
    }

    /// Appends a bind of the types Latchkey's reads use; its type, or nil for any other type.
    static func append(_ bind: any Encodable & Sendable, to bindings: inout PostgresBindings) -> PostgresDataType? {
        switch bind {
        case let value as String: bindings.append(value); return .text
        case let value as UUID: bindings.append(value); return .uuid
        case let value as Int: bindings.append(value); return .int8
        case let value as Int64: bindings.append(value); return .int8
        case let value as Bool: bindings.append(value); return .bool
        case let value as Date: bindings.append(value); return .timestamptz
        default: return appendOptional(bind, to: &bindings)
        }
    }

    /// `append` for an optional of those types (a nil is bound as a NULL of its type). Matched on the exact
    /// dynamic type: a nil of one optional type casts to every other.
    private static func appendOptional(_ bind: any Encodable & Sendable, to bindings: inout PostgresBindings)
        -> PostgresDataType?
    {
        switch type(of: bind) {
        case is String?.Type: bindings.append(bind as? String); return .text
        case is UUID?.Type: bindings.append(bind as? UUID); return .uuid
        case is Int?.Type: bindings.append(bind as? Int); return .int8
        case is Int64?.Type: bindings.append(bind as? Int64); return .int8
        case is Bool?.Type: bindings.append(bind as? Bool); return .bool
        case is Date?.Type: bindings.append(bind as? Date); return .timestamptz
        default: return nil
        }
    }

    /// One shape of statement, prepared under a name derived from its SQL and bind types.
    struct Statement: PostgresPreparedStatement {
        struct Shape: Sendable {
            var sql: String
            var types: [PostgresDataType]
            var name: String

            init(sql: String, types: [PostgresDataType]) {
                self.sql = sql
                self.types = types
                var text = sql
                for type in types { text += "\u{1f}\(type.rawValue)" }
                name = "lk_" + sha256Hex(text).prefix(24)
            }
        }

        /// The statement being executed (read by PostgresNIO while it sends the statement).
        @TaskLocal static var shape = Shape(sql: "", types: [])

        static var name: String { shape.name }
        static var sql: String { shape.sql }
        static var bindingDataTypes: [PostgresDataType] { shape.types }

        typealias Row = PostgresRow
        let bindings: PostgresBindings

        func makeBindings() throws -> PostgresBindings { bindings }
        func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
    }
}

/// A row of a prepared read. `decode` decodes as PostgresKit does; `RowColumns` reads through PostgresNIO's own
/// decoders, where PostgresKit's `decode` goes through `Decodable` with a coding path and an error context for
/// every column — a quarter of the API page's CPU on PostgreSQL.
struct PostgresReadRow: SQLRow {
    let row: PostgresRow
    let cells: PostgresRandomAccessRow
    let names: ColumnNames

    /// Hands each of `rows` to `onRow` as a `PostgresReadRow` (the column names read once, from the first).
    static func each<Rows: AsyncSequence>(of rows: Rows, _ onRow: (any SQLRow) -> Void) async throws
    where Rows.Element == PostgresRow {
        var names: ColumnNames?
        for try await row in rows {
            let cells = PostgresRandomAccessRow(row)
            let shared = names ?? ColumnNames(cells.map(\.columnName))
            names = shared
            onRow(PostgresReadRow(row: row, cells: cells, names: shared))
        }
    }

    var allColumns: [String] { names.names }
    func contains(column: String) -> Bool { names.offset(of: column) != nil }
    func decodeNil(column: String) throws -> Bool { try row.sql().decodeNil(column: column) }
    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        try row.sql().decode(column: column, as: D.self)
    }
}

extension PostgresReadRow: RowColumns {
    private func cell(_ column: String) throws -> PostgresCell { cells[try names.require(column)] }

    func string(_ column: String) throws -> String { try cell(column).decode(String.self) }
    func optionalString(_ column: String) throws -> String? { try cell(column).decode(String?.self) }
    func optionalInt64(_ column: String) throws -> Int64? { try cell(column).decode(Int64?.self) }
    func int(_ column: String) throws -> Int { try cell(column).decode(Int.self) }
    func bool(_ column: String) throws -> Bool { try cell(column).decode(Bool.self) }
    func date(_ column: String) throws -> Date { try cell(column).decode(Date.self) }
    func optionalDate(_ column: String) throws -> Date? { try cell(column).decode(Date?.self) }
    func uuid(_ column: String) throws -> UUID { try cell(column).decode(UUID.self) }
}
