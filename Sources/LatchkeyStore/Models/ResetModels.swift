import FluentKit
import Foundation
import LatchkeyCore

/// A message waiting in (or sent from) the mail outbox. Sending is retried; a reset never waits for it.
public final class OutboxMessageModel: Model, @unchecked Sendable {
    public static let schema = "mail_outbox"

    @ID(key: .id) public var id: UUID?
    @OptionalField(key: "organization_id") public var organizationID: UUID?
    @Field(key: "to_email") public var toEmail: String
    @Field(key: "subject") public var subject: String
    @Field(key: "body") public var body: String
    @Field(key: "created_at") public var createdAt: Date
    @OptionalField(key: "sent_at") public var sentAt: Date?
    @Field(key: "attempts") public var attempts: Int
    @OptionalField(key: "next_attempt_at") public var nextAttemptAt: Date?
    @OptionalField(key: "lease_until") public var leaseUntil: Date?
    @OptionalField(key: "lease_owner") public var leaseOwner: String?
    @OptionalField(key: "failed_at") public var failedAt: Date?
    @OptionalField(key: "give_up_at") public var giveUpAt: Date?
    @OptionalField(key: "last_error") public var lastError: String?

    public init() {}

    public init(organizationID: UUID?, toEmail: String, subject: String, body: String, createdAt: Date) {
        self.id = UUID.random()
        self.organizationID = organizationID
        self.toEmail = toEmail
        self.subject = subject
        self.body = body
        self.createdAt = createdAt
        self.attempts = 0
    }
}

/// One Reset MFA request (single or bulk): its actor, idempotency key, progress and summary. Bulk requests
/// above the synchronous threshold are worked through by the background job runner from this row.
public final class ResetBatchModel: Model, @unchecked Sendable {
    public static let schema = "reset_batches"

    @ID(key: .id) public var id: UUID?
    @Field(key: "organization_id") public var organizationID: UUID
    @Field(key: "actor_id") public var actorID: UUID
    @OptionalField(key: "idempotency_key") public var idempotencyKey: String?
    @Field(key: "request_hash") public var requestHash: String
    /// `running`, `completed`.
    @Field(key: "status") public var status: String
    @Field(key: "total") public var total: Int
    @Field(key: "processed") public var processed: Int
    @Field(key: "reset_count") public var resetCount: Int
    @Field(key: "skipped_count") public var skippedCount: Int
    @Field(key: "failed_count") public var failedCount: Int
    @Field(key: "reason") public var reason: String
    @Field(key: "background") public var background: Bool
    @Field(key: "request_id") public var requestID: String
    @Field(key: "ip") public var ip: String
    @Field(key: "user_agent") public var userAgent: String
    @Field(key: "created_at") public var createdAt: Date
    @OptionalField(key: "finished_at") public var finishedAt: Date?
    /// The audit action the batch applies (`mfa.reset`, `member.suspended`, …).
    @Field(key: "action") public var action: String
    /// What it applies with (the new role's name for a role change).
    @Field(key: "detail") public var detail: String
    @OptionalField(key: "actor_token_id") public var actorTokenID: UUID?
    /// A runner holds the job until this time; another instance may take it over after.
    @OptionalField(key: "lease_until") public var leaseUntil: Date?
    /// When someone asked the (background) batch to stop, and who.
    @OptionalField(key: "cancel_requested_at") public var cancelRequestedAt: Date?
    @OptionalField(key: "cancelled_by") public var cancelledBy: UUID?

    public init() {}
}

/// The result for one member of a batch; `pending` until processed.
public final class ResetResultModel: Model, @unchecked Sendable {
    public static let schema = "reset_results"

    @ID(key: .id) public var id: UUID?
    @Field(key: "batch_id") public var batchID: UUID
    @Field(key: "position") public var position: Int
    @Field(key: "member_id") public var memberID: UUID
    /// `pending`, `reset`, `skipped`, `failed`.
    @Field(key: "status") public var status: String
    /// The `ResetResultCode` (empty while pending).
    @Field(key: "code") public var code: String
    @Field(key: "reason") public var reason: String
    @Field(key: "member_name") public var memberName: String
    @Field(key: "member_email") public var memberEmail: String

    public init() {}
}
