import Foundation

/// Word-prefix search over members: every word of the name, the email, its local part and the words of
/// the local part are indexed; a query matches a member when each of its words starts one of the terms.
public enum SearchTerms {
    /// The indexed terms for a member (lower-case, distinct, at most 64 characters each).
    public static func terms(name: String, email: String) -> Set<String> {
        var terms = Set<String>()
        let lowerEmail = email.lowercased()
        terms.insert(String(lowerEmail.prefix(64)))
        let local = lowerEmail.split(separator: "@").first.map(String.init) ?? lowerEmail
        terms.insert(String(local.prefix(64)))
        for word in words(name) + words(local) { terms.insert(word) }
        return terms.filter { !$0.isEmpty }
    }

    /// What a query looks up: an email-like query (with "@") as one prefix of the full address, anything
    /// else word by word.
    public static func queryTerms(_ query: String) -> [String] {
        let trimmed = query.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed.contains("@") { return [String(trimmed.prefix(64))] }
        return words(trimmed)
    }

    /// The words of a query or name: lower-case runs of letters and digits.
    public static func words(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map { String($0.prefix(64)) }
    }

    /// The smallest string greater than every string starting with `prefix` (for an index range scan).
    public static func upperBound(_ prefix: String) -> String {
        var scalars = Array(prefix.unicodeScalars)
        while let last = scalars.popLast() {
            if let next = Unicode.Scalar(last.value + 1) {
                scalars.append(next)
                return String(String.UnicodeScalarView(scalars))
            }
        }
        return String(UnicodeScalar(0x10FFFF)!)
    }
}
