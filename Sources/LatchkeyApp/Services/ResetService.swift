import Foundation
import LatchkeyCore
import LatchkeyStore

/// Reset MFA, single and bulk. Each chunk of members is handled set-based in one transaction: their TOTP
/// secrets, recovery codes, pending enrollments and sessions are deleted, their status set to
/// `reset_pending`, one audit event per member written and notifications queued — so every member is
/// either fully reset or untouched, even if the process dies mid-way.
struct ResetService: Sendable {
    let services: AppServices

    var store: Store { services.store }

    // MARK: Requests

    /// Refuses a whole request (missing permission, stale MFA), writing one denied audit event per named
    /// member so refusals are on the record, with the member's email where they belong to the actor's
    /// organization (another organization's member stays as unknown as a missing one).
    private func refuse(actor: Actor, memberIDs: [UUID], reason: String, ticket: String, error: LatchkeyError)
        async throws -> Never
    {
        let named = Array(memberIDs.prefix(BulkLimits.maximumPerRequest))
        let emails = try await store.members.emails(of: named, organizationID: actor.organizationID)
        let entries = named.map { id in
            actor.event(.mfaReset, target: (id, emails[id] ?? ""), .denied, reason: reason, ticket: ticket)
        }
        try await store.audit.appendAll(entries, at: services.now)
        throw error
    }

    /// Checks the request-wide rules: permission and a fresh MFA (step-up).
    private func authorize(actor: Actor, memberIDs: [UUID], ticket: String) async throws {
        guard ResetPolicy.required.isSubset(of: actor.permissions) else {
            try await refuse(
                actor: actor, memberIDs: memberIDs, reason: "not permitted", ticket: ticket,
                error: .forbidden(.forbidden, "Your role cannot reset MFA."))
        }
        do {
            try actor.requireFreshMFA(now: services.now)
        } catch let error as LatchkeyError {
            try await refuse(
                actor: actor, memberIDs: memberIDs, reason: "step-up required", ticket: ticket, error: error)
        }
    }

    /// Counts the request against the per-actor and per-organization limits; 429 with a wait when exceeded.
    private func throttle(actor: Actor) async throws {
        let config = services.config
        var rules = [
            RateLimiter.Rule(
                bucket: "reset:org:\(actor.organizationID.lowercasedString)",
                limit: config.resetRequestsPerOrganizationPerMinute, window: 60)
        ]
        if let memberID = actor.memberID {
            rules.append(
                .init(
                    bucket: "reset:actor:\(memberID.lowercasedString)",
                    limit: config.resetRequestsPerActorPerMinute, window: 60))
        }
        let windows = try await store.rateLimits.hit(rules, now: services.now)
        RateLimitReport.record(windows)
        if let wait = windows.retryAfter {
            throw LatchkeyError(
                .tooManyRequests(retryAfterSeconds: max(1, wait)), "rate_limited",
                "Too many reset requests. Wait \(max(1, wait)) seconds and try again.")
        }
    }

    /// Resets one member (the ⋮ menu).
    func resetOne(actor: Actor, memberID: UUID, ticket: String) async throws -> ResetResult {
        try await throttle(actor: actor)
        try await authorize(actor: actor, memberIDs: [memberID], ticket: ticket)
        return try await resetChunk([memberID], batch: nil, ticket: ticket, actor: actor)[0]
    }

    /// The break-glass reset from the server's shell: no rate limit, no step-up (the operator is not a member).
    func resetAsOperator(actor: Actor, memberID: UUID, ticket: String) async throws -> ResetResult {
        precondition(actor.memberID == nil, "only the operator skips the request rules")
        return try await resetChunk([memberID], batch: nil, ticket: ticket, actor: actor)[0]
    }

    /// What a bulk request produced: results now, or a background job to follow.
    enum BulkOutcome: Sendable {
        case completed(ResetBatch, [ResetResult])
        case started(ResetBatch)

        var batch: ResetBatch {
            switch self {
            case .completed(let batch, _), .started(let batch): batch
            }
        }
    }

