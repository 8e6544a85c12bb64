/// Who sent a request, as recorded on audit events and background jobs: the request id, the client's
/// address and its user agent (cut to 256 characters).
public struct RequestMeta: Sendable, Equatable {
    public var requestID: String
    public var ip: String
    public var userAgent: String

    public init(requestID: String, ip: String, userAgent: String) {
        self.requestID = requestID
        self.ip = ip
        self.userAgent = String(userAgent.prefix(256))
    }

    /// Requests from the operator's shell.
    public static let operator_ = RequestMeta(requestID: "cli", ip: "local", userAgent: "latchkey-cli")
    /// `latchkey bench`, timing the server's own paths.
    public static let bench = RequestMeta(requestID: "bench", ip: "127.0.0.1", userAgent: "bench")
}
