import FluentKit
import Foundation
import SQLKit

/// A message waiting in (or sent from) the mail outbox.
public struct OutboxMessage: Sendable, Equatable {
    public var id: UUID
    public var organizationID: UUID?
    public var toEmail: String
    public var subject: String
    public var body: String
    public var createdAt: Date
    public var sentAt: Date?

    public init(
        id: UUID = UUID(), organizationID: UUID?, toEmail: String, subject: String, body: String, createdAt: Date
    ) {
        self.id = id
        self.organizationID = organizationID
        self.toEmail = toEmail
        self.subject = subject
        self.body = body
        self.createdAt = createdAt
    }

    init(_ model: OutboxMessageModel) {
        id = model.id!
        organizationID = model.organizationID
        toEmail = model.toEmail
        subject = model.subject
        body = model.body
        createdAt = model.createdAt
        sentAt = model.sentAt
    }
}

/// The mail outbox: messages are queued in the transaction of the change they tell about.
public struct OutboxRepository: Sendable {
    let db: any Database

    init(_ db: any Database) { self.db = db }

    /// Queues messages with multi-row inserts.
    public func enqueue(_ messages: [OutboxMessage]) async throws {
        try await BulkInsert.rows(
            messages.map {
                [
                    SQLBind($0.id), $0.organizationID.map { SQLBind($0) } ?? SQLLiteral.null, SQLBind($0.toEmail),
                    SQLBind($0.subject), SQLBind($0.body), SQLBind($0.createdAt), SQLBind(0),
                ]
            }, into: OutboxMessageModel.schema,
            columns: ["id", "organization_id", "to_email", "subject", "body", "created_at", "attempts"], on: db)
    }

    /// The organization's most recent messages, newest first.
    public func recent(organizationID: UUID, limit: Int) async throws -> [OutboxMessage] {
        try await OutboxMessageModel.query(on: db).filter(\.$organizationID == organizationID)
            .sort(\.$createdAt, .descending).limit(limit).all().map(OutboxMessage.init)
    }
}
