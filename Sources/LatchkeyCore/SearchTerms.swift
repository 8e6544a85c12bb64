import Foundation

/// Word-prefix search over members. A query matches a member when each of its words starts a word of the
/// member's name or of their email's local part; a query with "@" matches the emails it starts.
///
/// The index stores every prefix of every such word (`prefixes`), so a query word is looked up by equality,
/// and the members it finds come out of the index already in name order: a page is its first rows, a count is
/// one range of it.
public enum SearchTerms {
    /// The longest word (and so the longest prefix) indexed; longer query words are cut to it.
    public static let maximumWordLength = 64

    /// The words indexed for a member: the words of the name and of the email's local part, lower-case, distinct.
    public static func words(name: String, email: String) -> Set<String> {
        let lowerEmail = email.lowercased()
        let local =
            lowerEmail.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).first
            .map(String.init) ?? lowerEmail
        return Set(words(name) + words(local))
    }

    /// Every prefix (1 to 64 characters) of every indexed word of a member, once each.
    public static func prefixes(name: String, email: String) -> Set<String> {
        var prefixes = Set<String>()
        for word in words(name: name, email: email) {
            var prefix = ""
            for character in word {
                prefix.append(character)
                prefixes.insert(prefix)
            }
        }
        return prefixes
    }

    /// What a query looks up.
    public enum Query: Hashable, Sendable {
        /// No search.
        case none
        /// Up to five words; a member matches when each one is a prefix the member has.
        case words([String])
        /// An email-like query (with "@"): a prefix of the address, lower-case.
        case email(String)
    }

    /// Parses a search box's text.
    public static func query(_ text: String) -> Query {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed.contains("@") { return .email(trimmed) }
        let found = Array(words(trimmed).prefix(5))
        return found.isEmpty ? .none : .words(found)
    }

    /// The words of a query or name: lower-case runs of letters and digits, each cut to 64 characters.
    public static func words(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map {
            String($0.prefix(maximumWordLength))
        }
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
