import Foundation
import LatchkeyCore
import LatchkeyStore

/// Administrator actions on a member's account other than Reset MFA. For now: Unlock sign-in.
struct LifecycleService: Sendable {
    let services: AppServices

    /// Lifts every sign-in throttle of a member (wrong passwords from every address, wrong second factors),
    /// under the same rules as Reset MFA: `members.manage`, same organization (another organization's member
    /// is "not found"), never oneself, never a member whose role holds a permission the actor's lacks.
    /// Refusals and unlocks are audited, with the member's email.
    func unlock(actor: Actor, memberID: UUID, ticket: String) async throws -> MemberDirectory.Row {
        let store = services.store
        let now = services.now
        let target = try await store.members.find(memberID, organizationID: actor.organizationID)
        let event = { @Sendable (result: AuditResult, reason: String) in
            actor.event(
                .signInUnlocked, target: (memberID, target?.email ?? ""), result, reason: reason, ticket: ticket)
        }
        // A member of another organization (or none) is "not found"; the operator (no member id) may act on anyone.
        let denial: MemberPolicy.Denial? =
            if let target {
                actor.memberID.flatMap {
                    UnlockPolicy.check(
                        actorID: $0, actorPermissions: actor.permissions, targetID: memberID,
                        targetPermissions: target.permissions)
                }
            } else {
                UnlockPolicy.required.isSubset(of: actor.permissions) ? .notFound : .notPermitted
            }
        if let denial {
            try await store.audit.append(event(.denied, Self.reason(denial, role: target?.roleName ?? "")), at: now)
            throw Self.error(denial, role: target?.roleName ?? "")
        }
        guard let target else { throw LatchkeyError.notFound("Member not found.") }
        try await store.transaction { tx in
            try await tx.members.lock([memberID])
            let (cleared, wasLocked) = try await tx.throttles.clearAll(
                memberID: memberID, email: target.email, now: now)
            let reason =
                cleared == 0
                ? "was not locked"
                : "\(wasLocked ? "lifted the lock" : "was not locked"); cleared \(cleared) sign-in counter\(cleared == 1 ? "" : "s")"
            try await tx.audit.append(event(.success, reason), at: now)
        }
        return MemberDirectory.Row(target, lockedUntil: nil)
    }

    /// The reason recorded in the audit log for a refused unlock.
    static func reason(_ denial: MemberPolicy.Denial, role: String) -> String {
        switch denial {
        case .notPermitted: "Not permitted: your role cannot manage members"
        case .selfAction: "You cannot unlock your own sign-in"
        case .higherPrivilege: "Not permitted: \(role)"
        case .notFound: "Member not found"
        }
    }

    /// The error a refused unlock answers with; another organization's member is "not found".
    static func error(_ denial: MemberPolicy.Denial, role: String) -> LatchkeyError {
        switch denial {
        case .notPermitted: .forbidden(.forbidden, "Your role cannot manage members.")
        case .selfAction: .forbidden(.cannotActOnSelf, "You cannot unlock your own sign-in.")
        case .higherPrivilege:
            .forbidden(
                .insufficientPrivilege,
                "You can't unlock the sign-in of a member with more access than you (\(role)).")
        case .notFound: .notFound("Member not found.")
        }
    }
}

/// One member's result of a lifecycle action.
struct LifecycleResult: Sendable, Equatable {
    var memberID: UUID
    var code: LifecycleResultCode
    var reason: String?
    /// The member as they are after the action (nil when not found, or removed).
    var member: Member?
}

extension LifecycleService {
    /// Members per transaction.
    static let chunkSize = BulkLimits.chunkSize

