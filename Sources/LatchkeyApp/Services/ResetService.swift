import FluentKit
import Foundation
import LatchkeyCore
import LatchkeyStore
import SQLKit

/// Reset MFA, single and bulk. Each chunk of members is handled set-based in one transaction: their TOTP
/// secrets, recovery codes, pending enrollments and sessions are deleted, their status set to
/// `reset_pending`, one audit event per member written and notifications queued — so every member is
/// either fully reset or untouched, even if the process dies mid-way.
struct ResetService: Sendable {
    let services: AppServices

    /// Largest number of members one request may name.
    static let maximumPerRequest = 10_000
    /// Requests naming more members than this run as a background job.
    static let synchronousLimit = 200
    /// Members per transaction.
    static let chunkSize = 500

    /// Who is resetting, as the server knows them (never from the request body).
    struct Actor: Sendable {
        var memberID: UUID?
        var email: String
        var name: String
        var roleName: String
        var permissions: Set<Permission>
        var organizationID: UUID
        var organizationName: String
        var requireMFA: Bool
        var meta: RequestMeta

        init(auth: AuthState, meta: RequestMeta) {
            memberID = auth.memberID
            email = auth.memberEmail
            name = auth.memberName
            roleName = auth.roleName
            permissions = auth.permissions
            organizationID = auth.organizationID
            organizationName = auth.organizationName
            requireMFA = auth.requireMFA
            self.meta = meta
        }

        /// The server's operator, acting from the shell (break-glass).
        init(operatorFor organization: OrganizationModel, meta: RequestMeta) {
            memberID = nil
            email = "operator"
            name = "The server operator"
            roleName = "operator"
            permissions = Set(Permission.allCases)
            organizationID = organization.id!
            organizationName = organization.name
            requireMFA = organization.requireMFA
            self.meta = meta
        }
    }

    /// One member's result.
    struct MemberResult: Sendable, Codable, Equatable {
        var memberId: UUID
        var name: String
        var email: String
        var status: ResetOutcome
        var reason: String?
    }

    /// Throws `step_up_required` when the actor's last MFA is older than the organization's window.
    static func requireFreshMFA(_ auth: AuthState, now: Date) throws {
        guard let verified = auth.mfaVerifiedAt,
            now.timeIntervalSince(verified) <= TimeInterval(auth.stepUpWindowSeconds)
        else {
            throw LatchkeyError.forbidden(
                "step_up_required", "Confirm it's you: enter a code from your authenticator app.")
        }
    }

    // MARK: Requests

    /// Refuses a whole request (missing permission, stale MFA), writing one denied audit event per named
    /// member so refusals are on the record, with the member's email where they belong to the actor's
    /// organization (another organization's member stays as unknown as a missing one).
    func refuse(actor: Actor, memberIDs: [UUID], reason: String, ticket: String, error: LatchkeyError) async throws
        -> Never
    {
        let named = Array(memberIDs.prefix(Self.maximumPerRequest))
        let emails = try await services.directory.emails(of: named, organizationID: actor.organizationID)
        let entries = named.map { id in
            AuditEntry(
                organizationID: actor.organizationID, actorID: actor.memberID, actorEmail: actor.email,
                actorRole: actor.roleName, action: .mfaReset, targetID: id, targetEmail: emails[id] ?? "",
                result: .denied, reason: reason, requestID: actor.meta.requestID, ip: actor.meta.ip,
                userAgent: actor.meta.userAgent, ticket: ticket)
        }
        try await services.audit.appendAll(entries, at: services.now, on: services.db)
        throw error
    }

    /// Checks the request-wide rules: permission and a fresh MFA (step-up).
    func authorize(actor: Actor, auth: AuthState?, memberIDs: [UUID], ticket: String) async throws {
        guard ResetPolicy.required.isSubset(of: actor.permissions) else {
            try await refuse(
                actor: actor, memberIDs: memberIDs, reason: "not permitted", ticket: ticket,
                error: .forbidden("forbidden", "Your role cannot reset MFA."))
        }
        if let auth {
            do {
                try Self.requireFreshMFA(auth, now: services.now)
            } catch let error as LatchkeyError {
                try await refuse(
                    actor: actor, memberIDs: memberIDs, reason: "step-up required", ticket: ticket, error: error)
            }
        }
    }

