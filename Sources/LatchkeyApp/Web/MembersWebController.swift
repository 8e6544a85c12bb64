import Foundation
import Hummingbird
import LatchkeyCore
import LatchkeyStore

/// The Manage Members page and its Reset MFA and Unlock forms (the same services and rules as the JSON API).
struct MembersWebController {
    let services: AppServices

    /// The reset and unlock forms check their permissions in the services, which audit each refusal per
    /// member; the pages declare theirs on their groups.
    func register(on group: RouterGroup<OrgMemberContext>) {
        let pages = group.group().add(middleware: RequirePermissions(.membersView, .membersManage))
        pages.on(.get, .members, use: list)
        pages.on(.get, .memberPage, use: memberPage)
        pages.on(.get, .membersSelection, use: selectionSummary)
        group.on(.post, .membersResetMFA, use: reset)
        group.on(.post, .membersUnlock, use: unlock)
        group.on(.post, .membersRole) { request, context in
            try await lifecycle(request, context) { form in
                .changeRole(to: try LifecycleAPIController.roleID(form["roleId"]))
            }
        }
        group.on(.post, .membersSuspend) { try await lifecycle($0, $1) { _ in .suspend } }
        group.on(.post, .membersReactivate) { try await lifecycle($0, $1) { _ in .reactivate } }
        group.on(.post, .membersRemove) { try await lifecycle($0, $1) { _ in .remove } }
        let results = group.group().add(middleware: RequirePermissions(.membersView, .membersManage, .membersResetMFA))
        results.on(.get, .resetResults, use: self.results)
        results.on(.get, .resetResultsCSV, use: resultsCSV)
        results.on(.post, .resetCancel, use: cancel)
    }

    // MARK: Table

    @Sendable func list(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let query = request.uri.queryParameters
        let flash = Flash.read(request)
        let filter = try MemberDirectory.Filter { query.get($0) }
        let store = services.store
        let organizationID = context.auth.organizationID
        let page = try await store.directory.page(
            organizationID: organizationID, filter: filter, after: query.get("after"), before: query.get("before"),
            now: services.now, stamp: context.auth.directoryStamp)
        let roles = try await store.organizations.roles(organizationID: organizationID, directoryVersion: page.version)
        let from = query.get("from").flatMap(Int.init).map { max(1, $0) } ?? 1
        let model = MembersPages.Model(
            auth: context.auth, filter: filter, page: page, firstIndex: from,
            roles: roles.map { ($0.id, $0.name) },
            rolePermissions: Dictionary(uniqueKeysWithValues: roles.map { ($0.id, $0.permissions) }),
            canReset: ResetPolicy.required.isSubset(of: context.auth.permissions),
            canUnlock: UnlockPolicy.required.isSubset(of: context.auth.permissions),
            canManage: LifecyclePolicy.required.isSubset(of: context.auth.permissions),
            stepUpNeeded: context.actor.needsStepUp(now: services.now),
            notice: try await notice(flash, organizationID: organizationID), changedMemberID: flash?.member,
            now: services.now,
            idempotencyKey: services.random.token(byteCount: 16))
        return HTMLResponse.make(MembersPages.page(model))
    }

    // MARK: One member