    /// Changes the role of, suspends, reactivates or removes members, one transaction per chunk, set-based:
    /// one statement per table however many members. For each member the rules of `LifecyclePolicy` decide
    /// (another organization's member is "not found"; the operator — no member id — passes them), then the
    /// state (`unchanged` when there is nothing to do), then the last-Owner rule. Suspending and removing
    /// end every session in the same transaction; each member is mailed and each outcome audited.
    func apply(_ action: LifecycleAction, to memberIDs: [UUID], actor: Actor, ticket: String) async throws
        -> [LifecycleResult]
    {
        let (ids, _) = try await prepare(action, memberIDs, actor: actor)
        return try await apply(action, to: ids, actor: actor, ticket: ticket, batchID: nil)
    }

    /// The same, recorded as a batch whose results page and CSV show each member's outcome (the bulk forms of
    /// the Members page). Each chunk's outcomes are written in the chunk's own transaction.
    func applyRecorded(_ action: LifecycleAction, to memberIDs: [UUID], actor: Actor, ticket: String) async throws
        -> ResetBatch
    {
        let (ids, role) = try await prepare(action, memberIDs, actor: actor)
        let batch = ResetBatch(
            organizationID: actor.organizationID, actorID: actor.memberID ?? ResetService.operatorID,
            idempotencyKey: nil, requestHash: sha256Hex(ids.map(\.uuidString).sorted().joined(separator: ",")),
            total: ids.count, reason: ticket, background: false, requestID: actor.meta.requestID,
            ip: actor.meta.ip, userAgent: actor.meta.userAgent, createdAt: services.now, action: action.auditAction,
            detail: role?.name ?? "")
        try await services.store.resets.open(batch, memberIDs: ids)
        _ = try await apply(action, to: ids, actor: actor, ticket: ticket, batchID: batch.id)
        try await services.store.resets.complete(batch.id, at: services.now)
        guard let done = try await services.store.resets.find(batch.id) else { throw LatchkeyError.notFound() }
        return done
    }

    /// A request's members without duplicates (first occurrence kept), refused whole when there are none or more
    /// than the maximum, and the role a role change names (refused when it is not one of the organization's).
    private func prepare(_ action: LifecycleAction, _ memberIDs: [UUID], actor: Actor) async throws -> (
        [UUID], Role?
    ) {
        var seen = Set<UUID>()
        let unique = memberIDs.filter { seen.insert($0).inserted }
        guard !unique.isEmpty else { throw LatchkeyError.badRequest("no_members", "Select at least one member.") }
        guard unique.count <= BulkLimits.maximumPerRequest else {
            throw LatchkeyError.badRequest(
                "too_many_members", "At most \(BulkLimits.maximumPerRequest) members can be changed in one request.")
        }
        guard case .changeRole(let roleID) = action else { return (unique, nil) }
        guard let role = try await services.store.organizations.role(roleID, organizationID: actor.organizationID)
        else { throw Self.invalidRole }
        return (unique, role)
    }

    static let invalidRole = LatchkeyError.badRequest("invalid_role", "That role does not exist in your organization.")

    private func apply(
        _ action: LifecycleAction, to ids: [UUID], actor: Actor, ticket: String, batchID: UUID?
    ) async throws -> [LifecycleResult] {
        var results: [LifecycleResult] = []
        for start in stride(from: 0, to: ids.count, by: Self.chunkSize) {
            let chunk = Array(ids[start..<min(start + Self.chunkSize, ids.count)])
            results += try await applyChunk(
                action, to: chunk, actor: actor, ticket: ticket, batch: batchID.map { ($0, start) })
        }
        return results
    }