    /// Counts the request against the per-actor and per-organization limits; 429 with a wait when exceeded.
    func throttle(actor: Actor) async throws {
        let config = services.config
        var rules = [
            RateLimiter.Rule(
                bucket: "reset:org:\(actor.organizationID.uuidString.lowercased())",
                limit: config.resetRequestsPerOrganizationPerMinute, window: 60)
        ]
        if let memberID = actor.memberID {
            rules.append(
                .init(
                    bucket: "reset:actor:\(memberID.uuidString.lowercased())",
                    limit: config.resetRequestsPerActorPerMinute, window: 60))
        }
        if let wait = try await RateLimiter().hit(rules, now: services.now, on: services.db) {
            throw LatchkeyError(
                .tooManyRequests(retryAfterSeconds: max(1, wait)), "rate_limited",
                "Too many reset requests. Wait \(max(1, wait)) seconds and try again.")
        }
    }

    /// Resets one member (the ⋮ menu).
    func resetOne(actor: Actor, auth: AuthState?, memberID: UUID, ticket: String) async throws -> MemberResult {
        try await throttle(actor: actor)
        try await authorize(actor: actor, auth: auth, memberIDs: [memberID], ticket: ticket)
        return try await resetChunk([memberID], batchID: nil, ticket: ticket, actor: actor)[0]
    }

    /// What a bulk request produced: results now, or a background job to follow.
    enum BulkOutcome: Sendable {
        case completed(ResetBatchModel, [MemberResult])
        case started(ResetBatchModel)
    }

    /// Resets many members. Duplicates are dropped (first occurrence kept); more than the maximum is
    /// refused before anything changes; above the synchronous limit a background job takes over.
    func resetMany(
        actor: Actor, auth: AuthState?, memberIDs: [UUID], ticket: String, idempotencyKey: String?
    ) async throws -> BulkOutcome {
        var seen = Set<UUID>()
        let unique = memberIDs.filter { seen.insert($0).inserted }
        guard !unique.isEmpty else {
            throw LatchkeyError.badRequest("no_members", "Select at least one member.")
        }
        guard unique.count <= Self.maximumPerRequest else {
            throw LatchkeyError.badRequest(
                "too_many_members", "At most \(Self.maximumPerRequest) members can be reset in one request.")
        }
        let requestHash = sha256Hex(unique.map(\.uuidString).sorted().joined(separator: ",") + "|" + ticket)
        if let idempotencyKey, let existing = try await findBatch(actor: actor, key: idempotencyKey) {
            let batch = try Self.matching(existing, requestHash: requestHash)
            return try await outcome(of: batch)
        }
        try await throttle(actor: actor)
        try await authorize(actor: actor, auth: auth, memberIDs: unique, ticket: ticket)
        let (batch, isNew) = try await openBatch(
            actor: actor, memberIDs: unique, reason: ticket, idempotencyKey: idempotencyKey, requestHash: requestHash)
        guard isNew else { return try await outcome(of: batch) }
        if batch.background { return .started(batch) }
        try await process(batchID: batch.id!, actor: actor)
        let finished = try await ResetBatchModel.find(batch.id!, on: services.db)!
        return .completed(finished, try await results(batchID: batch.id!))
    }

    /// The original answer for an idempotent retry: results when done, 409 while a synchronous request
    /// is still running, the job while a background one is.
    private func outcome(of batch: ResetBatchModel) async throws -> BulkOutcome {
        if batch.status == "completed" { return .completed(batch, try await results(batchID: batch.id!)) }
        if batch.background { return .started(batch) }
        throw LatchkeyError(
            .conflict, "request_in_progress", "A request with this Idempotency-Key is still running. Try again shortly."
        )
    }

