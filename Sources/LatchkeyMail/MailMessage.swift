import Foundation

/// A message ready to hand over: envelope and content. `rendered()` writes it in RFC 5322 form with a text and an
/// HTML part, `Date` and `Message-ID`.
public struct MailMessage: Sendable {
    public var from: MailAddress
    public var to: [MailAddress]
    public var subject: String
    public var text: String
    public var html: String?
    public var messageID: String
    public var date: Date

    public init(
        from: MailAddress, to: [MailAddress], subject: String, text: String, html: String? = nil,
        messageID: String, date: Date
    ) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.messageID = messageID
        self.date = date
    }

    /// A fresh `Message-ID` in the sender's domain.
    public static func makeID(_ unique: UUID = UUID(), domain: String) -> String {
        "<\(unique.uuidString.lowercased())@\(domain)>"
    }

    /// The message in wire form, lines ending in CRLF; dot-stuffing is left to the client.
    public func rendered() -> String {
        let boundary = "=_latchkey_\(UUID().uuidString.lowercased())"
        var lines = [
            "Date: \(MailHeader.date(date))",
            "From: \(from.header)",
            "To: \(to.map(\.header).joined(separator: ",\r\n "))",
            "Subject: \(MailHeader.encodedWords(MailHeader.singleLine(subject)))",
            "Message-ID: \(MailHeader.singleLine(messageID))",
            "MIME-Version: 1.0",
            "Auto-Submitted: auto-generated",
        ]
        let textPart =
            ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", ""]
            + MailHeader.base64Lines(text)
        if let html {
            lines += [
                "Content-Type: multipart/alternative; boundary=\"\(boundary)\"", "", "--\(boundary)",
            ]
            lines += textPart
            lines += [
                "--\(boundary)", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: base64", "",
            ]
            lines += MailHeader.base64Lines(html)
            lines.append("--\(boundary)--")
        } else {
            lines += textPart
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}

/// Header-writing helpers (RFC 2047 encoded words, RFC 5322 dates).
enum MailHeader {
    /// Control characters (CR and LF above all) become spaces: a header value is always one line.
    static func singleLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 32 || $0.value == 127 ? " " : $0 }))
            .trimmingCharacters(in: .whitespaces)
    }

    /// Printable ASCII without `=?` stays as it is; anything else becomes `=?utf-8?B?…?=` words of at most 75
    /// characters, folded onto continuation lines, split only between characters.
    static func encodedWords(_ text: String, always: Bool = false) -> String {
        let plain = text.unicodeScalars.allSatisfy { (32..<127).contains($0.value) }
        if !always && plain && !text.contains("=?") && text.utf8.count <= 900 { return text }
        var words: [String] = []
        var chunk = ""
        for character in text {
            if chunk.utf8.count + character.utf8.count > 45 {
                words.append(chunk)
                chunk = ""
            }
            chunk.append(character)
        }
        if !chunk.isEmpty { words.append(chunk) }
        return words.map { "=?utf-8?B?\(Data($0.utf8).base64EncodedString())?=" }.joined(separator: "\r\n ")
    }

    static func base64Lines(_ text: String) -> [String] {
        let encoded = Data(text.utf8).base64EncodedString(options: [
            .lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed,
        ])
        return encoded.isEmpty ? [] : encoded.components(separatedBy: "\r\n")
    }

    static func date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}