    /// One chunk in one transaction; a chunk of a recorded batch names the batch and the place of its first
    /// member in it.
    private func applyChunk(
        _ action: LifecycleAction, to ids: [UUID], actor: Actor, ticket: String, batch: (id: UUID, start: Int)?
    ) async throws -> [LifecycleResult] {
        let batchID = batch?.id
        let now = services.now
        return try await services.store.transaction { tx in
            // Lock order: the organization (last-Owner decisions queue here), member rows, audit head last.
            try await tx.organizations.lock(actor.organizationID)
            try await tx.members.lock(ids + (actor.memberID.map { [$0] } ?? []))
            let organizationID = actor.organizationID
            // The actor as they are now: a demoted, suspended or removed actor acts with no permission.
            var permissions = actor.permissions
            if let actorID = actor.memberID {
                let current = try await tx.members.find(actorID, organizationID: organizationID)
                permissions = current?.status == .active ? current!.permissions : []
            }
            // The role as it is now (never nil for a role change: an unknown role grants nothing by accident).
            var newRole: Role?
            if case .changeRole(let roleID) = action {
                guard let role = try await tx.organizations.role(roleID, organizationID: organizationID) else {
                    throw Self.invalidRole
                }
                newRole = role
            }
            let targets = try await tx.members.find(ids, organizationID: organizationID)
            var owners = try await tx.members.activeOwnerCount(organizationID: organizationID)
            var results: [LifecycleResult] = []
            for id in ids {
                let code = Self.decide(
                    action, actorID: actor.memberID, permissions: permissions, target: targets[id], newRole: newRole,
                    owners: &owners)
                results.append(
                    LifecycleResult(
                        memberID: id, code: code,
                        reason: code.reason(targetRole: targets[id]?.roleName ?? "", newRole: newRole?.name ?? ""),
                        member: targets[id]))
            }
            // Recorded before the change, while a removed member's name and email are still there to copy.
            if let batch {
                try await tx.resets.record(
                    outcomes: results.enumerated().map { offset, result in
                        BatchOutcome(
                            position: batch.start + offset, memberID: result.memberID, status: result.code.outcome,
                            code: result.code.rawValue, reason: result.reason ?? "", name: result.member?.name ?? "",
                            email: result.member?.email ?? "")
                    }, batchID: batch.id)
            }
            let changed = results.filter { $0.code.outcome == "changed" }.map(\.memberID)
            switch action {
            case .changeRole(let roleID):
                try await tx.members.setRole(roleID, of: changed, organizationID: organizationID)
            case .suspend:
                try await tx.members.setStatus(.suspended, of: changed, organizationID: organizationID)
                try await tx.sessions.deleteAll(memberIDs: changed)
            case .reactivate: try await tx.members.reactivate(changed, organizationID: organizationID)
            case .remove: try await tx.members.delete(changed, organizationID: organizationID)
            }
            try await tx.outbox.enqueue(
                changed.compactMap { targets[$0] }.map {
                    Notifications.lifecycleNotice(
                        action, to: $0, newRole: newRole, actor: actor, ticket: ticket, at: now)
                })
            // The members' state afterwards (a reactivated member who never joined is invited again).
            let after = try await tx.members.find(changed, organizationID: organizationID)
            try await tx.audit.appendAll(
                results.map { result in
                    let target = targets[result.memberID]
                    let outcome: AuditResult =
                        switch result.code.outcome {
                        case "changed": .success
                        case "skipped": .skipped
                        default: .denied
                        }
                    return actor.event(
                        action.auditAction, target: (result.memberID, target?.email ?? ""), outcome,
                        reason: result.reason
                            ?? Self.change(action, of: target, to: newRole, now: after[result.memberID]),
                        batchID: batchID, ticket: ticket)
                }, at: now)
            return results.map { result in
                var result = result
                if result.code.outcome == "changed" { result.member = after[result.memberID] ?? result.member }
                return result
            }
        }
    }