    /// Resets many members. Duplicates are dropped (first occurrence kept); more than the maximum is
    /// refused before anything changes; above the synchronous limit a background job takes over.
    func resetMany(actor: Actor, memberIDs: [UUID], ticket: String, idempotencyKey: String?) async throws
        -> BulkOutcome
    {
        var seen = Set<UUID>()
        let unique = memberIDs.filter { seen.insert($0).inserted }
        guard !unique.isEmpty else {
            throw LatchkeyError.badRequest("no_members", "Select at least one member.")
        }
        guard unique.count <= BulkLimits.maximumPerRequest else {
            throw LatchkeyError.badRequest(
                "too_many_members", "At most \(BulkLimits.maximumPerRequest) members can be reset in one request.")
        }
        let requestHash = sha256Hex(unique.map(\.uuidString).sorted().joined(separator: ",") + "|" + ticket)
        if let idempotencyKey, let existing = try await findBatch(actor: actor, key: idempotencyKey) {
            return try await outcome(of: try Self.matching(existing, requestHash: requestHash))
        }
        try await throttle(actor: actor)
        try await authorize(actor: actor, memberIDs: unique, ticket: ticket)
        let (batch, isNew) = try await openBatch(
            actor: actor, memberIDs: unique, ticket: ticket, idempotencyKey: idempotencyKey, requestHash: requestHash)
        guard isNew else { return try await outcome(of: batch) }
        if batch.background { return .started(batch) }
        try await process(batchID: batch.id, actor: actor)
        guard let finished = try await store.resets.find(batch.id) else { throw LatchkeyError.notFound() }
        return .completed(finished, try await store.resets.results(batchID: batch.id))
    }

    /// The original answer for an idempotent retry: results when done, 409 while a synchronous request
    /// is still running, the job while a background one is.
    private func outcome(of batch: ResetBatch) async throws -> BulkOutcome {
        if batch.status == .completed { return .completed(batch, try await store.resets.results(batchID: batch.id)) }
        if batch.background { return .started(batch) }
        throw LatchkeyError(
            .conflict, "request_in_progress", "A request with this Idempotency-Key is still running. Try again shortly."
        )
    }

    // MARK: Batches

    /// Opens a batch for `memberIDs` with a pending result per member. If a concurrent request with the same
    /// `Idempotency-Key` got there first, returns that one instead (`isNew == false`).
    func openBatch(
        actor: Actor, memberIDs: [UUID], ticket: String, idempotencyKey: String?, requestHash: String
    ) async throws -> (batch: ResetBatch, isNew: Bool) {
        let batch = ResetBatch(
            organizationID: actor.organizationID, actorID: actor.memberID ?? Self.operatorID,
            idempotencyKey: idempotencyKey, requestHash: requestHash, total: memberIDs.count, reason: ticket,
            background: memberIDs.count > BulkLimits.synchronousLimit, requestID: actor.meta.requestID,
            ip: actor.meta.ip, userAgent: actor.meta.userAgent, createdAt: services.now, actorTokenID: actor.token?.id)
        do {
            try await store.resets.open(batch, memberIDs: memberIDs)
        } catch  where Store.isConflict(error) {
            // Another request with the same key won the race.
            if let idempotencyKey, let existing = try await findBatch(actor: actor, key: idempotencyKey) {
                return (try Self.matching(existing, requestHash: requestHash), false)
            }
            throw error
        }
        return (batch, true)
    }

    /// The actor id a batch records for the operator.
    static let operatorID = UUID(uuidString: "00000000-0000-0000-0000-000000000000")!

    private func findBatch(actor: Actor, key: String) async throws -> ResetBatch? {
        try await store.resets.find(idempotencyKey: key, organizationID: actor.organizationID, actorID: actor.memberID)
    }

    private static func matching(_ batch: ResetBatch, requestHash: String) throws -> ResetBatch {
        guard batch.requestHash == requestHash else {
            throw LatchkeyError(
                .unprocessable, "idempotency_key_reused",
                "This Idempotency-Key was used for a different request. Use a new key for a new request.")
        }
        return batch
    }

