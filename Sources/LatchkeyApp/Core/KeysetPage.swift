import Foundation
import Hummingbird
import LatchkeyCore

/// `?limit=` (1–200, 50 by default) and `?cursor=` of a list kept newest first by (time, id): the API tokens and a
/// webhook's deliveries. The cursor is `<the time's bits, hex>_<id>` — the time exactly as stored, so the keyset
/// neither skips nor repeats rows made in the same instant.
struct KeysetPage {
    var limit = 50
    var after: (Date, UUID)?

    init(_ request: Request) throws {
        let query = request.uri.queryParameters
        if let text = query.get("limit") {
            guard let value = Int(text), (1...200).contains(value) else {
                throw LatchkeyError.badRequest("invalid_limit", "limit is a number from 1 to 200.")
            }
            limit = value
        }
        after = try query.get("cursor").flatMap { $0.isEmpty ? nil : $0 }.map(Self.decode)
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
    func cut<Row>(_ rows: [Row], key: (Row) -> (Date, UUID)) -> (rows: [Row], next: String?) {
        let shown = Array(rows.prefix(limit))
        return (shown, rows.count > limit ? shown.last.map { Self.encode(key($0).0, key($0).1) } : nil)
    }
}
