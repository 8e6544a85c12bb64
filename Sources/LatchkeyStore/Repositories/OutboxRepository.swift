import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// A message waiting in (or sent from) the mail outbox.
public struct OutboxMessage: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case queued, sent, failed
    }

    public var id: UUID
    public var organizationID: UUID?
    public var toEmail: String
    public var subject: String
    public var body: String
    public var createdAt: Date
    public var sentAt: Date?
    public var failedAt: Date?
    public var attempts = 0
    public var nextAttemptAt: Date?
    /// When temporary failures stop being retried (24 hours after queueing or after an administrator's retry).
    public var giveUpAt: Date?
    /// The mail server's last answer (or why it could not be reached).
    public var lastError: String?

    public init(
        id: UUID = UUID.random(), organizationID: UUID?, toEmail: String, subject: String, body: String, createdAt: Date
    ) {
        self.id = id
        self.organizationID = organizationID
        self.toEmail = toEmail
        self.subject = subject
        self.body = body
        self.createdAt = createdAt
    }

    public var status: Status { sentAt != nil ? .sent : failedAt != nil ? .failed : .queued }

    init(_ model: OutboxMessageModel) {
        id = model.id!
        organizationID = model.organizationID
        toEmail = model.toEmail
        subject = model.subject
        body = model.body
        createdAt = model.createdAt
        sentAt = model.sentAt
        failedAt = model.failedAt
        attempts = model.attempts
        nextAttemptAt = model.nextAttemptAt
        giveUpAt = model.giveUpAt
        lastError = model.lastError
    }
}

/// The mail outbox: messages are queued in the transaction of the change they tell about, and a delivery worker
/// on each instance claims due messages with a lease, so two instances never send one message.
public struct OutboxRepository: Sendable {
    let db: any Database
    var sql: any SQLDatabase { db as! any SQLDatabase }

    init(_ db: any Database) { self.db = db }

    /// How long temporary failures are retried after a message is queued.
    public static let retryWindow: TimeInterval = 24 * 3600

    /// Queues messages with multi-row inserts.
    public func enqueue(_ messages: [OutboxMessage]) async throws {
        try await BulkInsert.rows(
            messages.map {
                [
                    SQLBind($0.id), $0.organizationID.map { SQLBind($0) } ?? SQLLiteral.null, SQLBind($0.toEmail),
                    SQLBind($0.subject), SQLBind($0.body), SQLBind($0.createdAt), SQLBind(0),
                    SQLBind($0.createdAt), SQLBind($0.createdAt.addingTimeInterval(Self.retryWindow)),
                ]
            }, into: OutboxMessageModel.schema,
            columns: [
                "id", "organization_id", "to_email", "subject", "body", "created_at", "attempts", "next_attempt_at",
                "give_up_at",
            ], on: db)
    }

    /// Claims up to `limit` due messages, oldest first, for `owner` until `until`, counting the attempt. A message
    /// another worker holds, or that is sent or failed, is never claimed.
    public func claim(owner: String, now: Date, until: Date, limit: Int) async throws -> [OutboxMessage] {
        let due: SQLQueryString = """
            sent_at IS NULL AND failed_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= \(bind: now))
              AND (lease_until IS NULL OR lease_until < \(bind: now))
            """
        let skipLocked: SQLQueryString = sql.dialect.name == "postgresql" ? " FOR UPDATE SKIP LOCKED" : ""
        let ids = try await sql.raw(
            """
            UPDATE mail_outbox SET lease_owner = \(bind: owner), lease_until = \(bind: until), attempts = attempts + 1
            WHERE id IN (SELECT id FROM mail_outbox WHERE \(due) ORDER BY next_attempt_at, created_at
                         LIMIT \(bind: limit)\(skipLocked))
              AND \(due)
            RETURNING id
            """
        ).all().map { try $0.decode(column: "id", as: UUID.self) }
        guard !ids.isEmpty else { return [] }
        return try await OutboxMessageModel.query(on: db).filter(\.$id ~~ ids).sort(\.$createdAt).all()
            .map(OutboxMessage.init)
    }

