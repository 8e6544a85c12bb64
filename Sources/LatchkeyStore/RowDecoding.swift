import Foundation
import SQLKit

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
    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case) without Foundation's `sscanf`; nil otherwise.
    init?(hyphenated text: String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        var high: UInt8?
        var position = 0
        for character in text.utf8 {
            defer { position += 1 }
            if position == 8 || position == 13 || position == 18 || position == 23 {
                guard character == UInt8(ascii: "-") else { return nil }
                continue
            }
            let nibble: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = character - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let first = high {
                bytes.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        guard position == 36, bytes.count == 16 else { return nil }
        self.init(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }
}
