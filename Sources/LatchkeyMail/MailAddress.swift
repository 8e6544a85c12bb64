import Foundation

/// An email address with an optional display name. Addresses are checked so that no header and no SMTP command
/// can be injected through them; names are always encoded, never written raw.
public struct MailAddress: Sendable, Equatable, CustomStringConvertible {
    public let address: String
    public let name: String

    /// nil when `address` is not a plain `local@domain` (no spaces, angle brackets, quotes or control characters).
    public init?(_ address: String, name: String = "") {
        let address = address.trimmingCharacters(in: .whitespaces)
        guard Self.isValid(address) else { return nil }
        self.address = address
        self.name = name
    }

    /// Parses `Name <local@domain>` or a bare address, as `LATCHKEY_MAIL_FROM` is written.
    public init?(parsing text: String) {
        let text = text.trimmingCharacters(in: .whitespaces)
        if text.hasSuffix(">"), let open = text.lastIndex(of: "<") {
            var name = String(text[..<open]).trimmingCharacters(in: .whitespaces)
            if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") {
                name = String(name.dropFirst().dropLast())
            }
            self.init(String(text[text.index(after: open)..<text.index(before: text.endIndex)]), name: name)
        } else {
            self.init(text)
        }
    }

    public var domain: String { String(address[address.index(after: address.lastIndex(of: "@")!)...]) }

    public var description: String { name.isEmpty ? address : "\(name) <\(address)>" }

    /// The header form: `=?utf-8?B?…?= <address>` (the name is always encoded, so nothing in it is syntax).
    var header: String {
        let cleaned = MailHeader.singleLine(name)
        return cleaned.isEmpty ? address : "\(MailHeader.encodedWords(cleaned, always: true)) <\(address)>"
    }

    static func isValid(_ address: String) -> Bool {
        guard address.utf8.count <= 254, let at = address.lastIndex(of: "@") else { return false }
        let local = address[..<at]
        let domain = address[address.index(after: at)...]
        guard !local.isEmpty, local.utf8.count <= 64, !domain.isEmpty, !domain.hasPrefix("."),
            !domain.hasSuffix("."), !domain.contains("..")
        else { return false }
        let forbidden = Set("<>()[]\\,;:\" @")
        return address.unicodeScalars.allSatisfy { $0.value > 32 && $0.value != 127 }
            && local.allSatisfy { !forbidden.contains($0) }
            && domain.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }
    }
}
