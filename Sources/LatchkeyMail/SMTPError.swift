/// Why a message was not handed over, and whether trying again later can help.
public enum SMTPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server refused the message (a 4yz or 5yz reply to MAIL, RCPT or DATA).
    case rejected(SMTPReply)
    /// Connecting, TLS, authentication or the server's greeting failed: the configuration or the network.
    case connection(String)
    /// The server said something that is not SMTP.
    case protocolViolation(String)

    /// A permanent failure: a 5yz reply about this message. Everything else is worth another try.
    public var isPermanent: Bool {
        if case .rejected(let reply) = self { return reply.code >= 500 }
        return false
    }

    public var description: String {
        switch self {
        case .rejected(let reply): reply.description
        case .connection(let reason): reason
        case .protocolViolation(let reason): "protocol error: \(reason)"
        }
    }
}
