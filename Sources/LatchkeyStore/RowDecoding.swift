import Foundation
import SQLKit
import Synchronization

/// How UUID columns come back: PostgreSQL sends 16 bytes (decoded natively); SQLite stores the hyphenated text,
/// which Foundation's `UUID(uuidString:)` parses with `sscanf` — several microseconds each, and a page of members
/// reads about 150. `text` reads the text and parses it here.
enum UUIDColumns: Sendable {
    case native, text

    init(_ sql: any SQLDatabase) { self = sql.dialect.name == "postgresql" ? .native : .text }
}

extension SQLRow {
    func uuid(_ column: String, _ form: UUIDColumns) throws -> UUID {
        switch form {
        case .native: return try decode(column: column, as: UUID.self)
        case .text:
            let text = try decode(column: column, as: String.self)
            guard let id = UUID(hyphenated: text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\(column) is not a UUID"))
            }
            return id
        }
    }
}

extension UUID {
    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case) without Foundation's `sscanf` and without
    /// allocating; nil otherwise.
    init?(hyphenated text: String) {
        var text = text
        guard let id = text.withUTF8(Self.parseHyphenated) else { return nil }
        self = id
    }

    private static func parseHyphenated(_ bytes: UnsafeBufferPointer<UInt8>) -> UUID? {
        let dash = UInt8(ascii: "-")
        guard bytes.count == 36, bytes[8] == dash, bytes[13] == dash, bytes[18] == dash, bytes[23] == dash else {
            return nil
        }
        var halves: (UInt64, UInt64) = (0, 0)
        var digits = 0
        for index in 0..<36 where index != 8 && index != 13 && index != 18 && index != 23 {
            let character = bytes[index]
            let nibble: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = character &- UInt8(ascii: "A") &+ 10
            default: return nil
            }
            if digits < 16 {
                halves.0 = halves.0 << 4 | UInt64(nibble)
            } else {
                halves.1 = halves.1 << 4 | UInt64(nibble)
            }
            digits += 1
        }
        let bigEndian = (halves.0.bigEndian, halves.1.bigEndian)
        return withUnsafeBytes(of: bigEndian) { UUID(uuid: $0.loadUnaligned(as: uuid_t.self)) }
    }
}

/// The columns of a row read by name, for the decoders of the hottest rows (a page of members, a session): on a
/// SQLite reader's row straight from the stored value, on a prepared PostgreSQL read's row through PostgresNIO's
/// own decoders (`PostgresReadRow`), on any other row through `decode` — which, called through `any SQLRow`, is an
/// unspecialised generic that looks up type metadata for every column.
protocol RowColumns {
    func string(_ column: String) throws -> String
    func optionalString(_ column: String) throws -> String?
    func optionalInt64(_ column: String) throws -> Int64?
    func int(_ column: String) throws -> Int
    func bool(_ column: String) throws -> Bool
    func date(_ column: String) throws -> Date
    func optionalDate(_ column: String) throws -> Date?
    func uuid(_ column: String) throws -> UUID
}

extension SQLRow {
    /// The row's columns, read the fastest way its kind allows.
    func columns(_ uuids: UUIDColumns) -> any RowColumns {
        switch self {
        case let row as SQLiteReader.Row: row
        case let row as PostgresReadRow: row
        default: DecodedColumns(row: self, uuids: uuids)
        }
    }
}

/// Any row's columns, through `decode`.
struct DecodedColumns: RowColumns {
    let row: any SQLRow
    let uuids: UUIDColumns

    func string(_ column: String) throws -> String { try row.decode(column: column, as: String.self) }
    func optionalString(_ column: String) throws -> String? { try row.decode(column: column, as: String?.self) }
    func optionalInt64(_ column: String) throws -> Int64? { try row.decode(column: column, as: Int64?.self) }
    func int(_ column: String) throws -> Int { try row.decode(column: column, as: Int.self) }
    func bool(_ column: String) throws -> Bool { try row.decode(column: column, as: Bool.self) }
    func date(_ column: String) throws -> Date { try row.decode(column: column, as: Date.self) }
    func optionalDate(_ column: String) throws -> Date? { try row.decode(column: column, as: Date?.self) }
    func uuid(_ column: String) throws -> UUID { try row.uuid(column, uuids) }
}

/// The column names of one statement's rows, shared by its rows, and where each name is. Decoders read a row's
/// columns in the order the statement lists them, row after row, so the next column is guessed first: a right
/// guess costs one comparison instead of hashing the name.
final class ColumnNames: Sendable {
    let names: [String]
    private let offsets: [String: Int]
    /// Whether the name at each position is its first (the one a read by that name finds).
    private let first: [Bool]
    private let next = Atomic<Int>(0)

    init(_ names: [String]) {
        self.names = names
        var offsets: [String: Int] = [:]
        for (offset, name) in names.enumerated() where offsets[name] == nil { offsets[name] = offset }
        self.offsets = offsets
        first = names.indices.map { offsets[names[$0]] == $0 }
    }

    func offset(of column: String) -> Int? {
        let guess = next.load(ordering: .relaxed)
        let offset = guess < names.count && first[guess] && names[guess] == column ? guess : offsets[column]
        if let offset { next.store(offset + 1 == names.count ? 0 : offset + 1, ordering: .relaxed) }
        return offset
    }

    /// The offset of `column`, or the error `decode` throws for a column the row does not have.
    func require(_ column: String) throws -> Int {
        guard let offset = offset(of: column) else {
            throw DecodingError.valueNotFound(
                Any.self, .init(codingPath: [], debugDescription: "No column \(column) in the row"))
        }
        return offset
    }
}
