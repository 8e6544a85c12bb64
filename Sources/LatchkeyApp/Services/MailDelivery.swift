import Foundation
import LatchkeyCore
import LatchkeyMail
import LatchkeyStore
import Logging
import ServiceLifecycle

/// Sends the outbox. Runs on every instance when SMTP is configured: each message is claimed with a lease, so two
/// workers (on one instance or many) never send it twice; a temporary failure is tried again with back-off for up
/// to 24 hours; a permanent one is marked failed with the server's answer.
struct MailDelivery: Service {
    let services: AppServices
    let client: SMTPClient
    /// This worker's name on the leases it takes.
    let owner = UUID().lowercasedString
    var pollInterval: Duration = .seconds(1)
    var batchSize = 20
    /// Longer than any one delivery can take (connect plus a bounded wait for each reply).
    static let lease: TimeInterval = 600
    /// One delivery, at most: well inside the lease.
    static let deliveryTimeout: Duration = .seconds(240)

    init(services: AppServices, configuration: SMTPConfiguration) throws {
        self.services = services
        var configuration = configuration
        configuration.localName = URLComponents(string: services.config.linkBase)?.host ?? "localhost"
        configuration.replyTimeout = .seconds(30)
        self.client = try SMTPClient(configuration: configuration)
    }

    func run() async throws {
        services.logger.info("mail delivery started", metadata: ["smtp": "\(client.configuration)"])
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let delivered: Int
            do {
                delivered = try await deliverDue()
            } catch {
                services.logger.error("mail delivery failed", metadata: ["error_type": "\(type(of: error))"])
                delivered = 0
            }
            if delivered == batchSize { continue }
            try? await cancelWhenGracefulShutdown { [pollInterval] in try await Task.sleep(for: pollInterval) }
        }
    }

    /// Claims the due messages and tries each once. Returns how many were claimed.
    @discardableResult
    func deliverDue() async throws -> Int {
        let now = services.now
        let messages = try await services.store.outbox.claim(
            owner: owner, now: now, until: now.addingTimeInterval(Self.lease), limit: batchSize)
        for message in messages {
            // The batch was leased at once; each message's lease is renewed as it comes up, or skipped if it ran out.
            let start = services.now
            guard
                try await services.store.outbox.renewLease(
                    message.id, owner: owner, now: start, until: start.addingTimeInterval(Self.lease))
            else { continue }
            let outcome = await deliver(message)
            try await services.store.outbox.finish(message.id, owner: owner, outcome: outcome)
        }
        return messages.count
    }

    func deliver(_ message: OutboxMessage) async -> OutboxRepository.DeliveryOutcome {
        let sender = services.config.sender
        guard let recipient = MailAddress(message.toEmail) else {
            return .failed(at: services.now, error: "not a deliverable address")
        }
        let mail = MailMessage(
            from: sender, to: [recipient], subject: message.subject, text: message.body,
            html: MailHTML.render(message.body),
            messageID: MailMessage.makeID(message.id, domain: sender.domain), date: message.createdAt)
        let error: SMTPError
        do {
            _ = try await withDeadline(Self.deliveryTimeout) { try await client.send(mail) }
            services.logger.info("mail sent", metadata: ["message_id": "\(message.id)"])
            return .sent(at: services.now)
        } catch let failure as SMTPError {
            error = failure
        } catch _ {
            error = .connection("the delivery took too long")
        }
        let now = services.now
        let answer = String(error.description.prefix(500))
        services.logger.warning(
            "mail not sent", metadata: ["message_id": "\(message.id)", "permanent": "\(error.isPermanent)"])
        if error.isPermanent { return .failed(at: now, error: answer) }
        let next = now.addingTimeInterval(Self.backoff(attempt: message.attempts))
        let giveUp = message.giveUpAt ?? message.createdAt.addingTimeInterval(OutboxRepository.retryWindow)
        if next > giveUp { return .failed(at: now, error: "gave up after 24 hours; last answer: \(answer)") }
        return .retry(at: next, error: answer)
    }

    /// 30 s after the first failed attempt, doubling, at most an hour apart.
    static func backoff(attempt: Int) -> TimeInterval {
        min(30 * pow(2, Double(max(0, attempt - 1))), 3600)
    }
}

/// Runs `body`, giving up after `timeout`.
func withDeadline<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T
{
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw CancellationError() }
        return value
    }
}

/// The HTML part of a message, made from its text: escaped, paragraphs kept, links clickable.
enum MailHTML {
    static func render(_ text: String) -> String {
        let paragraphs = text.components(separatedBy: "\n\n").map { paragraph in
            paragraph.components(separatedBy: "\n").map(linkified).joined(separator: "<br>\n")
        }
        return """
            <!doctype html>
            <html><body style="font-family: -apple-system, 'Segoe UI', Roboto, sans-serif; font-size: 15px; \
            line-height: 1.5; color: #1f2328; max-width: 40em;">
            \(paragraphs.map { "<p>\($0)</p>" }.joined(separator: "\n"))
            </body></html>
            """
    }

    private static func linkified(_ line: String) -> String {
        line.split(separator: " ", omittingEmptySubsequences: false).map { word -> String in
            let escaped = HTML.escape(String(word))
            guard word.hasPrefix("https://") || word.hasPrefix("http://") else { return escaped }
            return "<a href=\"\(escaped)\">\(escaped)</a>"
        }.joined(separator: " ")
    }
}