    /// Works through a batch's pending members, one transaction per chunk of `chunkSize`, then marks it
    /// completed and tells the owners. The one processing loop: synchronous requests and background jobs both
    /// run it (a job passes a pause between chunks and renews its lease in `afterChunk`). Safe to call again
    /// after a crash: only `pending` rows are taken.
    ///
    /// `actorNow`, when given, is asked for the actor before each chunk after the first: a job acts with its actor's
    /// permissions as they are at each chunk (demoted, or its token revoked, it stops resetting at the next one).
    /// `stopping` is asked between chunks: true leaves the rest pending and answers false (not finished).
    @discardableResult
    func process(
        batchID: UUID, actor: Actor, chunkSize: Int = BulkLimits.chunkSize, pause: Duration = .zero,
        actorNow: (@Sendable () async throws -> Actor)? = nil, afterChunk: @Sendable () async throws -> Void = {},
        stopping: @Sendable () -> Bool = { false }
    ) async throws -> Bool {
        guard let batch = try await store.resets.find(batchID) else { return true }
        var actor = actor
        var first = true
        while true {
            let pending = try await store.resets.pendingMembers(batchID: batchID, limit: chunkSize)
            if pending.isEmpty { break }
            // Someone cancelled the job: the chunk under way finished; the rest is recorded as not done.
            if batch.background, try await store.resets.cancelRequested(batchID) {
                let now = services.now
                try await store.transaction { tx in
                    try await tx.resets.finishCancelled(
                        batchID, organizationID: batch.organizationID, code: ResetResultCode.cancelled.rawValue,
                        reason: ResetResultCode.cancelled.reason(targetRole: "") ?? "", at: now)
                }
                try await notifyOwners(batchID: batchID, actor: actor)
                return true
            }
            // The server is stopping: leave the rest, between chunks, to whoever claims the job next.
            if !first && stopping() { return false }
            if !first && pause > .zero { try await Task.sleep(for: pause) }
            if !first, let actorNow { actor = try await actorNow() }
            first = false
            try await resetChunk(
                pending.map(\.memberID), batch: (batchID, pending.map(\.position)), ticket: batch.reason, actor: actor)
            try await afterChunk()
        }
        try await store.resets.complete(batchID, at: services.now)
        try await notifyOwners(batchID: batchID, actor: actor)
        return true
    }

    /// Asks a running background reset to stop after the chunk under way (the members it has reset stay reset; the
    /// rest are recorded as not done). Audited; refused for a batch that is not a running job of the organization.
    func cancel(actor: Actor, batchID: UUID) async throws -> ResetBatch {
        guard ResetPolicy.required.isSubset(of: actor.permissions) else {
            throw LatchkeyError.forbidden(.forbidden, "Your role cannot reset MFA.")
        }
        guard let batch = try await store.resets.find(batchID, organizationID: actor.organizationID),
            batch.action == AuditAction.mfaReset.rawValue
        else { throw LatchkeyError.notFound("No such job.") }
        let now = services.now
        let stopped = try await store.transaction { tx in
            guard
                try await tx.resets.requestCancel(
                    batchID, organizationID: actor.organizationID, by: actor.memberID ?? Self.operatorID, at: now)
            else { return false }
            try await tx.audit.appendAll(
                [
                    actor.event(
                        .resetJobCancelled, target: nil, .success,
                        reason: "\(batch.processed) of \(batch.total) processed when asked", batchID: batchID,
                        ticket: batch.reason)
                ], at: now)
            return true
        }
        guard stopped else {
            throw LatchkeyError(
                .conflict, .jobNotRunning,
                batch.cancelRequestedAt != nil
                    ? "This job is already being cancelled." : "This job is not running: there is nothing to cancel.")
        }
        return try await store.resets.find(batchID) ?? batch
    }

    // MARK: The reset itself

