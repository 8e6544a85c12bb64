import FluentKit
import Foundation
import LatchkeyCore
import SQLKit

/// One bulk request on members — Reset MFA, or a lifecycle action — with its actor, idempotency key, progress
/// and summary (`resetCount` counts the members the action changed).
public struct ResetBatch: Sendable, Equatable {
    public enum Status: String, Sendable {
        case running, completed
        /// Stopped on request between chunks: the members it did not reach are recorded as not done.
        case cancelled

        /// Completed or cancelled: nothing more will happen to it.
        public var isFinished: Bool { self != .running }
    }

    public var id: UUID
    public var organizationID: UUID
    /// The member who asked (the zero id for the server's operator).
    public var actorID: UUID
    public var idempotencyKey: String?
    /// SHA-256 of the request's members and reason, to refuse a key reused for another request.
    public var requestHash: String
    public var status: Status
    public var total: Int
    public var processed: Int
    public var resetCount: Int
    public var skippedCount: Int
    public var failedCount: Int
    /// The reason or ticket given.
    public var reason: String
    /// Worked through by the background job runner.
    public var background: Bool
    public var requestID: String
    public var ip: String
    public var userAgent: String
    public var createdAt: Date
    public var finishedAt: Date?
    /// The audit action it applies (`mfa.reset` unless said otherwise).
    public var action: String
    /// What it applies with (the new role's name for a role change).
    public var detail: String
    /// The API token the request came through, if any: a background job acts through it (and stops acting once
    /// it is revoked or expired).
    public var actorTokenID: UUID?
    /// When someone asked a background batch to stop, and who (it stops after the chunk under way).
    public var cancelRequestedAt: Date?
    public var cancelledBy: UUID?

    /// Members the batch did not reach (a cancelled batch's; a running one's still to come).
    public var notDoneCount: Int { total - processed }

    public init(
        id: UUID = UUID.random(), organizationID: UUID, actorID: UUID, idempotencyKey: String?, requestHash: String,
        total: Int, reason: String, background: Bool, requestID: String, ip: String, userAgent: String,
        createdAt: Date, action: AuditAction = .mfaReset, detail: String = "", actorTokenID: UUID? = nil
    ) {
        self.actorTokenID = actorTokenID
        self.action = action.rawValue
        self.detail = detail
        self.id = id
        self.organizationID = organizationID
        self.actorID = actorID
        self.idempotencyKey = idempotencyKey
        self.requestHash = requestHash
        self.status = .running
        self.total = total
        self.processed = 0
        self.resetCount = 0
        self.skippedCount = 0
        self.failedCount = 0
        self.reason = reason
        self.background = background
        self.requestID = requestID
        self.ip = ip
        self.userAgent = userAgent
        self.createdAt = createdAt
    }

    init(_ model: ResetBatchModel) {
        id = model.id!
        organizationID = model.organizationID
        actorID = model.actorID
        idempotencyKey = model.idempotencyKey
        requestHash = model.requestHash
        status = Status(rawValue: model.status) ?? .running
        total = model.total
        processed = model.processed
        resetCount = model.resetCount
        skippedCount = model.skippedCount
        failedCount = model.failedCount
        reason = model.reason
        background = model.background
        requestID = model.requestID
        ip = model.ip
        userAgent = model.userAgent
        createdAt = model.createdAt
        finishedAt = model.finishedAt
        action = model.action
        detail = model.detail
        actorTokenID = model.actorTokenID
        cancelRequestedAt = model.cancelRequestedAt
        cancelledBy = model.cancelledBy
    }
}

/// One member's result in a batch.
public struct ResetResult: Sendable, Codable, Equatable {
    public var memberId: UUID
    public var name: String
    public var email: String
    public var code: ResetResultCode
    /// The human reason (e.g. "Not permitted: Owner"); nil for a reset.
    public var reason: String?

    public var status: ResetOutcome { code.outcome }

    public init(memberId: UUID, name: String, email: String, code: ResetResultCode, reason: String?) {
        self.memberId = memberId
        self.name = name
        self.email = email
        self.code = code
        self.reason = reason
    }
}

/// One member's outcome in a batch of any action: `status` (`reset`/`changed`, `skipped`, `failed`), the
/// action's machine `code`, the human `reason`, and the member's name and email as they were.
public struct BatchOutcome: Sendable, Equatable {
    /// The member's place in the batch's request (from 0).
    public var position: Int
    public var memberID: UUID
    public var status: String
    public var code: String
    public var reason: String
    public var name: String
    public var email: String

    public init(
        position: Int, memberID: UUID, status: String, code: String, reason: String, name: String, email: String
    ) {
        self.position = position
        self.memberID = memberID
        self.status = status
        self.code = code
        self.reason = reason
        self.name = name
        self.email = email
    }
}