    // MARK: Batches

    /// Opens a batch for `memberIDs` with a pending result per member. If a concurrent request with the same
    /// `Idempotency-Key` got there first, returns that one instead (`isNew == false`).
    func openBatch(
        actor: Actor, memberIDs: [UUID], reason: String, idempotencyKey: String?, requestHash: String
    ) async throws -> (batch: ResetBatchModel, isNew: Bool) {
        let db = services.db
        let now = services.now
        let batch = ResetBatchModel()
        batch.id = UUID()
        batch.organizationID = actor.organizationID
        batch.actorID = actor.memberID ?? UUID(uuidString: "00000000-0000-0000-0000-000000000000")!
        batch.idempotencyKey = idempotencyKey
        batch.requestHash = requestHash
        batch.status = "running"
        batch.total = memberIDs.count
        batch.processed = 0
        batch.resetCount = 0
        batch.skippedCount = 0
        batch.failedCount = 0
        batch.reason = reason
        batch.background = memberIDs.count > Self.synchronousLimit
        batch.requestID = actor.meta.requestID
        batch.ip = actor.meta.ip
        batch.userAgent = actor.meta.userAgent
        batch.createdAt = now
        let batchID = batch.id!
        let results: [[any SQLExpression]] = memberIDs.enumerated().map { position, memberID in
            [
                SQLBind(UUID()), SQLBind(batchID), SQLBind(position), SQLBind(memberID), SQLBind("pending"),
                SQLBind(""),
                SQLBind(""), SQLBind(""),
            ]
        }
        do {
            try await db.transaction { tx in
                try await batch.create(on: tx)
                try await BulkInsert.rows(
                    results, into: ResetResultModel.schema,
                    columns: [
                        "id", "batch_id", "position", "member_id", "status", "reason", "member_name", "member_email",
                    ],
                    on: tx)
            }
        } catch  where AuditStore.isConflict(error) {
            // Another request with the same key won the race.
            if let idempotencyKey, let existing = try await findBatch(actor: actor, key: idempotencyKey) {
                return (try Self.matching(existing, requestHash: requestHash), false)
            }
            throw error
        }
        return (batch, true)
    }

    private func findBatch(actor: Actor, key: String) async throws -> ResetBatchModel? {
        var query = ResetBatchModel.query(on: services.db).filter(\.$organizationID == actor.organizationID)
            .filter(\.$idempotencyKey == key)
        if let memberID = actor.memberID { query = query.filter(\.$actorID == memberID) }
        return try await query.first()
    }

    private static func matching(_ batch: ResetBatchModel, requestHash: String) throws -> ResetBatchModel {
        guard batch.requestHash == requestHash else {
            throw LatchkeyError(
                .unprocessable, "idempotency_key_reused",
                "This Idempotency-Key was used for a different request. Use a new key for a new request.")
        }
        return batch
    }

    /// Works through a batch's pending members, one transaction per chunk. Safe to call again after a
    /// crash: only `pending` rows are taken.
    func process(batchID: UUID, actor: Actor) async throws {
        while true {
            let pending = try await pendingMembers(batchID: batchID)
            if pending.isEmpty { break }
            let ticket = try await ResetBatchModel.find(batchID, on: services.db)?.reason ?? ""
            try await resetChunk(pending, batchID: batchID, ticket: ticket, actor: actor)
        }
        try await ResetBatchModel.query(on: services.db).filter(\.$id == batchID)
            .set(\.$status, to: "completed").set(\.$finishedAt, to: services.now).update()
        try await notifyOwners(batchID: batchID, actor: actor)
    }

    /// The next chunk of members still pending in a batch, in request order.
    func pendingMembers(batchID: UUID, limit: Int = chunkSize) async throws -> [UUID] {
        try await services.sql.select().column("member_id").from(ResetResultModel.schema)
            .where("batch_id", .equal, batchID).where("status", .equal, "pending")
            .orderBy("position").limit(limit).all()
            .map { try $0.decode(column: "member_id", as: UUID.self) }
    }

