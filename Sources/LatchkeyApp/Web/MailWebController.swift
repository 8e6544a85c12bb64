import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyMail
import LatchkeyStore

/// The Mail page (`org.settings`): queued, sent and failed mail, and Retry.
struct MailWebController {
    let services: AppServices
    static let pageSize = 50

    func register(on group: RouterGroup<OrgMemberContext>) {
        let mail = group.group().add(middleware: RequirePermissions(.orgSettings))
        mail.on(.get, .mail, use: page)
        mail.on(.post, .mailRetry, use: retry)
    }

    @Sendable func page(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let q = request.uri.queryParameters
        var status: OutboxMessage.Status?
        if let text = q.get("status"), !text.isEmpty {
            guard let value = OutboxMessage.Status(rawValue: text) else {
                throw LatchkeyError.badRequest("bad_status", "status must be queued, sent or failed.")
            }
            status = value
        }
        let before = try q.get("before").flatMap { $0.isEmpty ? nil : try Self.cursor($0) }
        let organizationID = context.auth.organizationID
        var messages = try await services.store.outbox.page(
            organizationID: organizationID, status: status, before: before, limit: Self.pageSize + 1)
        var next: String?
        if messages.count > Self.pageSize {
            messages.removeLast()
            next = messages.last.map(Self.cursor)
        }
        let config = services.config
        let model = MailPages.Model(
            messages: messages, counts: try await services.store.outbox.counts(organizationID: organizationID),
            status: status, nextCursor: next, server: config.smtp?.description, sender: config.sender.description,
            notice: Flash.read(request)?.key == "retried"
                ? "The message is queued and goes out with the next delivery." : nil)
        return HTMLResponse.make(MailPages.page(auth: context.auth, model: model))
    }

    @Sendable func retry(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let id = try context.parameters.require("id", as: UUID.self)
        let auth = context.auth
        let now = services.now
        let event = auth.event(.mailRetried, .success, meta: context.meta)
        let message = try await services.store.transaction { tx -> OutboxMessage? in
            var entry = event
            guard let message = try await tx.outbox.retry(id, organizationID: auth.organizationID, now: now) else {
                return nil
            }
            entry.targetID = nil
            entry.targetEmail = message.toEmail
            entry.reason = "\(message.subject) (\(message.id.lowercasedString))"
            try await tx.audit.append(entry, at: now)
            return message
        }
        guard message != nil else { throw LatchkeyError.notFound("No unsent message has that id.") }
        return Flash.redirect(to: Route.mail.path, notice: "retried", secure: services.config.secureCookies)
    }

    /// Page cursors: `<milliseconds since 1970>_<id>` of the last message shown.
    static func cursor(_ message: OutboxMessage) -> String {
        "\(Int64((message.createdAt.timeIntervalSince1970 * 1000).rounded(.down)))_\(message.id.lowercasedString)"
    }

    static func cursor(_ text: String) throws -> (Date, UUID) {
        let parts = text.split(separator: "_")
        guard parts.count == 2, let millis = Int64(parts[0]), let id = UUID(uuidString: String(parts[1])) else {
            throw LatchkeyError.badRequest("bad_cursor", "before is not a cursor this page gave.")
        }
        return (Date(timeIntervalSince1970: Double(millis) / 1000), id)
    }
}