    @Sendable func memberPage(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let store = services.store
        let organizationID = context.auth.organizationID
        guard let id = context.parameters.get("id", as: UUID.self),
            let member = try await store.members.find(id, organizationID: organizationID)
        else { throw LatchkeyError.notFound("No such member.") }
        let locks = try await store.throttles.lockedUntil(memberIDs: [id], now: services.now)
        let roles = try await store.organizations.roles(organizationID: organizationID)
        let members = MembersPages.Model(
            auth: context.auth, filter: MemberDirectory.Filter(), page: .empty, firstIndex: 1,
            roles: roles.map { ($0.id, $0.name) },
            rolePermissions: Dictionary(uniqueKeysWithValues: roles.map { ($0.id, $0.permissions) }),
            canReset: ResetPolicy.required.isSubset(of: context.auth.permissions),
            canUnlock: UnlockPolicy.required.isSubset(of: context.auth.permissions),
            canManage: LifecyclePolicy.required.isSubset(of: context.auth.permissions),
            stepUpNeeded: context.actor.needsStepUp(now: services.now),
            notice: try await notice(Flash.read(request), memberID: id, organizationID: organizationID),
            changedMemberID: nil, now: services.now, idempotencyKey: services.random.token(byteCount: 16),
            returnToMember: true)
        return HTMLResponse.make(
            MemberPage.page(
                .init(
                    members: members, member: MemberDirectory.Row(member, lockedUntil: locks[id]),
                    authenticatorSince: try await store.credentials.confirmedTOTP(memberID: id)?.createdAt,
                    recoveryCodesLeft: try await store.credentials.recoveryCodesLeft(memberID: id),
                    sessions: try await store.sessions.signedIn(memberID: id),
                    events: try await store.audit.recent(memberID: id, organizationID: organizationID, limit: 20))))
    }

    /// The message after a single action, chosen from fixed texts by its key (never echoed from the URL).
    func notice(_ flash: Flash.Value?, memberID: UUID? = nil, organizationID: UUID) async throws -> MembersPages.Notice?
    {
        guard let notice = flash.flatMap({ MembersNotice(rawValue: $0.key) }) else { return nil }
        var member: Member?
        if let id = memberID ?? flash?.member {
            member = try await services.store.members.find(id, organizationID: organizationID)
        }
        return notice.message(name: member?.name ?? "the member", role: member?.roleName ?? "higher-privileged")
    }

    /// Back to the table (keeping its filter) with a notice about `member` — or to the member's page when the
    /// form came from there and the member is still there to show.
    func back(_ form: FormFields, _ filter: MemberDirectory.Filter, _ notice: MembersNotice, member: UUID? = nil)
        -> Response
    {
        if form["return"] == "results", let batch = form["retryOf"].flatMap(UUID.init(uuidString:)) {
            // A retry from a results page: its answer goes back there, the context kept.
            return Flash.redirect(
                to: Route.resetResults.path(batch), notice: notice.rawValue, secure: services.config.secureCookies)
        }
        if form["return"] == "member", let id = form["memberId"].flatMap(UUID.init(uuidString:)),
            ![.removed, .lifecycleNotFound, .notFound, .unlockNotFound].contains(notice)
        {
            return Flash.redirect(
                to: Route.memberPage.path(id), notice: notice.rawValue, member: id,
                secure: services.config.secureCookies)
        }
        return Flash.redirect(
            to: MembersPages.link(filter), notice: notice.rawValue, member: member,
            secure: services.config.secureCookies)
    }

    // MARK: Reset

    /// One form for both modals: a single member (`memberId` once) or many (`bulk=1`, `memberId` repeated or
    /// `scope=all` with the filter). A stale MFA is refreshed first with the modal's code.
    @Sendable func reset(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let form = try await Body.form(from: request, context: context)
        let filter = try MemberDirectory.Filter { form[$0] }
        let ticket = try ResetInput.ticket(form["reason"])
        var actor = context.actor
        if let code = form["code"]?.trimmingCharacters(in: .whitespaces), !code.isEmpty,
            actor.needsStepUp(now: services.now)
        {
            do {
                try await services.auth.stepUp(auth: context.auth, code: code, meta: context.meta)
                actor.stepUp?.verifiedAt = services.now
            } catch let error as LatchkeyError where error.kind == .unauthorized || error.kind == .badRequest {
                return back(form, filter, .invalidCode)
            }
        }
        let service = ResetService(services: services)
        do {
            if form["bulk"] != "1" {
                guard let raw = form["memberId"], let id = UUID(uuidString: raw) else {
                    throw LatchkeyError.badRequest("invalid_member_id", "Choose a member to reset.")
                }
                let result = try await service.resetOne(actor: actor, memberID: id, ticket: ticket)
                let notice = MembersNotice(result.code)
                return back(form, filter, notice, member: notice == .notFound || notice == .selfReset ? nil : id)
            }
            let ids: [UUID]
            if let retry = try await retrying(form, organizationID: actor.organizationID) {
                ids = retry
            } else {
                ids = try await selection(form, filter: filter, organizationID: actor.organizationID)
            }
            let key = try ResetInput.idempotencyKey(form["idempotencyKey"])
            let outcome = try await service.resetMany(
                actor: actor, memberIDs: ids, ticket: ticket, idempotencyKey: key)
            return .redirect(to: Route.resetResults.path(outcome.batch.id), type: .normal)
        } catch let error as LatchkeyError where error.code == .stepUpRequired {
            return back(form, filter, .stepUp)
        } catch let error as LatchkeyError where error.code == .forbidden {
            return back(form, filter, .forbidden)
        } catch let error as LatchkeyError where error.code == Self.selectionChanged {
            return back(form, filter, .selectionChanged)
        }
    }

