import Foundation
import NIOCore

/// One reply of an SMTP server (RFC 5321 §4.2): a three-digit code and one or more lines of text.
public struct SMTPReply: Sendable, Equatable, CustomStringConvertible {
    public let code: Int
    public let lines: [String]

    public var isPositive: Bool { (200..<400).contains(code) }
    /// 4yz: try again later.
    public var isTransient: Bool { (400..<500).contains(code) }

    /// The code and the text, on one line: what an administrator sees as the server's answer.
    public var description: String { "\(code) \(lines.joined(separator: " "))".trimmingCharacters(in: .whitespaces) }
}

/// Splits the byte stream into replies; a multi-line reply (`250-…` lines closed by `250 …`) is one reply.
struct SMTPReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = SMTPReply
    /// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets; allow some slack, never unbounded.
    static let maximumLineLength = 4096
    private var pending: [String] = []

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > Self.maximumLineLength {
                throw SMTPError.protocolViolation("reply line too long")
            }
            return .needMoreData
        }
        var bytes = buffer.readBytes(length: newline - buffer.readerIndex + 1)!
        while bytes.last == UInt8(ascii: "\n") || bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        let line = String(decoding: bytes, as: UTF8.self)
        guard bytes.count >= 3, let code = Int(String(decoding: bytes[0..<3], as: UTF8.self)),
            (200..<600).contains(code),
            bytes.count == 3 || bytes[3] == UInt8(ascii: " ") || bytes[3] == UInt8(ascii: "-")
        else { throw SMTPError.protocolViolation("malformed reply \"\(line.prefix(80))\"") }
        pending.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
        if bytes.count > 3 && bytes[3] == UInt8(ascii: "-") { return .continue }
        context.fireChannelRead(wrapInboundOut(SMTPReply(code: code, lines: pending)))
        pending = []
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        try decode(context: context, buffer: &buffer)
    }
}

/// Closes the connection when the server stays silent longer than the reply timeout.
final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = SMTPReply
    typealias InboundOut = SMTPReply

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.fireChannelRead(data) }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.fireErrorCaught(SMTPError.connection("the server did not answer in time"))
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
