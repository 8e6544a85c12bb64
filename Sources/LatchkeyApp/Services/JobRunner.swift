import Foundation
import LatchkeyCore
import LatchkeyStore
import Logging
import ServiceLifecycle

/// Works through background MFA-reset jobs. Jobs live in the database, so any instance can run them and
/// a job interrupted by a crash is taken up again when its lease runs out (each chunk is one transaction,
/// so members are either fully reset or untouched).
struct JobRunner: Service {
    let services: AppServices
    var pollInterval: Duration = .milliseconds(500)
    /// How long a claim lasts without a chunk finishing (`AppConfig.jobLeaseSeconds`).
    var lease: TimeInterval { TimeInterval(services.config.jobLeaseSeconds) }

    func run() async throws {
        var lastPrune = Date.distantPast
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if services.now.timeIntervalSince(lastPrune) > 300 {
                try? await services.store.rateLimits.prune(olderThan: 3600, now: services.now)
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
        let store = services.store
        let now = services.now
        guard let id = try await store.resets.claimJob(now: now, until: now.addingTimeInterval(lease)),
            let batch = try await store.resets.find(id)
        else { return false }
        // Which instance runs it: an operator (or a test) looking at several instances' logs can tell.
        services.logger.info("reset job claimed", metadata: ["job_id": "\(id)"])
        let config = services.config
        let finished = try await ResetService(services: services).process(
            batchID: id, actor: try await actor(of: batch), chunkSize: config.jobChunkSize, pause: config.jobChunkPause,
            actorNow: { try await actor(of: batch) },
            afterChunk: { [services, lease] in
                try await services.store.resets.extendLease(of: id, until: services.now.addingTimeInterval(lease))
            },
            stopping: { Task.isShuttingDownGracefully })
        if !finished {
            // Stopped between chunks on a shutdown signal: give the lease back so another instance (or this one,
            // restarted) takes the job up at once instead of after the lease runs out.
            try await services.store.resets.extendLease(of: id, until: .distantPast)
            services.logger.info("reset job paused for shutdown", metadata: ["job_id": "\(id)"])
        }
        return true
    }

    /// The job's actor with their role's permissions as they are now, read again before each chunk (a demoted actor's
    /// job, or one whose token is revoked or expired, stops resetting at the next chunk).
    /// The request that started the job passed the step-up check; the job does not ask again.
    private func actor(of batch: ResetBatch) async throws -> Actor {
        let store = services.store
        let meta = RequestMeta(requestID: batch.requestID, ip: batch.ip, userAgent: batch.userAgent)
        guard let organization = try await store.organizations.find(batch.organizationID) else {
            throw LatchkeyError.notFound("The job's organization is gone.")
        }
        guard let member = try await store.members.find(batch.actorID, organizationID: batch.organizationID) else {
            var actor = Actor(operatorFor: organization, meta: meta)
            actor.memberID = batch.actorID
            actor.permissions = []
            return actor
        }
        var actor = Actor(member: member, organization: organization, meta: meta)
        if let tokenID = batch.actorTokenID {
            // Started through an API token: it acts through it, as far as it still may.
            let token = try await store.apiTokens.find(tokenID, organizationID: batch.organizationID)
            actor.token = token.map { TokenIdentity(id: $0.id, name: $0.name) }
            let live = token.map { $0.isLive(at: services.now) } ?? false
            actor.permissions = live ? actor.permissions.intersection(token?.permissions ?? []) : []
        }
        return actor
    }
}