    /// The batch's results in request order.
    func results(batchID: UUID) async throws -> [MemberResult] {
        try await ResetResultModel.query(on: services.db).filter(\.$batchID == batchID).sort(\.$position).all()
            .map {
                MemberResult(
                    memberId: $0.memberID, name: $0.memberName, email: $0.memberEmail,
                    status: ResetOutcome(rawValue: $0.status) ?? .failed, reason: $0.reason.isEmpty ? nil : $0.reason)
            }
    }

    // MARK: The reset itself

    struct Target {
        var id: UUID
        var name: String
        var email: String
        var mfaStatus: String
        var roleName: String
        var permissions: Set<Permission>
    }

    /// Resets one chunk in one transaction. Returns one result per requested id, in order.
    @discardableResult
    func resetChunk(_ memberIDs: [UUID], batchID: UUID?, ticket: String, actor: Actor) async throws -> [MemberResult] {
        try await services.db.transaction { tx in
            try await self.resetChunk(memberIDs, batchID: batchID, ticket: ticket, actor: actor, on: tx)
        }
    }

    private func resetChunk(
        _ memberIDs: [UUID], batchID: UUID?, ticket: String, actor: Actor, on tx: any Database
    ) async throws -> [MemberResult] {
        let sql = tx as! any SQLDatabase
        let now = services.now
        let unique = Array(Set(memberIDs))
        // Concurrent resets, sign-ins and unlocks of the same members queue here instead of deadlocking.
        try await RowLocks.members(unique, on: tx)
        // Only members of the actor's organization are found; any other id is "not found".
        let rows = try await sql.select()
            .column(SQLColumn("id", table: "members"), as: "id")
            .column(SQLColumn("name", table: "members"), as: "name")
            .column(SQLColumn("email", table: "members"), as: "email")
            .column(SQLColumn("mfa_status", table: "members"), as: "mfa_status")
            .column(SQLColumn("name", table: "roles"), as: "role_name")
            .column(SQLColumn("permissions", table: "roles"), as: "permissions")
            .from("members")
            .join("roles", on: SQLColumn("role_id", table: "members"), .equal, SQLColumn("id", table: "roles"))
            .where(SQLColumn("organization_id", table: "members"), .equal, SQLBind(actor.organizationID))
            .where(SQLColumn("id", table: "members"), .in, SQLBind.group(unique))
            .all()
        var targets: [UUID: Target] = [:]
        for row in rows {
            let id = try row.decode(column: "id", as: UUID.self)
            targets[id] = Target(
                id: id, name: try row.decode(column: "name", as: String.self),
                email: try row.decode(column: "email", as: String.self),
                mfaStatus: try row.decode(column: "mfa_status", as: String.self),
                roleName: try row.decode(column: "role_name", as: String.self),
                permissions: Permission.parseList(try row.decode(column: "permissions", as: String.self)))
        }
        // (`IN ()` is an error on PostgreSQL: only ask when there is someone to ask about.)
        let hasFactor =
            targets.isEmpty
            ? Set<UUID>()
            : Set(
                try await sql.select().distinct().column("member_id").from("totp_credentials")
                    .where("member_id", .in, SQLBind.group(Array(targets.keys))).all()
                    .map { try $0.decode(column: "member_id", as: UUID.self) })

        var outcomes: [(id: UUID, target: Target?, status: ResetOutcome, reason: String)] = []
        for id in memberIDs {
            guard let target = targets[id] else {
                outcomes.append((id, nil, .failed, ResetPolicy.reason(.notFound, targetRole: "")))
                continue
            }
            let denial: ResetPolicy.Denial?
            if let actorID = actor.memberID {
                denial = ResetPolicy.check(
                    actorID: actorID, actorPermissions: actor.permissions, targetID: id,
                    targetPermissions: target.permissions)
            } else {
                denial = nil  // the operator's break-glass path
            }
            if let denial {
                outcomes.append((id, target, .failed, ResetPolicy.reason(denial, targetRole: target.roleName)))
            } else if target.mfaStatus != MFAStatus.enabled.rawValue && !hasFactor.contains(id) {
                outcomes.append((id, target, .skipped, "No MFA was set up"))
            } else {
                outcomes.append((id, target, .reset, ""))
            }
        }

        let toReset = outcomes.filter { $0.status == .reset }.map(\.id)
        if !toReset.isEmpty {
            let ids = SQLBind.group(toReset)
            try await sql.delete(from: TOTPCredentialModel.schema).where("member_id", .in, ids).run()
            try await sql.delete(from: RecoveryCodeModel.schema).where("member_id", .in, ids).run()
            try await sql.delete(from: SessionModel.schema).where("member_id", .in, ids).run()
            try await sql.update(MemberModel.schema)
                .set("mfa_status", to: MFAStatus.resetPending.rawValue)
                .where("organization_id", .equal, actor.organizationID)
                .where("id", .in, ids)
                .run()
            // The factors the second-factor throttle guarded are gone; wrong passwords stay counted.
            try await services.throttles.clearSecondFactor(memberIDs: toReset, on: tx)
        }

        let entries = outcomes.map { outcome in
            AuditEntry(
                organizationID: actor.organizationID, actorID: actor.memberID, actorEmail: actor.email,
                actorRole: actor.roleName, action: .mfaReset, targetID: outcome.id,
                targetEmail: outcome.target?.email ?? "",
                result: outcome.status == .reset ? .success : (outcome.status == .skipped ? .skipped : .denied),
                reason: outcome.reason, batchID: batchID, requestID: actor.meta.requestID, ip: actor.meta.ip,
                userAgent: actor.meta.userAgent, ticket: ticket)
        }
        let messages = outcomes.compactMap { outcome -> OutboxMessageModel? in
            guard outcome.status == .reset, let target = outcome.target else { return nil }
            return Notifications.resetNotice(to: target, actor: actor, ticket: ticket, at: now)
        }
        try await BulkInsert.rows(
            messages.map {
                [
                    SQLBind($0.id!), SQLBind(actor.organizationID), SQLBind($0.toEmail), SQLBind($0.subject),
                    SQLBind($0.body),
                    SQLBind($0.createdAt), SQLBind(0),
                ]
            }, into: OutboxMessageModel.schema,
            columns: ["id", "organization_id", "to_email", "subject", "body", "created_at", "attempts"], on: tx)

        if let batchID {
            // Record the results set-based: one statement per distinct (status, reason).
            let groups = Dictionary(grouping: outcomes, by: { "\($0.status.rawValue)\u{1f}\($0.reason)" })
            for (_, group) in groups {
                try await sql.update(ResetResultModel.schema)
                    .set("status", to: group[0].status.rawValue)
                    .set("reason", to: group[0].reason)
                    .where("batch_id", .equal, batchID)
                    .where("member_id", .in, SQLBind.group(group.map(\.id)))
                    .run()
            }
            // Names and emails for the results view, in one statement (members of this organization only).
            try await sql.raw(
                """
                UPDATE reset_results SET
                  member_name = COALESCE((SELECT name FROM members WHERE members.id = reset_results.member_id
                                          AND members.organization_id = \(bind: actor.organizationID)), ''),
                  member_email = COALESCE((SELECT email FROM members WHERE members.id = reset_results.member_id
                                           AND members.organization_id = \(bind: actor.organizationID)), '')
                WHERE batch_id = \(bind: batchID) AND member_id IN \(SQLBind.group(unique))
                """
            ).run()
            let reset = outcomes.filter { $0.status == .reset }.count
            let skipped = outcomes.filter { $0.status == .skipped }.count
            let failed = outcomes.count - reset - skipped
            try await sql.raw(
                """
                UPDATE reset_batches SET processed = processed + \(bind: outcomes.count),
                  reset_count = reset_count + \(bind: reset), skipped_count = skipped_count + \(bind: skipped),
                  failed_count = failed_count + \(bind: failed)
                WHERE id = \(bind: batchID)
                """
            ).run()
        }
        // Last: the audit chain head is the last lock this transaction takes (see `RowLocks`).
        try await services.audit.appendAll(entries, at: now, on: tx)
        return outcomes.map {
            MemberResult(
                memberId: $0.id, name: $0.target?.name ?? "", email: $0.target?.email ?? "", status: $0.status,
                reason: $0.reason.isEmpty ? nil : $0.reason)
        }
    }