    static let selectionChanged: ErrorCode = "selection_changed"

    /// A retry from a results page (`retryOf`): the members of that batch whose results could change if asked
    /// again, worked out here from what the batch recorded — nil when the form is not a retry.
    func retrying(_ form: FormFields, organizationID: UUID) async throws -> [UUID]? {
        guard let raw = form["retryOf"] else { return nil }
        guard let id = UUID(uuidString: raw),
            let batch = try await services.store.resets.find(id, organizationID: organizationID),
            batch.action == AuditAction.mfaReset.rawValue, batch.status.isFinished
        else { throw LatchkeyError.notFound("No such reset to retry.") }
        let ids = try await services.store.resets.members(batchID: id, codes: ResetResultCode.retryable)
        guard !ids.isEmpty else {
            throw LatchkeyError.badRequest("nothing_to_retry", "No member of this reset can be retried.")
        }
        return ids
    }

    /// The members a bulk form names — its `memberId`s, or with `scope=all` every match of its filter — once the
    /// administrator typed their number where there are more than the threshold (checked here, not only in the
    /// page).
    func selection(_ form: FormFields, filter: MemberDirectory.Filter, organizationID: UUID) async throws -> [UUID] {
        let ids =
            form["scope"] == "all"
            ? try await services.store.directory.allIDs(
                organizationID: organizationID, filter: filter, now: services.now)
            : try ResetInput.memberIDs(form.all["memberId"] ?? [])
        let count = Set(ids).count
        // "Select all N matching" was confirmed for N: if the filter matches another number now, nothing is done
        // (the page says so) rather than acting on members the administrator never saw counted.
        if form["scope"] == "all", let expected = form["expectedCount"], expected != String(count) {
            throw LatchkeyError(
                .conflict, Self.selectionChanged,
                "The filter matches \(count) members now, not the \(expected) you confirmed. Nothing was changed.")
        }
        if count > BulkLimits.typedConfirmationAbove,
            form["confirmCount"]?.trimmingCharacters(in: .whitespaces) != String(count)
        {
            throw LatchkeyError.badRequest(
                "confirmation_mismatch", "Type the number of selected members (\(count)) to confirm.")
        }
        return ids
    }

    // MARK: Unlock

    /// ⋮ → Unlock sign-in: the same service and rules as the JSON route.
    @Sendable func unlock(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let form = try await Body.form(from: request, context: context)
        let filter = try MemberDirectory.Filter { form[$0] }
        guard let raw = form["memberId"], let id = UUID(uuidString: raw) else {
            throw LatchkeyError.badRequest("invalid_member_id", "Choose a member to unlock.")
        }
        do {
            _ = try await LifecycleService(services: services).unlock(actor: context.actor, memberID: id, ticket: "")
            return back(form, filter, .unlocked, member: id)
        } catch let error as LatchkeyError {
            switch error.code {
            case .insufficientPrivilege: return back(form, filter, .unlockHigherPrivilege, member: id)
            case .cannotActOnSelf: return back(form, filter, .unlockSelf, member: id)
            case .notFound: return back(form, filter, .unlockNotFound)
            case .forbidden: return back(form, filter, .unlockForbidden, member: id)
            default: throw error
            }
        }
    }

