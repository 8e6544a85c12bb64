import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// POSTs one webhook over HTTP/1.1 (TLS for `https`) to an address already checked by `WebhookTarget.resolve`,
/// with the URL's host as `Host` and as the TLS server name (its certificate is verified against it). Redirects
/// are not followed: an answer is an answer. One connection per delivery, closed after it.
public struct WebhookPoster: Sendable {
    private let tls: NIOSSLContext
    private let group: any EventLoopGroup

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        tls = try NIOSSLContext(configuration: configuration)
        self.group = group
    }

    /// The receiver's status code and the start of its body (at most 1,000 bytes, for the delivery log).
    public struct Answer: Sendable, Equatable {
        public var status: Int
        public var body: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public func post(
        _ body: String, headers: [(String, String)], to target: WebhookTarget, at address: SocketAddress,
        timeout: TimeAmount
    ) async throws -> Answer {
        let tls = target.secure ? tls : nil
        let serverName = Self.serverName(target.host)
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .connect(to: address) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if let tls {
                            try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                        }
                        try pipeline.addHTTPClientHandlers()
                        try pipeline.addHandler(IdleStateHandler(readTimeout: timeout))
                        try pipeline.addHandler(CloseOnIdle())
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                            wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw Failure(description: "cannot connect to \(target.host):\(target.port): \(Self.describe(error))")
        }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target.requestTarget)
                head.headers.add(name: "Host", value: Self.hostHeader(target))
                for (name, value) in headers { head.headers.add(name: name, value: value) }
                head.headers.add(name: "Content-Length", value: String(body.utf8.count))
                head.headers.add(name: "Connection", value: "close")
                // The whole request in one write: a receiver may answer and close as soon as it has read the body,
                // and a part still to be written would then fail on the closed connection, losing the answer.
                var unsent: (any Error)?
                do {
                    try await outbound.write(
                        contentsOf: [.head(head), .body(.byteBuffer(ByteBuffer(string: body))), .end(nil)])
                } catch {
                    unsent = error  // Its answer, if it gave one before closing, is still read below.
                }
                var status = 0
                var text = ""
                for try await part in inbound {
                    switch part {
                    case .head(let response): status = Int(response.status.code)
                    case .body(var bytes):
                        let room = max(0, 1000 - text.utf8.count)
                        if room > 0 { text += bytes.readString(length: min(room, bytes.readableBytes)) ?? "" }
                    case .end: return Answer(status: status, body: text)
                    }
                }
                if let unsent { throw unsent }
                throw Failure(description: "the connection closed before a complete answer")
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "\(target.host):\(target.port): \(Self.describe(error))")
        }
    }

    static func hostHeader(_ target: WebhookTarget) -> String {
        let host = target.host.contains(":") ? "[\(target.host)]" : target.host
        return target.port == (target.secure ? 443 : 80) ? host : "\(host):\(target.port)"
    }

    /// TLS names a host, never an address literal.
    static func serverName(_ host: String) -> String? {
        host.contains(":") || host.split(separator: ".").allSatisfy({ Int($0) != nil }) ? nil : host
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? NIOSSLError { return "TLS: \(error)" }
        if let error = error as? BoringSSLError { return "TLS: \(error)" }
        if error is ChannelError { return "the connection failed (\(error))" }
        return "\(error)"
    }
}

/// Closes the connection when the receiver says nothing for the read timeout.
private final class CloseOnIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias InboundOut = HTTPClientResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