    /// For bulk resets, a summary to the organization's owners (if the organization wants it).
    private func notifyOwners(batchID: UUID, actor: Actor) async throws {
        let db = services.db
        guard let batch = try await ResetBatchModel.find(batchID, on: db), batch.total > 1, batch.resetCount > 0,
            let organization = try await OrganizationModel.find(actor.organizationID, on: db),
            organization.notifyOwnersOnReset
        else { return }
        let ownerRoles = try await RoleModel.query(on: db).filter(\.$organizationID == actor.organizationID)
            .filter(\.$builtIn == BuiltInRole.owner.rawValue).all().compactMap(\.id)
        let owners = try await MemberModel.query(on: db).filter(\.$roleID ~~ ownerRoles).all()
        let messages = owners.map { owner in
            Notifications.bulkSummary(to: owner, actor: actor, batch: batch, at: services.now)
        }
        try await messages.create(on: db)
    }
}

/// Texts of the notification mails.
enum Notifications {
    static func resetNotice(to target: ResetService.Target, actor: ResetService.Actor, ticket: String, at now: Date)
        -> OutboxMessageModel
    {
        let next =
            actor.requireMFA
            ? "The next time you sign in, you will be asked to set up an authenticator app again before you can continue."
            : "\(actor.organizationName) does not require MFA, but we recommend setting it up again on My security after you sign in."
        let body = """
            Hello \(target.name),

            \(actor.name) (\(actor.email)), \(actor.roleName) of \(actor.organizationName), reset the multi-factor \
            authentication (MFA) on your Latchkey account on \(DateText.short(now)).

            What was removed:
              • your authenticator app
              • your recovery codes
              • every signed-in session: you were signed out on all devices

            Your account, role and data were not changed.
            \(next)
            \(ticket.isEmpty ? "" : "\nReason or ticket given: \(ticket)\n")
            If you did not ask for this, contact your administrator or security team right away: someone may be \
            trying to take over your account.
            """
        return OutboxMessageModel(
            organizationID: actor.organizationID, toEmail: target.email,
            subject: "Your multi-factor authentication was reset", body: body, createdAt: now)
    }

    static func bulkSummary(to owner: MemberModel, actor: ResetService.Actor, batch: ResetBatchModel, at now: Date)
        -> OutboxMessageModel
    {
        let body = """
            Hello \(owner.name),

            \(actor.name) (\(actor.email)), \(actor.roleName), ran a bulk MFA reset in \(actor.organizationName) \
            on \(DateText.short(now)).

            \(batch.total) members selected: \(batch.resetCount) reset, \(batch.skippedCount) skipped, \
            \(batch.failedCount) failed.
            \(batch.reason.isEmpty ? "" : "Reason or ticket given: \(batch.reason)\n")
            Every reset member was signed out everywhere and must set up MFA again. The audit log lists each \
            member (batch \(batch.id!.uuidString.lowercased())).

            If this was not expected, review the audit log and contact \(actor.email).
            """
        return OutboxMessageModel(
            organizationID: actor.organizationID, toEmail: owner.email,
            subject: "Bulk MFA reset in \(actor.organizationName): \(batch.resetCount) members", body: body,
            createdAt: now)
    }
}