    // MARK: Change role, suspend, reactivate, remove

    /// ⋮ → Change role…, Suspend, Reactivate, Remove…: the same service and rules as the JSON routes.
    func lifecycle(
        _ request: Request, _ context: OrgMemberContext, action: (FormFields) throws -> LifecycleAction
    ) async throws -> Response {
        let form = try await Body.form(from: request, context: context)
        let filter = try MemberDirectory.Filter { form[$0] }
        let service = LifecycleService(services: services)
        let ticket = try ResetInput.ticket(form["reason"])
        if form["bulk"] == "1" {
            // Actions → the same for a selection (or every match): typed count above the threshold, results page.
            let ids: [UUID]
            do {
                ids = try await selection(form, filter: filter, organizationID: context.auth.organizationID)
            } catch let error as LatchkeyError where error.code == Self.selectionChanged {
                return back(form, filter, .selectionChanged)
            }
            let batch = try await service.applyRecorded(try action(form), to: ids, actor: context.actor, ticket: ticket)
            return .redirect(to: Route.resetResults.path(batch.id), type: .normal)
        }
        guard let raw = form["memberId"], let id = UUID(uuidString: raw) else {
            throw LatchkeyError.badRequest("invalid_member_id", "Choose a member.")
        }
        let result = try await service.apply(try action(form), to: [id], actor: context.actor, ticket: ticket)[0]
        let notice = MembersNotice(result.code)
        // A removed member (or one not found) can no longer be named from the URL.
        return back(form, filter, notice, member: [.removed, .lifecycleNotFound].contains(notice) ? nil : id)
    }

    // MARK: Results

    func batch(_ context: OrgMemberContext) async throws -> ResetBatch {
        guard let id = context.parameters.get("id", as: UUID.self),
            let batch = try await services.store.resets.find(id, organizationID: context.auth.organizationID)
        else { throw LatchkeyError.notFound("No such reset.") }
        return batch
    }

    /// A batch's results: a running job's progress, else its summary and one page of its members — those that need
    /// attention first, filterable by outcome (`show`), keyset-paged (`after`).
    @Sendable func results(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let batch = try await batch(context)
        let query = request.uri.queryParameters
        let flash = try await notice(Flash.read(request), organizationID: context.auth.organizationID)
        guard batch.status.isFinished else {
            return HTMLResponse.make(MembersPages.progress(auth: context.auth, batch: batch, notice: flash))
        }
        let group = try query.get("show").map { raw in
            guard let group = ResetRepository.OutcomeGroup(rawValue: raw) else {
                throw LatchkeyError.badRequest("invalid_show", "show must be failed, not_done, skipped or done.")
            }
            return group
        }
        let after = try query.get("after").map { raw in
            let parts = raw.split(separator: ".").compactMap { Int($0) }
            guard parts.count == 2, parts.allSatisfy({ $0 >= 0 }) else {
                throw LatchkeyError.badRequest("invalid_cursor", "That page link is not valid.")
            }
            return (rank: parts[0], position: parts[1])
        }
        let resets = services.store.resets
        let page = try await resets.outcomes(
            batchID: batch.id, group: group, after: after, limit: BulkLimits.resultsPageSize)
        let retryable =
            batch.action == AuditAction.mfaReset.rawValue
            ? try await resets.count(batchID: batch.id, codes: ResetResultCode.retryable) : 0
        return HTMLResponse.make(
            MembersPages.results(
                .init(
                    auth: context.auth, batch: batch, rows: page.rows.map(\.outcome), group: group,
                    next: page.more ? page.rows.last.map { "\($0.rank).\($0.outcome.position)" } : nil,
                    isFirstPage: after == nil, retryable: retryable,
                    stepUpNeeded: context.actor.needsStepUp(now: services.now), notice: flash)))
    }