    /// Resets one chunk in one transaction. Returns one result per requested id, in order. A chunk of a batch
    /// names the batch and each member's place in it, where its result is recorded.
    @discardableResult
    func resetChunk(_ memberIDs: [UUID], batch: (id: UUID, positions: [Int])?, ticket: String, actor: Actor)
        async throws -> [ResetResult]
    {
        precondition(batch.map { $0.positions.count == memberIDs.count } ?? true, "one place per member")
        let batchID = batch?.id
        let now = services.now
        return try await store.transaction { tx in
            let unique = Array(Set(memberIDs))
            // Concurrent resets, sign-ins and unlocks of the same members queue here instead of deadlocking.
            try await tx.members.lock(unique)
            // Only members of the actor's organization are found; any other id is "not found".
            let targets = try await tx.members.find(unique, organizationID: actor.organizationID)
            let hasFactor = try await tx.credentials.membersWithAuthenticator(Array(targets.keys))
            let results = memberIDs.map { id -> ResetResult in
                let code = Self.decide(actor: actor, target: targets[id], hasFactor: hasFactor.contains(id))
                return ResetResult(
                    memberId: id, name: targets[id]?.name ?? "", email: targets[id]?.email ?? "", code: code,
                    reason: code.reason(targetRole: targets[id]?.roleName ?? ""))
            }
            let reset = results.filter { $0.code == .reset }.map(\.memberId)
            if !reset.isEmpty {
                try await tx.credentials.removeAll(memberIDs: reset)
                try await tx.sessions.deleteAll(memberIDs: reset)
                try await tx.members.markResetPending(reset, organizationID: actor.organizationID)
                // The factors the second-factor throttle guarded are gone; wrong passwords stay counted.
                try await tx.throttles.clearSecondFactor(memberIDs: reset)
            }
            try await tx.outbox.enqueue(
                reset.compactMap { targets[$0] }.map {
                    Notifications.resetNotice(to: $0, actor: actor, ticket: ticket, at: now)
                })
            if let batch {
                try await tx.resets.record(
                    outcomes: zip(batch.positions, results).map { position, result in
                        BatchOutcome(
                            position: position, memberID: result.memberId, status: result.code.outcome.rawValue,
                            code: result.code.rawValue, reason: result.reason ?? "", name: result.name,
                            email: result.email)
                    }, batchID: batch.id)
            }
            // Last: the audit chain head is the last lock this transaction takes (see `RowLocks`).
            try await tx.audit.appendAll(
                results.map { result in
                    let outcome = result.code.outcome
                    return actor.event(
                        .mfaReset, target: (result.memberId, result.email),
                        outcome == .reset ? .success : (outcome == .skipped ? .skipped : .denied),
                        reason: result.reason ?? "", batchID: batchID, ticket: ticket)
                }, at: now)
            return results
        }
    }

    /// The rule for one member: found in the organization, permitted (the operator is), and with MFA to reset.
    static func decide(actor: Actor, target: Member?, hasFactor: Bool) -> ResetResultCode {
        guard let target else { return .notFound }
        if let actorID = actor.memberID,
            let denial = ResetPolicy.check(
                actorID: actorID, actorPermissions: actor.permissions, targetID: target.id,
                targetPermissions: target.permissions)
        {
            return ResetResultCode(denial)
        }
        return target.mfaStatus == .enabled || hasFactor ? .reset : .noMFA
    }

    /// For bulk resets, a summary to the organization's owners (if the organization wants it).
    private func notifyOwners(batchID: UUID, actor: Actor) async throws {
        guard let batch = try await store.resets.find(batchID), batch.total > 1, batch.resetCount > 0,
            let organization = try await store.organizations.find(actor.organizationID),
            organization.settings.notifyOwnersOnReset
        else { return }
        let owners = try await store.members.owners(organizationID: actor.organizationID)
        try await store.outbox.enqueue(
            owners.map { Notifications.bulkSummary(to: $0, actor: actor, batch: batch, at: services.now) })
    }
}

/// The bulk reset as `latchkey bench reset` times it: one batch for the organization's members, opened for
/// its owner and processed in the foreground whatever its size — the server's own code, without the HTTP
/// layer and the background job's polling. Visible to this package only.
package struct ResetBench: Sendable {
    let services: AppServices

    package init(services: AppServices) { self.services = services }

    package func run(ownerID: UUID, organization: Organization, memberIDs: [UUID]) async throws -> ResetBatch {
        guard let owner = try await services.store.members.find(ownerID, organizationID: organization.id) else {
            throw LatchkeyError.notFound("No such owner.")
        }
        let actor = Actor(member: owner, organization: organization, meta: .bench)
        let service = ResetService(services: services)
        let (batch, _) = try await service.openBatch(
            actor: actor, memberIDs: memberIDs, ticket: "bench", idempotencyKey: nil, requestHash: "bench")
        try await service.process(batchID: batch.id, actor: actor)
        guard let done = try await services.store.resets.find(batch.id) else { throw LatchkeyError.notFound() }
        return done
    }
}
