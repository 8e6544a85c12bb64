import Foundation
import LatchkeyWebhook
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// Receivers that close the connection as soon as they have answered: every answer must reach the poster. One
/// answers once it has read the request's body, as Python's `http.server` does (HTTP/1.0) — a part of the request
/// still being written when that connection closed once made the poster report "I/O on closed channel" for a
/// delivery the receiver had acknowledged, which was then sent again. The other answers on a large request's first
/// bytes (as a server refusing an oversized or unwanted request may), which made that failure certain.
@Suite struct WebhookPosterTests {
    final class Tally: Sendable {
        let count = Mutex(0)
    }

    enum When: Sendable, CaseIterable {
        case afterTheBody, onTheFirstBytes
    }

    final class AnswerThenClose: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let answered: Tally
        let when: When
        var request = ByteBuffer()

        init(answered: Tally, when: When) {
            self.answered = answered
            self.when = when
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            let first = request.readableBytes == 0
            request.writeBuffer(&bytes)
            switch when {
            case .onTheFirstBytes:
                // Reads no more, so the request cannot be written in full; closes for good a moment later.
                guard first else { return }
                context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
                answer(context, then: .output)
                let loop = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .seconds(1)) { loop.value.close(promise: nil) }
            case .afterTheBody:
                let text = String(buffer: request)
                guard let headEnd = text.range(of: "\r\n\r\n") else { return }
                let length =
                    text[..<headEnd.lowerBound].split(separator: "\r\n").lazy
                    .compactMap { line -> Int? in
                        let parts = line.split(separator: ":", maxSplits: 1)
                        guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
                        return Int(parts[1].trimmingCharacters(in: .whitespaces))
                    }.first ?? 0
                if text[headEnd.upperBound...].utf8.count >= length { answer(context, then: .all) }
            }
        }

        func answer(_ context: ChannelHandlerContext, then mode: CloseMode) {
            answered.count.withLock { $0 += 1 }
            let loop = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(
                wrapOutboundOut(ByteBuffer(string: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"))
            ).whenComplete { _ in loop.value.close(mode: mode, promise: nil) }
        }
    }

    @Test(arguments: When.allCases) func everyAnswerArrivesWhenTheReceiverCloses(_ when: When) async throws {
        let answered = Tally()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.pipeline.addHandler(AnswerThenClose(answered: answered, when: when))
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        let target = try WebhookTarget("http://127.0.0.1:\(port)/hook", allowPrivate: true)
        let address = try await target.resolve(allowPrivate: true)
        let poster = try WebhookPoster()
        // For the early answer, a body larger than the sockets' buffers: still being written when the connection
        // closes.
        let (body, posts) =
            when == .afterTheBody
            ? (String(repeating: #"{"event":"member.suspended"}"#, count: 40), 400)
            : (String(repeating: "x", count: 8 << 20), 40)
        var answers: [String: Int] = [:]
        try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<posts {
                if index >= 4, let answer = try await group.next() { answers[answer, default: 0] += 1 }
                group.addTask {
                    do {
                        let answer = try await poster.post(
                            body, headers: [("Content-Type", "application/json")], to: target, at: address,
                            timeout: .seconds(10))
                        return "\(answer.status)"
                    } catch {
                        return "\(error)"
                    }
                }
            }
            for try await answer in group { answers[answer, default: 0] += 1 }
        }
        try await server.close()
        #expect(answers == ["200": posts])
        #expect(answered.count.withLock { $0 } == posts)
    }
}