    /// Cancel on a running job's page: the chunk under way finishes, then the job stops.
    @Sendable func cancel(_ request: Request, context: OrgMemberContext) async throws -> Response {
        _ = try await Body.form(from: request, context: context)
        let id = try context.parameters.require("id", as: UUID.self)
        var notice = MembersNotice.cancelling
        do {
            _ = try await ResetService(services: services).cancel(actor: context.actor, batchID: id)
        } catch let error as LatchkeyError where error.code == .jobNotRunning {
            notice = .notRunning
        }
        return Flash.redirect(
            to: Route.resetResults.path(id), notice: notice.rawValue, secure: services.config.secureCookies)
    }

    /// How many members a filter matches and how many of them have MFA to reset: the bulk modal's preview for
    /// "select all N matching" (the rest are skipped).
    @Sendable func selectionSummary(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let query = request.uri.queryParameters
        let filter = try MemberDirectory.Filter { query.get($0) }
        let directory = services.store.directory
        let organizationID = context.auth.organizationID
        let total = try await directory.count(organizationID: organizationID, filter: filter, now: services.now)
        let withMFA: Int
        switch filter.mfa {
        case .enabled?: withMFA = total
        case .some: withMFA = 0
        case nil:
            var enabled = filter
            enabled.mfa = .enabled
            withMFA = try await directory.count(organizationID: organizationID, filter: enabled, now: services.now)
        }
        return JSONResponse.make(["total": total, "withMFA": withMFA])
    }

    @Sendable func resultsCSV(_ request: Request, context: OrgMemberContext) async throws -> Response {
        let batch = try await batch(context)
        var csv = "member_id,name,email,result,reason\r\n"
        for outcome in try await services.store.resets.outcomes(batchID: batch.id) {
            csv +=
                [outcome.memberID.lowercasedString, outcome.name, outcome.email, outcome.status, outcome.reason]
                .map(CSV.field).joined(separator: ",") + "\r\n"
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8",
                .contentDisposition: "attachment; filename=\"mfa-reset-\(batch.id.lowercasedString).csv\"",
            ], body: .init(byteBuffer: .init(string: csv)))
    }
}

/// The notices the Members page shows after a single action, by the key in its URL.
enum MembersNotice: String, CaseIterable {
    case reset
    case skipped
    case higherPrivilege = "higher_privilege"
    case selfReset = "self_reset"
    case notFound = "not_found"
    case stepUp = "step_up"
    case invalidCode = "invalid_code"
    case forbidden
    case unlocked
    case unlockHigherPrivilege = "unlock_higher_privilege"
    case unlockSelf = "unlock_self"
    case unlockNotFound = "unlock_not_found"
    case unlockForbidden = "unlock_forbidden"
    case roleChanged = "role_changed"
    case suspended
    case reactivated
    case removed
    case unchanged
    case invitedPending = "invited"
    case invitationResent = "invitation_resent"
    case invitationRevoked = "invitation_revoked"
    case lifecycleHigherPrivilege = "lifecycle_higher_privilege"
    case roleNotGrantable = "role_not_grantable"
    case lifecycleSelf = "lifecycle_self"
    case lastOwner = "last_owner"
    case lifecycleNotFound = "lifecycle_not_found"
    case lifecycleForbidden = "lifecycle_forbidden"
    case selectionChanged = "selection_changed"
    case cancelling
    case notRunning = "not_running"

    /// The notice for a single reset's result.
    init(_ code: ResetResultCode) {
        switch code {
        case .reset: self = .reset
        case .noMFA: self = .skipped
        case .notFound: self = .notFound
        case .selfAction: self = .selfReset
        case .notPermittedRole: self = .higherPrivilege
        case .notPermitted: self = .forbidden
        case .cancelled: self = .notRunning
        }
    }