/// Reset batches, their per-member results and the background jobs' leases.
public struct ResetRepository: Sendable {
    let db: any Database
    /// Where results are read (`results`).
    let reads: any SQLDatabase

    init(_ db: any Database, reads: any SQLDatabase) {
        self.db = db
        self.reads = reads
    }

    var sql: any SQLDatabase { db as! any SQLDatabase }

    /// Stores a batch with one pending result per member, in request order, in one transaction. Throws a
    /// constraint failure (`Store.isConflict`) when a batch with the same actor and `Idempotency-Key` exists.
    public func open(_ batch: ResetBatch, memberIDs: [UUID]) async throws {
        let model = ResetBatchModel()
        model.id = batch.id
        model.organizationID = batch.organizationID
        model.actorID = batch.actorID
        model.idempotencyKey = batch.idempotencyKey
        model.requestHash = batch.requestHash
        model.status = batch.status.rawValue
        model.total = batch.total
        model.processed = 0
        model.resetCount = 0
        model.skippedCount = 0
        model.failedCount = 0
        model.reason = batch.reason
        model.background = batch.background
        model.requestID = batch.requestID
        model.ip = batch.ip
        model.userAgent = batch.userAgent
        model.createdAt = batch.createdAt
        model.action = batch.action
        model.detail = batch.detail
        model.actorTokenID = batch.actorTokenID
        let rows: [[any SQLExpression]] = memberIDs.enumerated().map { position, memberID in
            [
                SQLBind(UUID.random()), SQLBind(batch.id), SQLBind(position), SQLBind(memberID), SQLBind("pending"),
                SQLBind(""), SQLBind(""), SQLBind(""), SQLBind(""),
            ]
        }
        try await db.atomically { tx in
            try await model.create(on: tx)
            try await BulkInsert.rows(
                rows, into: ResetResultModel.schema,
                columns: [
                    "id", "batch_id", "position", "member_id", "status", "code", "reason", "member_name",
                    "member_email",
                ],
                on: tx)
        }
    }

    /// A batch of the organization.
    public func find(_ id: UUID, organizationID: UUID) async throws -> ResetBatch? {
        try await ResetBatchModel.query(on: db).filter(\.$id == id).filter(\.$organizationID == organizationID)
            .first().map(ResetBatch.init)
    }

    public func find(_ id: UUID) async throws -> ResetBatch? {
        try await ResetBatchModel.find(id, on: db).map(ResetBatch.init)
    }

    /// The organization's most recent batches of one action, newest first.
    public func recent(organizationID: UUID, action: AuditAction = .mfaReset, limit: Int) async throws -> [ResetBatch] {
        try await ResetBatchModel.query(on: db).filter(\.$organizationID == organizationID)
            .filter(\.$action == action.rawValue).sort(\.$createdAt, .descending).limit(limit).all()
            .map(ResetBatch.init)
    }

    /// The batch an actor opened with an `Idempotency-Key`.
    public func find(idempotencyKey: String, organizationID: UUID, actorID: UUID?) async throws -> ResetBatch? {
        var query = ResetBatchModel.query(on: db).filter(\.$organizationID == organizationID)
            .filter(\.$idempotencyKey == idempotencyKey)
        if let actorID { query = query.filter(\.$actorID == actorID) }
        return try await query.first().map(ResetBatch.init)
    }

    /// The next members still pending in a batch, in request order, with their places in it.
    public func pendingMembers(batchID: UUID, limit: Int) async throws -> [(position: Int, memberID: UUID)] {
        try await sql.select().columns("position", "member_id").from(ResetResultModel.schema)
            .where("batch_id", .equal, batchID).where("status", .equal, "pending")
            .orderBy("position").limit(limit).all()
            .map {
                (try $0.decode(column: "position", as: Int.self), try $0.decode(column: "member_id", as: UUID.self))
            }
    }

    /// The batch's processed rows in request order (pending members are left out), as recorded.
    ///
    /// Read as plain rows (beside the writer where the store has readers), not as models: Fluent builds a model
    /// from each row as it arrives — on PostgreSQL on the event loop that also serves HTTP connections — and a
    /// 10,000-member batch held every connection on that loop for about 0.4 s.
    public func outcomes(batchID: UUID) async throws -> [BatchOutcome] {
        let query: SQLQueryString = """
            SELECT "position", member_id, status, code, reason, member_name, member_email FROM reset_results \
            WHERE batch_id = \(bind: batchID) AND status <> \(bind: "pending") ORDER BY "position"
            """
        let uuids = UUIDColumns(reads)
        return try await reads.raw(query).all().map { found in
            let row = found.columns(uuids)
            return BatchOutcome(
                position: try row.int("position"), memberID: try row.uuid("member_id"),
                status: try row.string("status"), code: try row.string("code"), reason: try row.string("reason"),
                name: try row.string("member_name"), email: try row.string("member_email"))
        }
    }

