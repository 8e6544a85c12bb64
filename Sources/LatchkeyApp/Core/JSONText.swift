import Foundation
import LatchkeyCore

/// JSON written by hand for the hottest answers (a page of 50 members): the same bytes `JSONResponse` would
/// produce (sorted keys, unescaped slashes, ISO 8601 dates in UTC without fractions), at a fraction of
/// `JSONEncoder`'s cost. A test holds the two to equal output.
struct JSONText {
    private(set) var text = ""
    private var needsComma: [Bool] = []

    init(capacity: Int = 1024) { text.reserveCapacity(capacity) }

    mutating func object(_ body: (inout JSONText) -> Void) {
        separate()
        text += "{"
        needsComma.append(false)
        body(&self)
        needsComma.removeLast()
        text += "}"
    }

    mutating func array<S: Sequence>(_ items: S, _ body: (inout JSONText, S.Element) -> Void) {
        separate()
        text += "["
        needsComma.append(false)
        for item in items { body(&self, item) }
        needsComma.removeLast()
        text += "]"
    }

    /// A key of the enclosing object; write its value next. Keys must be given in sorted order.
    mutating func key(_ name: String) {
        separate()
        Self.appendString(name, to: &text)
        text += ":"
        needsComma[needsComma.count - 1] = false
    }

    mutating func string(_ value: String) {
        separate()
        Self.appendString(value, to: &text)
    }

    mutating func int(_ value: Int) {
        separate()
        text += String(value)
    }

    mutating func bool(_ value: Bool) {
        separate()
        text += value ? "true" : "false"
    }

    mutating func date(_ value: Date) {
        separate()
        text += "\""
        Self.appendISO8601(value, to: &text)
        text += "\""
    }

    mutating func uuid(_ value: UUID) { string(value.upperCasedString) }

    /// `key: value`, or nothing when `value` is nil (as `JSONEncoder` leaves out nil optionals).
    mutating func optional<T>(_ name: String, _ value: T?, _ write: (inout JSONText, T) -> Void) {
        guard let value else { return }
        key(name)
        write(&self, value)
    }

    private mutating func separate() {
        guard let last = needsComma.last else { return }
        if last { text += "," }
        needsComma[needsComma.count - 1] = true
    }

    static func appendString(_ value: String, to text: inout String) {
        text += "\""
        let utf8 = value.utf8
        var runStart = utf8.startIndex
        var index = runStart
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 {
                text += value[runStart..<index]
                switch byte {
                case UInt8(ascii: "\""): text += "\\\""
                case UInt8(ascii: "\\"): text += "\\\\"
                case 0x08: text += "\\b"
                case 0x0C: text += "\\f"
                case 0x0A: text += "\\n"
                case 0x0D: text += "\\r"
                case 0x09: text += "\\t"
                default:
                    let hex = String(byte, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
                runStart = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        text += value[runStart..<utf8.endIndex]
        text += "\""
    }

    /// `yyyy-MM-dd'T'HH:mm:ss'Z'` in UTC (the civil date from `DateText.civil`).
    static func appendISO8601(_ date: Date, to text: inout String) {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        var days = seconds / 86_400
        var rest = seconds % 86_400
        if rest < 0 {
            rest += 86_400
            days -= 1
        }
        let (year, month, day) = DateText.civil(fromDays: days)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : String(n) }
        let yearText = String(year)
        text += String(repeating: "0", count: max(0, 4 - yearText.count)) + yearText
        text +=
            "-" + two(month) + "-" + two(day) + "T" + two(rest / 3600) + ":" + two(rest % 3600 / 60) + ":"
            + two(rest % 60) + "Z"
    }
}
