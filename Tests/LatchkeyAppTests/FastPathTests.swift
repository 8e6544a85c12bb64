import Foundation
import LatchkeyCore
import LatchkeyStore
import SQLiteKit
import SQLiteNIO
import Testing

@testable import LatchkeyApp
@testable import LatchkeyStore

/// The hand-written fast paths give exactly what the general code gives.
@Suite("Fast paths agree with Foundation")
struct FastPathTests {
    @Test("the members page's hand-written JSON is byte for byte JSONEncoder's")
    func membersJSON() throws {
        let names = [
            "Jane Doe", "O'Brien \"Bob\" \\ / back", "Seán 李小龍 👩🏽‍💻", "tab\tnew\nline\r\u{0001}\u{001F}\u{0008}\u{000C}",
            "",
        ]
        let dates: [Date?] = [
            nil, Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_800_000_000.999),
            Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
            Date(timeIntervalSince1970: -1), Date(timeIntervalSince1970: 4_102_444_799),  // 2099-12-31 23:59:59
            .distantFuture,
        ]
        var members: [MembersAPIController.MemberJSON] = []
        for (index, name) in names.enumerated() {
            for (offset, date) in dates.enumerated() {
                let row = MemberDirectory.Row(
                    Member(
                        id: UUID(), organizationID: UUID(), email: "m\(index).\(offset)@acme.test/x", name: name,
                        roleID: UUID(), roleName: "Admin \"ops\"", roleBuiltIn: nil, permissions: [],
                        status: .active, mfaStatus: .enabled, lastSignInAt: date),
                    lockedUntil: offset % 3 == 0 ? nil : offset % 3 == 1 ? .distantFuture : date)
                members.append(MembersAPIController.MemberJSON(row))
            }
        }
        for (next, previous) in [(nil, nil), ("abc/def+==", nil), (nil, "x\"y"), ("n", "p")] as [(String?, String?)] {
            let response = MembersAPIController.ListResponse(
                members: members, nextCursor: next, previousCursor: previous, total: 10_001)
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let expected = String(decoding: try encoder.encode(response), as: UTF8.self)
            #expect(response.json.text == expected)
        }
        let empty = MembersAPIController.ListResponse(members: [], nextCursor: nil, previousCursor: nil, total: 0)
        #expect(empty.json.text == #"{"members":[],"total":0}"#)
    }

    @Test("UUIDs stored as text are parsed as Foundation parses them; anything else is refused")
    func uuidText() {
        for _ in 0..<1000 {
            let id = UUID()
            #expect(UUID(hyphenated: id.uuidString) == id)
            #expect(UUID(hyphenated: id.uuidString.lowercased()) == id)
        }
        for bad in [
            "", "not-a-uuid", "18B53DD1-7F20-45AB-8EC5-6FB4A6E51F7", "18B53DD1-7F20-45AB-8EC5-6FB4A6E51F733",
            "18B53DD1_7F20-45AB-8EC5-6FB4A6E51F73", "18B53DD1-7F20-45AB-8EC5-6FB4A6E51F7G",
            "18B53DD17F2045AB8EC56FB4A6E51F73",
            "18B53DD1-7F20-45AB-8EC5-6FB4A6E51F7é",
        ] {
            #expect(UUID(hyphenated: bad) == nil, "\(bad)")
        }
    }

    @Test("values bound to SQLite statements are stored as SQLiteKit's encoder stores them")
    func sqliteBinds() throws {
        let id = UUID()
        let values: [any Encodable & Sendable] = [
            "text", "", "é ✓", id, Optional(id), UUID?.none, 0, -7, Int.max, Int64(1) << 40, true, false,
            Date(timeIntervalSince1970: 1_764_500_000.125), Date.distantFuture, 0.5, Double.pi, String?.none,
            Optional("inner"), ["a", "b"], MFAStatus.enabled.rawValue,
        ]
        for value in values {
            #expect(try SQLiteBinds.data(value) == SQLiteDataEncoder().encode(value), "\(value)")
        }
    }
}

