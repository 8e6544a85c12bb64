import FluentKit
import Foundation
import LatchkeyCore
import LatchkeyStore
import Logging
import SQLKit
import ServiceLifecycle

/// Works through background MFA-reset jobs. Jobs live in the database, so any instance can run them and
/// a job interrupted by a crash is taken up again when its lease runs out (each chunk is one transaction,
/// so members are either fully reset or untouched).
struct JobRunner: Service {
    let services: AppServices
    var pollInterval: Duration = .milliseconds(500)
    static let lease: TimeInterval = 60

    func run() async throws {
        var lastPrune = Date.distantPast
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if services.now.timeIntervalSince(lastPrune) > 300 {
                try? await RateLimiter().prune(olderThan: 3600, now: services.now, on: services.db)
                lastPrune = services.now
            }
            do {
                if try await runOne() { continue }
            } catch {
                services.logger.error("reset job failed", metadata: ["error_type": "\(type(of: error))"])
            }
            try? await cancelWhenGracefulShutdown { [pollInterval] in try await Task.sleep(for: pollInterval) }
        }
    }

    /// Claims one job whose lease is free and processes it to the end. Returns false when there was none.
    @discardableResult
    func runOne() async throws -> Bool {
        let now = services.now
        let until = now.addingTimeInterval(Self.lease)
        let claimed = try await services.sql.raw(
            """
            UPDATE reset_batches SET lease_until = \(bind: until)
            WHERE id = (SELECT id FROM reset_batches WHERE status = 'running' AND background = \(bind: true)
                        AND (lease_until IS NULL OR lease_until < \(bind: now)) ORDER BY created_at LIMIT 1)
              AND status = 'running' AND (lease_until IS NULL OR lease_until < \(bind: now))
            RETURNING id
            """
        ).all()
        guard let id = try claimed.first?.decode(column: "id", as: UUID.self),
            let batch = try await ResetBatchModel.find(id, on: services.db)
        else { return false }
        let actor = try await actorOf(batch)
        let reset = ResetService(services: services)
        var first = true
        while true {
            let pending = try await reset.pendingMembers(batchID: id, limit: services.config.jobChunkSize)
            if pending.isEmpty { break }
            if !first && services.config.jobChunkPause > .zero {
                try await Task.sleep(for: services.config.jobChunkPause)
            }
            first = false
            try await reset.resetChunk(pending, batchID: id, ticket: batch.reason, actor: actor)
            try await ResetBatchModel.query(on: services.db).filter(\.$id == id)
                .set(\.$leaseUntil, to: services.now.addingTimeInterval(Self.lease)).update()
        }
        try await reset.process(batchID: id, actor: actor)  // nothing pending: marks it completed, notifies owners
        return true
    }

    /// The job's actor with their role's permissions as they are now (a demoted actor's job stops resetting).
    private func actorOf(_ batch: ResetBatchModel) async throws -> ResetService.Actor {
        let db = services.db
        let meta = RequestMeta(requestID: batch.requestID, ip: batch.ip, userAgent: batch.userAgent)
        guard let organization = try await OrganizationModel.find(batch.organizationID, on: db) else {
            throw LatchkeyError.notFound("The job's organization is gone.")
        }
        var actor = ResetService.Actor(operatorFor: organization, meta: meta)
        guard let member = try await MemberModel.find(batch.actorID, on: db),
            let role = try await RoleModel.find(member.roleID, on: db), member.organizationID == batch.organizationID
        else {
            actor.memberID = batch.actorID
            actor.permissions = []
            return actor
        }
        actor.memberID = member.id
        actor.email = member.email
        actor.name = member.name
        actor.roleName = role.name
        actor.permissions = member.status == AccountStatus.active.rawValue ? role.permissions : []
        return actor
    }
}
