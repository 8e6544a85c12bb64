import Foundation

/// Where and how to hand mail over: parsed from `LATCHKEY_SMTP_URL`.
///
/// - `smtp://user:pass@host:587`: plain connection upgraded with STARTTLS, which is required (a server that does
///   not offer it is refused, so credentials and mail never cross the network in clear);
/// - `smtps://user:pass@host:465`: TLS from the first byte;
/// - `smtp://host:25?starttls=off`: no TLS, for a relay on the same host; credentials are refused there.
public struct SMTPConfiguration: Sendable, Equatable, CustomStringConvertible {
    public enum Security: String, Sendable, Equatable {
        case startTLS, implicitTLS, none
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var username: String?
    public var password: String?
    /// An extra CA certificate (PEM) to trust beside the system's, e.g. a company relay's.
    public var caFile: String?
    /// The name this client gives in EHLO.
    public var localName = "localhost"
    public var connectTimeout: Duration = .seconds(10)
    /// How long to wait for each of the server's replies.
    public var replyTimeout: Duration = .seconds(60)

    public init(
        host: String, port: Int, security: Security, username: String? = nil, password: String? = nil,
        caFile: String? = nil
    ) {
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.caFile = caFile
    }

    /// Parses an `smtp://` or `smtps://` URL; the error says what is wrong in one sentence, never repeating
    /// the password.
    public static func parse(_ text: String, caFile: String? = nil) throws(SMTPConfigurationError) -> SMTPConfiguration
    {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
            scheme == "smtp" || scheme == "smtps"
        else { throw SMTPConfigurationError("must look like smtp://user:password@host:587 or smtps://host:465") }
        guard let host = url.host, !host.isEmpty else { throw SMTPConfigurationError("names no host") }
        let starttls = url.queryItems?.first { $0.name == "starttls" }?.value?.lowercased()
        if let unknown = url.queryItems?.first(where: { $0.name != "starttls" }) {
            throw SMTPConfigurationError("has an unknown option \"\(unknown.name)\" (only starttls=off is known)")
        }
        let security: Security
        switch (scheme, starttls) {
        case ("smtps", nil): security = .implicitTLS
        case ("smtp", nil): security = .startTLS
        case ("smtp", "off"): security = .none
        default: throw SMTPConfigurationError("takes starttls=off only with smtp://")
        }
        let port = url.port ?? (security == .implicitTLS ? 465 : security == .startTLS ? 587 : 25)
        guard (1...65535).contains(port) else { throw SMTPConfigurationError("has a port out of range") }
        let username = url.user.flatMap { $0.isEmpty ? nil : $0 }
        let password = url.password
        if username != nil && security == .none {
            throw SMTPConfigurationError("sends credentials only over TLS (remove starttls=off or the credentials)")
        }
        if username == nil && password != nil { throw SMTPConfigurationError("has a password but no user") }
        var configuration = SMTPConfiguration(
            host: host, port: port, security: security, username: username, password: password ?? "",
            caFile: caFile)
        if username == nil { configuration.password = nil }
        return configuration
    }

    /// The URL with the password masked, safe to print and log.
    public var description: String {
        let scheme = security == .implicitTLS ? "smtps" : "smtp"
        let user = username.map { "\($0):***@" } ?? ""
        return "\(scheme)://\(user)\(host):\(port)\(security == .none ? "?starttls=off" : "")"
    }
}

public struct SMTPConfigurationError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { "LATCHKEY_SMTP_URL \(reason)" }
}