@Suite("Counts and cursors")
struct CountsAndCursorsTests {
    @Test("counts are grouped by three digits as Foundation's number format writes them in English")
    func grouped() {
        let english = Locale(identifier: "en_US")
        var values = [0, 1, -1, 999, 1_000, -1_000, 10_001, 999_999, 1_000_000, Int.max, Int.min + 1]
        for _ in 0..<1000 { values.append(Int.random(in: -10_000_000_000...10_000_000_000)) }
        for value in values {
            #expect(value.grouped == value.formatted(.number.locale(english)), "\(value)")
        }
    }

    @Test("a link's query string says exactly its names and values, whatever characters they hold")
    func queryText() throws {
        var values = ["", "jane", "a&b=c", "x+y z", "100%", "Seán 李 👩🏽‍💻", "?#/[]@!$'()*,;", "-._~"]
        for _ in 0..<200 {
            values.append(
                String((0..<Int.random(in: 1...12)).map { _ in Character(Unicode.Scalar(UInt8.random(in: 32...126))) }))
        }
        for value in values {
            let items = [("query", value), ("sort", "-name"), (value, "1")]
            let text = QueryText.encode(items)
            #expect(text.utf8.allSatisfy { $0 < 128 && $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: " ") })
            let parsed = try #require(URLComponents(string: "/members?" + text)?.queryItems)
            #expect(parsed.map(\.name) == items.map(\.0), "\(value)")
            #expect(parsed.map(\.value) == items.map(\.1), "\(value)")
        }
        #expect(QueryText.encode([("query", "a b&c")]) == "query=a%20b%26c")
    }

    @Test("a page cursor reads back as written, and cursors of earlier versions (JSON) still read")
    func cursors() throws {
        typealias Cursor = MemberDirectory.Cursor
        for v in ["", "Ana Berg", "Seán 李小龍 👩🏽‍💻 \"quoted\" {brace}", "m10502@page.bench"] {
            let cursor = Cursor(v: v, id: UUID())
            #expect(try Cursor.decode(cursor.encoded) == cursor)
            #expect(cursor.encoded == cursor.encoded)
            let json = try JSONEncoder().encode(cursor)
            #expect(try Cursor.decode(Base64URL.encode(Array(json))) == cursor)
        }
        for bad in [
            "", "!!!", Base64URL.encode(Array("short".utf8)), Base64URL.encode(Array("{\"v\":1}".utf8)),
            Base64URL.encode(Array("not-a-uuid-but-thirty-six-characters".utf8) + Array("x".utf8)),
            String(repeating: "A", count: 600),
        ] {
            #expect(throws: LatchkeyError.self, "\(bad)") { try Cursor.decode(bad) }
        }
    }
}

@Suite("UUID text")
struct UUIDTextTests {
    @Test("ids are written as Foundation writes them")
    func formats() {
        for _ in 0..<1000 {
            let id = UUID()
            #expect(id.lowercasedString == id.uuidString.lowercased())
            #expect(id.upperCasedString == id.uuidString)
        }
        let zero = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        #expect(zero.lowercasedString == "00000000-0000-0000-0000-000000000000")
    }

    @Test("times in pages and mails read as Foundation's Gregorian calendar in UTC gives them")
    func shortDates() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        func foundation(_ date: Date) -> String {
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
            return String(format: "%04d-%02d-%02d %02d:%02d UTC", c.year!, c.month!, c.day!, c.hour!, c.minute!)
        }
        // Edges (the epoch and just before it, leap days, centuries, the ends of years and days), then a spread of
        // seconds from 1900 to 2400 (a prime stride, so every time of day and day of the month comes up).
        var times: [Double] = [
            0, -1, -0.5, 59.999, 951_782_400, 951_868_799, 4_102_444_799, 4_102_444_800, 1_790_000_000.75,
            -2_208_988_800, 13_569_465_600, 1_709_164_800, 1_709_251_199, 1_735_689_599.999,
        ]
        var second = -2_208_988_800.0
        while second < 13_569_465_600 {
            times.append(second)
            second += 1_000_003 * 7.3
        }
        for time in times {
            let date = Date(timeIntervalSince1970: time)
            #expect(DateText.short(date) == foundation(date), "\(time)")
        }
        #expect(DateText.short(Date(timeIntervalSince1970: 1_790_000_000)) == "2026-09-21 14:13 UTC")
    }
}