    /// The batch's results in request order (pending members are left out).
    /// Which of a batch's results a page shows: those that need attention first (failed, then not done), then
    /// skipped, then done; each group in request order.
    public enum OutcomeGroup: String, Sendable, CaseIterable {
        case failed
        case notDone = "not_done"
        case skipped
        /// Reset, or changed by a lifecycle action.
        case done

        /// Its place in the results' order.
        var rank: Int { Self.allCases.firstIndex(of: self)! }
    }

    /// One page of a batch's results in the results' order (failed first, then not done, skipped, done; request
    /// order within each), optionally of one group, after a `(rank, position)` cursor: `limit` rows and whether
    /// more follow. Keyset-paged over the batch's index, so a 10,000-member batch pages like a small one.
    public func outcomes(
        batchID: UUID, group: OutcomeGroup?, after: (rank: Int, position: Int)?, limit: Int
    ) async throws -> (rows: [(rank: Int, outcome: BatchOutcome)], more: Bool) {
        let rank: SQLQueryString = """
            (CASE status WHEN 'failed' THEN 0 WHEN 'not_done' THEN 1 WHEN 'skipped' THEN 2 ELSE 3 END)
            """
        var query: SQLQueryString = """
            SELECT "position", member_id, status, code, reason, member_name, member_email, \(rank) AS rank \
            FROM reset_results WHERE batch_id = \(bind: batchID) AND status <> 'pending'
            """
        switch group {
        case .failed?, .notDone?, .skipped?: query += " AND status = \(bind: group!.rawValue)"
        case .done?: query += " AND status IN ('reset', 'changed')"
        case nil: break
        }
        if let after {
            query +=
                " AND (\(rank) > \(bind: after.rank) OR (\(rank) = \(bind: after.rank) AND \"position\" > \(bind: after.position)))"
        }
        query += " ORDER BY rank, \"position\" LIMIT \(literal: limit + 1)"
        let uuids = UUIDColumns(reads)
        let rows = try await reads.raw(query).all().map { found in
            let row = found.columns(uuids)
            return (
                rank: try row.int("rank"),
                outcome: BatchOutcome(
                    position: try row.int("position"), memberID: try row.uuid("member_id"),
                    status: try row.string("status"), code: try row.string("code"), reason: try row.string("reason"),
                    name: try row.string("member_name"), email: try row.string("member_email"))
            )
        }
        return (Array(rows.prefix(limit)), rows.count > limit)
    }

    /// The members of a batch whose results may change if asked again (`codes`), in request order.
    public func members(batchID: UUID, codes: [String]) async throws -> [UUID] {
        guard !codes.isEmpty else { return [] }
        let uuids = UUIDColumns(reads)
        return try await reads.raw(
            """
            SELECT member_id FROM reset_results WHERE batch_id = \(bind: batchID) \
            AND code IN (\(binds: codes)) ORDER BY "position"
            """
        ).all().map { try $0.columns(uuids).uuid("member_id") }
    }

