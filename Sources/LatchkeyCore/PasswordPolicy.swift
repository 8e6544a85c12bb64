/// What a new password must be (SPEC §12): 12 to 128 characters, not one of the 10,000 most common passwords
/// (compared without case; the list ships in the binary), and not the member's email.
public enum PasswordPolicy {
    public static let minimumLength = 12
    public static let maximumLength = 128

    public enum Problem: String, Sendable, Equatable {
        case tooShort = "password_too_short"
        case tooLong = "password_too_long"
        case common = "password_too_common"
        case email = "password_is_email"

        public var message: String {
            switch self {
            case .tooShort: "Use at least \(PasswordPolicy.minimumLength) characters."
            case .tooLong: "Use at most \(PasswordPolicy.maximumLength) characters."
            case .common: "That password is one of the most common ones; choose another."
            case .email: "Your password cannot be your email address."
            }
        }
    }

    /// The first rule `password` breaks, or nil when it may be used.
    public static func problem(with password: String, email: String) -> Problem? {
        let length = password.count
        if length < minimumLength { return .tooShort }
        if length > maximumLength { return .tooLong }
        let lowered = password.lowercased()
        let trimmedEmail = email.lowercased()
        if !trimmedEmail.isEmpty
            && (lowered == trimmedEmail || lowered == trimmedEmail.split(separator: "@").first.map(String.init))
        {
            return .email
        }
        if common.contains(lowered) { return .common }
        return nil
    }

    /// The 10,000 most common passwords, lower-cased (from Django's list, itself from breach corpora).
    static let common: Set<String> = {
        let text = String(decoding: PackageResources.common_passwords_txt, as: UTF8.self)
        return Set(text.split(whereSeparator: \.isNewline).map { $0.lowercased() })
    }()
}