    /// The rule for one member.
    static func decide(
        _ action: LifecycleAction, actorID: UUID?, permissions: Set<Permission>, target: Member?, newRole: Role?,
        owners: inout Int
    ) -> LifecycleResultCode {
        guard let target else { return .notFound }
        if let actorID,
            let refusal = LifecyclePolicy.check(
                actorID: actorID, actorPermissions: permissions, targetID: target.id,
                targetPermissions: target.permissions, grantedPermissions: newRole?.permissions)
        {
            return refusal
        }
        let unchanged =
            switch action {
            case .changeRole(let roleID): target.roleID == roleID
            case .suspend: target.status == .suspended
            case .reactivate: target.status == .active
            case .remove: false
            }
        if unchanged { return .unchanged }
        // An invitation can be suspended (an identity provider deactivating someone before they joined: the link
        // stops working until they are reactivated, back to invited); "reactivating" one changes nothing.
        if target.status == .invited, case .reactivate = action { return .invited }
        let ownerNow = target.roleBuiltIn == .owner && target.status == .active
        let ownerAfter =
            switch action {
            case .changeRole: newRole?.builtIn == .owner
            case .suspend, .remove: false
            case .reactivate: target.roleBuiltIn == .owner
            }
        if ownerNow && !ownerAfter {
            guard owners > 1 else { return .lastOwner }
            owners -= 1
        } else if !ownerNow && ownerAfter {
            owners += 1
        }
        return action.doneCode
    }

    /// What an action changes, for the audit event: "role: Member → Admin", "status: active → suspended".
    static func change(_ action: LifecycleAction, of target: Member?, to newRole: Role?, now: Member? = nil) -> String {
        switch action {
        case .changeRole: "role: \(target?.roleName ?? "") → \(newRole?.name ?? "")"
        case .suspend: "status: \(target?.status.rawValue ?? "") → suspended"
        case .reactivate: "status: \(target?.status.rawValue ?? "") → \(now?.status.rawValue ?? "active")"
        case .remove: "removed from the organization (was \(target?.roleName ?? ""))"
        }
    }

    /// The error a refused single action answers with; another organization's member is "not found". Nil for
    /// a change or nothing to change.
    static func error(for result: LifecycleResult) -> LatchkeyError? {
        let reason = result.reason ?? ""
        return switch result.code {
        case .roleChanged, .suspended, .reactivated, .removed, .unchanged: nil
        case .notFound: .notFound("Member not found.")
        case .invited: LatchkeyError(.conflict, "invited", reason + ".")
        case .notPermitted: .forbidden(.forbidden, "Your role cannot manage members.")
        case .notPermittedRole:
            .forbidden(.insufficientPrivilege, "You can't change a member with more access than you (\(reason)).")
        case .roleNotGrantable: .forbidden("role_not_grantable", reason + ".")
        case .selfAction: .forbidden(.cannotActOnSelf, reason + ".")
        case .lastOwner: .forbidden("last_owner", reason + ".")
        }
    }
}

/// The bulk member paths as `latchkey bench` times them (bench/run): invitations and a role change, through the
/// same code a request runs, as the organization's owner.
package struct LifecycleBench: Sendable {
    let services: AppServices

    package init(services: AppServices) { self.services = services }

    private func actor(ownerID: UUID, organization: Organization) async throws -> Actor {
        guard let owner = try await services.store.members.find(ownerID, organizationID: organization.id) else {
            throw LatchkeyError.notFound("No such owner.")
        }
        return Actor(member: owner, organization: organization, meta: .bench)
    }

    /// Invites `emails` as Members in one request; returns how many were invited.
    package func invite(ownerID: UUID, organization: Organization, emails: [String]) async throws -> Int {
        let outcomes = try await InvitationService(services: services).invite(
            emails.map { .init(email: $0) }, defaultRole: "Member",
            actor: try await actor(ownerID: ownerID, organization: organization))
        return outcomes.filter { $0.status == .invited }.count
    }

    /// Gives `memberIDs` the role named `roleName` in one recorded bulk request; returns how many changed.
    package func changeRole(ownerID: UUID, organization: Organization, memberIDs: [UUID], roleName: String)
        async throws -> Int
    {
        guard
            let role = try await services.store.organizations.roles(organizationID: organization.id)
                .first(where: { $0.name == roleName })
        else { throw LatchkeyError.notFound("No role \(roleName).") }
        let batch = try await LifecycleService(services: services).applyRecorded(
            .changeRole(to: role.id), to: memberIDs,
            actor: try await actor(ownerID: ownerID, organization: organization),
            ticket: "bench")
        return batch.resetCount
    }
}