    /// How many of a batch's results have one of `codes` (counted in the database: a results page asks on every view).
    public func count(batchID: UUID, codes: [String]) async throws -> Int {
        guard !codes.isEmpty else { return 0 }
        return try await reads.raw(
            """
            SELECT COUNT(*) AS n FROM reset_results WHERE batch_id = \(bind: batchID) AND code IN (\(binds: codes))
            """
        ).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    public func results(batchID: UUID) async throws -> [ResetResult] {
        try await outcomes(batchID: batchID).map {
            ResetResult(
                memberId: $0.memberID, name: $0.name, email: $0.email,
                code: ResetResultCode(rawValue: $0.code) ?? .notFound, reason: $0.reason.isEmpty ? nil : $0.reason)
        }
    }

    /// Records one chunk's outcomes: each result row, found by its place in the batch (`position`, unique with
    /// the batch), takes its status, code, reason, name and email in one upsert per 2,000 rows — each row written
    /// once — then the batch's counters in one more statement (`reset` and `changed` count as done). Callers pass
    /// the names and emails of members of the batch's organization only ("" for any other id).
    public func record(outcomes results: [BatchOutcome], batchID: UUID) async throws {
        guard !results.isEmpty else { return }
        let columns = [
            "id", "batch_id", "position", "member_id", "status", "code", "reason", "member_name", "member_email",
        ]
        // Nine binds a row: 18,000 a statement, under either engine's limit.
        for start in stride(from: 0, to: results.count, by: 2_000) {
            var insert = sql.insert(into: ResetResultModel.schema).columns(columns)
            for outcome in results[start..<min(start + 2_000, results.count)] {
                insert = insert.values([
                    SQLBind(UUID.random()), SQLBind(batchID), SQLBind(outcome.position), SQLBind(outcome.memberID),
                    SQLBind(outcome.status), SQLBind(outcome.code), SQLBind(outcome.reason), SQLBind(outcome.name),
                    SQLBind(outcome.email),
                ])
            }
            try await insert.onConflict(with: ["batch_id", "position"]) {
                $0.set(excludedValueOf: "status").set(excludedValueOf: "code").set(excludedValueOf: "reason")
                    .set(excludedValueOf: "member_name").set(excludedValueOf: "member_email")
            }.run()
        }
        let reset = results.filter { $0.status == "reset" || $0.status == "changed" }.count
        let skipped = results.filter { $0.status == "skipped" }.count
        let failed = results.count - reset - skipped
        try await sql.raw(
            """
            UPDATE reset_batches SET processed = processed + \(bind: results.count),
              reset_count = reset_count + \(bind: reset), skipped_count = skipped_count + \(bind: skipped),
              failed_count = failed_count + \(bind: failed)
            WHERE id = \(bind: batchID)
            """
        ).run()
    }

    public func complete(_ batchID: UUID, at now: Date) async throws {
        try await ResetBatchModel.query(on: db).filter(\.$id == batchID)
            .set(\.$status, to: ResetBatch.Status.completed.rawValue).set(\.$finishedAt, to: now).update()
    }

    /// Asks a running background batch to stop after the chunk under way. False when there is none to stop (it
    /// finished, was cancelled already, or is not a background batch of the organization).
    public func requestCancel(_ batchID: UUID, organizationID: UUID, by actorID: UUID, at now: Date) async throws
        -> Bool
    {
        try await !sql.raw(
            """
            UPDATE reset_batches SET cancel_requested_at = \(bind: now), cancelled_by = \(bind: actorID)
            WHERE id = \(bind: batchID) AND organization_id = \(bind: organizationID) AND status = 'running'
              AND background = \(bind: true) AND cancel_requested_at IS NULL
            RETURNING id
            """
        ).all().isEmpty
    }

    /// Whether someone asked the batch to stop.
    public func cancelRequested(_ batchID: UUID) async throws -> Bool {
        try await sql.raw(
            """
            SELECT 1 AS one FROM reset_batches WHERE id = \(bind: batchID) AND cancel_requested_at IS NOT NULL
            """
        ).first() != nil
    }

    /// Ends a batch asked to stop: every member it did not reach is recorded as not done (`code`, `reason`), and
    /// the batch as cancelled. Call it in a transaction, so the results never show a cancelled batch with pending rows.
    /// The members' names and emails are taken as they are now (from the batch's organization only).
    public func finishCancelled(_ batchID: UUID, organizationID: UUID, code: String, reason: String, at now: Date)
        async throws
    {
        try await sql.raw(
            """
            UPDATE reset_results SET status = 'not_done', code = \(bind: code), reason = \(bind: reason),
              member_name = COALESCE((SELECT name FROM members WHERE members.id = reset_results.member_id
                                        AND members.organization_id = \(bind: organizationID)), ''),
              member_email = COALESCE((SELECT email FROM members WHERE members.id = reset_results.member_id
                                         AND members.organization_id = \(bind: organizationID)), '')
            WHERE batch_id = \(bind: batchID) AND status = 'pending'
            """
        ).run()
        try await sql.raw(
            """
            UPDATE reset_batches SET status = \(bind: ResetBatch.Status.cancelled.rawValue),
              finished_at = \(bind: now), lease_until = NULL
            WHERE id = \(bind: batchID) AND status = 'running'
            """
        ).run()
    }

    /// Takes the oldest running background batch whose lease is free, holding it until `until`; nil when
    /// there is none. Safe with many instances: the conditional update lets one of them win.
    public func claimJob(now: Date, until: Date) async throws -> UUID? {
        try await sql.raw(
            """
            UPDATE reset_batches SET lease_until = \(bind: until)
            WHERE id = (SELECT id FROM reset_batches WHERE status = 'running' AND background = \(bind: true)
                        AND (lease_until IS NULL OR lease_until < \(bind: now)) ORDER BY created_at LIMIT 1)
              AND status = 'running' AND (lease_until IS NULL OR lease_until < \(bind: now))
            RETURNING id
            """
        ).all().first?.decode(column: "id", as: UUID.self)
    }

    public func extendLease(of batchID: UUID, until: Date) async throws {
        try await ResetBatchModel.query(on: db).filter(\.$id == batchID).set(\.$leaseUntil, to: until).update()
    }
}
