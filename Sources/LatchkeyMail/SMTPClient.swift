import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Hands messages to an SMTP server (RFC 5321): EHLO, STARTTLS or implicit TLS, AUTH PLAIN or LOGIN, MAIL,
/// RCPT for each recipient, DATA with dot-stuffing, QUIT. One connection per message.
public struct SMTPClient: Sendable {
    public let configuration: SMTPConfiguration
    private let tls: NIOSSLContext?
    private let group: any EventLoopGroup

    public init(configuration: SMTPConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton)
        throws
    {
        self.configuration = configuration
        self.group = group
        if configuration.security == .none {
            tls = nil
        } else {
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            tlsConfiguration.minimumTLSVersion = .tlsv12
            if let caFile = configuration.caFile {
                tlsConfiguration.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
            }
            tls = try NIOSSLContext(configuration: tlsConfiguration)
        }
    }

    /// Sends one message to all its recipients. Returns the recipients the server refused when it accepted
    /// others; throws when it accepted none, or refused the message.
    @discardableResult
    public func send(_ message: MailMessage) async throws(SMTPError) -> [(MailAddress, SMTPReply)] {
        try await send(from: message.from, to: message.to, data: message.rendered())
    }

    /// The envelope and raw content (lines ending in CRLF, not yet dot-stuffed).
    @discardableResult
    public func send(from: MailAddress, to recipients: [MailAddress], data: String) async throws(SMTPError)
        -> [(MailAddress, SMTPReply)]
    {
        guard !recipients.isEmpty else { throw .protocolViolation("a message needs a recipient") }
        let channel: NIOAsyncChannel<SMTPReply, ByteBuffer>
        do {
            channel = try await connect()
        } catch {
            throw .connection("cannot connect to \(configuration.host):\(configuration.port): \(Self.describe(error))")
        }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var session = Session(
                    replies: inbound.makeAsyncIterator(), outbound: outbound, channel: channel.channel,
                    configuration: configuration)
                return try await session.deliver(from: from, to: recipients, data: data, tls: tls)
            }
        } catch let error as SMTPError {
            throw error
        } catch {
            throw .connection("\(configuration.host):\(configuration.port): \(Self.describe(error))")
        }
    }

    private func connect() async throws -> NIOAsyncChannel<SMTPReply, ByteBuffer> {
        let configuration = configuration
        let implicitTLS = configuration.security == .implicitTLS ? tls : nil
        let timeout = TimeAmount(configuration.replyTimeout)
        return try await ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .connect(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let implicitTLS {
                        try pipeline.addHandler(
                            NIOSSLClientHandler(context: implicitTLS, serverHostname: Self.sniName(configuration.host)))
                    }
                    try pipeline.addHandler(IdleStateHandler(readTimeout: timeout))
                    try pipeline.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
                    try pipeline.addHandler(CloseWhenIdle())
                    return try NIOAsyncChannel<SMTPReply, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// SNI and certificate names are host names: an address literal gets none (its certificate must then name
    /// the address).
    static func sniName(_ host: String) -> String? {
        host.contains(":") || host.split(separator: ".").allSatisfy({ Int($0) != nil }) ? nil : host
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? SMTPError { return error.description }
        if let error = error as? NIOSSLError { return "TLS: \(error)" }
        if let error = error as? BoringSSLError { return "TLS: \(error)" }
        if error is ChannelError { return "the connection failed (\(error))" }
        return "\(error)"
    }

    /// Lines beginning with a dot get one more (RFC 5321 §4.5.2); line ends become CRLF; the data ends with
    /// `CRLF.CRLF`.
    static func dotStuffed(_ data: String) -> String {
        var lines = data.replacingOccurrences(of: "\r\n", with: "\n").split(
            separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0.hasPrefix(".") ? "." + $0 : String($0) }.joined(separator: "\r\n") + "\r\n.\r\n"
    }
}

/// One SMTP conversation.
private struct Session {
    var replies: NIOAsyncChannelInboundStream<SMTPReply>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let channel: any Channel
    let configuration: SMTPConfiguration

    mutating func deliver(from: MailAddress, to recipients: [MailAddress], data: String, tls: NIOSSLContext?)
        async throws -> [(MailAddress, SMTPReply)]
    {
        try await expect(setup: 220, after: nil)
        var extensions = try await hello()
        if configuration.security == .startTLS {
            guard extensions.keys.contains("STARTTLS"), let tls else {
                throw SMTPError.connection(
                    "\(configuration.host) does not offer STARTTLS, which is required (use smtps:// for TLS on 465, or starttls=off for a local relay)"
                )
            }
            try await expect(setup: 220, after: "STARTTLS")
            let channel = channel
            let serverHostname = SMTPClient.sniName(configuration.host)
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(
                    NIOSSLClientHandler(context: tls, serverHostname: serverHostname), position: .first)
            }.get()
            extensions = try await hello()
        }
        if let username = configuration.username {
            try await authenticate(username: username, password: configuration.password ?? "", extensions: extensions)
        }
        try await expect(message: 250, after: "MAIL FROM:<\(from.address)>")
        var refused: [(MailAddress, SMTPReply)] = []
        for recipient in recipients {
            let reply = try await exchange("RCPT TO:<\(recipient.address)>")
            guard reply.code == 250 || reply.code == 251 else {
                refused.append((recipient, reply))
                continue
            }
        }
        if refused.count == recipients.count { throw SMTPError.rejected(refused[0].1) }
        try await expect(message: 354, after: "DATA")
        try await expect(message: 250, after: nil, raw: SMTPClient.dotStuffed(data))
        _ = try? await exchange("QUIT")
        return refused
    }

    /// EHLO, and the extensions the server announces (keyword → parameters).
    mutating func hello() async throws -> [String: String] {
        let reply = try await exchange("EHLO \(configuration.localName)")
        guard reply.code == 250 else { throw SMTPError.connection("EHLO refused: \(reply)") }
        var extensions: [String: String] = [:]
        for line in reply.lines.dropFirst() {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard let keyword = parts.first else { continue }
            extensions[keyword.uppercased()] = parts.count > 1 ? parts[1].uppercased() : ""
        }
        return extensions
    }

    mutating func authenticate(username: String, password: String, extensions: [String: String]) async throws {
        let mechanisms = Set((extensions["AUTH"] ?? "").split(separator: " ").map(String.init))
        func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
        if mechanisms.contains("PLAIN") {
            try await expect(setup: 235, after: "AUTH PLAIN \(base64("\0\(username)\0\(password)"))", secret: true)
        } else if mechanisms.contains("LOGIN") {
            try await expect(setup: 334, after: "AUTH LOGIN")
            try await expect(setup: 334, after: base64(username), secret: true)
            try await expect(setup: 235, after: base64(password), secret: true)
        } else {
            throw SMTPError.connection("\(configuration.host) offers no AUTH PLAIN or LOGIN")
        }
    }

    /// A step of the session's setup: a refusal is the configuration's or the network's problem, worth retrying.
    mutating func expect(setup code: Int, after command: String?, secret: Bool = false) async throws {
        let reply = try await exchange(command)
        guard reply.code == code else {
            let what = secret ? "authentication" : command.map { String($0.prefix(20)) } ?? "greeting"
            throw SMTPError.connection("\(what) refused: \(reply)")
        }
    }

    /// A step about the message: the server's refusal is the message's outcome.
    mutating func expect(message code: Int, after command: String?, raw: String? = nil) async throws {
        let reply = try await exchange(command, raw: raw)
        guard reply.code == code else { throw SMTPError.rejected(reply) }
    }

    mutating func exchange(_ command: String?, raw: String? = nil) async throws -> SMTPReply {
        if let text = raw ?? command.map({ $0 + "\r\n" }) {
            do {
                try await outbound.write(ByteBuffer(string: text))
            } catch {
                // A write fails once the channel is closed; why it closed (a TLS failure, say) is what the
                // inbound side saw.
                _ = try await replies.next()
                throw error
            }
        }
        guard let reply = try await replies.next() else {
            throw SMTPError.connection("\(configuration.host) closed the connection")
        }
        return reply
    }
}
