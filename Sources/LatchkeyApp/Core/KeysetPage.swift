import Foundation
import Hummingbird
import LatchkeyCore

/// `?limit=` (1–200, 50 by default) and `?cursor=` of a list kept newest first: the API tokens by (time, id) — the
/// cursor `<the time's bits, hex>_<id>`, the time exactly as stored — and a webhook's deliveries by their event's
/// position in the audit chain (unique per endpoint, an integer: nothing to round).
struct KeysetPage {
    var limit = 50
    var cursor: String?

    init(_ request: Request) throws {
        let query = request.uri.queryParameters
        if let text = query.get("limit") {
            guard let value = Int(text), (1...200).contains(value) else {
                throw LatchkeyError.badRequest("invalid_limit", "limit is a number from 1 to 200.")
            }
            limit = value
        }
        cursor = query.get("cursor").flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The (time, id) cursor's row, if one was given.
    func after() throws -> (Date, UUID)? { try cursor.map(Self.decode) }

    /// The position cursor's value, if one was given.
    func position() throws -> Int64? {
        guard let cursor else { return nil }
        guard cursor.count <= 19, let value = Int64(cursor), value >= 0 else {
            throw LatchkeyError.badRequest("invalid_cursor", "The page cursor is not valid.")
        }
        return value
    }

    static func decode(_ text: String) throws -> (Date, UUID) {
        let parts = text.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, parts[0].count <= 16, let bits = UInt64(parts[0], radix: 16),
            let id = UUID(uuidString: String(parts[1]))
        else { throw LatchkeyError.badRequest("invalid_cursor", "The page cursor is not valid.") }
        let seconds = Double(bitPattern: bits)
        guard seconds.isFinite else {
            throw LatchkeyError.badRequest("invalid_cursor", "The page cursor is not valid.")
        }
        return (Date(timeIntervalSince1970: seconds), id)
    }

    static func encode(_ time: Date, _ id: UUID) -> String {
        String(time.timeIntervalSince1970.bitPattern, radix: 16) + "_" + id.lowercasedString
    }

    /// The rows to show (at most `limit`, of the `limit + 1` read) and the cursor of the next page, if any.
    func cut<Row>(_ rows: [Row], cursor: (Row) -> String) -> (rows: [Row], next: String?) {
        let shown = Array(rows.prefix(limit))
        return (shown, rows.count > limit ? shown.last.map(cursor) : nil)
    }
}
