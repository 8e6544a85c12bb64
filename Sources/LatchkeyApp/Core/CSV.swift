import Foundation

/// CSV for spreadsheets (RFC 4180, CRLF line ends).
enum CSV {
    /// One field, quoted when needed; a leading formula character is neutralised for spreadsheets.
    static func field(_ value: String) -> String {
        var text = value
        if let first = text.first, "=+-@\t\r".contains(first) { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