    /// The notice for a lifecycle action's result.
    init(_ code: LifecycleResultCode) {
        switch code {
        case .roleChanged: self = .roleChanged
        case .suspended: self = .suspended
        case .reactivated: self = .reactivated
        case .removed: self = .removed
        case .unchanged: self = .unchanged
        case .invited: self = .invitedPending
        case .notPermittedRole: self = .lifecycleHigherPrivilege
        case .roleNotGrantable: self = .roleNotGrantable
        case .selfAction: self = .lifecycleSelf
        case .lastOwner: self = .lastOwner
        case .notFound: self = .lifecycleNotFound
        case .notPermitted: self = .lifecycleForbidden
        }
    }

    func message(name: String, role: String) -> MembersPages.Notice {
        switch self {
        case .reset: .init(kind: .success, text: "MFA reset for \(name). They will set it up again at next sign-in.")
        case .skipped: .init(kind: .info, text: "\(name) has no MFA set up, so there was nothing to reset.")
        case .higherPrivilege:
            .init(kind: .error, text: "Couldn't reset MFA for \(name): you can't reset an \(role)'s MFA.")
        case .selfReset: .init(kind: .error, text: "You can't reset your own MFA here — use My security.")
        case .notFound: .init(kind: .error, text: "Couldn't reset MFA: that member was not found.")
        case .stepUp:
            .init(kind: .error, text: "Confirm it's you: enter a code from your authenticator app, then try again.")
        case .invalidCode: .init(kind: .error, text: "Couldn't reset MFA: that authentication code is not correct.")
        case .forbidden: .init(kind: .error, text: "Couldn't reset MFA: your role cannot reset MFA.")
        case .unlocked: .init(kind: .success, text: "Sign-in unlocked for \(name). They can sign in again now.")
        case .unlockHigherPrivilege:
            .init(kind: .error, text: "Couldn't unlock \(name)'s sign-in: you can't unlock an \(role)'s sign-in.")
        case .unlockSelf: .init(kind: .error, text: "You can't unlock your own sign-in.")
        case .unlockNotFound: .init(kind: .error, text: "Couldn't unlock sign-in: that member was not found.")
        case .unlockForbidden: .init(kind: .error, text: "Couldn't unlock sign-in: your role cannot manage members.")
        case .roleChanged: .init(kind: .success, text: "\(name) is now \(role).")
        case .suspended: .init(kind: .success, text: "\(name) is suspended and was signed out everywhere.")
        case .reactivated: .init(kind: .success, text: "\(name) is active again and can sign in.")
        case .removed: .init(kind: .success, text: "The member was removed. Their audit history is kept.")
        case .unchanged: .init(kind: .info, text: "Nothing to change for \(name).")
        case .invitedPending:
            .init(kind: .info, text: "\(name) has not accepted the invitation yet: resend or revoke it instead.")
        case .invitationResent:
            .init(kind: .success, text: "A new invitation to \(name) is queued; the earlier link no longer works.")
        case .invitationRevoked: .init(kind: .success, text: "The invitation was revoked; its link no longer works.")
        case .lifecycleHigherPrivilege:
            .init(kind: .error, text: "Couldn't change \(name): you can't change an \(role)'s account.")
        case .roleNotGrantable:
            .init(
                kind: .error,
                text: "Couldn't change \(name)'s role: you can't grant a role with more access than yours.")
        case .lifecycleSelf: .init(kind: .error, text: "You can't change your own account here.")
        case .lastOwner:
            .init(
                kind: .error, text: "Couldn't change \(name): the organization's last Owner must stay an active Owner.")
        case .lifecycleNotFound: .init(kind: .error, text: "Couldn't change that member: they were not found.")
        case .lifecycleForbidden:
            .init(kind: .error, text: "Couldn't change that member: your role cannot manage members.")
        case .selectionChanged:
            .init(
                kind: .error,
                text:
                    "Nothing was changed: the members matching your filter changed after you confirmed. Check the selection and confirm again."
            )
        case .cancelling:
            .init(
                kind: .info,
                text: "Cancelling: the members being reset right now are finished, then the job stops.")
        case .notRunning: .init(kind: .info, text: "The job is no longer running: there was nothing to cancel.")
        }
    }
}