    /// Renews `owner`'s lease of one claimed message right before it is sent, if the lease still holds (see
    /// `WebhookRepository.renewLease`); false when it ran out.
    public func renewLease(_ id: UUID, owner: String, now: Date, until: Date) async throws -> Bool {
        try await !sql.raw(
            """
            UPDATE mail_outbox SET lease_until = \(bind: until)
            WHERE id = \(bind: id) AND lease_owner = \(bind: owner) AND sent_at IS NULL AND failed_at IS NULL
              AND lease_until >= \(bind: now)
            RETURNING id
            """
        ).all().isEmpty
    }

    /// Records the outcome of a claimed message, if `owner` still holds it.
    public func finish(_ id: UUID, owner: String, outcome: DeliveryOutcome) async throws {
        var query = OutboxMessageModel.query(on: db).filter(\.$id == id).filter(\.$leaseOwner == owner)
            .set(\.$leaseUntil, to: nil).set(\.$leaseOwner, to: nil)
        switch outcome {
        case .sent(let at): query = query.set(\.$sentAt, to: at).set(\.$lastError, to: nil)
        case .retry(let at, let error): query = query.set(\.$nextAttemptAt, to: at).set(\.$lastError, to: error)
        case .failed(let at, let error): query = query.set(\.$failedAt, to: at).set(\.$lastError, to: error)
        }
        try await query.update()
    }

    public enum DeliveryOutcome: Sendable {
        case sent(at: Date)
        case retry(at: Date, error: String)
        case failed(at: Date, error: String)
    }

    /// Queues a failed (or waiting) message of the organization again, now, with a fresh 24-hour window. Returns
    /// the message, or nil when there is no such unsent message in the organization.
    public func retry(_ id: UUID, organizationID: UUID, now: Date) async throws -> OutboxMessage? {
        guard
            let model = try await OutboxMessageModel.query(on: db).filter(\.$id == id)
                .filter(\.$organizationID == organizationID).filter(\.$sentAt == nil).first()
        else { return nil }
        model.failedAt = nil
        model.nextAttemptAt = now
        model.giveUpAt = now.addingTimeInterval(Self.retryWindow)
        try await model.update(on: db)
        return OutboxMessage(model)
    }

    /// The organization's messages, newest first, optionally of one status; keyset-paged by (created_at, id).
    public func page(
        organizationID: UUID, status: OutboxMessage.Status?, before: (Date, UUID)?, limit: Int
    ) async throws -> [OutboxMessage] {
        var query = OutboxMessageModel.query(on: db).filter(\.$organizationID == organizationID)
        switch status {
        case .sent?: query = query.filter(\.$sentAt != nil)
        case .failed?: query = query.filter(\.$failedAt != nil)
        case .queued?: query = query.filter(\.$sentAt == nil).filter(\.$failedAt == nil)
        case nil: break
        }
        if let (date, id) = before {
            query = query.group(.or) { or in
                or.filter(\.$createdAt < date).group(.and) { and in
                    and.filter(\.$createdAt == date).filter(\.$id < id)
                }
            }
        }
        return try await query.sort(\.$createdAt, .descending).sort(\.$id, .descending).limit(limit).all()
            .map(OutboxMessage.init)
    }

    /// How many of the organization's messages are queued, sent and failed.
    public func counts(organizationID: UUID) async throws -> [OutboxMessage.Status: Int] {
        let rows = try await sql.raw(
            """
            SELECT CASE WHEN sent_at IS NOT NULL THEN 'sent' WHEN failed_at IS NOT NULL THEN 'failed'
                        ELSE 'queued' END AS status, COUNT(*) AS n
            FROM mail_outbox WHERE organization_id = \(bind: organizationID) GROUP BY 1
            """
        ).all()
        var counts: [OutboxMessage.Status: Int] = [:]
        for row in rows {
            if let status = OutboxMessage.Status(rawValue: try row.decode(column: "status", as: String.self)) {
                counts[status] = try row.decode(column: "n", as: Int.self)
            }
        }
        return counts
    }

    /// The organization's most recent messages, newest first.
    public func recent(organizationID: UUID, limit: Int) async throws -> [OutboxMessage] {
        try await page(organizationID: organizationID, status: nil, before: nil, limit: limit)
    }
}
